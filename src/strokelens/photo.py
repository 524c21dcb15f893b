"""A photo, and the centre-crop geometry that maps a photo onto a model's input.

`Photo` is the core image type (beside `strokelens.sketch.Sketch`); reading photo files lives in
`strokelens.io.photos`. `CropTransform` is the one crop recipe (centre square, bicubic resize) that
Tiny Darknet's preprocessing and the image view share; it also maps label maps and scores back onto
the photo.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PIL import Image


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

    def tensor(self, image: Image.Image):
        """The model input as a ``(3, size, size)`` float tensor in [0, 1]."""
        import torch

        return torch.from_numpy(self.apply(image)).permute(2, 0, 1).contiguous()
