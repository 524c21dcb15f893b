"""What a removed superpixel or supervoxel shows: each baseline an object that knows its fill.

`ImageView` and `VideoView` take a baseline by name (``mean``, ``blur``, ``constant``; clips also
``frozen``) and build one of these with `make_baseline`. Each knows the picture it fills removed
units with (``fill``, ``(B, 3, S, S)`` photos or ``(B, 3, T, S, S)`` clips) and what the ``lime``
package's ``hide_color`` would be for it, or why there is none.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import torch
import torch.nn.functional as F

from strokelens.errors import StrokelensError
from strokelens.units.superpixels import superpixel_means


def gaussian_blur(images: torch.Tensor, sigma: float) -> torch.Tensor:
    """Separable Gaussian blur of ``(B, C, H, W)`` with reflected borders (clips ``(B, C, T, H, W)``:
    every frame)."""
    if images.dim() == 5:
        frames = images.transpose(1, 2)
        return gaussian_blur(frames.flatten(0, 1), sigma).view_as(frames).transpose(1, 2)
    radius = max(1, min(math.ceil(3 * sigma), min(images.shape[-2:]) - 1))
    t = torch.arange(-radius, radius + 1, device=images.device, dtype=images.dtype)
    kernel = torch.exp(-(t**2) / (2 * sigma**2))
    kernel = kernel / kernel.sum()
    c = images.shape[1]
    x = F.pad(images, (radius, radius, 0, 0), mode="reflect")
    x = F.conv2d(x, kernel.view(1, 1, 1, -1).expand(c, 1, 1, -1), groups=c)
    x = F.pad(x, (0, 0, radius, radius), mode="reflect")
    return F.conv2d(x, kernel.view(1, 1, -1, 1).expand(c, 1, -1, 1), groups=c)


class Baseline(ABC):
    """A baseline: ``fill(units)`` is what removed units show; ``hide_color()`` its ``lime`` twin."""

    #: The option's name.
    name: ClassVar[str]
    #: The baseline in words, for messages.
    described: ClassVar[str]

    @classmethod
    def make(cls, constant: Any, blur_sigma: float) -> Baseline:
        """The baseline from a view's options (each class takes what it needs of them)."""
        return cls()

    @abstractmethod
    def fill(self, units: Any) -> torch.Tensor:
        """What removed units show, shaped as ``units.images``."""

    def hide_color(self) -> float | tuple[float, ...] | None:
        """The ``lime`` package's ``hide_color`` for this baseline; an error where it has none."""
        raise StrokelensError(
            f"the lime package cannot show {self.described} baseline (use mean or constant)"
        )


@dataclass(frozen=True)
class MeanBaseline(Baseline):
    """Each unit's mean colour: what LIME shows for a hidden superpixel."""

    name: ClassVar[str] = "mean"
    described: ClassVar[str] = "a mean-colour"

    def fill(self, units: Any) -> torch.Tensor:
        return superpixel_means(units)

    def hide_color(self) -> None:
        return None


@dataclass(frozen=True)
class BlurBaseline(Baseline):
    """A Gaussian-blurred copy of the input (every frame of a clip)."""

    sigma: float
    name: ClassVar[str] = "blur"
    described: ClassVar[str] = "a blurred"

    def __post_init__(self) -> None:
        if self.sigma <= 0:
            raise StrokelensError(f"blur_sigma must be positive, got {self.sigma}")

    @classmethod
    def make(cls, constant: Any, blur_sigma: float) -> Baseline:
        return cls(float(blur_sigma))

    def fill(self, units: Any) -> torch.Tensor:
        return gaussian_blur(units.images, self.sigma)


@dataclass(frozen=True)
class ConstantBaseline(Baseline):
    """One grey value or one RGB colour everywhere, in [0, 1] as the pixels are."""

    #: Given as a number, a sequence, an array or a tensor; kept as one float or a tuple of floats.
    value: float | tuple[float, ...]

    @classmethod
    def make(cls, constant: Any, blur_sigma: float) -> Baseline:
        return cls(constant)

    name: ClassVar[str] = "constant"
    described: ClassVar[str] = "a constant"

    def __post_init__(self) -> None:
        try:
            given = self.value.detach().cpu().numpy() if isinstance(self.value, torch.Tensor) else self.value
            flat = np.asarray(given, dtype=np.float64).reshape(-1)
        except (TypeError, ValueError, RuntimeError) as exc:
            raise StrokelensError(f"constant must be one value or an RGB triple, got {self.value!r}") from exc
        if flat.size not in (1, 3):
            raise StrokelensError(f"constant must be one value or an RGB triple, got {self.value!r}")
        if not (np.isfinite(flat).all() and (flat >= 0).all() and (flat <= 1).all()):
            raise StrokelensError(f"constant must be in [0, 1] as the pixels are, got {self.value!r}")
        object.__setattr__(self, "value", float(flat[0]) if flat.size == 1 else tuple(flat.tolist()))

    def fill(self, units: Any) -> torch.Tensor:
        x = units.images
        value = torch.as_tensor(self.value, dtype=x.dtype, device=x.device)
        return value.reshape(1, -1, *([1] * (x.dim() - 2))).expand_as(x).contiguous()

    def hide_color(self) -> float | tuple[float, ...]:
        return self.value


@dataclass(frozen=True)
class FrozenBaseline(Baseline):
    """A clip's first frame held for its whole length (clips only)."""

    name: ClassVar[str] = "frozen"
    described: ClassVar[str] = "a frozen-frame"

    def fill(self, units: Any) -> torch.Tensor:
        if units.images.dim() != 5:
            raise StrokelensError("a frozen-frame baseline needs clips (B, 3, T, S, S)")
        return units.images[:, :, :1].expand_as(units.images).contiguous()


_BY_NAME: dict[str, type[Baseline]] = {
    b.name: b for b in (MeanBaseline, BlurBaseline, ConstantBaseline, FrozenBaseline)
}
#: The baselines a photo takes, by name.
IMAGE_BASELINES = (MeanBaseline.name, BlurBaseline.name, ConstantBaseline.name)
#: The baselines a clip takes, by name.
VIDEO_BASELINES = (MeanBaseline.name, BlurBaseline.name, FrozenBaseline.name, ConstantBaseline.name)


def make_baseline(
    name: str,
    choices: Sequence[str],
    constant: float | Sequence[float] = 0.5,
    blur_sigma: float = 8.0,
) -> Baseline:
    """The baseline called ``name`` (one of ``choices``), with its constant or blur width."""
    if name not in choices:
        raise StrokelensError(f"unknown baseline {name!r}; expected one of {', '.join(choices)}")
    return _BY_NAME[name].make(constant, blur_sigma)
