"""Photos with every superpixel tinted by its score and its boundary drawn, on the original photo,
and a self-contained HTML report of them (images inlined, no network needed)."""

from __future__ import annotations

import base64
import html
import io
from collections.abc import Mapping, Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import torch
from PIL import Image

from strokelens.attribution.base import Explanation
from strokelens.metrics import Curves

#: Positive scores (support the target) red, negative blue; the sketch report's map.
COLORMAP = "RdBu_r"

_STYLE = """
body{font-family:system-ui,sans-serif;margin:24px;color:#222}
table{border-collapse:collapse}td,th{border:1px solid #ddd;padding:4px 8px;font-size:13px;vertical-align:top}
th{background:#f4f4f4}img{display:block;max-width:360px;height:auto}.small{color:#666;font-size:12px}
"""


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


def _img(image: Image.Image, max_side: int = 360) -> str:
    image = image.copy()
    image.thumbnail((max_side, max_side))
    buf = io.BytesIO()
    image.save(buf, format="PNG")
    return f'<img src="data:image/png;base64,{base64.b64encode(buf.getvalue()).decode()}">'


def _as_list(value):
    return list(value) if isinstance(value, (list, tuple)) else [value]


def curves_image(curves: Mapping[str, Sequence[Curves]], kind: str) -> Image.Image:
    """Mean deletion or insertion curve of each method on a fraction-of-superpixels axis."""
    fig, ax = plt.subplots(figsize=(4.2, 3.0), dpi=100)
    grid = np.linspace(0, 1, 21)
    for name, cs in curves.items():
        rows = [
            np.interp(grid, np.linspace(0, 1, k + 1), getattr(c, kind)[i, : k + 1].numpy())
            for c in cs
            for i, k in enumerate(c.n_units.tolist())
        ]
        ax.plot(grid, np.mean(rows, axis=0), label=name)
    ax.set_xlabel(f"fraction of superpixels {'removed' if kind == 'deletion' else 'added'}")
    ax.set_ylabel("target probability")
    ax.set_title(f"{kind} curves ({'lower' if kind == 'deletion' else 'higher'} is better)", fontsize=9)
    ax.legend(fontsize=7)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    plt.close(fig)
    buf.seek(0)
    return Image.open(buf).convert("RGB")


def write_photo_report(
    path: str | Path,
    explanations: Mapping[str, Explanation | Sequence[Explanation]],
    curves: Mapping[str, Curves | Sequence[Curves]] | None = None,
    title: str = "strokelens report",
    max_photos: int = 50,
) -> Path:
    """Write a self-contained HTML report of superpixel explanations of the same photos by one or
    more methods (each a list of consecutive batches, batched alike): cost, deletion/insertion
    AUC and curves, and every photo's overlay per method. Returns the path."""
    path = Path(path)
    batches = {name: _as_list(e) for name, e in explanations.items()}
    curve_batches = {name: _as_list(c) for name, c in (curves or {}).items()}
    methods = list(batches)
    parts = [
        f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>",
        f"<style>{_STYLE}</style></head><body><h1>{html.escape(title)}</h1>",
        "<h2>Cost</h2><table><tr><th>method</th><th>units</th><th>model evaluations / photo</th>"
        "<th>ms / photo</th><th>seed</th>",
    ]
    if curve_batches:
        parts.append("<th>deletion AUC (lower better)</th><th>insertion AUC (higher better)</th>")
    parts.append("</tr>")
    for name, expls in batches.items():
        n = sum(len(e.scores) for e in expls)
        evals = sum(e.evaluations * len(e.scores) for e in expls) / n
        ms = 1000 * sum(e.seconds for e in expls) / n
        row = (
            f"<tr><td>{html.escape(name)}</td><td>{expls[0].units.kind}</td><td>{evals:.1f}</td>"
            f"<td>{ms:.1f}</td><td>{expls[0].seed}</td>"
        )
        if name in curve_batches:
            dele = torch.cat([c.deletion_auc for c in curve_batches[name]]).mean()
            ins = torch.cat([c.insertion_auc for c in curve_batches[name]]).mean()
            row += f"<td>{float(dele):.3f}</td><td>{float(ins):.3f}</td>"
        parts.append(row + "</tr>")
    parts.append("</table>")
    if curve_batches:
        parts.append("<h2>Deletion and insertion curves</h2><div style='display:flex;gap:12px'>")
        parts.extend(_img(curves_image(curve_batches, kind), 420) for kind in ("deletion", "insertion"))
        parts.append("</div>")
    parts.append(
        "<h2>Photos</h2><p class='small'>Red: the superpixel supports the target class; blue: it argues "
        "against it; colours are scaled per photo. Yellow lines: superpixel boundaries (computed on the "
        "model's centre crop; the dimmed margin lies outside it).</p><table><tr><th>photo</th>"
    )
    parts.extend(f"<th>{html.escape(m)}</th>" for m in methods)
    parts.append("</tr>")
    shown = 0
    for b, first in enumerate(batches[methods[0]]):
        for i in range(len(first.scores)):
            if shown >= max_photos:
                break
            shown += 1
            item = first.units.item(i)
            target = html.escape(first.target_names[i]) if first.target_names else ""
            parts.append(
                f"<tr><td>{html.escape(str(item['id']))}<br><span class='small'>target: {target}<br>"
                f"{int(first.units.n_units[i])} superpixels<br>{html.escape(str(item['source'] or ''))}"
                "</span></td>"
            )
            parts.extend(f"<td>{_img(explanation_overlay(batches[m][b], i))}</td>" for m in methods)
            parts.append("</tr>")
    parts.append("</table></body></html>")
    path.write_text("".join(parts), encoding="utf-8")
    return path
