"""Stroke location inversion (SLI), after SketchXAI (Qu et al., CVPR 2023).

A frozen classifier is asked where each stroke must go for it to see a class. Only the strokes'
locations move: every stroke is translated as a whole, its shape never changes. All sketches of a batch
are optimised at once.

- **recover**: every stroke's location is replaced by Gaussian noise (``sigma`` in the normalised
  frame, centred on the sketch's bounding-box centre), then optimised toward the true label. Does the
  model know where the strokes of a class belong?
- **transfer**: locations start at the true ones and are optimised toward another class. How far must
  strokes move for the model to change its mind?

Locations live in the *normalised frame*: the sketch's top-left corner at 0 and its longer side spanning
0..1 (QuickDraw's 0-255 frame divided by 255). A stroke's location is its first point.

- Vector models (``input_kind == "vector-sketch"``, the stroke transformer) take the translated points
  directly: the location is the first-point input of the location embedding.
- Raster models (``input_kind == "raster-sketch"``, DoodleNet) see the translated strokes through the
  differentiable QuickDraw bitmap preset, whose frame (scale and offset to pixels) stays fixed from the
  original sketch.

Defaults follow the published settings: plain SGD, ``lr`` 10 with cosine decay to ``lr_min`` 1e-5 over
100 iterations, gradients clipped per sketch (L2 norm over all its locations) so that one step moves
the locations by at most ``max_step`` = 0.5 in total.
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field

import numpy as np
import torch

from strokelens.errors import StrokelensError
from strokelens.sketch import QUICKDRAW_FRAME, Sketch, SketchBatch

MODES = ("recover", "transfer")
NOISE_KINDS = ("replace", "add")

#: A goal: a class name or index, one for every sketch, or one per sketch.
Goal = int | str | Sequence[int | str] | torch.Tensor | None


# ------------------------------------------------------------------------------------------ result
@dataclass(eq=False)
class InversionResult:
    """What one batched inversion did. Tensors are on the CPU; ``B`` sketches, ``S`` stroke slots.

    ``sketches``: the sketches as the model saw them, in the normalised frame at their true locations.
    ``true_locations`` / ``start_locations`` / ``final_locations``: ``(B, S, 2)`` stroke starts (zero on
    padding). ``steps``: the optimisation steps recorded in ``trajectory`` ``(T, B, S, 2)`` and
    ``goal_probs`` ``(T, B)`` (step ``k`` = after ``k`` updates; the first is 0, the last the end).
    ``start_logits`` / ``final_logits``: ``(B, C)`` over all the model's classes.
    ``classes``: the class indices the goal probability and arg-max are taken over.
    """

    mode: str
    class_names: list[str]
    classes: torch.Tensor
    sketches: list[Sketch]
    n_strokes: torch.Tensor
    true_class: torch.Tensor
    goal: torch.Tensor
    true_locations: torch.Tensor
    start_locations: torch.Tensor
    final_locations: torch.Tensor
    start_logits: torch.Tensor
    final_logits: torch.Tensor
    steps: list[int]
    trajectory: torch.Tensor
    goal_probs: torch.Tensor
    seconds: float
    evaluations: int
    options: dict = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.sketches)

    # -------------------------------------------------------------------- per-sketch figures
    @property
    def stroke_mask(self) -> torch.Tensor:
        """``(B, S)`` bool: real stroke slots."""
        return torch.arange(self.true_locations.shape[1])[None] < self.n_strokes[:, None]

    def location_error(self, locations: torch.Tensor) -> torch.Tensor:
        """``(..., B)`` mean distance of stroke starts to the true ones, normalised frame."""
        dist = (locations - self.true_locations).norm(dim=-1)
        mask = self.stroke_mask.to(dist.dtype)
        return (dist * mask).sum(-1) / mask.sum(-1).clamp_min(1)

    @property
    def error_before(self) -> torch.Tensor:
        return self.location_error(self.start_locations)

    @property
    def error_after(self) -> torch.Tensor:
        return self.location_error(self.final_locations)

    def probs(self, logits: torch.Tensor) -> torch.Tensor:
        """Softmax over ``classes`` (``(B, len(classes))``)."""
        return logits[:, self.classes].softmax(-1)

    def _goal_col(self) -> torch.Tensor:
        lookup = torch.full((len(self.class_names),), -1, dtype=torch.long)
        lookup[self.classes] = torch.arange(len(self.classes))
        return lookup[self.goal]

    @property
    def start_prob(self) -> torch.Tensor:
        return self.probs(self.start_logits).gather(1, self._goal_col()[:, None])[:, 0]

    @property
    def final_prob(self) -> torch.Tensor:
        return self.probs(self.final_logits).gather(1, self._goal_col()[:, None])[:, 0]

    def predicted(
        self, logits: torch.Tensor, classes: Sequence[int] | torch.Tensor | None = None
    ) -> torch.Tensor:
        """Arg-max class index ``(B,)`` over ``classes`` (default: this result's ``classes``)."""
        cls = self.classes if classes is None else torch.as_tensor(classes, dtype=torch.long)
        return cls[logits[:, cls].argmax(-1)]

    @property
    def success_before(self) -> torch.Tensor:
        """``(B,)`` bool: the arg-max was already the goal at the start."""
        return self.predicted(self.start_logits) == self.goal

    @property
    def success(self) -> torch.Tensor:
        """``(B,)`` bool: recovered / transferred, i.e. the arg-max is the goal at the end."""
        return self.predicted(self.final_logits) == self.goal

    # ------------------------------------------------------------------------------ sketches
    def sketch_at(self, i: int, locations: torch.Tensor | int = -1) -> Sketch:
        """Sketch ``i`` (normalised frame) with its strokes at ``locations`` ``(S, 2)`` or at recorded
        frame ``locations`` (an index into ``steps``)."""
        if isinstance(locations, int):
            locations = self.trajectory[locations, i]
        base = self.sketches[i]
        shift = (locations - self.true_locations[i]).double().numpy()
        strokes = [s + shift[k] for k, s in enumerate(base.strokes)]
        return dataclasses.replace(base, strokes=strokes, meta=dict(base.meta))

    def records(self) -> list[dict]:
        """One JSON-ready dict per sketch."""
        pred0, pred1 = self.predicted(self.start_logits), self.predicted(self.final_logits)
        cols = {
            "success": self.success.tolist(),
            "start_prob": self.start_prob.tolist(),
            "final_prob": self.final_prob.tolist(),
            "error_before": self.error_before.tolist(),
            "error_after": self.error_after.tolist(),
        }
        out = []
        for i, sk in enumerate(self.sketches):
            n = int(self.n_strokes[i])
            t = int(self.true_class[i])
            out.append(
                {
                    "id": sk.key_id or str(i),
                    "source": sk.source,
                    "mode": self.mode,
                    "true_class": self.class_names[t] if t >= 0 else None,
                    "goal": self.class_names[int(self.goal[i])],
                    "success": bool(cols["success"][i]),
                    "predicted_before": self.class_names[int(pred0[i])],
                    "predicted_after": self.class_names[int(pred1[i])],
                    "start_prob": round(cols["start_prob"][i], 6),
                    "final_prob": round(cols["final_prob"][i], 6),
                    "location_error_before": round(cols["error_before"][i], 6),
                    "location_error_after": round(cols["error_after"][i], 6),
                    "strokes": n,
                    "true_locations": _round(self.true_locations[i, :n]),
                    "start_locations": _round(self.start_locations[i, :n]),
                    "final_locations": _round(self.final_locations[i, :n]),
                }
            )
        return out


def _round(t: torch.Tensor) -> list:
    return np.round(t.double().numpy(), 5).tolist()


# ------------------------------------------------------------------------------------ helpers
def stroke_starts(points: torch.Tensor, stroke_ids: torch.Tensor, n_slots: int) -> torch.Tensor:
    """``(B, S, 2)``: the first point of every stroke (strokes are contiguous runs; zero on padding)."""
    prev = torch.cat([torch.full_like(stroke_ids[:, :1], -2), stroke_ids[:, :-1]], dim=1)
    first = (stroke_ids >= 0) & (stroke_ids != prev)
    b_idx = torch.arange(points.shape[0], device=points.device)[:, None].expand_as(stroke_ids)
    out = points.new_zeros(points.shape[0], n_slots, 2)
    return out.index_put((b_idx[first], stroke_ids[first]), points[first])


def place(relative: torch.Tensor, stroke_ids: torch.Tensor, locations: torch.Tensor) -> torch.Tensor:
    """Points from their offsets to their stroke's start plus that stroke's location (padding stays 0)."""
    idx = stroke_ids.clamp_min(0)[..., None].expand(-1, -1, 2)
    loc = torch.gather(locations, 1, idx)
    return torch.where((stroke_ids >= 0)[..., None], relative + loc, torch.zeros_like(relative))


def cosine_lr(step: int, iterations: int, lr: float, lr_min: float) -> float:
    """Cosine annealing from ``lr`` at step 0 to ``lr_min`` at step ``iterations`` (PyTorch's formula)."""
    return lr_min + (lr - lr_min) * (1 + math.cos(math.pi * step / max(iterations, 1))) / 2


@contextlib.contextmanager
def frozen(model: torch.nn.Module) -> Iterator[torch.nn.Module]:
    """Eval mode and no parameter gradients inside the block; both restored afterwards."""
    was_training = model.training
    flags = [p.requires_grad for p in model.parameters()]
    model.eval()
    for p in model.parameters():
        p.requires_grad_(False)
    try:
        yield model
    finally:
        for p, f in zip(model.parameters(), flags, strict=True):
            p.requires_grad_(f)
        model.train(was_training)


def class_index(name: int | str, class_names: Sequence[str]) -> int:
    """A class index from a name (case, ``_`` and spaces ignored) or an index."""
    if isinstance(name, (int, np.integer)):
        if not 0 <= int(name) < len(class_names):
            raise StrokelensError(f"class index {name} is outside 0..{len(class_names) - 1}")
        return int(name)
    key = str(name).strip().lower().replace("_", " ")
    for k, n in enumerate(class_names):
        if n.lower().replace("_", " ") == key:
            return k
    raise StrokelensError(
        f"unknown class {name!r} for this model ({len(class_names)} classes, e.g. {class_names[0]!r})"
    )


def _model_device(model: torch.nn.Module) -> torch.device:
    p = next(iter(model.parameters()), None)
    return p.device if p is not None else torch.device("cpu")


# ----------------------------------------------------------------------------------- adapters
@dataclass(eq=False)
class _Problem:
    """A batch as a function of stroke locations: ``logits(locations (B, S, 2)) -> (B, C)``."""

    sketches: list[Sketch]
    relative: torch.Tensor
    stroke_ids: torch.Tensor
    true_locations: torch.Tensor
    centre: torch.Tensor
    n_strokes: torch.Tensor
    logits: Callable[[torch.Tensor], torch.Tensor]

    def location_bounds(self) -> tuple[torch.Tensor, torch.Tensor]:
        """``(lo, hi)`` ``(B, S, 2)``: the locations that keep each stroke inside the sketch's original
        bounding box (every stroke fits there, so ``lo <= hi``)."""
        b, s = self.true_locations.shape[:2]
        valid = self.stroke_ids >= 0
        idx = self.stroke_ids.clamp_min(0)[..., None].expand(-1, -1, 2)
        big = torch.finfo(self.relative.dtype).max
        rel_lo = self.relative.new_full((b, s, 2), big).scatter_reduce(
            1, idx, torch.where(valid[..., None], self.relative, big), "amin"
        )
        rel_hi = self.relative.new_full((b, s, 2), -big).scatter_reduce(
            1, idx, torch.where(valid[..., None], self.relative, -big), "amax"
        )
        points = place(self.relative, self.stroke_ids, self.true_locations)
        box_lo = torch.where(valid[..., None], points, big).amin(1)[:, None]
        box_hi = torch.where(valid[..., None], points, -big).amax(1)[:, None]
        real = (torch.arange(s, device=valid.device)[None] < self.n_strokes[:, None])[..., None]
        lo = torch.where(real, box_lo - rel_lo, 0.0)
        hi = torch.where(real, box_hi - rel_hi, 0.0)
        return lo, torch.maximum(lo, hi)


def _vector_problem(model: torch.nn.Module, sketches: list[Sketch], device: torch.device) -> _Problem:
    batch = SketchBatch.from_sketches(sketches, device=device)
    points, sid = model.prepare(batch)
    n_slots = batch.max_strokes
    true = stroke_starts(points, sid, n_slots)
    relative = torch.where((sid >= 0)[..., None], points - place(torch.zeros_like(points), sid, true), 0.0)
    base = [s.normalized(1.0) for s in sketches]
    centre = _bbox_centre(points, sid >= 0)
    return _Problem(
        base, relative, sid, true, centre, batch.n_strokes, lambda loc: model(place(relative, sid, loc), sid)
    )


def _raster_problem(
    model: torch.nn.Module,
    sketches: list[Sketch],
    device: torch.device,
    renderer: torch.nn.Module | None,
    simplify: bool,
) -> _Problem:
    if renderer is None:
        from strokelens.render.presets import QuickDrawBitmap

        renderer = QuickDrawBitmap()
    renderer = renderer.to(device)
    # QuickDraw's frame (0-255) divided by 255 is the normalised frame.
    prepped = [s.quickdraw_simplified() if simplify else s.normalized() for s in sketches]
    base = [_scaled(s, 1.0 / QUICKDRAW_FRAME) for s in prepped]
    batch = SketchBatch.from_sketches(base, device=device)
    sid = torch.where(batch.point_mask, batch.stroke_ids, torch.full_like(batch.stroke_ids, -1))
    points = batch.points
    true = stroke_starts(points, sid, batch.max_strokes)
    relative = torch.where((sid >= 0)[..., None], points - place(torch.zeros_like(points), sid, true), 0.0)
    frame = renderer.frame(batch).detach()
    centre = _bbox_centre(points, sid >= 0)

    def logits(loc: torch.Tensor) -> torch.Tensor:
        return model(renderer(batch, points=place(relative, sid, loc), frame=frame))

    return _Problem(base, relative, sid, true, centre, batch.n_strokes, logits)


def _scaled(sketch: Sketch, factor: float) -> Sketch:
    return dataclasses.replace(sketch, strokes=[s * factor for s in sketch.strokes], meta=dict(sketch.meta))


def _bbox_centre(points: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    big = torch.finfo(points.dtype).max
    m = mask[..., None]
    lo = torch.where(m, points, big).amin(1)
    hi = torch.where(m, points, -big).amax(1)
    return (lo + hi) / 2


# --------------------------------------------------------------------------------------- invert
def invert(
    model: torch.nn.Module,
    sketches: Sequence[Sketch] | SketchBatch,
    mode: str = "recover",
    to: Goal = None,
    iterations: int = 100,
    lr: float = 10.0,
    lr_min: float = 1e-5,
    max_step: float = 0.5,
    sigma: float = 0.1,
    noise: str = "replace",
    seed: int = 0,
    record_every: int = 5,
    bound: bool = True,
    classes: Sequence[int | str] | None = None,
    renderer: torch.nn.Module | None = None,
    simplify: bool = True,
) -> InversionResult:
    """Optimise only the stroke locations of ``sketches`` so that frozen ``model`` sees a goal class.

    ``mode="recover"``: locations start as noise (``noise="replace"``: the bounding-box centre plus
    N(0, ``sigma``^2) per coordinate, as in SketchXAI; ``"add"``: the true locations plus that noise)
    and the goal is each sketch's true label. ``mode="transfer"``: locations start true and the goal is
    ``to`` (a class or one per sketch; ``None``: a random other class, seeded).

    SGD with ``lr`` decayed by a cosine to ``lr_min`` over ``iterations``; each step's gradient is
    clipped per sketch so that the step moves all its locations by at most ``max_step`` (L2 norm).
    ``classes``: restrict the loss, goal probability and arg-max to these classes (default: all).
    ``bound``: after every step, project each stroke back inside the original sketch's bounding box
    (also the noisy start); without it a raster model can push strokes off its canvas, where their
    gradient vanishes. ``record_every``: keep the locations every that many steps (and at the end),
    for animation.
    Raster models render through ``renderer`` (default: the QuickDraw bitmap preset), on sketches
    simplified by QuickDraw's recipe when ``simplify``.
    """
    if mode not in MODES:
        raise StrokelensError(f"unknown inversion mode {mode!r}; expected one of {', '.join(MODES)}")
    if noise not in NOISE_KINDS:
        raise StrokelensError(f"unknown noise kind {noise!r}; expected one of {', '.join(NOISE_KINDS)}")
    if iterations < 0 or record_every < 1:
        raise StrokelensError(f"need iterations >= 0 and record_every >= 1, got {iterations}, {record_every}")
    if lr <= 0 or lr_min < 0 or max_step <= 0 or sigma < 0:
        raise StrokelensError("lr and max_step must be positive; lr_min and sigma non-negative")
    sketch_list = list(sketches.sketches if isinstance(sketches, SketchBatch) else sketches)
    if not sketch_list:
        raise StrokelensError("no sketches to invert")
    names = list(model.class_names)
    device = _model_device(model)
    kind = getattr(model, "input_kind", None)
    start_time = time.perf_counter()
    gen = torch.Generator().manual_seed(int(seed))

    with frozen(model):
        if kind == "vector-sketch":
            prob = _vector_problem(model, sketch_list, device)
        elif kind == "raster-sketch":
            prob = _raster_problem(model, sketch_list, device, renderer, simplify)
        else:
            raise StrokelensError(f"stroke location inversion needs a sketch model, not input_kind {kind!r}")

        cls = torch.as_tensor(
            [class_index(c, names) for c in classes] if classes is not None else range(len(names)),
            dtype=torch.long,
        )
        if len(cls) < 2 or len(set(cls.tolist())) != len(cls):
            raise StrokelensError("classes must name at least two distinct classes")
        true_class = torch.tensor([_label_index(s, names) for s in sketch_list], dtype=torch.long)
        goal = _goals(mode, to, true_class, cls, sketch_list, names, gen)
        col_of = torch.full((len(names),), -1, dtype=torch.long)
        col_of[cls] = torch.arange(len(cls))
        if bool((col_of[goal] < 0).any()):
            raise StrokelensError("a goal class is outside the classes the inversion is restricted to")
        goal_col = col_of[goal].to(device)
        cls_dev = cls.to(device)

        slots = torch.arange(prob.true_locations.shape[1], device=device)
        mask = (slots[None] < prob.n_strokes[:, None])[..., None]
        if mode == "recover":
            eps = torch.randn(prob.true_locations.shape, generator=gen).to(device, prob.true_locations.dtype)
            origin = prob.centre[:, None, :] if noise == "replace" else prob.true_locations
            start = torch.where(mask, origin + sigma * eps, 0.0)
        else:
            start = prob.true_locations.clone()
        if bound:
            lo, hi = prob.location_bounds()
            start = torch.minimum(torch.maximum(start, lo), hi)

        loc = start.clone()
        steps: list[int] = []
        traj: list[torch.Tensor] = []
        gprobs: list[torch.Tensor] = []
        start_logits = None
        for step in range(iterations):
            loc.requires_grad_(True)
            logits = prob.logits(loc)
            sub = logits[:, cls_dev]
            loss = torch.nn.functional.cross_entropy(sub, goal_col, reduction="sum")
            (grad,) = torch.autograd.grad(loss, loc)
            loc = loc.detach()
            if step == 0:
                start_logits = logits.detach()
            if step % record_every == 0:
                steps.append(step)
                traj.append(loc.clone())
                gprobs.append(sub.detach().softmax(-1).gather(1, goal_col[:, None])[:, 0])
            rate = cosine_lr(step, iterations, lr, lr_min)
            grad = torch.where(mask, grad, 0.0)
            norm = grad.flatten(1).norm(dim=1)
            clip = ((max_step / rate) / (norm + 1e-6)).clamp(max=1.0)
            loc = loc - rate * clip[:, None, None] * grad
            if bound:
                loc = torch.minimum(torch.maximum(loc, lo), hi)
        with torch.no_grad():
            final_logits = prob.logits(loc)
            if start_logits is None:
                start_logits = final_logits
        steps.append(iterations)
        traj.append(loc.clone())
        gprobs.append(final_logits[:, cls_dev].softmax(-1).gather(1, goal_col[:, None])[:, 0])

    cpu = lambda t: t.detach().float().cpu()  # noqa: E731
    return InversionResult(
        mode=mode,
        class_names=names,
        classes=cls,
        sketches=prob.sketches,
        n_strokes=prob.n_strokes.cpu(),
        true_class=true_class,
        goal=goal,
        true_locations=cpu(prob.true_locations),
        start_locations=cpu(start),
        final_locations=cpu(loc),
        start_logits=cpu(start_logits),
        final_logits=cpu(final_logits),
        steps=steps,
        trajectory=cpu(torch.stack(traj)),
        goal_probs=cpu(torch.stack(gprobs)),
        seconds=time.perf_counter() - start_time,
        evaluations=(iterations + 1) * len(sketch_list),
        options={
            "iterations": iterations,
            "lr": lr,
            "lr_min": lr_min,
            "max_step": max_step,
            "sigma": sigma,
            "noise": noise,
            "seed": seed,
            "record_every": record_every,
            "bound": bound,
        },
    )


def _label_index(sketch: Sketch, names: Sequence[str]) -> int:
    if sketch.label is None:
        return -1
    try:
        return class_index(sketch.label, names)
    except StrokelensError:
        return -1


def _goals(
    mode: str,
    to: Goal,
    true_class: torch.Tensor,
    classes: torch.Tensor,
    sketches: list[Sketch],
    names: list[str],
    gen: torch.Generator,
) -> torch.Tensor:
    b = len(sketches)
    if mode == "recover":
        if to is not None:
            raise StrokelensError("recovery optimises toward the true label; 'to' is for transfer")
        missing = (true_class < 0).nonzero().flatten().tolist()
        if missing:
            s = sketches[missing[0]]
            raise StrokelensError(
                f"{s.source or 'sketch ' + str(missing[0])}: recovery needs a label the model knows, "
                f"got {s.label!r}"
            )
        return true_class
    if to is None:
        # A random class other than the true one (uniform over the allowed classes).
        k = len(classes)
        pos = torch.randint(0, k - 1, (b,), generator=gen)
        in_cls = (classes[None] == true_class[:, None]).int().argmax(1)
        known = (classes[None] == true_class[:, None]).any(1)
        pos = torch.where(known & (pos >= in_cls), pos + 1, pos)
        return classes[pos]
    if isinstance(to, torch.Tensor):
        to = to.tolist()
    if isinstance(to, (int, str, np.integer)):
        return torch.full((b,), class_index(to, names), dtype=torch.long)
    to = list(to)
    if len(to) != b:
        raise StrokelensError(f"{len(to)} transfer goals given for {b} sketches")
    return torch.tensor([class_index(t, names) for t in to], dtype=torch.long)
