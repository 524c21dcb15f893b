"""Targets beyond class scores: any differentiable function of a model's outputs.

A `Game`'s target may be a callable ``f(outputs) -> (R,)`` scores, where ``outputs`` are the view's
raw outputs for ``R`` rows, of any shape ``(R, ...)`` (class logits ``(R, C)``, an embedding
``(R, D)``, a generated image ``(R, 1, H, W)``). A callable that also takes a keyword ``rows`` gets
the input item of each row ``(R,)`` as well, so it can score each input by its own mask or
reference. Every attribution method and `strokelens.metrics.deletion_insertion` then explain that
score. A callable that returns anything but a ``(R,)`` tensor is a `StrokelensError`.

This module has the common ones:

- `region`: the mean (or sum) of an image output over a pixel mask, one mask for all inputs or one
  per input; `box_mask` makes masks from boxes.
- `embedding_distance`: distance of an output vector to a reference (one, or one per input).

Example (the completion model, see `strokelens.generation`)::

    game = view.game(units, target=region(box_mask([4, 4, 20, 16], 32)), frame=whole_sketches)
    scores = get_method("sla")(view).attribute(units, target=region(mask), frame=...)
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Sequence

import torch

from strokelens.errors import StrokelensError


def _region_sum(total: torch.Tensor, area: torch.Tensor) -> torch.Tensor:
    return total


def _region_mean(total: torch.Tensor, area: torch.Tensor) -> torch.Tensor:
    return total / area.clamp_min(1e-12)


#: How a region target reduces an image output over its mask: ``(totals, areas) -> (R,)``.
REDUCTIONS: dict[str, Callable[[torch.Tensor, torch.Tensor], torch.Tensor]] = {
    "mean": _region_mean,
    "sum": _region_sum,
}


def _l2(vec: torch.Tensor, ref: torch.Tensor) -> torch.Tensor:
    return (vec - ref).square().sum(1).clamp_min(1e-12).sqrt()


def _cosine_distance(vec: torch.Tensor, ref: torch.Tensor) -> torch.Tensor:
    return 1 - torch.nn.functional.cosine_similarity(vec, ref.expand_as(vec), dim=1)


#: Embedding distances by name: ``(outputs (R, D), references) -> (R,)``.
DISTANCES: dict[str, Callable[[torch.Tensor, torch.Tensor], torch.Tensor]] = {
    "l2": _l2,
    "cosine": _cosine_distance,
}


def takes_rows(fn: Callable) -> bool:
    """True when the callable target ``fn`` accepts a keyword ``rows`` (the input item of each row)."""
    try:
        params = inspect.signature(fn).parameters
    except (TypeError, ValueError):
        return False
    return "rows" in params or any(p.kind is p.VAR_KEYWORD for p in params.values())


def _per_row(value: torch.Tensor, rows: torch.Tensor | None, n_rows: int, name: str, single_dims: int):
    """``value`` for each of ``n_rows`` rows: as is when it has ``single_dims`` dims (one for all
    inputs), indexed by ``rows`` when it has one more (one per input)."""
    if value.dim() == single_dims:
        return value[None]
    if value.dim() != single_dims + 1:
        raise StrokelensError(
            f"{name} must have {single_dims} or {single_dims + 1} dims, got {tuple(value.shape)}"
        )
    if rows is None:
        raise StrokelensError(
            f"a {name} per input needs the rows of the outputs (call target(outputs, rows=...))"
        )
    if len(rows) != n_rows:
        raise StrokelensError(f"{len(rows)} rows for {n_rows} outputs")
    if len(rows) and int(rows.max()) >= len(value):
        raise StrokelensError(f"{name} holds {len(value)} inputs, row {int(rows.max())} asked")
    return value[rows.to(value.device)]


class Region:
    """Target: the ``reduce`` (mean or sum) of an image output ``(R, [C,] H, W)`` over ``mask``.

    ``mask``: ``(H, W)`` (all inputs) or ``(B, H, W)`` (one per input, picked by ``rows``), bool or
    float weights; the channels of a ``(R, C, H, W)`` output are averaged first. A mean over an
    empty mask is 0.
    """

    def __init__(self, mask: torch.Tensor, reduce: str = "mean") -> None:
        if reduce not in REDUCTIONS:
            raise StrokelensError(f"unknown reduction {reduce!r}; expected one of {', '.join(REDUCTIONS)}")
        mask = torch.as_tensor(mask)
        if mask.dim() not in (2, 3):
            raise StrokelensError(f"a region mask is (H, W) or (B, H, W), got shape {tuple(mask.shape)}")
        if not (mask.dtype == torch.bool or mask.is_floating_point()):
            raise StrokelensError(f"a region mask must be bool or float, got {mask.dtype}")
        self.mask = mask.float()
        self.reduce = reduce

    def __call__(self, outputs: torch.Tensor, rows: torch.Tensor | None = None) -> torch.Tensor:
        if not isinstance(outputs, torch.Tensor) or outputs.dim() not in (3, 4):
            got = tuple(outputs.shape) if isinstance(outputs, torch.Tensor) else type(outputs).__name__
            raise StrokelensError(f"a region target needs image outputs (R, [C,] H, W), got {got}")
        image = outputs.mean(1) if outputs.dim() == 4 else outputs
        if tuple(image.shape[-2:]) != tuple(self.mask.shape[-2:]):
            raise StrokelensError(
                f"the region mask is {tuple(self.mask.shape[-2:])}, the outputs {tuple(image.shape[-2:])}"
            )
        mask = _per_row(self.mask.to(image.device, image.dtype), rows, len(image), "region mask", 2)
        return REDUCTIONS[self.reduce]((image * mask).flatten(1).sum(1), mask.flatten(1).sum(1))

    def __repr__(self) -> str:
        return f"Region(mask={tuple(self.mask.shape)}, reduce={self.reduce!r})"


def region(mask: torch.Tensor, reduce: str = "mean") -> Region:
    """Target: mean (or sum) of an image output over a pixel ``mask`` (see `Region`)."""
    return Region(mask, reduce)


def box_mask(boxes: torch.Tensor | Sequence[float], size: int | tuple[int, int]) -> torch.Tensor:
    """Bool masks of pixel boxes ``(x0, y0, x1, y1)`` (x0 and y0 included, x1 and y1 excluded):
    ``(4,)`` -> ``(H, W)``, ``(B, 4)`` -> ``(B, H, W)``."""
    b = torch.as_tensor(boxes, dtype=torch.float32)
    if b.shape[-1:] != (4,) or b.dim() not in (1, 2):
        raise StrokelensError(f"boxes must be (4,) or (B, 4) as x0, y0, x1, y1, got shape {tuple(b.shape)}")
    h, w = (size, size) if isinstance(size, int) else size
    single = b.dim() == 1
    b = b.reshape(-1, 4)
    ys = torch.arange(h, dtype=torch.float32)[None, :, None]
    xs = torch.arange(w, dtype=torch.float32)[None, None, :]
    x0, y0, x1, y1 = (b[:, i, None, None] for i in range(4))
    mask = (xs >= x0) & (xs < x1) & (ys >= y0) & (ys < y1)
    return mask[0] if single else mask


class EmbeddingDistance:
    """Target: the distance of each output vector (``(R, D)``, or flattened ``(R, ...)``) to
    ``reference`` (``(D,)`` for all inputs or ``(B, D)`` per input): ``l2`` (Euclidean) or ``cosine``
    (1 - cosine similarity). Higher = farther; attribute ``-distance`` for "closer"."""

    def __init__(self, reference: torch.Tensor, metric: str = "l2") -> None:
        if metric not in DISTANCES:
            raise StrokelensError(f"unknown distance {metric!r}; expected one of {', '.join(DISTANCES)}")
        reference = torch.as_tensor(reference)
        if reference.dim() not in (1, 2) or not reference.is_floating_point():
            raise StrokelensError(
                f"a reference is a float (D,) or (B, D) tensor, got {tuple(reference.shape)}"
            )
        self.reference = reference.detach()
        self.metric = metric

    def __call__(self, outputs: torch.Tensor, rows: torch.Tensor | None = None) -> torch.Tensor:
        if not isinstance(outputs, torch.Tensor) or outputs.dim() < 2:
            raise StrokelensError("an embedding distance needs outputs (R, D)")
        vec = outputs.flatten(1)
        if vec.shape[1] != self.reference.shape[-1]:
            raise StrokelensError(
                f"outputs have {vec.shape[1]} values, the reference {self.reference.shape[-1]}"
            )
        ref = _per_row(self.reference.to(vec.device, vec.dtype), rows, len(vec), "reference", 1)
        return DISTANCES[self.metric](vec, ref)


def embedding_distance(reference: torch.Tensor, metric: str = "l2") -> EmbeddingDistance:
    """Target: distance of the output to ``reference`` (see `EmbeddingDistance`)."""
    return EmbeddingDistance(reference, metric)


__all__ = ["EmbeddingDistance", "Region", "box_mask", "embedding_distance", "region", "takes_rows"]
