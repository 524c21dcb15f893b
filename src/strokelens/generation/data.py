"""Completion data: every stroke's ink drawn once in its whole drawing's frame (`StrokeInks`),
seeded stroke removals, partial drawings that keep the whole drawing's frame, evaluation sets."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

import torch

from strokelens.errors import StrokelensError
from strokelens.models.completion import CompletionConfig
from strokelens.sketch import Sketch, SketchBatch

#: Share of a drawing's strokes removed, drawn uniformly per drawing.
REMOVE_RANGE = (0.3, 0.6)


#: The ``Sketch.meta`` key of a partial drawing's whole-drawing box ``[x0, y0, x1, y1]``.
WHOLE_BBOX = "whole_bbox"


#: Coverage is clamped below 1 by the rasteriser; the same clamp keeps every log finite here.
_C_MAX = 1.0 - 1e-6


def prepare_sketches(sketches: Sequence[Sketch], config: CompletionConfig) -> list[Sketch]:
    """Sketches as the model sees them (QuickDraw's simplification when ``config.simplify``)."""
    return [s.quickdraw_simplified() for s in sketches] if config.simplify else list(sketches)


@dataclass
class StrokeInks:
    """Each stroke of ``M`` sketches drawn alone in its sketch's frame.

    ``ink``: ``(S, H, W)`` float16 coverage of each stroke; ``index``: ``(M, K)`` long, the rows of
    ``ink`` holding each sketch's strokes in order, ``-1`` past its own count; ``n_strokes`` ``(M,)``.
    """

    ink: torch.Tensor
    index: torch.Tensor
    n_strokes: torch.Tensor

    def __len__(self) -> int:
        return len(self.n_strokes)

    @classmethod
    def build(cls, sketches: Sequence[Sketch], renderer: torch.nn.Module, chunk: int = 256) -> StrokeInks:
        """Draw every stroke alone (one ``composite`` with one-hot presence per chunk of sketches)."""
        if not sketches:
            raise StrokelensError("no sketches to draw")
        inks, counts = [], []
        for start in range(0, len(sketches), chunk):
            batch = SketchBatch.from_sketches(sketches[start : start + chunk])
            cov = renderer.coverage(batch)
            b, k = len(batch), batch.max_strokes
            rows = torch.arange(b).repeat_interleave(k)
            ink = renderer.composite(cov, torch.eye(k).repeat(b, 1), rows)[:, 0]
            inks.append(ink[batch.stroke_mask.reshape(-1)].half())
            counts.append(batch.n_strokes)
        n = torch.cat(counts)
        width = int(n.max())
        first = torch.cumsum(n, 0) - n
        ar = torch.arange(width)
        index = torch.where(ar[None] < n[:, None], first[:, None] + ar[None], -1)
        return cls(torch.cat(inks), index, n)

    def draw(self, items: torch.Tensor, keep: torch.Tensor | None = None) -> torch.Tensor:
        """``(R, 1, H, W)`` ink of sketches ``items`` ``(R,)`` with strokes ``keep`` ``(R, K')`` (bool
        or 0/1, ``K'`` at least the items' widest stroke count; None: all)."""
        idx = self.index[items]
        width = int(self.n_strokes[items].max())
        idx = idx[:, :width]
        valid = idx >= 0
        if keep is not None:
            valid = valid & keep[:, :width].bool()
        c = self.ink[idx.clamp_min(0)].float().clamp_max(_C_MAX)
        log_t = torch.log1p(-c) * valid[..., None, None]
        return (-torch.expm1(log_t.sum(1)))[:, None]


def removal_masks(
    n_strokes: torch.Tensor,
    generator: torch.Generator,
    width: int | None = None,
    fraction: tuple[float, float] = REMOVE_RANGE,
) -> torch.Tensor:
    """``(M, width)`` bool, True on the strokes removed: ``round(f * n)`` random strokes of each drawing
    with ``f`` uniform in ``fraction``, at least one removed and at least one kept where ``n >= 2``
    (nothing removed from one-stroke drawings)."""
    lo, hi = fraction
    if not 0 <= lo <= hi <= 1:
        raise StrokelensError(f"removal fraction must satisfy 0 <= lo <= hi <= 1, got {fraction}")
    n = n_strokes.long()
    width = int(n.max()) if width is None else width
    m = len(n)
    f = lo + (hi - lo) * torch.rand(m, generator=generator)
    count = torch.minimum(torch.clamp_min((f * n).round().long(), 1), n - 1).clamp_min(0)
    ar = torch.arange(width)
    key = torch.where(ar[None] < n[:, None], torch.rand(m, width, generator=generator), 2.0)
    rank = key.argsort(1).argsort(1)
    return rank < count[:, None]


def partial_sketches(sketches: Sequence[Sketch], removed: torch.Tensor) -> list[Sketch]:
    """The sketches without their ``removed`` ``(M, K)`` strokes, each remembering its whole
    drawing's bounding box (``meta["whole_bbox"]``, which `CompletionView` frames it by)."""
    out = []
    for i, s in enumerate(sketches):
        keep = [k for k in range(s.n_strokes) if not bool(removed[i, k])]
        if not keep:
            raise StrokelensError(f"sketch {i}: every stroke is removed; keep at least one")
        part = s.subset(keep)
        out.append(replace(part, meta={**s.meta, WHOLE_BBOX: list(map(float, s.bbox()))}))
    return out


def with_whole_frame(partial: Sketch, whole: Sketch) -> Sketch:
    """``partial`` (strokes of ``whole``, in its coordinates) framed as ``whole`` by `CompletionView`."""
    return replace(partial, meta={**partial.meta, WHOLE_BBOX: list(map(float, whole.bbox()))})


@dataclass
class CompletionData:
    """Partial and whole drawings ``(M, 1, H, W)`` of an evaluation set, with the removal masks."""

    partial: torch.Tensor
    full: torch.Tensor
    removed: torch.Tensor

    @classmethod
    def make(cls, inks: StrokeInks, seed: int) -> CompletionData:
        gen = torch.Generator().manual_seed(seed)
        removed = removal_masks(inks.n_strokes, gen, inks.index.shape[1])
        items = torch.arange(len(inks))
        partial = torch.cat([inks.draw(c, ~removed[c]) for c in items.split(512)])
        full = torch.cat([inks.draw(c) for c in items.split(512)])
        return cls(partial, full, removed)


def removed_ink_boxes(data: CompletionData, ink: float = 0.5) -> torch.Tensor:
    """``(M, 4)`` pixel boxes ``x0, y0, x1, y1`` (ends excluded, for `strokelens.targets.box_mask`)
    around each drawing's removed ink (pixels the whole drawing inks and the partial one does not);
    the whole canvas where there is none."""
    missing = (data.full[:, 0] > ink) & (data.partial[:, 0] <= ink)
    h, w = missing.shape[1:]
    rows, cols = missing.any(2), missing.any(1)
    ar_h, ar_w = torch.arange(h), torch.arange(w)
    big = max(h, w) + 1
    box = torch.stack(
        [
            torch.where(cols, ar_w, big).amin(1),
            torch.where(rows, ar_h, big).amin(1),
            torch.where(cols, ar_w, -1).amax(1) + 1,
            torch.where(rows, ar_h, -1).amax(1) + 1,
        ],
        1,
    )
    none = ~missing.flatten(1).any(1)
    return torch.where(none[:, None], torch.tensor([0, 0, w, h]), box)


def mean_raster(inks: StrokeInks) -> torch.Tensor:
    """``(1, 1, H, W)``: the mean whole-drawing ink of ``inks`` (the naive baseline)."""
    items = torch.arange(len(inks))
    return sum(inks.draw(c).sum(0, keepdim=True) for c in items.split(512)) / len(inks)
