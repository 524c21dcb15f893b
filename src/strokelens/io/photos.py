"""Reading photos safely: `open_image` (refusing unreadable files and decompression bombs) and
`load_photos` (`strokelens.photo.Photo` objects)."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from PIL import Image, UnidentifiedImageError

from strokelens.errors import StrokelensError
from strokelens.photo import Photo

#: Photos larger than this many pixels are refused (decompression bombs).
MAX_PIXELS = 100_000_000


def load_photos(paths: Sequence[str | os.PathLike[str]]) -> list[Photo]:
    """Read photos with PIL as RGB; a missing, unreadable or non-image file raises `StrokelensError`."""
    return [Photo(open_image(p), str(p), Path(p).stem) for p in paths]


def open_image(path: str | os.PathLike[str]) -> Image.Image:
    """Open a photo as RGB, raising `StrokelensError` naming the file when it cannot be read."""
    path = Path(path)
    if not path.is_file():
        raise StrokelensError(f"no such file: {path}")
    try:
        with Image.open(path) as img:
            if img.width * img.height > MAX_PIXELS:
                raise StrokelensError(f"{path}: image of {img.width}x{img.height} pixels is too large")
            return img.convert("RGB")
    except (UnidentifiedImageError, OSError, ValueError, Image.DecompressionBombError) as exc:
        raise StrokelensError(f"{path}: not a readable image ({exc})") from None
