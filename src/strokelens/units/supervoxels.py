"""Supervoxel units: space-time superpixels of video clips.

SLIC (scikit-image) on each clip as a 3D volume ``(T, S, S, 3)`` with ``channel_axis=-1``, or a
label volume ``(T, S, S)`` the user gives, relabelled 0..K-1. `SupervoxelUnits` is a kind of
`SuperpixelUnits` whose images are clips ``(B, 3, T, S, S)`` and labels ``(B, T, S, S)``, so every
method that takes superpixels (and pools per-pixel scores over labels) takes supervoxels unchanged.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import torch

from strokelens.errors import StrokelensError
from strokelens.units.base import rows_list
from strokelens.units.superpixels import SuperpixelUnits


@dataclass(eq=False)
class SupervoxelUnits(SuperpixelUnits):
    """Supervoxel units of a batch of clips: ``images`` ``(B, 3, T, S, S)`` float in [0, 1],
    ``labels`` ``(B, T, S, S)`` long, ``n_units`` ``(B,)``; ``starts``: each clip's start in its
    file (seconds), when known."""

    starts: list[float | None] | None = None
    kind: str = field(default="supervoxel")

    KINDS = ("supervoxel",)

    def to(self, device: torch.device | str) -> SupervoxelUnits:
        """The same units with tensors on ``device``."""
        return replace(
            self,
            images=self.images.to(device),
            labels=self.labels.to(device),
            n_units=self.n_units.to(device),
        )

    def select(self, rows: Sequence[int] | torch.Tensor) -> SupervoxelUnits:
        """The units of clips ``rows`` only."""
        idx = rows_list(rows)
        t = torch.as_tensor(idx, dtype=torch.long, device=self.images.device)
        return replace(
            self,
            images=self.images[t],
            labels=self.labels[t],
            n_units=self.n_units[t],
            ids=[self.ids[i] for i in idx],
            sources=[self.sources[i] for i in idx],
            starts=None if self.starts is None else [self.starts[i] for i in idx],
        )

    def item(self, i: int) -> dict[str, Any]:
        """Identity of clip ``i``: ``id``, ``source`` (the video file) and ``start`` (seconds)."""
        start = None if self.starts is None else self.starts[i]
        return {"id": self.ids[i], "source": self.sources[i], "start": start}

    @classmethod
    def from_clips(
        cls,
        clips: torch.Tensor | np.ndarray,
        n_segments: int = 50,
        compactness: float = 10.0,
        labels: Sequence[np.ndarray] | np.ndarray | torch.Tensor | None = None,
        ids: Sequence[str] | None = None,
        sources: Sequence[str | None] | None = None,
        starts: Sequence[float | None] | None = None,
        device: torch.device | str | None = None,
    ) -> SupervoxelUnits:
        """Units for clips ``(B, 3, T, S, S)`` in [0, 1]: 3D SLIC (``n_segments``, ``compactness``;
        one call per clip) or the given integer label volumes ``(B, T, S, S)``."""
        x = torch.as_tensor(clips, dtype=torch.float32)
        if x.dim() != 5 or x.shape[1] != 3:
            raise StrokelensError(f"expected clips of shape (B, 3, T, H, W), got {tuple(x.shape)}")
        b = len(x)
        if labels is None:
            if n_segments < 1:
                raise StrokelensError(f"n_segments must be at least 1, got {n_segments}")
            volumes = x.permute(0, 2, 3, 4, 1).detach().cpu().numpy()
            maps = [slic_volume(v, n_segments, compactness) for v in volumes]
        else:
            maps = [_label_volume(lab, tuple(x.shape[2:]), i) for i, lab in enumerate(labels)]
            if len(maps) != b:
                raise StrokelensError(f"{len(maps)} label volumes given for {b} clips")
        starts = list(starts) if starts is not None else None
        return cls.from_label_maps(x, maps, ids, sources, device, starts=starts)


def slic_volume(clip: np.ndarray, n_segments: int = 50, compactness: float = 10.0) -> np.ndarray:
    """Space-time SLIC supervoxels of one ``(T, H, W, 3)`` clip in [0, 1] (Lab space), from 0."""
    from skimage.segmentation import slic

    return slic(clip, n_segments=n_segments, compactness=compactness, start_label=0, channel_axis=-1)


def _label_volume(labels: Any, shape: tuple[int, ...], i: int) -> np.ndarray:
    arr = labels.detach().cpu().numpy() if isinstance(labels, torch.Tensor) else np.asarray(labels)
    if not np.issubdtype(arr.dtype, np.integer):
        raise StrokelensError(f"label volume {i}: expected integer labels, got dtype {arr.dtype}")
    if arr.shape != shape:
        raise StrokelensError(f"label volume {i}: expected shape {shape}, got {arr.shape}")
    return arr
