"""The files an explanation run leaves behind, for sketches, photos and clips alike: a picture per input
(chosen by the kind of units) and the HTML report."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from strokelens.explanation import Explanation
from strokelens.metrics import Curves
from strokelens.units.superpixels import SuperpixelUnits
from strokelens.units.supervoxels import SupervoxelUnits
from strokelens.viz.photos import explanation_overlay, write_photo_report
from strokelens.viz.report import write_report
from strokelens.viz.scores import explanation_png, explanation_svg
from strokelens.viz.video import save_clip_pictures, write_clip_report


def save_item_pictures(expl: Explanation, i: int, out: Path, name: str) -> dict[str, Any]:
    """Write input ``i``'s pictures as ``out/name.*``; returns the record fields naming them.

    Sketches: ``name.png`` and ``name.svg``, coloured by score. Photos: ``name.png`` (the overlay on
    the original photo) and ``name.labels.png`` (16-bit: superpixel + 1, 0 outside the model's crop),
    with the crop box. Clips: ``name.png`` (the frame strip), ``name.gif`` (the animation) and
    ``name.labels.npy`` (the supervoxel volume)."""
    units = expl.units
    if isinstance(units, SupervoxelUnits):
        return save_clip_pictures(expl, i, out, name)
    if isinstance(units, SuperpixelUnits):
        explanation_overlay(expl, i, out / f"{name}.png")
        labels = units.original_labels(i) + 1
        Image.fromarray(labels.astype(np.uint16)).save(out / f"{name}.labels.png")
        fields: dict[str, Any] = {"image": f"{name}.png", "label_map": f"{name}.labels.png"}
        if units.transforms is not None:
            fields["crop_box"] = list(units.transforms[i].box)
        return fields
    (out / f"{name}.svg").write_text(explanation_svg(expl, i), encoding="utf-8")
    explanation_png(expl, i, out / f"{name}.png")
    return {"image": f"{name}.png"}


def write_any_report(
    path: str | Path,
    explanations: Mapping[str, Sequence[Explanation]],
    curves: Mapping[str, Sequence[Curves]] | None,
    title: str,
) -> Path:
    """The HTML report, with photo overlays when the units are superpixels (animated clips when they
    are supervoxels)."""
    first = next(iter(explanations.values()))[0]
    if isinstance(first.units, SupervoxelUnits):
        return write_clip_report(path, explanations, curves, title)
    if isinstance(first.units, SuperpixelUnits):
        return write_photo_report(path, explanations, curves, title)
    return write_report(path, explanations, curves, title)
