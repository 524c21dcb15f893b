"""How much a sketch model relies on each component of its strokes: accuracy with each one disturbed
on its own, and each one's exact Shapley share of the drawing's score.

`analyse` runs the component game (`strokelens.analysis.game`) on every drawing for a few disturbance
seeds. Every coalition of components is evaluated once per drawing and seed (``2^k`` model rows, ``k``
the components the model reads), and both figures come from those rows:

- **accuracy**: top-1 intact, and with one component disturbed and the others kept (the coalitions
  that leave one player out), averaged over the seeds;
- **Shapley values**: `strokelens.attribution.shapley.shapley_from_values` on the target's scores of
  all coalitions, averaged over the seeds (Shapley values are linear in the game, so that is the
  Shapley value of the seed-averaged game). They sum, per drawing, to the score intact minus the
  score with every component disturbed (efficiency). A component's **share** of a drawing's
  explanation is ``|phi_j| / sum_i |phi_i|``: in [0, 1], summing to 1, whatever the signs.

Components a model does not read (order, for a raster model) are reported as None: not applicable,
never as intact.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch

from strokelens.analysis.disturb import DEFAULT_SIGMA
from strokelens.analysis.game import COMPONENTS, ComponentView
from strokelens.attribution.shapley import coalitions, shapley_from_values
from strokelens.errors import StrokelensError, where
from strokelens.games import Game, class_index, class_indices
from strokelens.scores import score_space
from strokelens.sketch import Sketch
from strokelens.views.base import View

#: What a not-applicable component is called in tables.
NOT_APPLICABLE = "n/a"


@dataclass(eq=False)
class ComponentAnalysis:
    """Per drawing: its label, whether the model reads it right intact and with each component
    disturbed (fraction of seeds), and each component's Shapley value; NaN / None where a component
    does not apply, or where the Shapley values were not computed (``analyse(..., shapley=False)``).
    Columns of ``shapley`` follow `COMPONENTS` (shape, order, location)."""

    components: tuple[str, ...]
    applicable: tuple[str, ...]
    class_names: list[str]
    labels: torch.Tensor
    correct_intact: torch.Tensor
    correct_disturbed: torch.Tensor
    shapley: torch.Tensor
    full_score: torch.Tensor
    empty_score: torch.Tensor
    items: list[dict[str, Any]]
    seeds: tuple[int, ...]
    sigma: float
    score: str
    classes: list[str] | None
    evaluations: float
    seconds: float
    extras: dict[str, Any] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.labels)

    def _column(self, name: str) -> int:
        return self.components.index(name)

    def accuracy(self) -> dict[str, float | None]:
        """Top-1 ``intact`` and with each component disturbed on its own (None: not applicable)."""
        out: dict[str, float | None] = {"intact": float(self.correct_intact.float().mean())}
        for name in self.components:
            col = self.correct_disturbed[:, self._column(name)]
            out[name] = float(col.mean()) if name in self.applicable else None
        return out

    def drop(self) -> dict[str, float | None]:
        """Top-1 intact minus top-1 with each component disturbed (None: not applicable)."""
        acc = self.accuracy()
        return {n: None if acc[n] is None else acc["intact"] - acc[n] for n in self.components}

    def shares(self) -> torch.Tensor:
        """``(B, 3)``: each component's share ``|phi_j| / sum |phi|`` of each drawing (NaN: n/a)."""
        phi = self.shapley.abs()
        total = phi.nansum(1, keepdim=True)
        return torch.where(total > 0, phi / total.clamp_min(1e-12), torch.full_like(phi, math.nan))

    def mean_share(self) -> dict[str, float | None]:
        """The mean share of each component over the drawings (None: not applicable)."""
        shares = self.shares()
        return {
            n: _mean(shares[:, self._column(n)]) if n in self.applicable else None for n in self.components
        }

    def mean_shapley(self) -> dict[str, float | None]:
        """The mean Shapley value of each component, in score units (None: not applicable)."""
        return {
            n: _mean(self.shapley[:, self._column(n)]) if n in self.applicable else None
            for n in self.components
        }

    def summary(self) -> dict[str, Any]:
        """A JSON-ready summary: settings and the four tables (accuracy, drop, share, Shapley)."""
        return {
            "n": len(self),
            "components": list(self.components),
            "not_applicable": [n for n in self.components if n not in self.applicable],
            "seeds": list(self.seeds),
            "sigma": self.sigma,
            "score": self.score,
            "classes": self.classes,
            "accuracy": _rounded(self.accuracy()),
            "drop": _rounded(self.drop()),
            "mean_share": _rounded(self.mean_share()),
            "mean_shapley": _rounded(self.mean_shapley()),
            "mean_full_minus_empty": _number(_mean(self.full_score - self.empty_score)),
            "evaluations_per_drawing": self.evaluations,
            "seconds": round(self.seconds, 3),
        }

    def record(self, i: int) -> dict[str, Any]:
        """A JSON-ready record of drawing ``i``."""
        shares = self.shares()[i]

        def per(values: torch.Tensor) -> dict[str, float | None]:
            return {
                n: _number(float(values[j])) if n in self.applicable else None
                for j, n in enumerate(self.components)
            }

        return {
            **self.items[i],
            "label": self.class_names[int(self.labels[i])],
            "correct_intact": bool(self.correct_intact[i]),
            "correct_disturbed": per(self.correct_disturbed[i]),
            "shapley": per(self.shapley[i]),
            "share": per(shares),
            "full_score": _number(float(self.full_score[i])),
            "empty_score": _number(float(self.empty_score[i])),
        }

    def records(self) -> list[dict[str, Any]]:
        return [self.record(i) for i in range(len(self))]


