"""Stroke location inversion (SLI), after SketchXAI (Qu et al., CVPR 2023): the optimiser.

A frozen classifier is asked where each stroke must go for it to see a class. Only the strokes'
locations move: every stroke is translated as a whole, its shape never changes. All sketches of a batch
are optimised at once, through the model's view (`strokelens.inversion.problem.LocationProblem`).

- **recover**: every stroke's location is replaced by Gaussian noise (``sigma`` in the normalised
  frame, centred on the sketch's bounding-box centre), then optimised toward the true label. Does the
  model know where the strokes of a class belong?
- **transfer**: locations start at the true ones and are optimised toward another class. How far must
  strokes move for the model to change its mind?

Defaults follow the published settings: plain SGD, ``lr`` 10 with cosine decay to ``lr_min`` 1e-5 over
100 iterations, gradients clipped per sketch (L2 norm over all its locations) so that one step moves
the locations by at most ``max_step`` = 0.5 in total.
"""

from __future__ import annotations

import contextlib
import math
import time
from collections.abc import Iterator, Sequence

import torch

from strokelens.errors import StrokelensError
from strokelens.games import class_index
from strokelens.inversion.modes import Goal, inversion_mode
from strokelens.inversion.problem import NOISE_KINDS, LocationProblem
from strokelens.inversion.result import InversionResult
from strokelens.sketch import Sketch, SketchBatch
from strokelens.views.base import View


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


def invert(
    model: torch.nn.Module | View,
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
    ``model`` is a sketch model or its view (any view that takes points). Raster models render
    through ``renderer`` (default: the QuickDraw bitmap preset), on sketches simplified by
    QuickDraw's recipe when ``simplify``.
    """
    chosen = inversion_mode(mode)
    if noise not in NOISE_KINDS:
        raise StrokelensError(f"unknown noise kind {noise!r}; expected one of {', '.join(NOISE_KINDS)}")
    if iterations < 0 or record_every < 1:
        raise StrokelensError(f"need iterations >= 0 and record_every >= 1, got {iterations}, {record_every}")
    if lr <= 0 or lr_min < 0 or max_step <= 0 or sigma < 0:
        raise StrokelensError("lr and max_step must be positive; lr_min and sigma non-negative")
    sketch_list = list(sketches.sketches if isinstance(sketches, SketchBatch) else sketches)
    if not sketch_list:
        raise StrokelensError("no sketches to invert")
    if isinstance(model, View):
        if renderer is not None:
            raise StrokelensError("give a renderer to the view, not to invert, when passing a view")
        view = model
    else:
        from strokelens import kinds
        from strokelens.views import RasterSketchView, input_kind, view_for

        if input_kind(model) is kinds.RASTER_SKETCH:
            view = RasterSketchView(model, renderer=renderer, simplify=simplify)
        else:
            view = view_for(model)
    names = list(view.class_names)
    device = view.device
    start_time = time.perf_counter()
    gen = torch.Generator().manual_seed(int(seed))

    with frozen(view.model):
        prob = LocationProblem.on_view(view, sketch_list)

        cls = torch.as_tensor(
            [class_index(c, names) for c in classes] if classes is not None else range(len(names)),
            dtype=torch.long,
        )
        if len(cls) < 2 or len(set(cls.tolist())) != len(cls):
            raise StrokelensError("classes must name at least two distinct classes")
        true_class = torch.tensor([_label_index(s, names) for s in sketch_list], dtype=torch.long)
        goal = chosen.goals(to, true_class, cls, sketch_list, names, gen)
        col_of = torch.full((len(names),), -1, dtype=torch.long)
        col_of[cls] = torch.arange(len(cls))
        if bool((col_of[goal] < 0).any()):
            raise StrokelensError("a goal class is outside the classes the inversion is restricted to")
        goal_col = col_of[goal].to(device)
        cls_dev = cls.to(device)

        slots = torch.arange(prob.true_locations.shape[1], device=device)
        mask = (slots[None] < prob.n_strokes[:, None])[..., None]
        if bound:
            lo, hi = prob.location_bounds()
        start = chosen.start(prob, gen, sigma, noise, (lo, hi) if bound else None)

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
