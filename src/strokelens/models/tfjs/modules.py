"""PyTorch modules that compute, on ``NCHW`` tensors, what Keras layers compute in ``NHWC``.

TF ``'same'`` padding keeps its asymmetric split (more padding after than before), and ``Flatten``
flattens in channels-last order so that the following ``Dense`` kernel applies unchanged.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn


def _same_pads(size: int, k: int, stride: int, dilation: int = 1) -> tuple[int, int]:
    """TF 'same' padding (before, after) along one axis: the extra pixel goes after."""
    k_eff = (k - 1) * dilation + 1
    out = -(-size // stride)
    total = max((out - 1) * stride + k_eff - size, 0)
    return total // 2, total - total // 2


class SamePad2d(nn.Module):
    """Pad an NCHW tensor the way TF pads for ``padding='same'`` (asymmetric when the total is odd)."""

    def __init__(self, kernel: tuple[int, int], stride: tuple[int, int], dilation=(1, 1), value=0.0) -> None:
        super().__init__()
        self.kernel, self.stride, self.dilation, self.value = (
            tuple(kernel),
            tuple(stride),
            tuple(dilation),
            value,
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        top, bottom = _same_pads(x.shape[-2], self.kernel[0], self.stride[0], self.dilation[0])
        left, right = _same_pads(x.shape[-1], self.kernel[1], self.stride[1], self.dilation[1])
        if top == bottom == left == right == 0:
            return x
        return F.pad(x, (left, right, top, bottom), value=self.value)


class ChannelsLastFlatten(nn.Module):
    """Keras ``Flatten`` on channels-last data: NCHW -> NHWC -> (B, H*W*C)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() > 2:
            x = x.movedim(1, -1)
        return x.flatten(1)


class ChannelDense(nn.Module):
    """Keras ``Dense``: a linear map over the channel axis (the last in Keras, dim 1 here)."""

    def __init__(self, linear: nn.Linear) -> None:
        super().__init__()
        self.linear = linear

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() == 2:
            return self.linear(x)
        return self.linear(x.movedim(1, -1)).movedim(-1, 1)


class Lambda(nn.Module):
    """A parameter-free function as a module (activations, global pooling)."""

    def __init__(self, fn: Callable[[torch.Tensor], torch.Tensor], name: str) -> None:
        super().__init__()
        self.fn, self.name = fn, name

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fn(x)

    def extra_repr(self) -> str:
        return self.name


class AvgPoolSame(nn.Module):
    """Keras ``AveragePooling2D(padding='same')``: padded pixels are left out of each average."""

    def __init__(self, kernel, stride) -> None:
        super().__init__()
        self.pad = SamePad2d(kernel, stride)
        self.kernel, self.stride = tuple(kernel), tuple(stride)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        total = F.avg_pool2d(self.pad(x), self.kernel, self.stride, divisor_override=1)
        ones = self.pad(torch.ones_like(x[:1, :1]))
        count = F.avg_pool2d(ones, self.kernel, self.stride, divisor_override=1)
        return total / count


class Add(nn.Module):
    """Keras ``Add`` of several inputs."""

    def forward(self, *xs: torch.Tensor) -> torch.Tensor:
        out = xs[0]
        for x in xs[1:]:
            out = out + x
        return out


class Concatenate(nn.Module):
    """Keras ``Concatenate`` of several inputs along ``dim``."""

    def __init__(self, dim: int = 1) -> None:
        super().__init__()
        self.dim = dim

    def forward(self, *xs: torch.Tensor) -> torch.Tensor:
        return torch.cat(xs, dim=self.dim)


ACTIVATIONS: dict[str, Callable[[], nn.Module]] = {
    "relu": nn.ReLU,
    "relu6": nn.ReLU6,
    "sigmoid": nn.Sigmoid,
    "tanh": nn.Tanh,
    "softmax": lambda: nn.Softmax(dim=1),  # the channel axis: Keras' last axis
    "elu": nn.ELU,
    "selu": nn.SELU,
    "softplus": nn.Softplus,
    "softsign": nn.Softsign,
    "swish": nn.SiLU,
    "hard_sigmoid": lambda: Lambda(lambda x: torch.clamp(0.2 * x + 0.5, 0.0, 1.0), "hard_sigmoid"),
}
