"""Clips with every supervoxel tinted by its score: a frame strip (PNG), an animated GIF, and the
report's cells showing both (inlined, no network needed)."""

from __future__ import annotations

import base64
import html
import io
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
from PIL import Image

from strokelens.explanation import Explanation
from strokelens.metrics import Curves
from strokelens.viz.photos import COLORMAP
from strokelens.viz.report import write_report

#: Frames per row of a strip.
STRIP_COLUMNS = 8
#: Each frame of the GIF is shown this many times larger.
GIF_SCALE = 2


def clip_overlay(
    frames: np.ndarray, labels: np.ndarray, scores: Sequence[float] | np.ndarray, alpha: float = 0.6
) -> np.ndarray:
    """``frames`` ``(T, H, W, 3)`` uint8 with supervoxel ``k`` (``labels == k``, ``(T, H, W)``) tinted
    by ``scores[k]`` on a diverging map (scaled by the largest ``|score|``) and each frame's
    supervoxel boundaries drawn in yellow. All frames at once; returns uint8."""
    import matplotlib.pyplot as plt

    scores = np.asarray(scores, dtype=np.float64)
    top = float(np.abs(scores).max()) if scores.size else 0.0
    norm = scores / top if top > 0 else np.zeros_like(scores)
    colors = plt.get_cmap(COLORMAP)(0.5 + 0.5 * norm)[:, :3]
    img = frames.astype(np.float64) / 255.0
    strength = (alpha * np.abs(norm))[labels][..., None]
    out = img * (1 - strength) + colors[labels] * strength
    edge = np.zeros(labels.shape, bool)
    edge[:, 1:] |= labels[:, 1:] != labels[:, :-1]
    edge[:, :, 1:] |= labels[:, :, 1:] != labels[:, :, :-1]
    out[edge] = (1.0, 1.0, 0.0)
    return np.clip(np.round(out * 255), 0, 255).astype(np.uint8)


def overlay_frames(expl: Explanation, i: int) -> np.ndarray:
    """Clip ``i`` of a supervoxel explanation as tinted frames ``(T, S, S, 3)`` uint8."""
    units = expl.units
    frames = np.round(units.images[i].permute(1, 2, 3, 0).cpu().numpy() * 255).astype(np.uint8)
    return clip_overlay(frames, units.labels[i].cpu().numpy(), expl.unit_scores(i))


def frame_strip(frames: np.ndarray, columns: int = STRIP_COLUMNS) -> Image.Image:
    """Frames ``(T, H, W, 3)`` tiled left to right, ``columns`` a row (short rows padded black)."""
    t, h, w, c = frames.shape
    rows = -(-t // columns)
    padded = np.zeros((rows * columns, h, w, c), np.uint8)
    padded[:t] = frames
    grid = padded.reshape(rows, columns, h, w, c).transpose(0, 2, 1, 3, 4).reshape(rows * h, columns * w, c)
    return Image.fromarray(grid)


def gif_bytes(frames: np.ndarray, frame_ms: int = 167, scale: int = GIF_SCALE) -> bytes:
    """Frames ``(T, H, W, 3)`` as a looping animated GIF (each frame ``frame_ms`` long)."""
    big = frames.repeat(scale, axis=1).repeat(scale, axis=2)
    images = [Image.fromarray(f) for f in big]
    buf = io.BytesIO()
    images[0].save(buf, format="GIF", save_all=True, append_images=images[1:], duration=frame_ms, loop=0)
    return buf.getvalue()


def save_clip_pictures(
    expl: Explanation, i: int, out: Path, name: str, frame_ms: int = 167
) -> dict[str, str]:
    """Clip ``i``'s strip ``name.png``, animation ``name.gif`` and label volume ``name.labels.npy``
    (uint16, supervoxel per voxel); returns the record fields naming them."""
    frames = overlay_frames(expl, i)
    frame_strip(frames).save(out / f"{name}.png")
    (out / f"{name}.gif").write_bytes(gif_bytes(frames, frame_ms))
    np.save(out / f"{name}.labels.npy", expl.units.labels[i].cpu().numpy().astype(np.uint16))
    return {"image": f"{name}.png", "animation": f"{name}.gif", "label_map": f"{name}.labels.npy"}


def clip_cell(expl: Explanation, i: int) -> str:
    """The report's cell for clip ``i``: the animation over its frame strip, both inlined."""
    frames = overlay_frames(expl, i)
    strip = io.BytesIO()
    frame_strip(frames).save(strip, format="PNG")
    gif = base64.b64encode(gif_bytes(frames)).decode()
    png = base64.b64encode(strip.getvalue()).decode()
    return f'<img src="data:image/gif;base64,{gif}"><br><img src="data:image/png;base64,{png}" width="448">'


def _clip_caption(expl: Explanation, i: int) -> str:
    item = expl.units.item(i)
    start = item.get("start")
    when = f" from {start:.1f} s" if start is not None else ""
    return (
        f"{html.escape(str(item['id']))}<br><span class='small'>{int(expl.units.n_units[i])} supervoxels"
        f"<br>{html.escape(str(item['source'] or ''))}{when}</span>"
    )


CLIP_LEGEND = (
    "Red: the supervoxel (a superpixel in space and time) supports the target class; blue: it argues "
    "against it; colours are scaled per clip. Yellow lines: supervoxel boundaries in each frame. "
    "The animation plays the clip the model saw; the strip shows its frames left to right."
)


def write_clip_report(
    path: str | Path,
    explanations: Mapping[str, Explanation | Sequence[Explanation]],
    curves: Mapping[str, Curves | Sequence[Curves]] | None = None,
    title: str = "strokelens report",
    max_clips: int = 20,
) -> Path:
    """The self-contained HTML report for supervoxel explanations of the same clips: cost,
    deletion/insertion AUC and curves, and every clip's animation and strip per method."""
    return write_report(
        path,
        explanations,
        curves,
        title,
        max_clips,
        picture=clip_cell,
        caption=_clip_caption,
        legend=CLIP_LEGEND,
    )
