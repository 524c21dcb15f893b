"""Input kinds: what a model takes, and the files those inputs come from.

| kind | ``model.input_kind`` | files | one input |
|---|---|---|---|
| `RasterSketch` | ``raster-sketch`` | `SketchFiles` | a drawing, drawn to an image by the model's canvas |
| `VectorSketch` | ``vector-sketch`` | `SketchFiles` | a drawing, as strokes |
| `Image` | ``image`` | `PhotoFiles` | a photo (RGB) |
| `RasterGenerator` | ``raster-generator`` | `SketchFiles` | a partial drawing (completion models) |
| `Video` | ``video`` | `VideoFiles` | a clip window of a video file |

A view owns its kind (`View.kind`); everything that depends on the kind of input (reading, counting
and checking files, batch sizes, what ``--target file`` means, the words messages use) asks the kind
object. This is the one module that knows kinds by name (`parse` for strings from the CLI and JSON,
`of` for a model's declared ``input_kind``): a new kind (video, say) is one new class here.
No module imports PyTorch here, so the CLI can ask a kind before loading a model.
"""

from __future__ import annotations

import os
from abc import ABC, abstractmethod
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any, ClassVar

from strokelens.errors import StrokelensError

__all__ = [
    "IMAGE",
    "KINDS",
    "PHOTO_FILES",
    "RASTER_GENERATOR",
    "RASTER_SKETCH",
    "SKETCH_FILES",
    "VECTOR_SKETCH",
    "VIDEO",
    "VIDEO_FILES",
    "Image",
    "InputFiles",
    "InputKind",
    "PhotoFiles",
    "RasterGenerator",
    "RasterSketch",
    "SketchFiles",
    "VectorSketch",
    "Video",
    "VideoFiles",
    "files_named",
    "of",
    "parse",
]

PathLike = str | os.PathLike[str]


class InputFiles(ABC):
    """The files inputs of one kind come from: how they are checked, counted and read, what batch
    sizes suit them, what ``--target file`` means, and what messages call them."""

    #: The name in job manifests and ``defaults.json`` (``sketch``, ``image``); figures say
    #: ``ms_per_{name}``.
    name: ClassVar[str]
    #: One input in messages, and several (``drawing``/``drawings``, ``photo``/``photos``).
    noun: ClassVar[str]
    plural: ClassVar[str]
    #: The kind of input in names and titles (``sketch``/``sketches``, ``photo``/``photos``); also
    #: the name of the learned explainers' network for it and of its training data.
    word: ClassVar[str]
    words: ClassVar[str]
    #: Inputs per batch by default, per command (``explain``, ``evaluate``).
    batch_sizes: ClassVar[dict[str, int]]
    #: True when ``--limit N`` means N inputs per file (a sketch file holds many); False: N in all.
    limit_per_file: ClassVar[bool]
    #: The units its inputs are scored in when none are asked for (None: the view's own).
    default_units: ClassVar[str | None] = None
    #: Fields added to every record of an explain report.
    report_fields: ClassVar[dict[str, Any]] = {}
    #: True when a file's name says its input's class (``--target file``).
    names_classes: ClassVar[bool] = False

    def batch_size(self, command: str) -> int:
        """Inputs per batch by default for ``command`` (``explain`` or ``evaluate``)."""
        return self.batch_sizes[command]

    @abstractmethod
    def check(self, path: PathLike) -> Path:
        """``path`` as a `Path`; `StrokelensError` for a missing file, a folder or a type it cannot read."""

    def check_all(self, files: Iterable[PathLike]) -> list[Path]:
        """Every file checked (`check`); no files at all is an error."""
        paths = [self.check(f) for f in files]
        if not paths:
            raise StrokelensError("no input files")
        return paths

    @abstractmethod
    def count(self, path: PathLike) -> int:
        """How many inputs the file holds."""

    @abstractmethod
    def records(
        self, path: PathLike, start: int = 0, limit: int | None = None
    ) -> Iterator[tuple[int, Any | StrokelensError]]:
        """Inputs ``start``, ``start + 1``, ... (at most ``limit``) of a file, tolerantly: ``(index,
        input)``, or ``(index, error)`` for one that cannot be read."""

    @abstractmethod
    def read(self, files: Iterable[PathLike], limit: int | None = None) -> list[Any]:
        """Every input of ``files`` (``limit`` as `limit_per_file` says); none at all is an error."""

    def select(self, paths: Sequence[Path], limit: int | None) -> list[Path]:
        """The files a job with ``limit`` reads from (all of them, or the first ``limit`` photos)."""
        return list(paths) if self.limit_per_file or not limit else list(paths[:limit])

    def check_target(self, target: str | int) -> None:
        """Refuse ``--target file`` for inputs whose file names say no class."""
        if target == "file" and not self.names_classes:
            raise StrokelensError(f"--target file names classes by photo file name; {self.words} have labels")

    def file_targets(self, inputs: Sequence[Any], class_names: Sequence[str]) -> Any:
        """What ``--target file`` means for ``inputs``: the classes their files name."""
        self.check_target("file")
        raise NotImplementedError(f"{type(self).__name__} names classes but does not say how")

    def unit_options(self, units: str | None, segments: int) -> dict[str, Any]:
        """The options that make units of these inputs from the CLI's ``--units`` and ``--segments``."""
        return {}

    def __reduce__(self) -> tuple[Any, tuple[str]]:  # unpickled (or copied): the one instance
        return files_named, (self.name,)

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


