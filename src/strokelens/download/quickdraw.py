"""The public Quick, Draw! files (https://github.com/googlecreativelab/quickdraw-dataset, CC BY 4.0).

Google serves them from the Cloud Storage bucket ``quickdraw_dataset``, one file a class::

    https://storage.googleapis.com/quickdraw_dataset/full/simplified/<class>.ndjson   (simplified)
    https://storage.googleapis.com/quickdraw_dataset/full/raw/<class>.ndjson          (raw)
    https://storage.googleapis.com/quickdraw_dataset/full/binary/<class>.bin          (binary)
    https://storage.googleapis.com/quickdraw_dataset/full/numpy_bitmap/<class>.npy    (bitmap)
    https://storage.googleapis.com/quickdraw_dataset/sketchrnn/<class>.npz            (sketchrnn)

Class names are QuickDraw's 345 (`quickdraw_classes`), spelt with spaces (``The Eiffel Tower``, URL-
quoted in the address); the local file keeps the name (``The Eiffel Tower.ndjson``). The bucket root
can be replaced (``base_url=``, or ``$STROKELENS_QUICKDRAW_URL``): a mirror, or a local test server.
"""

from __future__ import annotations

import difflib
import functools
import os
import urllib.parse
from collections.abc import Iterable
from pathlib import Path

from strokelens.download.http import TIMEOUT, Fetched, Remote, fetch_file, head, host_of
from strokelens.download.progress import DownloadProgress
from strokelens.errors import StrokelensError
from strokelens.home import resolve_home

BASE_URL = "https://storage.googleapis.com/quickdraw_dataset"
#: Replaces `BASE_URL` when set (a mirror or a local server).
URL_ENV_VAR = "STROKELENS_QUICKDRAW_URL"
#: format -> (folder in the bucket, file extension).
FORMATS: dict[str, tuple[str, str]] = {
    "simplified": ("full/simplified", ".ndjson"),
    "raw": ("full/raw", ".ndjson"),
    "binary": ("full/binary", ".bin"),
    "bitmap": ("full/numpy_bitmap", ".npy"),
    "sketchrnn": ("sketchrnn", ".npz"),
}
CLASSES_FILE = Path(__file__).with_name("quickdraw_classes.txt")


@functools.cache
def quickdraw_classes() -> tuple[str, ...]:
    """QuickDraw's 345 class names as the dataset spells them (``The Eiffel Tower``, ``t-shirt``)."""
    return tuple(line.strip() for line in CLASSES_FILE.read_text(encoding="utf-8").splitlines() if line)


def _key(name: str) -> str:
    return " ".join(name.replace("_", " ").split()).casefold()


def check_classes(names: Iterable[str]) -> list[str]:
    """QuickDraw's spelling of each of ``names`` (case and ``_`` for spaces do not matter), in order,
    without repeats; ``all`` stands for every class. An unknown name raises, suggesting close ones."""
    known = {_key(c): c for c in quickdraw_classes()}
    out: list[str] = []
    for name in names:
        if _key(name) == "all":
            out.extend(quickdraw_classes())
            continue
        if _key(name) not in known:
            close = difflib.get_close_matches(_key(name), list(known), n=3, cutoff=0.6)
            maybe = f"; did you mean {', '.join(repr(known[c]) for c in close)}?" if close else ""
            raise StrokelensError(f"{name!r} is not one of QuickDraw's 345 classes{maybe}")
        out.append(known[_key(name)])
    if not out:
        raise StrokelensError("no QuickDraw class given")
    return list(dict.fromkeys(out))


def read_class_file(path: str | os.PathLike[str]) -> list[str]:
    """Class names from a text file, one a line; blank lines and ``#`` comments are ignored."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise StrokelensError(f"cannot read class file {path}: {exc}") from exc
    return [s for line in text.splitlines() if (s := line.split("#", 1)[0].strip())]


def base_url(value: str | None = None) -> str:
    """The bucket root: ``value``, else ``$STROKELENS_QUICKDRAW_URL``, else `BASE_URL`."""
    url = (value or os.environ.get(URL_ENV_VAR) or BASE_URL).rstrip("/")
    if urllib.parse.urlsplit(url).scheme not in ("http", "https") or not host_of(url):
        raise StrokelensError(f"base URL {url!r} is not an http:// or https:// address")
    return url


def _format(format: str) -> tuple[str, str]:
    if format not in FORMATS:
        raise StrokelensError(f"unknown QuickDraw format {format!r}; one of {', '.join(FORMATS)}")
    return FORMATS[format]


def quickdraw_url(name: str, format: str = "simplified", base: str | None = None) -> str:
    """The address of class ``name``'s file in ``format`` under the bucket root ``base``."""
    folder, ext = _format(format)
    return f"{base_url(base)}/{folder}/{urllib.parse.quote(name + ext)}"


def default_folder(format: str, home: str | os.PathLike[str] | None = None) -> Path:
    """Where downloads go without ``out``: ``HOME/data/quickdraw-<format>``."""
    _format(format)
    return resolve_home(home) / "data" / f"quickdraw-{format}"


def download_quickdraw(
    classes: Iterable[str],
    out: str | os.PathLike[str] | None = None,
    *,
    format: str = "simplified",
    base: str | None = None,
    home: str | os.PathLike[str] | None = None,
    timeout: float = TIMEOUT,
    retries: int = 2,
    progress: bool | None = None,
) -> list[Fetched]:
    """Download QuickDraw's ``format`` files of ``classes`` into ``out`` (default: `default_folder`).

    Files already in ``out`` are skipped; a ``NAME.part`` left by an interrupted run is resumed.
    Sizes (and MD5, which the bucket announces) are checked before a file gets its name. ``progress``
    shows byte progress bars on stderr (None: when stderr is a terminal). Returns one `Fetched` a class.
    """
    names = check_classes(classes)
    ext = _format(format)[1]
    root = base_url(base)
    folder = Path(out) if out is not None else default_folder(format, home)
    hint = f"check your connection, or give another base URL (--base-url or ${URL_ENV_VAR})"
    wanted = [(quickdraw_url(n, format, root), folder / f"{n}{ext}") for n in names]
    todo = [(url, dest) for url, dest in wanted if not dest.exists()]
    remotes = {url: head(url, timeout, hint) for url, _ in todo}  # fails fast when offline
    sizes = [r.size for r in remotes.values()]
    total = sum(s for s in sizes if s is not None) if None not in sizes else None
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise StrokelensError(f"cannot create the folder {folder}: {exc.strerror or exc}") from exc
    results = []
    with DownloadProgress(total, len(todo), progress) as bars:
        for url, dest in wanted:
            if dest.exists():
                results.append(fetch_file(Remote(url), dest))
                continue
            bars.start(dest.name)
            results.append(
                fetch_file(
                    remotes.get(url, Remote(url)),
                    dest,
                    timeout=timeout,
                    retries=retries,
                    hint=hint,
                    on_progress=bars.update,
                )
            )
    return results
