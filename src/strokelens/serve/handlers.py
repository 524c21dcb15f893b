"""Predict, explain and assist on batches of drawings: what the server's workers run.

Every drawing goes the model's own way: its view prepares it (for DoodleNet, QuickDraw's simplified
recipe, then the 28x28 bitmap preset through the differentiable rasteriser), exactly as
``strokelens explain`` does. Each function takes a list of items and returns one reply dict per item.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import torch

from strokelens.assist import Donors, Edit, Move, Suggestion, probabilities_of_prepared
from strokelens.assist import assist as search_edits
from strokelens.defaults import default_method, weights_ship
from strokelens.games import class_index
from strokelens.inversion import invert
from strokelens.kinds import SKETCH_FILES
from strokelens.methods import get_method, methods_where
from strokelens.serve.drawing import canvas_frame, extent, polylines, rounded, to_strokes
from strokelens.sketch import Sketch
from strokelens.views import RasterSketchView, View, view_for

#: Stroke location inversion steps for the assist ghost unless a request asks (0: no ghost; it is
#: rarely read as the intended class and costs more than every other candidate together).
ASSIST_ITERATIONS = 0


@dataclass(eq=False)
class Served:
    """One model as the server runs it: a view for predict/explain and one of its own for assist
    (the assist worker runs beside the explain worker, so they share no module)."""

    name: str
    view: View
    assist_view: View
    methods: tuple[str, ...]
    default_method: str
    class_names: list[str] = field(default_factory=list)
    #: Strokes of real drawings the assist may lend (None: it adds none).
    donors: Donors | None = None
    #: The data folder it was loaded with (assist worker processes load the model from it again).
    home: str | None = None

    @classmethod
    def load(cls, name: str, home=None) -> Served:
        from strokelens.models import load_model

        view = view_for(load_model(name, home=home))
        assist_view = view_for(load_model(name, home=home))
        methods = tuple(
            m
            for m in sketch_methods()
            if (view.sketch_points or not get_method(m).needs_sketch_points)
            and (not get_method(m).learned or weights_ship(name, m))
        )
        # the fastest method answers after every stroke (fastshap where its weights ship); with no
        # learned explainer, the measured no-weights default
        fastest = methods[0]
        default = fastest if get_method(fastest).learned else default_method(None, SKETCH_FILES)
        donors = Donors(assist_view, home)
        folder = None if home is None else str(home)
        return cls(name, view, assist_view, methods, default, list(view.class_names), donors, folder)

    def target_index(self, target: str | int) -> int:
        return class_index(target, self.class_names)

    @property
    def max_shapley_units(self) -> int:
        return int(get_method(_reference()).max_units or 0)


def _reference() -> str:
    """The exact reference method (exact Shapley values)."""
    return methods_where(reference=True)[0]


def sketch_methods() -> tuple[str, ...]:
    """The methods the page offers for sketches: the interactive ones on strokes, fastest first (model
    evaluations per drawing of as many strokes as exact Shapley takes; equal costs in listing order)."""
    k = int(get_method(_reference()).max_units or 16)
    return tuple(
        sorted(methods_where(interactive=True, units="stroke"), key=lambda m: get_method(m).evaluations(k))
    )


def _normalises(view: View) -> bool:
    """Whether the view prepares drawings with QuickDraw's recipe (0..255 frame)."""
    return isinstance(view, RasterSketchView) and view.simplify


def _top(probs: torch.Tensor, names: Sequence[str], k: int) -> list[dict]:
    p, idx = probs.topk(min(k, len(names)))
    return [{"class": names[i], "probability": round(float(q), 6)} for i, q in zip(idx, p, strict=True)]


def _bind_options(view: View, method: str | None) -> dict:
    """``cache=False`` on a raster view unless ``method`` scores many coalitions of one drawing (for
    those a raster view caches each unit's pixel coverage once per batch; the others render once and
    skip that cost)."""
    if isinstance(view, RasterSketchView) and (method is None or not get_method(method).scores_coalitions):
        return {"cache": False}
    return {}


@dataclass(eq=False)
class Item:
    """One request's drawing as sent (``sketch``) and as the view prepared it, its target
    (``"auto"``, a class name or index; assist: an index) and how many classes to list."""

    sketch: Sketch
    prepared: Sketch
    top: int = 5
    target: str | int = "auto"


def _summary(name: str, item: Item, probs: torch.Tensor, names: Sequence[str]) -> dict:
    return {
        "model": name,
        "top": _top(probs, names, item.top),
        "strokes": item.sketch.n_strokes,
        "points": item.sketch.n_points,
    }


def predict(served: Served, items: Sequence[Item]) -> list[dict]:
    """The top classes of each drawing."""
    probs = probabilities_of_prepared(served.view, [it.prepared for it in items])
    return [_summary(served.name, it, p, served.class_names) for it, p in zip(items, probs, strict=True)]


