"""Sketches coloured by attribution score on a diverging colour map, and faithfulness curves."""

from __future__ import annotations

import io
from collections.abc import Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
from matplotlib import colors as mcolors

from strokelens.attribution.base import Explanation
from strokelens.viz.sketch_image import sketch_png, sketch_svg

#: Positive scores (support the target) red, negative blue, zero light grey.
COLORMAP = "RdBu_r"


def score_colors(scores: Sequence[float], vmax: float | None = None) -> list[str]:
    """Hex colours for scores on a diverging map symmetric around 0 (``vmax``: the saturating value)."""
    arr = np.asarray(scores, dtype=float)
    top = float(np.abs(arr).max()) if vmax is None and len(arr) else (vmax or 1.0)
    norm = mcolors.Normalize(vmin=-(top or 1.0), vmax=top or 1.0)
    cmap = plt.get_cmap(COLORMAP)
    # Keep the palest colours readable on white: squeeze the map into [0.05, 0.95].
    return [mcolors.to_hex(cmap(0.05 + 0.9 * norm(v))) for v in arr]


def _point_colors(expl: Explanation, i: int) -> tuple[object, list[str], float]:
    """The sketch to draw for input ``i`` and a colour for each of its points (its segment's unit)."""
    units = expl.units
    scores = expl.unit_scores(i)
    vmax = max((abs(s) for s in scores), default=1.0) or 1.0
    palette = score_colors(scores, vmax)
    sketch = units.batch.sketches[i]
    seg_unit = units.segment_unit[i, : sketch.n_points].tolist()
    return sketch, [palette[u] for u in seg_unit], vmax


def explanation_svg(expl: Explanation, i: int, size: int = 256, width: float = 3.0) -> str:
    """SVG of input ``i`` with every unit coloured by its score."""
    sketch, colors, _ = _point_colors(expl, i)
    return sketch_svg(sketch, point_colors=colors, size=size, width=width)


def explanation_png(
    expl: Explanation,
    i: int,
    path: str | Path | None = None,
    size: int = 256,
    width: float = 3.0,
    legend: bool = True,
):
    """PNG of input ``i`` coloured by score, with a colour-bar legend; returns the PIL image."""
    sketch, colors, vmax = _point_colors(expl, i)
    image = sketch_png(sketch, None, point_colors=colors, size=size, width=width)
    if legend:
        image = _with_colorbar(
            image, vmax, title=f"{expl.method} → {expl.target_names[i] if expl.target_names else ''}"
        )
    if path is not None:
        image.save(path)
    return image


def _with_colorbar(image, vmax: float, title: str = ""):
    from PIL import Image

    fig, (ax_img, ax_bar) = plt.subplots(
        1, 2, figsize=(3.6, 3.0), dpi=100, gridspec_kw={"width_ratios": [20, 1]}
    )
    ax_img.imshow(np.asarray(image))
    ax_img.set_axis_off()
    ax_img.set_title(title, fontsize=8)
    norm = mcolors.Normalize(vmin=-vmax, vmax=vmax)
    fig.colorbar(plt.cm.ScalarMappable(norm=norm, cmap=COLORMAP), cax=ax_bar)
    ax_bar.tick_params(labelsize=6)
    buf = io.BytesIO()
    fig.tight_layout()
    fig.savefig(buf, format="png")
    plt.close(fig)
    buf.seek(0)
    return Image.open(buf).convert("RGB")


def curves_png(curves: dict[str, np.ndarray], kind: str, path: str | Path | None = None) -> bytes:
    """Plot mean deletion or insertion curves of several methods (``{method: (n_sketches, steps)}``
    on a common fraction-of-units axis) and return the PNG bytes."""
    fig, ax = plt.subplots(figsize=(4.2, 3.0), dpi=100)
    for name, curve in curves.items():
        arr = np.atleast_2d(curve)
        ax.plot(np.linspace(0, 1, arr.shape[1]), np.nanmean(arr, axis=0), label=name)
    ax.set_xlabel(f"fraction of units {'removed' if kind == 'deletion' else 'added'}")
    ax.set_ylabel("target probability")
    ax.set_title(f"{kind} curves ({'lower' if kind == 'deletion' else 'higher'} is better)", fontsize=9)
    ax.legend(fontsize=7)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    plt.close(fig)
    data = buf.getvalue()
    if path is not None:
        Path(path).write_bytes(data)
    return data


def resample_curve(curve: np.ndarray, n_units: int, points: int = 21) -> np.ndarray:
    """A curve of ``n_units + 1`` steps resampled onto ``points`` evenly spaced fractions."""
    return np.interp(np.linspace(0, 1, points), np.linspace(0, 1, n_units + 1), curve[: n_units + 1])
