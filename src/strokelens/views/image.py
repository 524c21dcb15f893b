"""The image view: a photo model sees removed superpixels replaced by a baseline.

``x * M(z) + base * (1 - M(z))`` with ``M(z) = z[label map]`` gathered per pixel, batched over rows on
the model's device; ``base`` is each superpixel's mean colour (what LIME shows for a hidden
superpixel), a blurred copy of the photo, or a constant colour.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import torch

from strokelens import kinds
from strokelens.errors import StrokelensError
from strokelens.io.photos import load_photos
from strokelens.photo import Photo
from strokelens.units.superpixels import SuperpixelUnits
from strokelens.views.base import View
from strokelens.views.baselines import IMAGE_BASELINES, make_baseline

#: ``gws``'s ``pixel``/``aggregate`` value (with ``samples=0``) that asks for the view's `GwsDefault`.
AUTO = "auto"


@dataclass(frozen=True)
class GwsDefault:
    """``gws``'s default pixel technique on a view's inputs, as its benchmarks measured it (photos: the
    technique from ``benchmarks/results/superpixels.json``, the coalitions' sampler and count from
    ``gws_samplers.json``; clips: ``video.json``); tests hold them equal. ``precision``: the model
    calls' arithmetic (`strokelens.attribution.precision.PRECISIONS`)."""

    pixel: str
    aggregate: str = "sum"
    samples: int = 16
    sampler: str = "uniform"
    precision: str = "float32"

    def resolve(
        self, pixel: str, aggregate: str, samples: int, sampler: str = AUTO
    ) -> tuple[str, str, int, str]:
        """``(pixel, aggregate, samples, sampler)`` with `AUTO` and ``samples=0`` replaced by this
        default's."""
        return (
            self.pixel if pixel == AUTO else pixel,
            self.aggregate if aggregate == AUTO else aggregate,
            samples or self.samples,
            self.sampler if sampler == AUTO else sampler,
        )

    def precision_for(self, pixel: str, precision: str) -> str:
        """``precision``, with `AUTO` replaced by this default's for the technique it was measured
        with and float32 for any other (a single gradient in bfloat16 is not an average of many)."""
        if precision != AUTO:
            return precision
        return self.precision if pixel == self.pixel else "float32"


#: Rows a model call takes by default on a CPU and on a GPU (see `ImageView`).
CPU_CHUNK, CUDA_CHUNK = 4, 16


