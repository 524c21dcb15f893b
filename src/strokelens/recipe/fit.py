"""Fit a raster-sketch model's input recipe on a few labelled drawings: which ink and background,
line width, padding and canvas size make the model read them best.

The search, at the current size: a coordinate search over line width, then padding (shares of the
side from small lists, the current recipe's own values among them; up to `ROUNDS` rounds). Each
geometry is drawn once for the whole sample and coloured with every ink/background pair (the
current one, it swapped, white on black, black on white) while no recipe reads better than near
chance, then with the best one's ink only; every pair once more at the end. Then the other common
sizes the model accepts, with the best shares. Channels, centring and normalisation stay the
model's. A recipe wins on top-1, ties going to the higher mean log-probability of the right class;
the current recipe wins all ties. About 20 renders and 25 forward passes of the sample (DoodleNet,
100 drawings: 10-30 s on 2 shared CPU cores).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch

from strokelens import kinds
from strokelens.errors import StrokelensError
from strokelens.recipe.check import near_chance_threshold, raster_renderer
from strokelens.render.presets import QD_LINE_SHARE, RasterPreset
from strokelens.sketch import Sketch, SketchBatch

__all__ = ["FitResult", "current_recipe", "fit_recipe", "spread"]

#: Line widths and paddings tried, as shares of the canvas side (QuickDraw: 16/304 and 24.5/304).
LINE_SHARES = (0.02, 0.035, QD_LINE_SHARE, 0.075, 0.1, 0.13)
PADDING_SHARES = (0.0, 0.04, 24.5 / 304, 0.12, 0.17)
#: Canvas sizes tried after the grid (those the model refuses are skipped).
SIZES = (28, 32, 48, 64, 96, 128, 224, 256)
#: Rounds of the coordinate search over line width, then padding (it stops when a round changes nothing).
ROUNDS = 3
#: Options that make a `RasterPreset` draw ink opacity itself, to colour afterwards.
_ALPHA = {"ink": 1.0, "background": 0.0, "channels": 1, "mean": 0.0, "std": 1.0}


@dataclass(frozen=True)
class FitResult:
    """The current recipe and the best one found, with their accuracy on the fitting drawings."""

    current: dict[str, Any]
    current_top1: float
    best: dict[str, Any]
    best_top1: float
    drawings: int
    tried: int
    seconds: float

    @property
    def improved(self) -> bool:
        return self.best != self.current


def current_recipe(model: torch.nn.Module) -> dict[str, Any]:
    """The `RasterPreset` arguments of the canvas ``model`` is drawn with now."""
    canvas = raster_renderer(model)
    if isinstance(canvas, RasterPreset):
        options = dict(canvas.options)
    else:  # a plain `SketchCanvas` (the QuickDraw bitmap): white ink on black, one channel
        options = dict(RasterPreset(size=canvas.size, line_width=canvas.line_width).options)
        options["padding"] = (canvas.size - canvas.extent) / 2
    return {k: _plain(v) for k, v in options.items()}


def _plain(value: Any) -> Any:
    """JSON-ready: tuples as lists, floats rounded to 4 decimals."""
    if isinstance(value, tuple | list):
        return [_plain(v) for v in value]
    return round(value, 4) if isinstance(value, float) else value


def spread(n_items: int, n: int) -> list[int]:
    """``n`` indices spread evenly over ``range(n_items)`` (all of them when there are fewer)."""
    if n >= n_items:
        return list(range(n_items))
    return torch.linspace(0, n_items - 1, n).round().long().unique().tolist()


class _Scorer:
    """Top-1 and mean log-probability of the right class for images of the fitting drawings."""

    def __init__(self, model: torch.nn.Module, target: torch.Tensor) -> None:
        self.model, self.target = model, target
        self.tried = 0

    def __call__(self, images: torch.Tensor) -> tuple[float, float]:
        self.tried += 1
        with torch.no_grad():
            logp = torch.log_softmax(self.model(images).double(), 1)
        rows = torch.arange(len(self.target))
        top1 = float((logp.argmax(1) == self.target).double().mean())
        return top1, float(logp[rows, self.target].mean())


def _inks(current: dict[str, Any]) -> list[tuple[Any, Any]]:
    """Ink/background pairs to try: the current one first, it swapped, white on black, black on white."""
    pairs = [(current["ink"], current["background"]), (current["background"], current["ink"])]
    pairs += [(1.0, 0.0), (0.0, 1.0)]
    out: list[tuple[Any, Any]] = []
    for p in pairs:
        if p not in out:
            out.append(p)
    return out


def _accepts(model: torch.nn.Module, probe: SketchBatch, options: dict[str, Any]) -> bool:
    """True when ``model`` runs on images of ``options``'s size (probed on one drawing)."""
    try:
        with torch.no_grad():
            out = model(RasterPreset(**options)(probe))
    except Exception:  # a model refusing an input size fails in any number of ways
        return False
    return out.ndim == 2