def explain(served: Served, method: str, units: str | None, items: Sequence[Item]) -> list[dict]:
    """The top classes and a score per unit (``units``; None: the method's own) for each item's
    target (``"auto"``: the predicted class), with ``method``. One game serves both: its forward pass
    at full presence is the prediction that resolves ``"auto"``."""
    start = time.perf_counter()
    view = served.view
    runner = get_method(method)(view)
    unit_set = runner.units_for([it.prepared for it in items], units)
    game = view.game(unit_set, target=[it.target for it in items], **_bind_options(view, method))
    probs = torch.softmax(game.full_outputs.double(), dim=1).cpu()
    scores, _ = runner.scores(game, seed=0)
    scores = torch.where(game.unit_mask, scores, 0.0).detach().cpu()
    targets = game.target.tolist()
    ms = (time.perf_counter() - start) * 1000 / len(items)
    out = []
    for i, (it, p) in enumerate(zip(items, probs, strict=True)):
        n = int(unit_set.n_units[i])
        reply = {
            **_summary(served.name, it, p, served.class_names),
            "method": method,
            "units": unit_set.kind,
            "target": served.class_names[targets[i]],
            "target_probability": round(float(p[targets[i]]), 6),
            "scores": rounded(scores[i, :n]),
            "unit_stroke": unit_set.unit_stroke[i, :n].tolist(),
            "milliseconds": round(ms, 2),
        }
        if not unit_set.whole_strokes:
            origin, scale = canvas_frame(it.sketch, _normalises(view))
            reply["unit_points"] = polylines(
                unit_set.batch.points[i].cpu().numpy(),
                unit_set.segment_unit[i].cpu().numpy(),
                unit_set.batch.stroke_ids[i].cpu().numpy(),
                n,
                origin,
                scale,
            )
        out.append(reply)
    return out


def _ghosts(view: View, sketches: Sequence[Sketch], prepared: Sequence[Sketch], targets, iterations: int):
    """The ghost of each drawing (every stroke moved by stroke location inversion toward its target)
    as one edit each, in the drawing's coordinates."""
    inv = invert(view, list(sketches), mode="transfer", to=list(targets), iterations=iterations)
    shift_norm = (inv.final_locations - inv.true_locations).double().numpy()
    out = []
    for i, (sketch, prep) in enumerate(zip(sketches, prepared, strict=True)):
        # Inversion works on the prepared drawing normalised to 0..1: undo both scalings.
        _, scale = canvas_frame(sketch, _normalises(view))
        shift = shift_norm[i, : sketch.n_strokes] * extent(prep) * scale
        moved = {}
        for k, (stroke, d) in enumerate(zip(sketch.strokes, shift, strict=True)):
            if np.abs(d).max() > 1e-6:
                centre = stroke.mean(axis=0)
                length = float(np.linalg.norm(np.diff(stroke, axis=0), axis=1).sum())
                moved[k] = Move(stroke + d, length, centre, centre + d)
        out.append([Edit(kinds=("ghost",), moved=moved)] if moved else [])
    return out


def _suggestion(s: Suggestion, names: Sequence[str], target: int, top: int) -> dict:
    e = s.edit
    return {
        "kind": e.kind,
        "strokes": to_strokes(s.sketch),
        "ink_kept": round(s.ink_kept, 4),
        "size": round(s.size, 4),
        "probability": round(float(s.probs[target]), 6),
        "top": _top(s.probs, names, top),
        "success": s.works,
        "changes": e.changes,
        "strokes_touched": e.touched,
        "removed": sorted(e.removed),
        "moved": [
            {"stroke": k, "start": np.round(m.start, 2).tolist(), "end": np.round(m.end, 2).tolist()}
            for k, m in sorted(e.moved.items())
        ],
        "added": [np.round(a.T, 2).tolist() for a in e.added],
    }


def assist(served: Served, iterations: int, items: Sequence[Item]) -> list[dict]:
    """For each item's target (a class index): verified edits toward it (`strokelens.assist.assist`:
    strokes removed, pieces moved, a real stroke added, combinations), smallest working first, and
    each stroke's targeted occlusion score (negative: argues against the target). ``iterations`` > 0
    also tries the ghost (every stroke moved by stroke location inversion), listed only where it works."""
    start = time.perf_counter()
    view = served.assist_view
    sketches = [it.sketch for it in items]
    prepared = [it.prepared for it in items]
    targets = [int(it.target) for it in items]
    extra = _ghosts(view, sketches, prepared, targets, iterations) if iterations > 0 else None
    found = search_edits(view, sketches, targets, served.donors, prepared=prepared, extra=extra)
    ms = (time.perf_counter() - start) * 1000 / len(items)
    out = []
    for it, a in zip(items, found, strict=True):
        target = a.target
        kept = [s for s in a.suggestions if s.edit.kind != "ghost" or s.works]
        out.append(
            {
                **_summary(served.name, it, a.probs, served.class_names),
                "target": served.class_names[target],
                "target_probability": round(float(a.probs[target]), 6),
                "scores": rounded(a.scores),
                "against": [int(k) for k in np.argsort(a.scores) if a.scores[k] < 0],
                "suggestions": [_suggestion(s, served.class_names, target, it.top) for s in kept],
                "success": any(s.works for s in kept),
                "candidates": a.candidates,
                "iterations": iterations,
                "milliseconds": round(ms, 2),
            }
        )
    return out
