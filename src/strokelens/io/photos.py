"""Reading photos safely: `open_image` (refusing unreadable files and decompression bombs) and
`load_photos` (`strokelens.photo.Photo` objects); the class an ImageNet sample's file name spells
(`match_imagenet_samples`, `file_targets`)."""

from __future__ import annotations

import os
import re
from collections import Counter
from collections.abc import Iterable, Sequence
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


def normalise_name(name: str) -> str:
    """Lower case, ``_``/``-`` as spaces, no apostrophes: ``"Jack-o'-lantern"`` -> ``"jack o lantern"``."""
    name = name.lower().replace("_", " ").replace("-", " ").replace("'", "")
    return " ".join(name.split())


def sample_class_name(path: str | os.PathLike[str]) -> str:
    """The class part of an ImageNet sample name: ``n01440764_tench.JPEG`` -> ``tench``."""
    stem = Path(path).stem
    match = re.fullmatch(r"n\d{8}_(.+)", stem)
    if not match:
        raise StrokelensError(f"{path}: expected a name like n01440764_tench.JPEG")
    return match.group(1)


def match_imagenet_samples(
    paths: Iterable[str | os.PathLike[str]], class_names: Sequence[str]
) -> list[tuple[Path, int]]:
    """Pair each photo with the index of the class its name spells, by normalised name.

    Names that match no class, or a class name that occurs twice (``crane``, ``cardigan``,
    ``maillot``), are left out: with the shared samples, 994 of 1,000 photos pair up.
    """
    norm = [normalise_name(c) for c in class_names]
    counts = Counter(norm)
    index = {n: i for i, n in enumerate(norm) if counts[n] == 1}
    out = []
    for p in sorted(Path(p) for p in paths):
        i = index.get(normalise_name(sample_class_name(p)))
        if i is not None:
            out.append((p, i))
    return out


def file_targets(photos: Iterable[str | os.PathLike[str] | Photo], class_names: Sequence[str]) -> list[int]:
    """Class indices spelled by file names like ``n01440764_tench.JPEG`` (ImageNet samples), one per
    photo (a path or a `Photo`), matched as `match_imagenet_samples` does; a name that names no
    single class is an error."""
    out = []
    for photo in photos:
        p = photo.source if isinstance(photo, Photo) else photo
        pairs = match_imagenet_samples([p], class_names)
        if not pairs:
            raise StrokelensError(f"{p}: the file name names no single class of this model")
        out.append(pairs[0][1])
    return out