class ImageView(View):
    """An image model (``input_kind == "image"``, ``(B, 3, S, S)`` RGB in [0, 1]) seen through
    superpixel presence: ``x * M(z) + base * (1 - M(z))``, ``M(z) = z[label map]``.

    ``baseline``: ``"mean"`` (each superpixel's mean colour, as ``lime_image`` with
    ``hide_color=None``), ``"blur"`` (Gaussian, ``blur_sigma`` input pixels) or ``"constant"``
    (``constant``: a grey level or an RGB triple in [0, 1]). Rows reach the model in chunks of
    ``chunk`` so thousands of coalitions fit in memory; by default `CPU_CHUNK` on a CPU, where small
    calls ran Tiny Darknet fastest (2 cores, 224x224, 8 train photos: a gradient at 16 coalitions took
    255 ms a photo in calls of 4 rows, 302 in calls of 8, 343 in calls of 16; occlusion 6.7, 7.0 and
    8.8 ms an evaluation; lime_image 10.4 and 12.2 ms a sample in calls of 4 and 16), and
    `CUDA_CHUNK` on a GPU (the earlier default for every device; not measured there).
    """

    units_type = SuperpixelUnits
    kind = kinds.IMAGE
    #: The baselines this view takes, by name (`strokelens.views.baselines`).
    baseline_names: ClassVar[tuple[str, ...]] = IMAGE_BASELINES
    max_rows = 256
    gws_default: ClassVar[GwsDefault] = GwsDefault("coalition", "sum", 14, "stratified", "fast")

    def __init__(
        self,
        model: torch.nn.Module,
        baseline: str = "mean",
        constant: float | Sequence[float] = 0.5,
        blur_sigma: float = 8.0,
        chunk: int | None = None,
    ) -> None:
        self.replacement = make_baseline(baseline, self.baseline_names, constant, blur_sigma)
        if blur_sigma <= 0:
            raise StrokelensError(f"blur_sigma must be positive, got {blur_sigma}")
        self.model = model
        self.blur_sigma = blur_sigma
        if chunk is not None and chunk < 1:
            raise StrokelensError(f"chunk must be at least 1, got {chunk}")
        self._chunk = chunk
        self.class_names: Sequence[str] = model.class_names
        self.input_size: int | None = getattr(model, "input_size", None)

    @property
    def chunk(self) -> int:
        """Rows a model call takes: as given, else `CPU_CHUNK` or `CUDA_CHUNK` by the model's device."""
        if self._chunk is not None:
            return self._chunk
        return CUDA_CHUNK if self.device.type == "cuda" else CPU_CHUNK

    @property
    def baseline(self) -> str:
        """The baseline's name (`replacement` is the baseline itself)."""
        return self.replacement.name

    def baselines(self, units: SuperpixelUnits) -> torch.Tensor:
        """What a removed superpixel shows, shaped as the inputs: ``(B, 3, S, S)``, or ``(B, 3, T, S, S)``
        for a clip's supervoxels (the baseline's `fill`)."""
        return self.replacement.fill(units)

    def bind(self, units: SuperpixelUnits) -> dict[str, Any]:
        size = self.input_size
        if size is not None and tuple(units.images.shape[-2:]) != (size, size):
            raise StrokelensError(
                f"the model takes {size}x{size} images; got {tuple(units.images.shape[-2:])} "
                "(build units with view.make_units(photos) or SuperpixelUnits.from_photos(..., size=...))"
            )
        return {"units": units, "base": self.baselines(units)}

    def make_units(
        self,
        inputs: Sequence[Photo],
        n_segments: int = 50,
        compactness: float = 10.0,
        labels: Sequence[np.ndarray] | None = None,
    ) -> SuperpixelUnits:
        """SLIC superpixels (or the given label maps) of photos cropped to the model's input. Photos
        may be given as file paths: they are read here, a batch at a time."""
        photos = [load_photos([p])[0] if isinstance(p, (str, os.PathLike)) else p for p in inputs]
        if not all(isinstance(p, Photo) for p in photos):
            bad = next(type(p).__name__ for p in photos if not isinstance(p, Photo))
            raise StrokelensError(f"an image view takes Photo objects (strokelens.photo), got {bad}")
        return SuperpixelUnits.from_photos(
            photos,
            size=self.input_size or 224,
            n_segments=n_segments,
            compactness=compactness,
            labels=labels,
            device=self.device,
        )

    def unit_options(self) -> tuple[str, ...]:
        return ("n_segments", "compactness", "labels")

    def hide_color(self) -> float | tuple[float, ...] | None:
        """The baseline as the ``lime`` package's ``hide_color``: None (each superpixel's mean colour)
        for ``mean``, the constant for ``constant``; ``blur`` has no lime equivalent."""
        return self.replacement.hide_color()

    def compose(
        self, z: torch.Tensor, rows: torch.Tensor, units: SuperpixelUnits, base: torch.Tensor
    ) -> torch.Tensor:
        """Model inputs ``(R, 3, S, S)`` for presence ``z`` ``(R, K)`` of items ``rows``."""
        x, b = units.images[rows], base[rows]
        lab = units.labels[rows]
        m = torch.gather(z.to(x.dtype), 1, lab.flatten(1)).view(len(rows), 1, *lab.shape[-2:])
        return x * m + b * (1 - m)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """The model on ``x`` in chunks of ``chunk`` rows."""
        if len(x) <= self.chunk:
            return self.model(x)
        return torch.cat([self.model(x[i : i + self.chunk]) for i in range(0, len(x), self.chunk)])

    def outputs(
        self, z: torch.Tensor, rows: torch.Tensor, units: SuperpixelUnits, base: torch.Tensor
    ) -> torch.Tensor:
        """Logits ``(R, C)`` with superpixels shown in proportion ``z`` (composed chunk by chunk)."""
        if len(rows) <= self.chunk:
            return self.model(self.compose(z, rows, units, base))
        return torch.cat(
            [
                self.model(self.compose(z[i : i + self.chunk], rows[i : i + self.chunk], units, base))
                for i in range(0, len(rows), self.chunk)
            ]
        )

    def images(self, units: SuperpixelUnits, z: torch.Tensor | None = None) -> torch.Tensor:
        """The model's inputs ``(B, 3, S, S)`` for presence ``z`` (default: all present)."""
        units = units.to(self.device)
        rows = torch.arange(len(units), device=self.device)
        if z is None:
            z = torch.ones(len(units), units.max_units, device=self.device)
        with torch.no_grad():
            return self.compose(z.to(self.device), rows, **self.bind(units))
