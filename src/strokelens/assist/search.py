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

Verified edits are ranked by size: the share of the drawer's ink kept unchanged (most first), then
strokes touched, then the ink changed plus the ink added; the smallest few read as ``t`` come first,
then the few that only raise ``p(t)``. Candidates that cannot rank among the smallest few working
ones already found are not read.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from itertools import pairwise

import numpy as np
import torch

from strokelens.assist.donors import Donor, frame_of
from strokelens.assist.edits import Edit, Move, addition, combine, keeps_a_stroke, removal, translation
from strokelens.assist.reading import probabilities_of_prepared, read
from strokelens.assist.screen import Frame, screen
from strokelens.attacks.geometry import geometry_attack
from strokelens.sketch import Sketch
from strokelens.views import View

#: Shifts (share of the drawing's longer side) and sizes an added stroke is tried at.
ADD_GRID = tuple((dx, dy) for dx in (-0.2, 0.0, 0.2) for dy in (-0.2, 0.0, 0.2))
ADD_SCALES = (1.0,)
#: The second round nudges the best added strokes by this share of the longer side, and these sizes.
REFINE_SHIFT = 0.1
REFINE_SCALES = (0.7, 1.4)
#: Donor strokes tried per drawing.
ADD_DONORS = 3
#: Stroke shifts tried on a vector model (share of the longer side), in 8 directions each.
MOVE_SHIFTS = (0.1, 0.2)
#: Strokes a vector model's move tries.
MOVE_STROKES = 2
#: Single strokes left out at most (the longest ones where a drawing has more).
MAX_SINGLE = 32
#: The geometry attack's bound (share of the bounding-box diagonal) and steps of 0.3 x the bound. On
#: the assist benchmark's 120 misread DoodleNet drawings 2, 4 and 8 steps assisted the same share
#: (0.85), and on 120 misread validation drawings (SPG val, quickdraw-345x25's SPG-class val) 2 and 4
#: steps both 0.875; a one-drawing request takes 17% less time at 4 steps than at 8, 6-8% less at 2.
MOVE_EPS = 0.08
MOVE_STEPS = 2
#: Moves are searched only for drawings whose first round found no working edit changing less than
#: this share of ink (a move of three pieces changes more than that on nearly every drawing, and the
#: attack costs most).
MOVE_WHEN = 0.15


@dataclass(eq=False)
class Suggestion:
    """A verified edit of ``original``: its class probabilities read afresh (``exact``; else read
    through a re-framed preparation, `strokelens.assist.screen`) and its size."""

    edit: Edit
    original: Sketch
    probs: torch.Tensor
    ink_kept: float
    size: float
    works: bool
    exact: bool = True

    @cached_property
    def sketch(self) -> Sketch:
        """The edited drawing."""
        return self.edit.apply(self.original)


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


def placements(sketch: Sketch, donor: Donor) -> list[Edit]:
    """A donor stroke added at every shift and size of the grid, placed in ``sketch``'s frame where it
    sat in its own drawing."""
    centre, extent = frame_of(sketch)
    shifts = np.array(ADD_GRID)
    scaled = np.array(ADD_SCALES)[:, None, None, None] * donor.points[None, None]  # (S, 1, P, 2)
    placed = centre + (scaled + shifts[None, :, None]) * extent  # (S, G, P, 2)
    return [addition(p) for p in placed.reshape(-1, *donor.points.shape)]


def refinements(sketch: Sketch, edit: Edit) -> list[Edit]:
    """An added stroke nudged: shifted by `REFINE_SHIFT` of the longer side in 8 directions, and
    scaled about its centre by each of `REFINE_SCALES`."""
    (stroke,) = edit.added
    _, extent = frame_of(sketch)
    angles = np.arange(8) * np.pi / 4
    offsets = REFINE_SHIFT * extent * np.stack([np.cos(angles), np.sin(angles)], 1)
    centre = stroke.mean(axis=0)
    moved = [addition(stroke + o) for o in offsets]
    return moved + [addition(centre + (stroke - centre) * f) for f in REFINE_SCALES]


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