class SketchFiles(InputFiles):
    """Sketch files (``.ndjson[.gz]``, ``.npz``, ``.svg``), each holding one drawing or many."""

    name = "sketch"
    noun, plural = "drawing", "drawings"
    word, words = "sketch", "sketches"
    batch_sizes: ClassVar[dict[str, int]] = {"explain": 32, "evaluate": 32}
    limit_per_file = True
    default_units = "stroke"

    def check(self, path: PathLike) -> Path:
        from strokelens.io import sketch_format

        return sketch_format(path)[0]

    def count(self, path: PathLike) -> int:
        from strokelens.io import count_records

        return count_records(path)

    def records(
        self, path: PathLike, start: int = 0, limit: int | None = None
    ) -> Iterator[tuple[int, Any | StrokelensError]]:
        from strokelens.io import read_records

        return read_records(path, start, limit)

    def read(self, files: Iterable[PathLike], limit: int | None = None) -> list[Any]:
        from strokelens.io import read_sketches

        sketches = [s for f in files for s in read_sketches(f, limit=limit)]
        if not sketches:
            raise StrokelensError("no drawings in the given files")
        return sketches


class PhotoFiles(InputFiles):
    """Photo files (``.jpg``, ``.jpeg``, ``.png``), one photo each, read as paths."""

    name = "image"
    noun, plural = "photo", "photos"
    word, words = "photo", "photos"
    batch_sizes: ClassVar[dict[str, int]] = {"explain": 8, "evaluate": 4}
    limit_per_file = False
    report_fields: ClassVar[dict[str, Any]] = {"score": "logit"}
    names_classes = True
    #: File name suffixes of photos (lower case).
    suffixes: ClassVar[tuple[str, ...]] = (".jpg", ".jpeg", ".png")

    def matches(self, path: PathLike) -> bool:
        """Whether the file's name says it is a photo."""
        return Path(path).suffix.lower() in self.suffixes

    def check(self, path: PathLike) -> Path:
        path = Path(path)
        if not path.is_file():
            raise StrokelensError(f"no such file: {path}")
        return path

    def count(self, path: PathLike) -> int:
        self.check(path)
        return 1

    def records(
        self, path: PathLike, start: int = 0, limit: int | None = None
    ) -> Iterator[tuple[int, Any | StrokelensError]]:
        if start == 0 and limit != 0:
            yield 0, str(path)

    def read(self, files: Iterable[PathLike], limit: int | None = None) -> list[Any]:
        photos = list(files)
        photos = photos[:limit] if limit else photos
        if not photos:
            raise StrokelensError("no photos given")
        return photos

    def file_targets(self, inputs: Sequence[Any], class_names: Sequence[str]) -> list[int]:
        from strokelens.io.photos import file_targets

        return file_targets(inputs, class_names)

    def unit_options(self, units: str | None, segments: int) -> dict[str, Any]:
        if units is not None:
            raise StrokelensError(
                f"--units is for sketches; {self.words} are scored in superpixels (--segments)"
            )
        return {"n_segments": segments}


