"""The component game: one player per component a stroke carries (shape, order, location).

``game(z)`` with ``z`` in {0, 1}^k, one entry per component: 1 keeps the component as drawn, 0
disturbs it (`strokelens.analysis.disturb`: shapes straightened, strokes shuffled, locations
randomised), every stroke present. It is an ordinary `strokelens.games.Game`: `ComponentView` is a
view whose units are components instead of strokes, wrapping any sketch view (the stroke transformer's
vector view, DoodleNet's raster view), so the engine's exact Shapley values (`shapley_from_values`, or
the ``shapley`` method itself) split a drawing's score among its components.

Why a view of its own: the engine's sketch views take one presence weight per *stroke*, and a
component is not a set of strokes but a property of all of them, so no presence vector of theirs
can express it. `ComponentView` builds, once per batch (`bind`), the drawing with every combination
of shape and order disturbances and binds the wrapped view to each; a coalition then picks one of
them, and a disturbed location passes the randomised points through the wrapped view's
``outputs(..., points=...)``, as the inversion does, so the frame the model normalises and renders
in stays that of the drawing. ``z`` must be 0 or 1 (a component is disturbed or not), so the
gradient methods do not apply; the perturbation methods (``shapley``, ``occlusion``, ...) do.

Components a model cannot read are not players: a raster model sees ink, not drawing order, so its
game has two players (shape, location) and order is reported as not applicable.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch

from strokelens.analysis.disturb import (
    DEFAULT_SIGMA,
    draws,
    permute_noise,
    permute_strokes,
    randomised_points,
    straighten_shapes,
)
from strokelens.errors import StrokelensError
from strokelens.sketch import Sketch, sketch_list
from strokelens.units.base import Units, rows_list
from strokelens.views.base import View

#: Every component a stroke carries, in player order.
COMPONENTS = ("shape", "order", "location")


def components_for(view: View) -> tuple[str, ...]:
    """The components ``view``'s model can read: all three, or shape and location for a model that
    does not read stroke order (`View.reads_stroke_order`)."""
    return COMPONENTS if view.reads_stroke_order else ("shape", "location")


@dataclass(eq=False)
class ComponentUnits(Units):
    """The components of a batch of drawings: ``len(components)`` units each.

    ``sketches``: the drawings as the wrapped view sees them, in the normalised frame. ``index``
    ``(B,)``: each drawing's position in the whole run (it seeds the drawing's disturbances)."""

    KINDS = ("component",)

    sketches: list[Sketch]
    components: tuple[str, ...]
    index: torch.Tensor
    kind: str = "component"

    def __post_init__(self) -> None:
        self.n_units = torch.full((len(self.sketches),), len(self.components), device=self.index.device)

    def item(self, i: int) -> dict[str, Any]:
        s = self.sketches[i]
        return {"id": s.key_id or str(int(self.index[i])), "source": s.source, "label": s.label}

    def to(self, device: torch.device | str) -> ComponentUnits:
        if torch.device(device) == self.index.device:
            return self
        return ComponentUnits(self.sketches, self.components, self.index.to(device))

    def select(self, rows: Sequence[int] | torch.Tensor) -> ComponentUnits:
        idx = rows_list(rows)
        return ComponentUnits([self.sketches[i] for i in idx], self.components, self.index[idx])

    def unit_lengths(self) -> torch.Tensor:
        return self.unit_mask.float()

    def label(self, i: int) -> str | None:
        return self.sketches[i].label


@dataclass(frozen=True, eq=False)
class Variant:
    """The wrapped view bound to one combination of shape and order disturbances."""

    n_strokes: int
    inputs: dict[str, Any]
    moved: torch.Tensor  # the view's points with every stroke at its random location


class ComponentView(View):
    """A sketch view seen through component disturbances drawn with ``seed`` (see the module notes).

    ``view``: any sketch view (one that takes points); ``sigma``: the location noise, as a fraction
    of the drawing's longer side (the inversion's default 0.1)."""

    units_type = ComponentUnits

    def __init__(self, view: View, sigma: float = DEFAULT_SIGMA, seed: int = 0) -> None:
        if not view.takes_points or "stroke" not in view.units_type.KINDS:
            raise StrokelensError(
                f"the component analysis needs a sketch model (a view of strokes that takes points), "
                f"not {type(view).__name__}"
            )
        if sigma < 0:
            raise StrokelensError(f"sigma must be non-negative, got {sigma}")
        if seed < 0:
            raise StrokelensError(f"seeds must be non-negative integers, got {seed}")
        self.base = view
        self.model = view.model
        self.kind = view.kind
        self.class_names = view.class_names
        self.outputs_are_logits = view.outputs_are_logits
        self.max_rows = view.max_rows
        self.components = components_for(view)
        self.sigma = float(sigma)
        self.seed = int(seed)

    def prepare(self, inputs: Sequence[Sketch]) -> list[Sketch]:
        """The wrapped view's preparation (DoodleNet: QuickDraw's simplified recipe)."""
        return self.base.prepare(inputs)

    def unit_options(self) -> tuple[str, ...]:
        return ("first",)

    def make_units(self, inputs: Sequence[Sketch], first: int = 0) -> ComponentUnits:
        """Components of prepared ``inputs``; ``first``: the run position of the first drawing."""
        sketches = sketch_list(inputs, "the component game")
        index = torch.arange(first, first + len(sketches), device=self.device)
        return ComponentUnits([s.normalized(1.0) for s in sketches], self.components, index)

    def bind(self, units: ComponentUnits) -> dict[str, Any]:
        """The wrapped view bound to each combination of shape and order disturbances, with the
        randomised points of each (the draws of `strokelens.analysis.disturb.draws`)."""
        first = int(units.index[0])
        if not torch.equal(units.index.cpu(), torch.arange(first, first + len(units))):
            raise StrokelensError("component units must hold consecutive drawings (see make_units' first)")
        perms, eps = draws([s.n_strokes for s in units.sketches], self.seed, first)
        straight = straighten_shapes(units.sketches)
        variants: dict[tuple[bool, bool], Variant] = {}
        orders = (False, True) if "order" in self.components else (False,)
        for shape_off in (False, True):
            for order_off in orders:
                sketches = straight if shape_off else units.sketches
                noise = eps
                if order_off:
                    sketches, noise = permute_strokes(sketches, perms), permute_noise(eps, perms)
                strokes = self.base.units_for(sketches, "stroke").to(self.device)
                inputs = self.base.bind(strokes)
                points, sid = self.base.points(inputs)
                moved = randomised_points(points.detach(), sid, strokes.n_units, noise, self.sigma)
                variants[shape_off, order_off] = Variant(strokes.max_units, inputs, moved)
        return {"variants": variants}

    def outputs(
        self, z: torch.Tensor, rows: torch.Tensor, variants: dict[tuple[bool, bool], Variant]
    ) -> torch.Tensor:
        """The wrapped model's outputs ``(R, C)`` for component presence ``z`` ``(R, k)`` in {0, 1}."""
        if not bool(((z == 0) | (z == 1)).all()):
            raise StrokelensError(
                "the component game takes presence 0 (disturbed) or 1 (kept) per component; use a "
                "perturbation method (shapley, occlusion, kernelshap), not a gradient method"
            )
        off = {name: z[:, j] == 0 for j, name in enumerate(self.components)}
        no = torch.zeros(len(rows), dtype=torch.bool, device=z.device)
        shape, order, location = off["shape"], off.get("order", no), off["location"]
        out: torch.Tensor | None = None
        for (shape_off, order_off), variant in variants.items():
            for location_off in (False, True):
                pick = (shape == shape_off) & (order == order_off) & (location == location_off)
                sel = pick.nonzero()[:, 0]
                if not len(sel):
                    continue
                full = torch.ones(len(sel), variant.n_strokes, device=z.device, dtype=z.dtype)
                extra = {"points": variant.moved} if location_off else {}
                values = self.base.outputs(full, rows[sel], **{**variant.inputs, **extra})
                if out is None:
                    out = values.new_zeros(len(rows), *values.shape[1:])
                out[sel] = values
        if out is None:  # no rows
            return z.new_zeros(0, len(self.class_names))
        return out