def drawing_labels(sketches: Sequence[Sketch], class_names: Sequence[str]) -> list[int]:
    """The class index of every drawing's own label; an error names the first drawing without a label
    or with one the model does not know."""
    out = []
    for i, s in enumerate(sketches):
        if s.label is None:
            raise StrokelensError(
                f"{where(s.source, i)}: the drawing has no class label; the analysis measures how "
                "well the model recognises each drawing's own class (give labels, or labelled files "
                "such as SPG or QuickDraw ndjson)"
            )
        try:
            out.append(class_index(s.label, class_names))
        except StrokelensError as exc:
            raise StrokelensError(f"{where(s.source, i)}: {exc}") from None
    return out


def label_target(labels: torch.Tensor, columns: torch.Tensor, score: str) -> Callable[..., torch.Tensor]:
    """A game target: the score of each row's label among the allowed class ``columns``."""
    space = score_space(score)
    col_of = torch.full((int(columns.max()) + 1,), -1, dtype=torch.long, device=columns.device)
    col_of[columns] = torch.arange(len(columns), device=columns.device)
    label_cols = col_of[labels]

    def target(outputs: torch.Tensor, rows: torch.Tensor) -> torch.Tensor:
        return space(outputs[:, columns]).gather(1, label_cols[rows][:, None])[:, 0]

    return target


def analyse(
    model: torch.nn.Module | View,
    sketches: Sequence[Sketch],
    labels: Sequence[int | str] | None = None,
    *,
    seeds: Sequence[int] = (0,),
    sigma: float = DEFAULT_SIGMA,
    classes: Sequence[int | str] | None = None,
    score: str = "log-prob",
    shapley: bool = True,
    batch_size: int = 64,
) -> ComponentAnalysis:
    """Accuracy with each component disturbed on its own and (``shapley``) each component's Shapley
    value, for every drawing (see the module notes).

    ``model``: a sketch model or its view (raster models render with their preset, on sketches
    simplified by QuickDraw's recipe). ``labels``: each drawing's class (default: its own label).
    ``seeds``: the disturbance seeds averaged over. ``sigma``: the location noise (fraction of the
    drawing's longer side). ``classes``: take the arg-max and the scores over these classes only
    (e.g. the 20 SPG classes for DoodleNet's 345). ``score``: what the Shapley values split, the
    label's ``log-prob``, ``prob`` or ``logit`` (over ``classes``). Without ``shapley`` only the
    coalitions the accuracy needs are evaluated."""
    from strokelens.views import view_for

    view = model if isinstance(model, View) else view_for(model)
    if isinstance(view, ComponentView):
        raise StrokelensError("give analyse the model or its sketch view, not a ComponentView")
    score_space(score)  # refuses an unknown one before any work
    if batch_size < 1:
        raise StrokelensError(f"batch size must be at least 1, got {batch_size}")
    seeds = tuple(int(s) for s in seeds)
    if not seeds:
        raise StrokelensError("give at least one disturbance seed")
    sketches = list(sketches)
    if not sketches:
        raise StrokelensError("no sketches to analyse")
    names = list(view.class_names)
    label_idx, columns = _labels_and_columns(sketches, names, labels, classes)

    start = time.perf_counter()
    views = [ComponentView(view, sigma=sigma, seed=s) for s in seeds]
    comps = views[0].components
    k = len(comps)
    device = views[0].device
    if shapley:  # every coalition; row m keeps component j when bit j of m is set
        z_rows, single = coalitions(k, device), [(2**k - 1) ^ (1 << j) for j in range(k)]
    else:  # each component disturbed alone, then all kept
        z_rows = torch.cat([1 - torch.eye(k, device=device), torch.ones(1, k, device=device)])
        single = list(range(k))
    cols = torch.as_tensor(columns, device=device)
    y_all = torch.as_tensor(label_idx, device=device)
    place = [COMPONENTS.index(name) for name in comps]

    n = len(sketches)
    correct_intact = torch.zeros(n, dtype=torch.bool)
    correct = torch.zeros(n, len(COMPONENTS))
    phi = torch.full((n, len(COMPONENTS)), math.nan, dtype=torch.float64)
    full_score = torch.zeros(n, dtype=torch.float64)
    empty_score = torch.full((n,), math.nan, dtype=torch.float64)
    evaluations = 0
    items: list[dict[str, Any]] = []
    prepared = view.prepare(sketches)
    for lo in range(0, n, batch_size):
        chunk = prepared[lo : lo + batch_size]
        y = y_all[lo : lo + len(chunk)]
        target = label_target(y, cols, score)
        hits = torch.zeros(len(chunk), k)
        values = torch.zeros(len(chunk), len(z_rows), dtype=torch.float64)
        for cview in views:
            units = cview.units_for(chunk, first=lo)
            game = cview.game(units, target=target)
            if cview is views[0]:
                items.extend(units.item(i) for i in range(len(chunk)))
                intact = cols[game.full_outputs[:, cols].argmax(1)]
                correct_intact[lo : lo + len(chunk)] = (intact == y).cpu()
            outs, vals = _play(game, z_rows)
            evaluations += game.evaluations
            for j, m in enumerate(single):
                hits[:, j] += (cols[outs[:, m][:, cols].argmax(1)] == y).float().cpu()
            values += vals.double().cpu()
        values /= len(views)  # the seed-averaged game
        sl = slice(lo, lo + len(chunk))
        correct[sl, place] = hits / len(views)
        full_score[sl] = values[:, -1]
        if shapley:
            phi[sl, place] = shapley_from_values(values, k)
            empty_score[sl] = values[:, 0]
    return ComponentAnalysis(
        components=COMPONENTS,
        applicable=comps,
        class_names=names,
        labels=y_all.cpu(),
        correct_intact=correct_intact,
        correct_disturbed=correct,
        shapley=phi,
        full_score=full_score,
        empty_score=empty_score,
        items=items,
        seeds=seeds,
        sigma=float(sigma),
        score=score,
        classes=None if classes is None else [names[c] for c in columns],
        evaluations=evaluations / n,
        seconds=time.perf_counter() - start,
    )