def _verify(
    view: View, frames: Sequence[Frame], lengths: Sequence[np.ndarray], jobs: list[tuple[int, Edit]]
) -> list[Suggestion]:
    """Every job's edited drawing read in one batch (`screen`: exact where the edit kept the frame)."""
    probs, exact = screen(view, frames, jobs)
    out = []
    for (i, e), p, x in zip(jobs, probs, exact, strict=True):
        sketch = frames[i].sketch
        out.append(Suggestion(e, sketch, p, e.ink_kept(lengths[i]), e.size(lengths[i]), False, bool(x)))
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
    frames = [Frame.of(s, p) for s, p in zip(sketches, prepared, strict=True)]
    n = len(sketches)
    lengths = [s.stroke_lengths for s in sketches]
    singles: list[list[int]] = []
    jobs: list[tuple[int, Edit]] = []
    groups: list[list[int]] = []  # per drawing: where each donor's placements end in its round-1 edits
    for i, s in enumerate(sketches):
        ks = list(range(s.n_strokes)) if s.n_strokes > 1 else []
        if len(ks) > MAX_SINGLE:
            ks = sorted(np.argsort(-lengths[i])[:MAX_SINGLE].tolist())
        singles.append(ks)
        jobs += [(i, removal([k])) for k in ks]
        ends = [len(ks)]
        for d in list(donors(targets[i]))[:ADD_DONORS] if donors is not None else []:
            placed = placements(s, d)
            jobs += [(i, a) for a in placed]
            ends.append(ends[-1] + len(placed))
        groups.append(ends)
    base = probabilities_of_prepared(view, prepared)
    found: list[list[Suggestion]] = [[] for _ in range(n)]
    _add_found(found, jobs, _verify(view, frames, lengths, jobs))
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
    # round 2: removals of the strokes most against, the extra edits, added strokes combined and nudged
    against = [[int(k) for k in np.argsort(a.scores) if a.scores[k] < 0] for a in out]
    r1 = [[removal(a[:1])] if a else [] for a in against]
    bound = [_kth_working(found[i], targets[i], working) for i in range(n)]
    jobs = []
    for i, s in enumerate(sketches):
        removals = [removal(against[i][:k]) for k in (2, 3) if len(against[i]) >= k]
        ends = groups[i]
        each = [_best(found[i][a:b], targets[i], 1)[0] for a, b in pairwise(ends)]
        best_add = _best([f for f in found[i][ends[0] : ends[-1]] if f.edit in each], targets[i], 2)
        combos = [combine(r, a) for r in r1[i] + removals[:1] for a in best_add]
        if len(best_add) == 2:  # two lent strokes, with and without the stroke most against
            combos += [combine(*best_add), combine(*r1[i], *best_add)]
        combos += [r for a in best_add for r in refinements(s, a)]
        edits = [*removals, *(extra[i] if extra is not None else []), *combos]
        jobs += _worth(edits, i, s, lengths[i], bound[i])
    _add_found(found, jobs, _verify(view, frames, lengths, jobs))
    # round 3: moves, only where no edit changing less than MOVE_WHEN of the ink works yet (a move
    # changes ink, so it comes first only where little else works), then the best move combined
    need = [i for i in range(n) if -_kth_working(found[i], targets[i], 1)[0] < 1 - MOVE_WHEN]
    moves: list[list[Edit]] = [[] for _ in range(n)]
    if view.sketch_points and need:
        pick = [sketches[i] for i in need], [prepared[i] for i in need], [targets[i] for i in need]
        for i, m in zip(need, geometry_moves(view, *pick, eps, steps), strict=True):
            moves[i] = [m] if m is not None else []
    for i in need if not view.sketch_points else ():
        moves[i] = shifts_of(sketches[i], out[i].scores)
    bound = [_kth_working(found[i], targets[i], working) for i in range(n)]
    jobs = [j for i in need for j in _worth(moves[i], i, sketches[i], lengths[i], bound[i])]
    _add_found(found, jobs, _verify(view, frames, lengths, jobs))
    jobs = []
    for i in need:
        best_move = _best([f for f in found[i] if f.edit.kind == "move"], targets[i], 1)
        best_add = _best([f for f in found[i] if f.edit.kind == "add"], targets[i], 1)
        combos = [
            combine(*p) for m in best_move for p in ([m, *best_add], [*r1[i], m], [*r1[i], m, *best_add])
        ]
        jobs += _worth(
            [e for e in combos if e is not None and e.changes > 1], i, sketches[i], lengths[i], bound[i]
        )
    _add_found(found, jobs, _verify(view, frames, lengths, jobs))
    ranked = _settle(view, found, targets, [float(a.probs[a.target]) for a in out], working, raising)
    for i, a in enumerate(out):
        a.candidates = len(found[i])
        a.suggestions = ranked[i]
    return out


