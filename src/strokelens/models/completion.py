"""A sketch completion model: the ink of a partial drawing in, the ink of the whole drawing out.

`CompletionNet` is a small U-Net on rasters drawn by the project's own differentiable renderer
(`SketchCanvas` at ``config.size`` pixels, see `CompletionConfig.renderer`). Its input is a drawing
with some strokes removed, drawn **in the frame of the whole drawing** (the frame of a
`SketchCanvas` comes from the sketch it draws; pass the full sketch's frame when drawing the partial
one, so the missing ink has a place to go); two fixed coordinate channels are added inside the
network, so it knows where in that frame each pixel lies. Its output is the whole drawing's ink: per
pixel probabilities ``(B, 1, H, W)`` in [0, 1] from `forward`. With ``keep_input`` (the default) the
network adds ink to the input's, ``1 - (1 - x)(1 - sigmoid(logits))``: the strokes given are part
of the whole drawing, so its capacity goes to the missing ones.

The shipped model was trained on the SPG train split (random 30-60 % of each drawing's strokes
removed per step, at least one kept), selected on the val split; see
``weights/completion_spg.training.json``. It is not in `strokelens.models.REGISTRY` (that feeds the
classifier commands); load it with `load`. Weights are safetensors and a JSON config: loading never
unpickles. Its ``input_kind`` is ``raster-generator``, so `strokelens.views.view_for` refuses it;
explain it through `strokelens.generation.CompletionView`.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from strokelens.config import dataclass_from_dict
from strokelens.errors import StrokelensError
from strokelens.models.files import read_weights, save_weights

#: The shipped model's files in ``WEIGHTS_DIR``: NAME.safetensors, NAME.json, NAME.training.json.
WEIGHTS_DIR = Path(__file__).parent / "weights"
WEIGHTS_NAME = "completion_spg"


@dataclass
class CompletionConfig:
    """Sizes of a `CompletionNet` and the canvas it draws on (``SketchCanvas(size, line_width)``)."""

    size: int = 32
    #: Channels at each resolution, from full size down (each level halves the size).
    channels: tuple[int, ...] = (16, 32, 64, 64)
    #: Line width in pixels of the canvas (None: the QuickDraw recipe's 16/304 of the side).
    line_width: float | None = None
    #: Draw sketches after QuickDraw's simplification (0-255 frame, RDP): same look, fewer segments.
    simplify: bool = True
    #: The probability above which a pixel counts as inked in the figures (chosen on the val split).
    threshold: float = 0.5
    #: Keep the input's ink: ``ink = 1 - (1 - x) (1 - sigmoid(logits))``, so the network only adds
    #: the missing ink (the input's strokes are part of the whole drawing).
    keep_input: bool = True

    def __post_init__(self) -> None:
        self.channels = tuple(int(c) for c in self.channels)
        if not self.channels or min(self.channels) < 1:
            raise StrokelensError(f"channels must be positive, got {self.channels}")
        levels = len(self.channels) - 1
        if self.size < 4 or self.size % (2**levels):
            raise StrokelensError(f"size {self.size} must be a multiple of 2^{levels} (one per level)")
        if not 0 < self.threshold < 1:
            raise StrokelensError(f"threshold must lie in (0, 1), got {self.threshold}")

    @classmethod
    def from_dict(cls, data: dict) -> CompletionConfig:
        return dataclass_from_dict(cls, data)

    def to_dict(self) -> dict:
        out = asdict(self)
        out["channels"] = list(self.channels)
        return out

    def renderer(self):
        """The canvas the model's inputs and targets are drawn on (supersample 1: strokes composite
        exactly as ``1 - prod(1 - c_stroke)``, which training relies on)."""
        from strokelens.render.presets import SketchCanvas

        return SketchCanvas(size=self.size, line_width=self.line_width)


def _block(c_in: int, c_out: int) -> nn.Sequential:
    groups = 8 if c_out % 8 == 0 else 1
    return nn.Sequential(
        nn.Conv2d(c_in, c_out, 3, padding=1),
        nn.GroupNorm(groups, c_out),
        nn.SiLU(),
        nn.Conv2d(c_out, c_out, 3, padding=1),
        nn.GroupNorm(groups, c_out),
        nn.SiLU(),
    )


class CompletionNet(nn.Module):
    """U-Net: partial ink ``(B, 1, S, S)`` -> whole-drawing ink ``(B, 1, S, S)`` (see the module)."""

    input_kind = "raster-generator"

    def __init__(self, config: CompletionConfig | None = None) -> None:
        super().__init__()
        self.config = config or CompletionConfig()
        ch = self.config.channels
        s = self.config.size
        self.down = nn.ModuleList([_block(3, ch[0])] + [_block(ch[i - 1], ch[i]) for i in range(1, len(ch))])
        self.up = nn.ModuleList([_block(ch[i] + ch[i - 1], ch[i - 1]) for i in range(len(ch) - 1, 0, -1)])
        self.head = nn.Conv2d(ch[0], 1, 1)
        ys, xs = torch.meshgrid(torch.linspace(-1, 1, s), torch.linspace(-1, 1, s), indexing="ij")
        self.register_buffer("coords", torch.stack([xs, ys])[None], persistent=False)
        self.class_names: list[str] = []

    def _check(self, x: torch.Tensor) -> None:
        s = self.config.size
        if not isinstance(x, torch.Tensor) or x.dim() != 4 or tuple(x.shape[1:]) != (1, s, s):
            got = tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__
            raise StrokelensError(f"the completion model takes partial ink (B, 1, {s}, {s}), got {got}")

    def logits(self, x: torch.Tensor) -> torch.Tensor:
        """Per-pixel logits ``(B, 1, S, S)``: of the whole drawing's ink, or with ``keep_input`` of the
        ink added to the input's."""
        self._check(x)
        h = torch.cat([x, self.coords.to(x.dtype).expand(len(x), -1, -1, -1)], 1)
        skips = []
        for i, block in enumerate(self.down):
            if i:
                h = F.max_pool2d(h, 2)
            h = block(h)
            skips.append(h)
        for block, skip in zip(self.up, reversed(skips[:-1]), strict=True):
            h = F.interpolate(h, scale_factor=2.0, mode="nearest")
            h = block(torch.cat([h, skip], 1))
        return self.head(h)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Whole-drawing ink probabilities ``(B, 1, S, S)`` in [0, 1] for partial ink ``x``."""
        added = torch.sigmoid(self.logits(x))
        if not self.config.keep_input:
            return added
        return 1 - (1 - x.clamp(0, 1)) * (1 - added)

    def loss(self, x: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """Binary cross-entropy of the generated ink for partial ink ``x`` against ``target`` ink."""
        if not self.config.keep_input:
            return F.binary_cross_entropy_with_logits(self.logits(x), target)
        eps = 1e-6
        return F.binary_cross_entropy(self(x).clamp(eps, 1 - eps), target)

    # ------------------------------------------------------------ save / load
    def save(
        self, directory: str | os.PathLike[str], name: str = WEIGHTS_NAME, extra: dict | None = None
    ) -> Path:
        """Write ``name.safetensors`` (weights only) and ``name.json`` (config and ``extra``)."""
        return save_weights(self, directory, name, {"config": self.config.to_dict(), **(extra or {})})

    @classmethod
    def from_files(
        cls, weights: str | os.PathLike[str], config_json: str | os.PathLike[str]
    ) -> CompletionNet:
        """Load a model saved by `save` (safetensors: no pickle), in eval mode."""
        return read_weights(
            weights,
            config_json,
            "completion model",
            lambda meta: cls(CompletionConfig.from_dict(meta["config"])),
        )


def load(
    weights: str | os.PathLike[str] | None = None, device: torch.device | str | None = None
) -> CompletionNet:
    """The shipped completion model (or the one saved at ``weights``, a ``.safetensors`` path with
    its ``.json`` beside it), in eval mode on ``device`` (CPU by default)."""
    path = Path(weights) if weights is not None else WEIGHTS_DIR / f"{WEIGHTS_NAME}.safetensors"
    model = CompletionNet.from_files(path, path.with_suffix(".json"))
    return model.to(device or "cpu").eval()


__all__ = ["WEIGHTS_DIR", "WEIGHTS_NAME", "CompletionConfig", "CompletionNet", "load"]
