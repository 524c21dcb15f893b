"""Photos with every superpixel tinted by its score and its boundary drawn, on the original photo,
and a self-contained HTML report of them (images inlined, no network needed)."""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
from PIL import Image

from strokelens.explanation import Explanation
from strokelens.metrics import Curves
from strokelens.viz.report import write_report

#: Positive scores (support the target) red, negative blue; the sketch report's map.
COLORMAP = "RdBu_r"


def overlay(
    photo: np.ndarray,
    labels: np.ndarray,
    scores: Sequence[float] | np.ndarray,
    alpha: float = 0.6,
    boundary_color: tuple[float, float, float] = (1.0, 1.0, 0.0),
) -> np.ndarray:
    """``photo`` ``(H, W, 3)`` uint8 with superpixel ``k`` (``labels == k``) tinted by ``scores[k]`` on a
    diverging map (scaled by the largest ``|score|``; weak scores tint weakly) and superpixel
    boundaries drawn; pixels labelled ``-1`` (outside the model's crop) are dimmed. Returns uint8."""
    from skimage.segmentation import mark_boundaries

    scores = np.asarray(scores, dtype=np.float64)
    top = float(np.abs(scores).max()) if scores.size else 0.0
    norm = scores / top if top > 0 else np.zeros_like(scores)
    colors = plt.get_cmap(COLORMAP)(0.5 + 0.5 * norm)[:, :3]
    img = photo.astype(np.float64) / 255.0
    inside = labels >= 0
    lab = np.where(inside, labels, 0)
    strength = (alpha * np.abs(norm))[lab][..., None] * inside[..., None]
    tinted = img * (1 - strength) + colors[lab] * strength
    tinted = np.where(inside[..., None], tinted, img * 0.45)
    out = mark_boundaries(tinted, labels, color=boundary_color, mode="inner")
    return np.clip(np.round(out * 255), 0, 255).astype(np.uint8)


def explanation_overlay(expl: Explanation, i: int, path: str | Path | None = None) -> Image.Image:
    """Input ``i`` of a superpixel explanation drawn on its original photo; saved as PNG to ``path``."""
    units = expl.units
    if units.photos is not None:
        photo = np.asarray(units.photos[i].image.convert("RGB"))
    else:
        photo = np.round(units.images[i].permute(1, 2, 0).cpu().numpy() * 255).astype(np.uint8)
    image = Image.fromarray(overlay(photo, units.original_labels(i), expl.unit_scores(i)))
    if path is not None:
        image.save(path)
    return image


def _photo_caption(expl: Explanation, i: int) -> str:
    item = expl.units.item(i)
    return (
        f"{html.escape(str(item['id']))}<br><span class='small'>{int(expl.units.n_units[i])} superpixels"
        f"<br>{html.escape(str(item['source'] or ''))}</span>"
    )


PHOTO_LEGEND = (
    "Red: the superpixel supports the target class; blue: it argues against it; colours are scaled per "
    "photo. Yellow lines: superpixel boundaries (computed on the model's centre crop; the dimmed margin "
    "lies outside it)."
)


def write_photo_report(
    path: str | Path,
    explanations: Mapping[str, Explanation | Sequence[Explanation]],
    curves: Mapping[str, Curves | Sequence[Curves]] | None = None,
    title: str = "strokelens report",
    max_photos: int = 50,
) -> Path:
    """The self-contained HTML report (`strokelens.viz.report.write_report`) for superpixel
    explanations of the same photos: cost, deletion/insertion AUC and curves, and every photo's
    overlay per method. Returns the path."""
    return write_report(
        path,
        explanations,
        curves,
        title,
        max_photos,
        picture=explanation_overlay,
        caption=_photo_caption,
        legend=PHOTO_LEGEND,
        max_side=360,
    )
