"""Reading video files as model clips through PyAV (FFmpeg shipped in the package).

A `VideoRecipe` says how a file becomes clips: the crop box (FFmpeg's ``crop=w:h:x:y``), the frame
rate (frames resampled by timestamp: output frame ``n`` shows the source frame nearest ``n / fps``),
the shorter side's size after a bilinear resize and the centre crop, the frames of a clip and their
step, the stride between windows, and the normalisation the model expects. One input is one window;
`count_windows` counts them from packet timestamps alone (no decoding) and `read_windows` decodes
one pass for the windows asked for, keeping only the frames they still need. A stream over
`MAX_PIXELS` (or `MAX_SIDE`) is refused before any frame is decoded.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from strokelens.errors import StrokelensError

#: Streams with more pixels a frame than this are refused before decoding (8K UHD).
MAX_PIXELS = 7680 * 4320
#: Streams wider or taller than this are refused before decoding.
MAX_SIDE = 8192
#: File name suffixes of videos (lower case).
SUFFIXES = (".mp4", ".avi", ".webm", ".mov", ".gif", ".mkv")


@dataclass(frozen=True)
class VideoRecipe:
    """How a video file becomes clips ``(3, frames, size, size)`` in [0, 1].

    ``crop``: ``(width, height, x, y)`` of the picture inside each frame, or None; ``fps``: the frame
    rate frames are resampled to by timestamp (None: the file's own frames); ``size``: the shorter
    side after a bilinear resize, then a ``size x size`` centre crop; ``frames``: frames per clip,
    taking every ``step``-th resampled frame; ``stride``: resampled frames between window starts
    (None: one second at ``fps``, or one clip's span without ``fps``). ``scale``, ``mean``, ``std``:
    what the model is given, ``(clip * scale - mean) / std`` per channel (`normalise`).
    """

    crop: tuple[int, int, int, int] | None = None
    fps: float | None = 12.0
    size: int = 112
    frames: int = 16
    step: int = 2
    stride: int | None = None
    scale: float = 1.0
    mean: tuple[float, float, float] = (0.0, 0.0, 0.0)
    std: tuple[float, float, float] = (1.0, 1.0, 1.0)
    extra: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)

    def __post_init__(self) -> None:
        if self.frames < 1 or self.step < 1 or self.size < 1:
            raise StrokelensError(f"a video recipe needs frames, step and size >= 1, got {self}")
        if self.fps is not None and self.fps <= 0:
            raise StrokelensError(f"fps must be positive, got {self.fps}")
        if self.crop is not None and (len(self.crop) != 4 or min(self.crop[:2]) < 1 or min(self.crop) < 0):
            raise StrokelensError(f"crop is (width, height, x, y) in pixels, got {self.crop}")

    @property
    def span(self) -> int:
        """Resampled frames one clip covers."""
        return (self.frames - 1) * self.step + 1

    @property
    def window_stride(self) -> int:
        """Resampled frames between the starts of consecutive windows."""
        if self.stride is not None:
            return max(1, self.stride)
        return max(1, round(self.fps)) if self.fps else self.span

    def normalise(self, clips: Any) -> Any:
        """``(clips * scale - mean) / std`` for clips ``(N, 3, T, H, W)`` in [0, 1] (a tensor)."""
        mean = clips.new_tensor(self.mean).view(1, 3, 1, 1, 1)
        std = clips.new_tensor(self.std).view(1, 3, 1, 1, 1)
        return (clips * self.scale - mean) / std


@dataclass(frozen=True)
class ClipRef:
    """Window ``window`` of a video file (what a video input is until its frames are read)."""

    path: str
    window: int

    @property
    def id(self) -> str:
        return f"{Path(self.path).stem}#{self.window}"


@dataclass
class Clip:
    """A decoded window: ``frames`` ``(T, S, S, 3)`` uint8, its file, window and start in seconds."""

    frames: np.ndarray
    source: str
    window: int
    start: float

    @property
    def id(self) -> str:
        return f"{Path(self.source).stem}#{self.window}"


def is_video(path: str | os.PathLike[str]) -> bool:
    """Whether the file's name says it is a video."""
    return Path(path).suffix.lower() in SUFFIXES


def _av() -> Any:
    """The ``av`` package (PyAV), or a `StrokelensError` saying how to install it."""
    try:
        import av
    except ImportError:
        raise StrokelensError("reading video needs PyAV: pip install 'strokelens[video]'") from None
    return av


def _open(path: str | os.PathLike[str]) -> Any:
    av = _av()
    path = Path(path)
    if not path.is_file():
        raise StrokelensError(f"no such file: {path}")
    try:
        container = av.open(str(path))
    except (av.FFmpegError, OSError, ValueError) as exc:
        raise StrokelensError(f"{path}: not a readable video ({_first_line(exc)})") from None
    if not container.streams.video:
        container.close()
        raise StrokelensError(f"{path}: holds no video stream")
    stream = container.streams.video[0]
    w, h = stream.codec_context.width, stream.codec_context.height
    if w * h > MAX_PIXELS or max(w, h) > MAX_SIDE:
        container.close()
        raise StrokelensError(f"{path}: video of {w}x{h} pixels is too large (at most {MAX_SIDE} a side)")
    return container


def _first_line(exc: BaseException) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0]


def frame_times(path: str | os.PathLike[str]) -> np.ndarray:
    """Presentation times (seconds from the first frame, sorted) of a file's frames, from its packets
    alone (no decoding)."""
    av = _av()
    container = _open(path)
    try:
        stream = container.streams.video[0]
        tb = float(stream.time_base or 0) or 1.0
        pts = [p.pts for p in container.demux(stream) if p.pts is not None]
    except av.FFmpegError as exc:
        raise StrokelensError(f"{path}: corrupt video stream ({_first_line(exc)})") from None
    finally:
        container.close()
    times = np.sort(np.asarray(pts, dtype=np.float64)) * tb
    return times - times[0] if len(times) else times


#: Resampling may give at most this many output frames a source frame (plus one window's worth): a
#: stream whose timestamps jump far ahead is refused, not resampled into millions of frames.
MAX_FRAMES_PER_SOURCE_FRAME = 64


def resample(times: np.ndarray, fps: float | None, where: str = "<video>") -> np.ndarray:
    """For every output frame, the index of the source frame it shows (times in seconds, sorted):
    the nearest one to ``n / fps``; None keeps every source frame. ``where`` names the file in errors."""
    if fps is None or len(times) == 0:
        return np.arange(len(times))
    span = float(times[-1]) * fps
    if not np.isfinite(span) or span + 1 > MAX_FRAMES_PER_SOURCE_FRAME * (len(times) + 1):
        raise StrokelensError(
            f"{where}: {len(times)} frames whose timestamps span {times[-1]:.6g} s; at {fps:g} fps that is "
            f"over {MAX_FRAMES_PER_SOURCE_FRAME} frames for each one (a broken timestamp?)"
        )
    n = int(np.floor(span + 1e-6)) + 1
    slots = np.arange(n) / fps
    right = np.clip(np.searchsorted(times, slots), 1, len(times) - 1) if len(times) > 1 else np.zeros(n, int)
    if len(times) == 1:
        return right
    left = right - 1
    return np.where(np.abs(times[left] - slots) <= np.abs(times[right] - slots), left, right)


def window_frames(n_frames: int, recipe: VideoRecipe) -> np.ndarray:
    """``(W, frames)`` output frame indices of every whole window in ``n_frames`` resampled frames."""
    n_windows = max(0, (n_frames - recipe.span) // recipe.window_stride + 1)
    starts = np.arange(n_windows) * recipe.window_stride
    return starts[:, None] + np.arange(recipe.frames)[None, :] * recipe.step


def count_windows(path: str | os.PathLike[str], recipe: VideoRecipe) -> int:
    """How many whole windows of ``recipe`` a file holds (from packet timestamps; no decoding); a file
    with no frames, or too few for one clip, is an error."""
    times = frame_times(path)
    if not len(times):
        raise StrokelensError(f"{path}: no video frames (a truncated or corrupt file?)")
    n = len(resample(times, recipe.fps, str(path)))
    if n < recipe.span:
        raise StrokelensError(
            f"{path}: too short for one clip ({n} frames after resampling; a clip needs {recipe.span})"
        )
    return len(window_frames(n, recipe))


def _graph(stream: Any, recipe: VideoRecipe) -> Any:
    """FFmpeg filters: crop, bilinear resize of the shorter side to ``size``, centre crop, RGB."""
    av = _av()

    w, h = stream.codec_context.width, stream.codec_context.height
    cw, ch = (recipe.crop[0], recipe.crop[1]) if recipe.crop else (w, h)
    if recipe.crop and (recipe.crop[0] + recipe.crop[2] > w or recipe.crop[1] + recipe.crop[3] > h):
        raise StrokelensError(f"crop {recipe.crop} lies outside the {w}x{h} picture")
    short = min(cw, ch)
    sw, sh = (
        max(recipe.size, round(cw * recipe.size / short)),
        max(recipe.size, round(ch * recipe.size / short)),
    )
    graph = av.filter.Graph()
    chain = [graph.add_buffer(template=stream)]
    if recipe.crop:
        chain.append(graph.add("crop", "{}:{}:{}:{}".format(*recipe.crop)))
    chain.append(graph.add("scale", f"{sw}:{sh}:flags=bilinear"))
    chain.append(graph.add("crop", f"{recipe.size}:{recipe.size}"))
    chain.append(graph.add("format", "rgb24"))
    chain.append(graph.add("buffersink"))
    for a, b in itertools.pairwise(chain):
        a.link_to(b)
    graph.configure()
    return graph


def _decoded(path: str | os.PathLike[str], recipe: VideoRecipe, last: int) -> Iterator[np.ndarray]:
    """Source frames ``0..last`` of a file, filtered to ``(S, S, 3)`` uint8, in order."""
    av = _av()

    container = _open(path)
    try:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        graph = _graph(stream, recipe)
        index = 0
        for frame in container.decode(stream):
            graph.push(frame)
            while True:
                try:
                    out = graph.pull()
                except (av.BlockingIOError, av.EOFError):
                    break
                yield out.to_ndarray()
                index += 1
                if index > last:
                    return
    except av.FFmpegError as exc:
        raise StrokelensError(f"{path}: corrupt video stream ({_first_line(exc)})") from None
    finally:
        container.close()


def read_windows(
    path: str | os.PathLike[str], recipe: VideoRecipe, windows: Sequence[int] | None = None
) -> list[Clip]:
    """Windows ``windows`` (default: all) of a file as `Clip` objects, decoded in one pass that keeps
    only the frames windows still to come need; a window the file does not hold is an error."""
    times = frame_times(path)
    source = resample(times, recipe.fps, str(path))
    table = window_frames(len(source), recipe)
    wanted = list(range(len(table))) if windows is None else [int(w) for w in windows]
    if not len(table):
        raise StrokelensError(
            f"{path}: too short for one clip ({len(source)} frames after resampling; "
            f"a clip needs {recipe.span})"
        )
    bad = [w for w in wanted if not 0 <= w < len(table)]
    if bad:
        raise StrokelensError(f"{path}: holds {len(table)} clip windows, not window {bad[0]}")
    if not wanted:
        return []
    needed = source[table[wanted]]  # (W, T) source frame indices
    keep: dict[int, np.ndarray] = {}
    wanted_sources = set(needed.ravel().tolist())
    for i, frame in enumerate(_decoded(path, recipe, int(needed.max()))):
        if i in wanted_sources:
            keep[i] = frame
    missing = sorted(wanted_sources - set(keep))
    if missing:
        raise StrokelensError(f"{path}: corrupt video stream (frame {missing[0]} could not be decoded)")
    fps = recipe.fps or 1.0
    return [
        Clip(np.stack([keep[s] for s in needed[j]]), str(path), w, float(table[w, 0] / fps))
        for j, w in enumerate(wanted)
    ]


def clips_tensor(clips: Sequence[Clip]) -> Any:
    """``(N, 3, T, S, S)`` float in [0, 1] from decoded clips."""
    import torch

    frames = torch.from_numpy(np.stack([c.frames for c in clips]))
    return frames.permute(0, 4, 1, 2, 3).float() / 255.0
