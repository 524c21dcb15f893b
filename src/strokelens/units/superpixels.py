"""Superpixel units: the units of a photo, computed on the model-input image.

Superpixels come from SLIC (scikit-image) or a label map the user gives, relabelled 0..K-1. Photos
of any size are centre-cropped and resized first (`strokelens.photo.CropTransform`), and the
transform is kept so label maps and scores map back onto the original photo.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

import numpy as np
import torch

from strokelens.errors import StrokelensError
from strokelens.photo import CropTransform, Photo
from strokelens.units.base import Units, rows_list

U = TypeVar("U", bound="SuperpixelUnits")


@dataclass(eq=False)
class SuperpixelUnits(Units):
    """Superpixel units of a batch of model-input images.

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

    KINDS = ("superpixel",)

    @property
    def device(self) -> torch.device:
        return self.images.device

    def item(self, i: int) -> dict[str, Any]:
        """Identity of input ``i`` for records: ``id`` and ``source`` (the photo file)."""
        return {"id": self.ids[i], "source": self.sources[i]}

    def fingerprint(self, i: int) -> bytes:
        """Photo (or clip) ``i``'s pixels and superpixel labels."""
        image = self.images[i].detach().cpu().to(torch.float32).contiguous()
        return image.numpy().tobytes() + self.labels[i].cpu().contiguous().numpy().tobytes()

    def unit_lengths(self) -> torch.Tensor:
        """``(B, K)`` area of every superpixel in model-input pixels (the "length" baseline)."""
        b, k = len(self), self.max_units
        flat = self.labels.flatten(1) + k * torch.arange(b, device=self.labels.device)[:, None]
        counts = torch.bincount(flat.flatten(), minlength=b * k)
        return counts.view(b, k).float()

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
        idx = rows_list(rows)
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
        return cls.from_label_maps(x, maps, ids, sources, device, **extra)

    @classmethod
    def from_label_maps(
        cls: type[U],
        x: torch.Tensor,
        maps: Sequence[np.ndarray],
        ids: Sequence[str] | None,
        sources: Sequence[str | None] | None,
        device: torch.device | str | None,
        **extra: Any,
    ) -> U:
        """Units for inputs ``x`` with one label array per input (relabelled to 0..K-1); ids and
        sources default to the index and None. `from_images` and the supervoxels' `from_clips` end here."""
        b = len(x)
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


def superpixel_means(units: SuperpixelUnits) -> torch.Tensor:
    """``(B, 3, S, S)``: every pixel replaced by its superpixel's mean colour (LIME's hidden colour);
    clips ``(B, 3, T, S, S)`` likewise, per supervoxel."""
    b, c = units.images.shape[:2]
    k = units.max_units
    idx = (units.labels.flatten(1) + k * torch.arange(b, device=units.labels.device)[:, None]).flatten()
    pixels = units.images.movedim(1, -1).reshape(-1, c)
    sums = torch.zeros(b * k, c, device=pixels.device, dtype=pixels.dtype).index_add_(0, idx, pixels)
    counts = torch.bincount(idx, minlength=b * k).clamp(min=1).to(pixels.dtype)
    means = sums / counts[:, None]
    return means[idx].view(b, *units.images.shape[2:], c).movedim(-1, 1).contiguous()