class VideoFiles(InputFiles):
    """Video files (``.mp4``, ``.avi``, ``.webm``, ``.mov``, ``.gif``, ``.mkv``): one input is one
    clip window (`strokelens.io.video.ClipRef`), a file holds several. Windows are counted by
    `recipe` (the default `strokelens.io.video.VideoRecipe`: 16 frames every 2nd at 12 fps, one a
    second); the view reads their frames with its model's own recipe."""

    name = "video"
    noun, plural = "clip", "clips"
    word, words = "clip", "clips"
    batch_sizes: ClassVar[dict[str, int]] = {"explain": 4, "evaluate": 2}
    limit_per_file = True
    report_fields: ClassVar[dict[str, Any]] = {"score": "logit"}

    def __init__(self, recipe: Any = None) -> None:
        self._recipe = recipe

    @property
    def recipe(self) -> Any:
        """The recipe windows are counted by."""
        from strokelens.io.video import VideoRecipe

        return self._recipe or VideoRecipe()

    def check(self, path: PathLike) -> Path:
        from strokelens.io.video import SUFFIXES, is_video

        path = Path(path)
        if not path.is_file():
            raise StrokelensError(f"no such file: {path}")
        if not is_video(path):
            raise StrokelensError(f"{path}: not a video file ({', '.join(SUFFIXES)})")
        return path

    def count(self, path: PathLike) -> int:
        from strokelens.io.video import count_windows

        return count_windows(self.check(path), self.recipe)

    def records(
        self, path: PathLike, start: int = 0, limit: int | None = None
    ) -> Iterator[tuple[int, Any | StrokelensError]]:
        from strokelens.io.video import ClipRef

        try:
            n = self.count(path)
        except StrokelensError as exc:
            yield start, exc
            return
        stop = n if limit is None else min(n, start + limit)
        for i in range(start, stop):
            yield i, ClipRef(str(path), i)

    def read(self, files: Iterable[PathLike], limit: int | None = None) -> list[Any]:
        from strokelens.io.video import ClipRef

        clips = []
        for f in files:
            n = self.count(f)
            if n == 0:
                raise StrokelensError(f"{f}: too short for one clip of {self.recipe.span} frames")
            clips += [ClipRef(str(f), i) for i in range(min(n, limit) if limit else n)]
        if not clips:
            raise StrokelensError("no clips in the given files")
        return clips

    def unit_options(self, units: str | None, segments: int) -> dict[str, Any]:
        if units is not None:
            raise StrokelensError(
                f"--units is for sketches; {self.words} are scored in supervoxels (--segments)"
            )
        return {"n_segments": segments}


#: The one instance of each kind of files.
SKETCH_FILES = SketchFiles()
PHOTO_FILES = PhotoFiles()
VIDEO_FILES = VideoFiles()


