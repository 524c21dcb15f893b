"""Superpixels: the units of a photo, and the view that removes them.

A photo of any size is centre-cropped to a square and resized to the model's input (`CropTransform`
records how, so scores and label maps map back onto the original). Superpixels are computed on the
model-input image (SLIC from scikit-image, or a label map the user gives) and relabelled 0..K-1.

`ImageView` turns presence ``z`` (one entry per superpixel) into the model's input
``x * M(z) + base * (1 - M(z))`` with ``M(z) = z[label map]`` gathered per pixel, batched over rows
on the model's device; ``base`` is each superpixel's mean colour (what LIME shows for a hidden
superpixel), a blurred copy of the photo, or a constant colour.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from strokelens.errors import StrokelensError
from strokelens.games import Game, Target

BASELINES = ("mean", "blur", "constant")


@dataclass
class Photo:
    """An RGB photo as read from ``source``; ``id`` is the file's stem."""

    image: Image.Image
    source: str | None = None
    id: str = ""

    @property
    def size(self) -> tuple[int, int]:
        """``(width, height)`` in pixels."""
        return self.image.size


def load_photos(paths: Sequence[str | os.PathLike[str]]) -> list[Photo]:
    """Read photos with PIL as RGB; a missing, unreadable or non-image file raises `StrokelensError`."""
    from strokelens.models.darknet import open_image

    return [Photo(open_image(p), str(p), Path(p).stem) for p in paths]


