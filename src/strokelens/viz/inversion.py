"""Pictures of a stroke location inversion: a strip of frames (PNG, SVG) and an animated GIF.

Every frame of one sketch shares one view box (the union of the sketch's true box and every recorded
location), so strokes visibly move while the canvas stays still. Strokes keep one colour each across
frames; the true drawing shows faintly in grey behind them. Each frame is captioned with its step and
the model's probability of the goal class.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from xml.sax.saxutils import escape

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from strokelens.colors import PALETTE, to_rgb
from strokelens.inversion import InversionResult

#: Supersampling factor of the PNG/GIF frames.
_SS = 3
_GHOST = (215, 215, 215)


def _frame_indices(result: InversionResult, frames: int | None) -> list[int]:
    t = len(result.steps)
    if frames is None or frames >= t:
        return list(range(t))
    return sorted({round(x) for x in np.linspace(0, t - 1, max(frames, 2))})


def _view(result: InversionResult, i: int) -> tuple[np.ndarray, float]:
    """Lower-left corner and side of a square view box that holds every frame of sketch ``i``."""
    base = result.sketches[i].points()
    n = int(result.n_strokes[i])
    shifts = (result.trajectory[:, i, :n] - result.true_locations[i, :n]).double().numpy()  # (T, n, 2)
    sid = result.sketches[i].stroke_index()
    moved = base[None] + shifts[:, sid]
    lo = np.minimum(base.min(0), moved.reshape(-1, 2).min(0))
    hi = np.maximum(base.max(0), moved.reshape(-1, 2).max(0))
    side = float(max((hi - lo).max(), 1e-6))
    centre = (lo + hi) / 2
    return centre - side / 2, side


def _caption(result: InversionResult, i: int, k: int) -> str:
    return f"step {result.steps[k]}  p={float(result.goal_probs[k, i]):.2f}"


def _stroke_rgb(n: int) -> np.ndarray:
    return to_rgb([PALETTE[k % len(PALETTE)] for k in range(n)])


def frame_images(
    result: InversionResult, i: int, size: int = 192, frames: int | None = None, width: float = 2.5
) -> list[Image.Image]:
    """RGB frames of sketch ``i`` at the recorded steps (``frames``: at most that many, evenly spread)."""
    lo, side = _view(result, i)
    pad = size * 0.06
    caption_h = max(10.0, size * 0.08)
    scale = (size - 2 * pad - caption_h) / side
    font = ImageFont.load_default(size=max(int(caption_h * 0.8) * _SS, 1))
    rgb = _stroke_rgb(int(result.n_strokes[i]))
    base = result.sketches[i]

    def to_px(pts: np.ndarray) -> list[tuple[float, float]]:
        xy = (pts - lo) * scale + np.array([pad, pad + caption_h])
        return [tuple(p) for p in (xy * _SS).tolist()]

    def draw_strokes(draw: ImageDraw.ImageDraw, strokes: Sequence[np.ndarray], colors) -> None:
        w = max(1, round(width * _SS))
        for s, c in zip(strokes, colors, strict=True):
            pts = to_px(s)
            if len(pts) > 1:
                draw.line(pts, fill=tuple(c), width=w, joint="curve")
            r = w / 2
            for x, y in (pts[0], pts[-1]):  # round caps (and dots)
                draw.ellipse((x - r, y - r, x + r, y + r), fill=tuple(c))

    out = []
    for k in _frame_indices(result, frames):
        img = Image.new("RGB", (size * _SS, size * _SS), "white")
        draw = ImageDraw.Draw(img)
        draw_strokes(draw, base.strokes, [_GHOST] * base.n_strokes)
        draw_strokes(draw, result.sketch_at(i, k).strokes, rgb)
        draw.text((pad * _SS, pad * 0.5 * _SS), _caption(result, i, k), fill=(40, 40, 40), font=font)
        out.append(img.resize((size, size), Image.Resampling.LANCZOS))
    return out


def strip_png(
    result: InversionResult,
    i: int,
    path: str | os.PathLike[str] | None = None,
    frames: int = 6,
    size: int = 192,
) -> Image.Image:
    """Frames of sketch ``i`` side by side; written to ``path`` when given."""
    imgs = frame_images(result, i, size=size, frames=frames)
    strip = Image.new("RGB", (size * len(imgs), size), "white")
    for k, img in enumerate(imgs):
        strip.paste(img, (k * size, 0))
    if path is not None:
        strip.save(path)
    return strip


def strip_svg(
    result: InversionResult,
    i: int,
    path: str | os.PathLike[str] | None = None,
    frames: int = 6,
    size: int = 192,
    width: float = 2.5,
) -> str:
    """The strip as SVG text (vector strokes); written to ``path`` when given."""
    lo, side = _view(result, i)
    pad = size * 0.06
    caption_h = max(10.0, size * 0.08)
    scale = (size - 2 * pad - caption_h) / side
    hexes = [_hex(c) for c in _stroke_rgb(int(result.n_strokes[i]))]
    ghost = _hex(_GHOST)
    idx = _frame_indices(result, frames)
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{size * len(idx)}" height="{size}" '
        f'viewBox="0 0 {size * len(idx)} {size}">',
        f'<rect width="{size * len(idx)}" height="{size}" fill="white"/>',
    ]

    def path_d(s: np.ndarray, x0: float) -> str:
        xy = (s - lo) * scale + np.array([x0 + pad, pad + caption_h])
        if len(xy) == 1:
            xy = np.vstack([xy, xy])
        return "M" + " L".join(f"{x:.2f} {y:.2f}" for x, y in xy)

    style = f'fill="none" stroke-width="{width:g}" stroke-linecap="round" stroke-linejoin="round"'
    for col, k in enumerate(idx):
        x0 = col * size
        parts.append(f"<g {style}>")
        parts += [f'<path d="{path_d(s, x0)}" stroke="{ghost}"/>' for s in result.sketches[i].strokes]
        moved = result.sketch_at(i, k).strokes
        parts += [f'<path d="{path_d(s, x0)}" stroke="{c}"/>' for s, c in zip(moved, hexes, strict=True)]
        parts.append("</g>")
        parts.append(
            f'<text x="{x0 + pad:.1f}" y="{pad + caption_h * 0.6:.1f}" font-family="sans-serif" '
            f'font-size="{caption_h * 0.8:.1f}" fill="#282828">{escape(_caption(result, i, k))}</text>'
        )
    parts.append("</svg>")
    text = "\n".join(parts) + "\n"
    if path is not None:
        Path(path).write_text(text, encoding="utf-8")
    return text


def animation_gif(
    result: InversionResult,
    i: int,
    path: str | os.PathLike[str],
    size: int = 192,
    duration_ms: int = 120,
    hold_ms: int = 1200,
) -> Path:
    """An animated GIF of every recorded frame of sketch ``i`` (the last one held), looping."""
    imgs = frame_images(result, i, size=size)
    durations = [duration_ms] * (len(imgs) - 1) + [hold_ms]
    imgs[0].save(path, save_all=True, append_images=imgs[1:], duration=durations, loop=0, optimize=True)
    return Path(path)


def save_inversion(
    result: InversionResult,
    out_dir: str | os.PathLike[str],
    stems: Sequence[str] | None = None,
    frames: int = 6,
) -> list[dict[str, str]]:
    """Write ``<stem>.strip.png``, ``<stem>.strip.svg`` and ``<stem>.gif`` for every sketch.

    ``stems`` default to ``<index>_<key_id>``. Returns the paths written, one dict per sketch.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for i, sk in enumerate(result.sketches):
        stem = stems[i] if stems is not None else _safe(f"{i:04d}_{sk.key_id or 'sketch'}")
        paths = {
            "strip_png": out / f"{stem}.strip.png",
            "strip_svg": out / f"{stem}.strip.svg",
            "gif": out / f"{stem}.gif",
        }
        strip_png(result, i, paths["strip_png"], frames=frames)
        strip_svg(result, i, paths["strip_svg"], frames=frames)
        animation_gif(result, i, paths["gif"])
        written.append({k: str(v) for k, v in paths.items()})
    return written


def _hex(rgb) -> str:
    r, g, b = (int(v) for v in rgb)
    return f"#{r:02x}{g:02x}{b:02x}"


def _safe(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in name)[:80]