def _worth(
    edits: Sequence[Edit | None], i: int, sketch: Sketch, lengths: np.ndarray, bound: tuple
) -> list[tuple[int, Edit]]:
    """Jobs for drawing ``i``: the ``edits`` that keep a stroke and could still rank among the
    smallest working ones (``bound``: the rank key they must beat)."""
    return [
        (i, e) for e in edits if e is not None and keeps_a_stroke(e, sketch) and _least(e, lengths) < bound
    ]


def _add_found(
    found: list[list[Suggestion]], jobs: Sequence[tuple[int, Edit]], read_: Sequence[Suggestion]
) -> None:
    for (i, _), sug in zip(jobs, read_, strict=True):
        found[i].append(sug)


#: Rounds of reading afresh the ranked suggestions screened through a re-framed preparation.
SETTLE_ROUNDS = 4


def _settle(
    view: View,
    found: Sequence[Sequence[Suggestion]],
    targets: Sequence[int],
    p0: Sequence[float],
    working: int,
    raising: int,
) -> list[list[Suggestion]]:
    """Each drawing's suggestions (`_rank`), every one read afresh: the ranked ones screened through a
    re-framed preparation are read exactly (`read`, as a saved file is read) and the ranking redone,
    until every ranked suggestion was read exactly; past `SETTLE_ROUNDS`, only exact ones rank."""
    for _ in range(SETTLE_ROUNDS):
        ranked = [_rank(found[i], targets[i], p0[i], working, raising) for i in range(len(found))]
        todo = [f for r in ranked for f in r if not f.exact]
        if not todo:
            return ranked
        for f, p in zip(todo, read(view, [f.sketch for f in todo]), strict=True):
            f.probs, f.exact = p, True
    return [
        _rank([f for f in found[i] if f.exact], targets[i], p0[i], working, raising)
        for i in range(len(found))
    ]


def _key(ink_kept: float, touched: int, size: float) -> tuple[float, int, float]:
    """How edits rank, smallest first: the most ink kept, then fewest strokes touched, then size."""
    return (-round(ink_kept, 4), touched, round(size, 4))


def _kth_working(found: Sequence[Suggestion], target: int, k: int) -> tuple[float, int, float]:
    """The ``k``-th smallest rank key among ``found`` edits read as ``target`` (inf: fewer work)."""
    keys = sorted(_key(f.ink_kept, f.edit.touched, f.size) for f in found if int(f.probs.argmax()) == target)
    return keys[k - 1] if len(keys) >= k else (float("inf"), 0, 0.0)


def _least(edit: Edit, lengths: np.ndarray) -> tuple[float, int, float]:
    """The smallest rank key ``edit`` can have before it is read (its moves change some ink)."""
    total = max(float(lengths.sum()), 1e-12)
    removed = sum(float(lengths[k]) for k in edit.removed) / total
    return _key(1 - removed, edit.touched, removed + edit.added_ink(lengths))


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
    ok = sorted((f for f in unique if f.works), key=lambda f: _key(f.ink_kept, f.edit.touched, f.size))
    up = sorted(
        (f for f in unique if not f.works and float(f.probs[target]) > p0),
        key=lambda f: -float(f.probs[target]),
    )
    return ok[:working] + up[:raising]