def _labels_and_columns(
    sketches: list[Sketch],
    names: list[str],
    labels: Sequence[int | str] | None,
    classes: Sequence[int | str] | None,
) -> tuple[list[int], list[int]]:
    """Each drawing's class index, and the class columns the arg-max and scores run over."""
    if labels is None:
        label_idx = drawing_labels(sketches, names)
    else:
        labels = list(labels)
        if len(labels) != len(sketches):
            raise StrokelensError(f"{len(labels)} labels given for {len(sketches)} sketches")
        label_idx = class_indices(labels, names)
    if classes is None:
        return label_idx, list(range(len(names)))
    columns = sorted(set(class_indices(list(classes), names)))
    if len(columns) < 2:
        raise StrokelensError("classes must name at least two distinct classes")
    outside = [i for i, c in enumerate(label_idx) if c not in columns]
    if outside:
        raise StrokelensError(
            f"drawing {outside[0]}'s label {names[label_idx[outside[0]]]!r} is not among classes"
        )
    return label_idx, columns


def _play(game: Game, z_rows: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Every drawing of ``game`` under every coalition ``z_rows`` ``(P, k)``: the model's outputs
    ``(B, P, C)`` and the target's scores ``(B, P)``, in chunks of the game's ``max_rows``."""
    b, p = game.batch_size, len(z_rows)
    z = z_rows.to(game.dtype)[None].expand(b, -1, -1).reshape(-1, z_rows.shape[1])
    rows = torch.arange(b, device=game.device).repeat_interleave(p)
    step = game.max_rows
    with torch.no_grad():
        outs = torch.cat(
            [game.outputs(z[i : i + step], rows[i : i + step]) for i in range(0, len(rows), step)]
        )
        values = game.scores_of(outs, rows)
    return outs.view(b, p, -1), values.view(b, p)


def component_accuracy(
    model: torch.nn.Module | View,
    sketches: Sequence[Sketch],
    labels: Sequence[int | str] | None = None,
    **options: Any,
) -> dict[str, float | None]:
    """Top-1 ``intact`` and with each component disturbed on its own; None for a component the model
    does not read (order, for a raster model). ``options`` as `analyse` takes them."""
    return analyse(model, sketches, labels, shapley=False, **options).accuracy()


def _mean(values: torch.Tensor) -> float | None:
    finite = values[~torch.isnan(values)]
    return float(finite.mean()) if len(finite) else None


def _number(value: float | None) -> float | None:
    """``value`` rounded for JSON; None for None or NaN (not computed, or not applicable)."""
    return None if value is None or math.isnan(value) else round(value, 6)


def _rounded(d: dict[str, float | None]) -> dict[str, float | None]:
    return {k: _number(v) for k, v in d.items()}
