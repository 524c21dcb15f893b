"""The smallest edits that make the model read the class the drawer meant, each verified.

For every drawing and its intended class ``t`` the search builds candidate edits and reads every edited
drawing afresh through the model's own preparation (`read`: as a saved file is read), all candidates
of all drawings of a round in one batch:

1. every stroke left out alone (these readings also give each stroke's targeted occlusion score: how
   much it moves ``log p(t) - log p(c)``, ``c`` the best other class; negative argues against ``t``),
   and one stroke added: each of the best-credited strokes of real drawings of ``t`` (`Donors`),
   placed in the drawing's frame where it sat in its own drawing, on a small grid of shifts and sizes;
2. the 2 and 3 strokes that argue most against ``t`` left out; moves: on a raster model the points of
   the pieces P-SLA ranks highest, moved by the geometry attack aimed at ``t`` (bounded: ``eps`` of
   the diagonal), on a vector model the strokes most against ``t`` shifted on a small grid;
3. combinations of at most three changes: the best removal, move and addition together.

Verified edits are ranked by size (the share of the drawer's ink changed plus the share added, then
strokes touched); the smallest few read as ``t`` come first, then the few that only raise ``p(t)``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
import torch

from strokelens.assist.donors import Donor, frame_of
from strokelens.assist.edits import Edit, Move, addition, combine, keeps_a_stroke, removal, translation
from strokelens.assist.reading import read
from strokelens.attacks.geometry import geometry_attack
from strokelens.sketch import Sketch
from strokelens.views import View

#: Shifts (share of the drawing's longer side) and sizes an added stroke is tried at.
ADD_SHIFTS = (-0.2, 0.0, 0.2)
ADD_SCALES = (0.8, 1.1)
#: Donor strokes tried per drawing.
ADD_DONORS = 2
#: Stroke shifts tried on a vector model (share of the longer side), in 8 directions each.
MOVE_SHIFTS = (0.1, 0.2)
#: Strokes a vector model's move tries.
MOVE_STROKES = 2
#: Single strokes left out at most (the longest ones where a drawing has more).
MAX_SINGLE = 32
#: The geometry attack's bound (share of the bounding-box diagonal) and steps.
MOVE_EPS = 0.08
MOVE_STEPS = 8
#: Moves are searched only for drawings whose first round found no working edit this small (a move
#: of three pieces changes more ink than that on nearly every drawing, and the attack costs most).
MOVE_WHEN = 0.15


@dataclass(eq=False)
class Suggestion:
    """A verified edit: the edited drawing, its class probabilities read afresh, its size."""

    edit: Edit
    sketch: Sketch
    probs: torch.Tensor
    ink_kept: float
    size: float
    works: bool


@dataclass(eq=False)
class Assistance:
    """One drawing's search: its probabilities, each stroke's targeted occlusion score, the suggestions
    (smallest working edits first, then ones that only raise ``p(t)``) and how many edits were read."""

    sketch: Sketch
    target: int
    probs: torch.Tensor
    scores: np.ndarray
    suggestions: list[Suggestion] = field(default_factory=list)
    candidates: int = 0


def _rival(logp: torch.Tensor, target: int) -> int:
    """The best class other than ``target``."""
    other = logp.clone()
    other[target] = -torch.inf
    return int(other.argmax())


def placements(sketch: Sketch, donors: Sequence[Donor]) -> list[Edit]:
    """Each donor stroke added at every shift and size of the grid, placed in ``sketch``'s frame where
    it sat in its own drawing."""
    centre, extent = frame_of(sketch)
    shifts = np.array([(dx, dy) for dx in ADD_SHIFTS for dy in ADD_SHIFTS])
    out = []
    for d in donors:
        for s in ADD_SCALES:
            placed = centre + (d.points[None] * s + shifts[:, None]) * extent  # (G, P, 2)
            out += [addition(p) for p in placed]
    return out


def shifts_of(sketch: Sketch, scores: np.ndarray) -> list[Edit]:
    """The strokes most against the target moved whole, in 8 directions by each of `MOVE_SHIFTS`."""
    _, extent = frame_of(sketch)
    angles = np.arange(8) * np.pi / 4
    dirs = np.stack([np.cos(angles), np.sin(angles)], 1)
    offsets = (np.array(MOVE_SHIFTS)[:, None, None] * dirs[None]).reshape(-1, 2) * extent
    order = [int(k) for k in np.argsort(scores)[:MOVE_STROKES] if scores[k] < 0]
    return [translation(sketch, k, o) for k in order for o in offsets]


def _frame_map(sketch: Sketch, prepared: Sketch) -> tuple[np.ndarray, float]:
    """``(origin, scale)`` with ``drawing point = origin + scale * prepared point`` (the view's
    preparation scales and shifts the drawing uniformly)."""
    lo, hi = sketch.points().min(0), sketch.points().max(0)
    plo, phi = prepared.points().min(0), prepared.points().max(0)
    scale = float((hi - lo).max() / max((phi - plo).max(), 1e-12))
    return lo - scale * plo, scale


def geometry_moves(
    view: View,
    sketches: Sequence[Sketch],
    prepared: Sequence[Sketch],
    targets: Sequence[int],
    eps: float,
    steps: int,
    selection: str = "psla",
    seed: int = 0,
) -> list[Edit | None]:
    """The geometry attack aimed at each drawing's target (P-SLA's 3 top pieces, each point within
    ``eps`` of the diagonal) as one move edit a drawing, in the drawing's coordinates (None: none
    moved). ``selection="random"``: 3 random pieces instead (a baseline)."""
    units = view.units_for(list(prepared), "piece")
    result = geometry_attack(
        view,
        units,
        eps=eps,
        steps=steps,
        step=0.3,
        goal=torch.tensor(list(targets)),
        selection=selection,
        seed=seed,
    )
    moved = result.moved.numpy()
    after = result.attacked_points.double().numpy()
    out: list[Edit | None] = []
    for i, (sketch, prep) in enumerate(zip(sketches, prepared, strict=True)):
        n = prep.n_points
        origin, scale = _frame_map(sketch, prep)
        sid = prep.stroke_index()
        before, new, hit = prep.points(), after[i, :n], moved[i, :n]
        seg = np.linalg.norm(np.diff(before, axis=0), axis=1) * scale
        same = sid[1:] == sid[:-1]
        touched = same & (hit[1:] | hit[:-1])
        moves = {}
        for k in np.unique(sid[hit]):
            on = sid == k
            changed = float(seg[touched & (sid[1:] == k)].sum())
            moves[int(k)] = Move(
                origin + scale * new[on],
                changed,
                origin + scale * before[on & hit].mean(0),
                origin + scale * new[on & hit].mean(0),
            )
        out.append(Edit(kinds=("move",), moved=moves) if moves else None)
    return out


def _verify(view: View, sketches: Sequence[Sketch], jobs: list[tuple[int, Edit]]) -> list[Suggestion]:
    """Every job's edited drawing read afresh, in one batch."""
    edited = [e.apply(sketches[i]) for i, e in jobs]
    probs = read(view, edited)
    out = []
    for (i, e), s, p in zip(jobs, edited, probs, strict=True):
        out.append(Suggestion(e, s, p, e.ink_kept(sketches[i]), e.size(sketches[i]), False))
    return out