@dataclass(frozen=True)
class CropTransform:
    """The centre square ``(left, top, side)`` of a ``width x height`` photo, resized to ``size``.

    The same recipe as Tiny Darknet's preprocessing (bicubic resize of the centre crop).
    """

    width: int
    height: int
    left: int
    top: int
    side: int
    size: int

    @classmethod
    def centre(cls, width: int, height: int, size: int) -> CropTransform:
        side = min(width, height)
        return cls(width, height, (width - side) // 2, (height - side) // 2, side, size)

    @property
    def box(self) -> tuple[int, int, int, int]:
        """``(left, top, right, bottom)`` in original pixels."""
        return (self.left, self.top, self.left + self.side, self.top + self.side)

    def apply(self, image: Image.Image) -> np.ndarray:
        """The model input ``(size, size, 3)`` float32 in [0, 1]."""
        crop = image.convert("RGB").crop(self.box).resize((self.size, self.size), Image.Resampling.BICUBIC)
        return np.asarray(crop, dtype=np.float32) / 255.0

    def labels_to_input(self, labels: np.ndarray) -> np.ndarray:
        """A label map of the original photo ``(height, width)`` cropped and resized (nearest) to fit."""
        img = Image.fromarray(labels.astype(np.int32), mode="I")
        out = img.crop(self.box).resize((self.size, self.size), Image.Resampling.NEAREST)
        return np.asarray(out, dtype=np.int64)

    def to_original(self, grid: np.ndarray, fill: float | int = -1) -> np.ndarray:
        """A per-pixel map of the model input ``(size, size)`` placed on the original photo
        ``(height, width)`` (nearest neighbour); pixels outside the crop get ``fill``."""
        mode = "I" if np.issubdtype(grid.dtype, np.integer) else "F"
        dtype = np.int32 if mode == "I" else np.float32
        img = Image.fromarray(grid.astype(dtype), mode=mode)
        inner = np.asarray(img.resize((self.side, self.side), Image.Resampling.NEAREST))
        out = np.full((self.height, self.width), fill, dtype=inner.dtype)
        out[self.top : self.top + self.side, self.left : self.left + self.side] = inner
        return out


@dataclass(eq=False)
class SuperpixelUnits:
    """Superpixel units of a batch of model-input images (duck-types `strokelens.units.Units`).

    ``images``: ``(B, 3, S, S)`` float in [0, 1]; ``labels``: ``(B, S, S)`` long, the superpixel of
    every pixel, 0..K_i-1; ``n_units``: ``(B,)`` long. ``photos``/``transforms`` (when built from
    photos) map everything back onto the original photos.
    """

    images: torch.Tensor
    labels: torch.Tensor
    n_units: torch.Tensor
    ids: list[str]
    sources: list[str | None]
    photos: list[Photo] | None = None
    transforms: list[CropTransform] | None = None
    kind: str = field(default="superpixel")

    @property
    def max_units(self) -> int:
        return int(self.n_units.max())

    @property
    def unit_mask(self) -> torch.Tensor:
        """``(B, K)`` bool: which unit slots hold a real superpixel."""
        ar = torch.arange(self.max_units, device=self.n_units.device)
        return ar[None, :] < self.n_units[:, None]

    @property
    def device(self) -> torch.device:
        return self.images.device

    def __len__(self) -> int:
        return len(self.n_units)

    def item(self, i: int) -> dict[str, Any]:
        """Identity of input ``i`` for records: ``id`` and ``source`` (the photo file)."""
        return {"id": self.ids[i], "source": self.sources[i]}

    def unit_lengths(self) -> torch.Tensor:
        """``(B, K)`` area of every superpixel in model-input pixels (the "length" baseline)."""
        b, k = len(self), self.max_units
        flat = self.labels.flatten(1) + k * torch.arange(b, device=self.labels.device)[:, None]
        counts = torch.bincount(flat.flatten(), minlength=b * k)
        return counts.view(b, k).float()

    def unit_parts(self) -> None:
        """Photos carry no part labels."""
        return None

    def to(self, device: torch.device | str) -> SuperpixelUnits:
        """The same units with tensors on ``device``."""
        return SuperpixelUnits(
            self.images.to(device),
            self.labels.to(device),
            self.n_units.to(device),
            self.ids,
            self.sources,
            self.photos,
            self.transforms,
            self.kind,
        )

    def select(self, rows: Sequence[int] | torch.Tensor) -> SuperpixelUnits:
        """The units of inputs ``rows`` only."""
        idx = torch.as_tensor(rows, dtype=torch.long).tolist()
        t = torch.as_tensor(idx, dtype=torch.long, device=self.images.device)
        return SuperpixelUnits(
            self.images[t],
            self.labels[t],
            self.n_units[t],
            [self.ids[i] for i in idx],
            [self.sources[i] for i in idx],
            None if self.photos is None else [self.photos[i] for i in idx],
            None if self.transforms is None else [self.transforms[i] for i in idx],
            self.kind,
        )

    def original_labels(self, i: int) -> np.ndarray:
        """Input ``i``'s label map on its original photo (``-1`` outside the crop)."""
        labels = self.labels[i].cpu().numpy()
        if self.transforms is None:
            return labels
        return self.transforms[i].to_original(labels, fill=-1)

    @classmethod
    def from_images(
        cls,
        images: torch.Tensor | np.ndarray,
        n_segments: int = 50,
        compactness: float = 10.0,
        labels: Sequence[np.ndarray] | np.ndarray | torch.Tensor | None = None,
        ids: Sequence[str] | None = None,
        sources: Sequence[str | None] | None = None,
        device: torch.device | str | None = None,
        **extra: Any,
    ) -> SuperpixelUnits:
        """Units for model-input images ``(B, 3, S, S)`` in [0, 1]: SLIC (``n_segments``,
        ``compactness``; one call per image) or the given integer label maps ``(B, S, S)``."""
        x = torch.as_tensor(images, dtype=torch.float32)
        if x.dim() != 4 or x.shape[1] != 3:
            raise StrokelensError(f"expected images of shape (B, 3, H, W), got {tuple(x.shape)}")
        b, _, h, w = x.shape
        if labels is None:
            if n_segments < 1:
                raise StrokelensError(f"n_segments must be at least 1, got {n_segments}")
            arrays = x.permute(0, 2, 3, 1).detach().cpu().numpy()
            maps = [slic_labels(a, n_segments, compactness) for a in arrays]
        else:
            maps = [_as_label_map(lab, (h, w), f"label map {i}") for i, lab in enumerate(labels)]
            if len(maps) != b:
                raise StrokelensError(f"{len(maps)} label maps given for {b} images")
        relabelled = [relabel(m) for m in maps]
        device = device if device is not None else x.device
        return cls(
            images=x.to(device),
            labels=torch.as_tensor(np.stack([r[0] for r in relabelled]), device=device),
            n_units=torch.as_tensor([r[1] for r in relabelled], device=device),
            ids=list(ids) if ids is not None else [str(i) for i in range(b)],
            sources=list(sources) if sources is not None else [None] * b,
            **extra,
        )

    @classmethod
    def from_photos(
        cls,
        photos: Sequence[Photo],
        size: int = 224,
        n_segments: int = 50,
        compactness: float = 10.0,
        labels: Sequence[np.ndarray] | None = None,
        device: torch.device | str | None = None,
    ) -> SuperpixelUnits:
        """Units for photos of any size: each is centre-cropped and resized to ``size`` (recorded in
        ``transforms``), then segmented there. Given ``labels`` may be at the photo's own size (cropped
        and resized with it, nearest) or already at ``size x size``."""
        if not photos:
            raise StrokelensError("no photos given")
        transforms = [CropTransform.centre(*p.size, size) for p in photos]
        arrays = np.stack([t.apply(p.image) for t, p in zip(transforms, photos, strict=True)])
        images = torch.from_numpy(arrays).permute(0, 3, 1, 2)
        maps = None
        if labels is not None:
            if len(labels) != len(photos):
                raise StrokelensError(f"{len(labels)} label maps given for {len(photos)} photos")
            maps = []
            for lab, t, p in zip(labels, transforms, photos, strict=True):
                lab = np.asarray(lab)
                if lab.shape == (t.height, t.width) and lab.shape != (size, size):
                    lab = t.labels_to_input(_as_label_map(lab, lab.shape, f"label map of {p.source}"))
                maps.append(_as_label_map(lab, (size, size), f"label map of {p.source}"))
        return cls.from_images(
            images,
            n_segments,
            compactness,
            labels=maps,
            ids=[p.id for p in photos],
            sources=[p.source for p in photos],
            device=device,
            photos=list(photos),
            transforms=transforms,
        )


def slic_labels(image: np.ndarray, n_segments: int = 50, compactness: float = 10.0) -> np.ndarray:
    """SLIC superpixels of one ``(H, W, 3)`` image in [0, 1] (scikit-image, Lab space), from 0."""
    from skimage.segmentation import slic

    return slic(image, n_segments=n_segments, compactness=compactness, start_label=0, channel_axis=-1)


def relabel(labels: np.ndarray) -> tuple[np.ndarray, int]:
    """Labels renumbered 0..K-1 in order of value, and K."""
    values, inverse = np.unique(labels, return_inverse=True)
    return inverse.reshape(labels.shape).astype(np.int64), len(values)


def _as_label_map(labels: Any, shape: tuple[int, int], what: str) -> np.ndarray:
    arr = labels.detach().cpu().numpy() if isinstance(labels, torch.Tensor) else np.asarray(labels)
    if not np.issubdtype(arr.dtype, np.integer):
        raise StrokelensError(f"{what}: expected integer labels, got dtype {arr.dtype}")
    if arr.shape != tuple(shape):
        raise StrokelensError(f"{what}: expected shape {tuple(shape)}, got {arr.shape}")
    return arr


def gaussian_blur(images: torch.Tensor, sigma: float) -> torch.Tensor:
    """Separable Gaussian blur of ``(B, C, H, W)`` with reflected borders."""
    radius = max(1, min(math.ceil(3 * sigma), min(images.shape[-2:]) - 1))
    t = torch.arange(-radius, radius + 1, device=images.device, dtype=images.dtype)
    kernel = torch.exp(-(t**2) / (2 * sigma**2))
    kernel = kernel / kernel.sum()
    c = images.shape[1]
    x = F.pad(images, (radius, radius, 0, 0), mode="reflect")
    x = F.conv2d(x, kernel.view(1, 1, 1, -1).expand(c, 1, 1, -1), groups=c)
    x = F.pad(x, (0, 0, radius, radius), mode="reflect")
    return F.conv2d(x, kernel.view(1, 1, -1, 1).expand(c, 1, -1, 1), groups=c)


def superpixel_means(units: SuperpixelUnits) -> torch.Tensor:
    """``(B, 3, S, S)``: every pixel replaced by its superpixel's mean colour (LIME's hidden colour)."""
    b, c, h, w = units.images.shape
    k = units.max_units
    idx = (units.labels.flatten(1) + k * torch.arange(b, device=units.labels.device)[:, None]).flatten()
    pixels = units.images.permute(0, 2, 3, 1).reshape(-1, c)
    sums = torch.zeros(b * k, c, device=pixels.device, dtype=pixels.dtype).index_add_(0, idx, pixels)
    counts = torch.bincount(idx, minlength=b * k).clamp(min=1).to(pixels.dtype)
    means = sums / counts[:, None]
    return means[idx].view(b, h, w, c).permute(0, 3, 1, 2).contiguous()


class ImageView:
    """An image model (``input_kind == "image"``, ``(B, 3, S, S)`` RGB in [0, 1]) seen through
    superpixel presence: ``x * M(z) + base * (1 - M(z))``, ``M(z) = z[label map]``.

    ``baseline``: ``"mean"`` (each superpixel's mean colour, as ``lime_image`` with
    ``hide_color=None``), ``"blur"`` (Gaussian, ``blur_sigma`` input pixels) or ``"constant"``
    (``constant``: a grey level or an RGB triple in [0, 1]). Rows reach the model in chunks of
    ``chunk`` so thousands of coalitions fit in memory.
    """

    def __init__(
        self,
        model: torch.nn.Module,
        baseline: str = "mean",
        constant: float | Sequence[float] = 0.5,
        blur_sigma: float = 8.0,
        chunk: int = 64,
    ) -> None:
        if baseline not in BASELINES:
            raise StrokelensError(f"unknown baseline {baseline!r}; expected one of {', '.join(BASELINES)}")
        if blur_sigma <= 0:
            raise StrokelensError(f"blur_sigma must be positive, got {blur_sigma}")
        self.model = model
        self.baseline = baseline
        self.constant = constant
        self.blur_sigma = blur_sigma
        self.chunk = chunk
        self.class_names: Sequence[str] = model.class_names
        self.input_size: int | None = getattr(model, "input_size", None)

    @property
    def device(self) -> torch.device:
        return next(self.model.parameters()).device

    def baselines(self, units: SuperpixelUnits) -> torch.Tensor:
        """What a removed superpixel shows: ``(B, 3, S, S)``."""
        x = units.images
        if self.baseline == "mean":
            return superpixel_means(units)
        if self.baseline == "blur":
            return gaussian_blur(x, self.blur_sigma)
        value = torch.as_tensor(self.constant, dtype=x.dtype, device=x.device).reshape(-1)
        if value.numel() not in (1, 3):
            raise StrokelensError(f"constant must be one value or an RGB triple, got {self.constant!r}")
        return value.view(1, -1, 1, 1).expand_as(x).contiguous()

    def game(
        self, units: SuperpixelUnits, target: Target = "auto", score: str = "logit", max_rows: int = 256
    ) -> Game:
        """Bind the view to a batch of superpixel units (moved to the model's device)."""
        if getattr(units, "kind", None) != "superpixel":
            raise StrokelensError("an image view needs superpixel units (SuperpixelUnits)")
        size = self.input_size
        if size is not None and tuple(units.images.shape[-2:]) != (size, size):
            raise StrokelensError(
                f"the model takes {size}x{size} images; got {tuple(units.images.shape[-2:])} "
                "(build units with SuperpixelUnits.from_photos(..., size=model.input_size))"
            )
        units = units.to(self.device)
        inputs = {"units": units, "base": self.baselines(units)}
        return Game(self, units, target, score, max_rows, inputs)

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
            return self.compose(z.to(self.device), rows, units, self.baselines(units))