class _Search:
    """The best recipe so far, and `geometry` to try a line width and padding (shares of the side)."""

    def __init__(
        self, model: torch.nn.Module, batch: SketchBatch, targets: torch.Tensor, current: dict[str, Any]
    ) -> None:
        self.batch, self.current = batch, current
        self.score = _Scorer(model, targets)
        self.settled = near_chance_threshold(len(model.class_names))
        self.tried: set[tuple[float, float, bool]] = set()
        self.best, self.best_score = current, self.score(RasterPreset(**current)(batch))

    def geometry(self, line: float, padding: float, every_ink: bool = False) -> None:
        """Draw the sample once with ``line`` and ``padding``; colour it with the best recipe's ink,
        or with every ink/background pair while the best reads no better than chance (or when
        ``every_ink``); keep the best."""
        every_ink = every_ink or self.best_score[0] < self.settled
        key = (line, padding, every_ink)
        if key in self.tried:
            return
        self.tried.add(key)
        size = self.best["size"]
        options = {**self.best, "line_width": _plain(line * size), "padding": _plain(padding * size)}
        with torch.no_grad():
            alpha = RasterPreset(**{**options, **_ALPHA})(self.batch)
        inks = _inks(self.current) if every_ink else [(self.best["ink"], self.best["background"])]
        for ink, background in inks:
            candidate = {**options, "ink": ink, "background": background}
            s = self.score(RasterPreset(**candidate).colour(alpha))
            if s > self.best_score:
                self.best, self.best_score = candidate, s

    def sizes(self, probe: SketchBatch) -> None:
        """The other `SIZES` the model accepts, with the best recipe's shares of the side."""
        size = self.best["size"]
        line, padding = self.best["line_width"] / size, self.best["padding"] / size
        for other in (s for s in SIZES if s != size):
            options = {
                **self.best,
                "size": other,
                "line_width": _plain(line * other),
                "padding": _plain(padding * other),
            }
            if not _accepts(self.score.model, probe, options):
                continue
            with torch.no_grad():
                s = self.score(RasterPreset(**options)(self.batch))
            if s > self.best_score:
                self.best, self.best_score = options, s


def fit_recipe(model: torch.nn.Module, sketches: Sequence[Sketch], targets: torch.Tensor) -> FitResult:
    """Search the raster recipe under which ``model`` reads ``sketches`` (right classes ``targets``)
    best; see the module's docstring for the search."""
    if kinds.of(model) is not kinds.RASTER_SKETCH:
        raise StrokelensError(f"--fit-recipe is for raster-sketch models, not {kinds.of(model).name}")
    if len(sketches) == 0 or len(sketches) != len(targets):
        raise StrokelensError("--fit-recipe needs drawings whose labels name classes of the model")
    start = time.perf_counter()
    current = current_recipe(model)
    search = _Search(model, SketchBatch.from_sketches(list(sketches)), targets, current)
    current_top1 = search.best_score[0]
    size = current["size"]
    lines = sorted({current["line_width"] / size, *LINE_SHARES})
    pads = sorted({current["padding"] / size, *PADDING_SHARES})
    for _ in range(ROUNDS):
        before = search.best
        for line in lines:
            search.geometry(line, search.best["padding"] / size)
        for pad in pads:
            search.geometry(search.best["line_width"] / size, pad)
        if search.best == before:
            break
    search.geometry(search.best["line_width"] / size, search.best["padding"] / size, every_ink=True)
    search.sizes(SketchBatch.from_sketches([sketches[0]]))
    return FitResult(
        current=current,
        current_top1=current_top1,
        best=search.best,
        best_top1=search.best_score[0],
        drawings=len(sketches),
        tried=search.score.tried,
        seconds=time.perf_counter() - start,
    )