def assist(
    view: View,
    sketches: Sequence[Sketch],
    targets: Sequence[int],
    donors: Callable[[int], Sequence[Donor]] | None = None,
    *,
    prepared: Sequence[Sketch] | None = None,
    extra: Sequence[Sequence[Edit]] | None = None,
    working: int = 3,
    raising: int = 2,
    eps: float = MOVE_EPS,
    steps: int = MOVE_STEPS,
) -> list[Assistance]:
    """Search edits of each of ``sketches`` toward its class ``targets[i]`` (indices) and verify them.

    ``donors``: a class index -> strokes to lend (`Donors`; None: no stroke is added). ``prepared``:
    the drawings as ``view.prepare`` gives them (computed when None). ``extra``: more edits per drawing
    to verify and rank with the rest (the server's ghost). ``working`` / ``raising``: how many edits
    read as the target, then how many that only raise its probability, to keep. ``eps`` / ``steps``:
    the geometry attack's bound (share of the diagonal) and steps, on raster models."""
    sketches = list(sketches)
    prepared = list(prepared) if prepared is not None else view.prepare(sketches)
    n = len(sketches)
    singles: list[list[int]] = []
    jobs: list[tuple[int, Edit]] = []
    adds: list[list[Edit]] = []
    for i, s in enumerate(sketches):
        ks = list(range(s.n_strokes)) if s.n_strokes > 1 else []
        if len(ks) > MAX_SINGLE:
            ks = sorted(np.argsort(-s.stroke_lengths)[:MAX_SINGLE].tolist())
        singles.append(ks)
        jobs += [(i, removal([k])) for k in ks]
        adds.append(placements(s, list(donors(targets[i]))[:ADD_DONORS]) if donors is not None else [])
        jobs += [(i, a) for a in adds[i]]
    base = read(view, sketches)
    first = _verify(view, sketches, jobs)
    found: list[list[Suggestion]] = [[] for _ in range(n)]
    for (i, _), sug in zip(jobs, first, strict=True):
        found[i].append(sug)
    out = []
    for i, s in enumerate(sketches):
        t = targets[i]
        logp0 = torch.log(base[i].clamp_min(1e-12))
        c = _rival(logp0, t)
        scores = np.zeros(s.n_strokes)
        for sug in found[i][: len(singles[i])]:
            (k,) = sug.edit.removed
            lp = torch.log(sug.probs.clamp_min(1e-12))
            scores[k] = float((logp0[t] - logp0[c]) - (lp[t] - lp[c]))
        out.append(Assistance(s, t, base[i], scores))
    # round 2: removals of the strokes most against, moves, the extra edits, combinations
    against = [[int(k) for k in np.argsort(a.scores) if a.scores[k] < 0] for a in out]
    bound = [_kth_working_size(found[i], targets[i], working) for i in range(n)]
    need = [i for i in range(n) if _kth_working_size(found[i], targets[i], 1) > MOVE_WHEN]
    moves: list[list[Edit]] = [[] for _ in range(n)]
    if view.sketch_points and need:
        pick = [sketches[i] for i in need], [prepared[i] for i in need], [targets[i] for i in need]
        for i, m in zip(need, geometry_moves(view, *pick, eps, steps), strict=True):
            moves[i] = [m] if m is not None else []
    elif need:
        for i in need:
            moves[i] = shifts_of(sketches[i], out[i].scores)
    jobs = []
    for i, s in enumerate(sketches):
        removals = [removal(against[i][:k]) for k in (2, 3) if len(against[i]) >= k]
        best_add = _best(found[i][len(singles[i]) :], targets[i], 2)
        r1 = [removal(against[i][:1])] if against[i] else []
        r2 = removals[:1]
        combos = [combine(r, a) for r in r1 + r2 for a in best_add]
        if view.sketch_points:
            combos += [
                combine(*parts)
                for m in moves[i]
                for parts in ([m, *best_add[:1]], [*r1, m], [*r1, m, *best_add[:1]])
            ]
        edits = [*removals, *moves[i], *(extra[i] if extra is not None else []), *combos]
        jobs += [(i, e) for e in edits if e is not None and keeps_a_stroke(e, s) and _least(e, s) < bound[i]]
    for (i, _), sug in zip(jobs, _verify(view, sketches, jobs), strict=True):
        found[i].append(sug)
    if not view.sketch_points:  # round 3: the best verified shift combined
        jobs = []
        for i in range(n):
            best_move = _best([f for f in found[i] if f.edit.kind == "move"], targets[i], 1)
            best_add = _best([f for f in found[i] if f.edit.kind == "add"], targets[i], 1)
            r1 = [removal(against[i][:1])] if against[i] else []
            for m in best_move:
                for parts in ([m, *best_add], [*r1, m], [*r1, m, *best_add]):
                    e = combine(*parts)
                    if e is not None and len(parts) > 1 and _least(e, sketches[i]) < bound[i]:
                        jobs.append((i, e))
        for (i, _), sug in zip(jobs, _verify(view, sketches, jobs), strict=True):
            found[i].append(sug)
    for i, a in enumerate(out):
        a.candidates = len(found[i])
        a.suggestions = _rank(found[i], a.target, float(a.probs[a.target]), working, raising)
    return out