class InputKind(ABC):
    """What a model takes (its ``input_kind``): the files its inputs come from and the words used for
    them. Views own one (`View.kind`); compare kinds by identity or ask them, never by name."""

    #: The model's declared ``input_kind``.
    name: ClassVar[str]
    #: The files its inputs come from.
    files: ClassVar[InputFiles]
    #: True when its inputs are drawings (strokes a view can remove, reorder or move).
    sketches: ClassVar[bool] = True
    #: True when a model of this kind explains and classifies (False: it generates).
    classifies: ClassVar[bool] = True
    #: What ``--input`` says of it.
    help: ClassVar[str] = ""

    @property
    def item(self) -> str:
        """What figures call one input (``ms_per_sketch``, ``ms_per_image``)."""
        return self.files.name

    def __reduce__(self) -> tuple[Any, tuple[str]]:  # unpickled (or copied): the one instance
        return parse, (self.name,)

    def __repr__(self) -> str:
        return f"kinds.{self.name.upper().replace('-', '_')}"

    def __str__(self) -> str:
        return self.name


class RasterSketch(InputKind):
    name = "raster-sketch"
    files = SKETCH_FILES
    help = "images drawn by the rendering options"


class VectorSketch(InputKind):
    name = "vector-sketch"
    files = SKETCH_FILES
    help = "strokes"


class Image(InputKind):
    name = "image"
    files = PHOTO_FILES
    sketches = False
    help = "RGB photos"


class RasterGenerator(InputKind):
    """Completion models: partial drawings in, generated ink out (no view of `view_for` takes them)."""

    name = "raster-generator"
    files = SKETCH_FILES
    classifies = False
    help = "partial drawings, completed"


class Video(InputKind):
    """Video classifiers: clips ``(N, 3, T, H, W)`` in [0, 1] (the model normalises them)."""

    name = "video"
    files = VIDEO_FILES
    sketches = False
    help = "video clips (N, 3, T, H, W)"


RASTER_SKETCH = RasterSketch()
VECTOR_SKETCH = VectorSketch()
IMAGE = Image()
RASTER_GENERATOR = RasterGenerator()
VIDEO = Video()

#: Every kind, by name.
KINDS: dict[str, InputKind] = {
    k.name: k for k in (RASTER_SKETCH, VECTOR_SKETCH, IMAGE, RASTER_GENERATOR, VIDEO)
}
#: The kinds a classifier may take (`--input`, `view_for`).
CLASSIFIER_KINDS: tuple[InputKind, ...] = tuple(k for k in KINDS.values() if k.classifies)
#: Every kind of files, by name.
FILES: dict[str, InputFiles] = {f.name: f for f in (SKETCH_FILES, PHOTO_FILES, VIDEO_FILES)}


def parse(name: str | InputKind, among: Iterable[InputKind] | None = None) -> InputKind:
    """The kind named ``name`` (a kind passes through); among ``among`` (default: all), or a
    `StrokelensError` listing the valid names."""
    valid = list(KINDS.values() if among is None else among)
    kind = name if isinstance(name, InputKind) else KINDS.get(name)  # type: ignore[arg-type]
    if kind is None or kind not in valid:
        raise StrokelensError(
            f"unknown input kind {name!r}; expected one of {', '.join(k.name for k in valid)}"
        )
    return kind


def files_named(name: str | InputFiles) -> InputFiles:
    """The kind of files named ``name`` (``sketch`` or ``image``, as job manifests and
    ``defaults.json`` say; a kind of files passes through), or an error listing the valid names."""
    if isinstance(name, InputFiles):
        return name
    try:
        return FILES[name]
    except KeyError:
        raise StrokelensError(
            f"unknown kind of input files {name!r}; expected one of {', '.join(FILES)}"
        ) from None


def of(model: Any, among: Iterable[InputKind] | None = None) -> InputKind:
    """The kind a model declares (``model.input_kind``), or an error saying how to declare it."""
    declared = getattr(model, "input_kind", None)
    valid = list(CLASSIFIER_KINDS if among is None else among)
    kind = KINDS.get(declared) if isinstance(declared, str) else None
    if kind is None or kind not in valid:
        raise StrokelensError(
            f"{type(model).__name__} declares input_kind {declared!r}; expected one of "
            f"{', '.join(k.name for k in valid)} (set model.input_kind and model.class_names)"
        )
    return kind