def _kth_working_size(found: Sequence[Suggestion], target: int, k: int) -> float:
    """The ``k``-th smallest size among ``found`` edits read as ``target`` (inf: fewer work)."""
    sizes = sorted(f.size for f in found if int(f.probs.argmax()) == target)
    return sizes[k - 1] if len(sizes) >= k else float("inf")


def _least(edit: Edit, sketch: Sketch) -> float:
    """The least size ``edit`` can have before its moves are read: its removed and added ink."""
    lengths = sketch.stroke_lengths
    total = max(float(lengths.sum()), 1e-12)
    return sum(float(lengths[k]) for k in edit.removed) / total + edit.added_ink(sketch)


def _best(found: Sequence[Suggestion], target: int, k: int) -> list[Edit]:
    """The ``k`` edits among ``found`` that reach the highest ``p(target)``."""
    ranked = sorted(found, key=lambda f: -float(f.probs[target]))
    return [f.edit for f in ranked[:k]]


def _rank(
    found: Sequence[Suggestion], target: int, p0: float, working: int, raising: int
) -> list[Suggestion]:
    """The smallest ``working`` edits read as ``target``, then the ``raising`` ones raising ``p(target)``
    most (without making it the top class), each edit once."""
    seen, unique = set(), []
    for f in found:
        key = f.edit.key()
        if key not in seen:
            seen.add(key)
            f.works = int(f.probs.argmax()) == target
            unique.append(f)
    ok = sorted(
        (f for f in unique if f.works), key=lambda f: (f.size, f.edit.touched, -float(f.probs[target]))
    )
    up = sorted(
        (f for f in unique if not f.works and float(f.probs[target]) > p0),
        key=lambda f: -float(f.probs[target]),
    )
    return ok[:working] + up[:raising]
