"""Exact Shapley values as training labels and held-out references for a learned explainer.

A drawing of ``K`` units costs ``2^K`` model evaluations (the view's game cache makes each one cheap),
so labels are computed for drawings of at most ``max_units`` units and left out (None) above. Every
class's values come from the same evaluations (`shapley_from_values` over all classes at once), in
the score space the explainer estimates. `ShapleyLabels` keeps them with what they cost.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from strokelens.attribution.shapley import (
    MAX_EXACT_UNITS,
    all_coalition_values,
    check_exact,
    shapley_from_values,
)
from strokelens.errors import StrokelensError
from strokelens.games import Game
from strokelens.training.explainer_data import drawing_key
from strokelens.views.base import View

#: Labels are exact up to this many units by default (4,096 evaluations a drawing).
DEFAULT_MAX_UNITS = 12


@dataclass
class ShapleyLabels:
    """Per input: exact Shapley values ``(K, C)`` of every class, or None above ``max_units``;
    the model evaluations and wall seconds they took."""

    values: list[torch.Tensor | None]
    max_units: int
    evaluations: int = 0
    seconds: float = 0.0
    score: str = "logit"
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def n_labelled(self) -> int:
        return sum(v is not None for v in self.values)

    def subset(self, indices: Sequence[int]) -> ShapleyLabels:
        """The labels of ``indices`` (cost kept whole: it was paid for all of them)."""
        return ShapleyLabels([self.values[i] for i in indices], self.max_units, 0, 0.0, self.score)

    def summary(self) -> dict[str, Any]:
        """What the labels cost, for a training record."""
        return {
            "label_max_units": self.max_units,
            "labelled": self.n_labelled,
            "unlabelled": len(self.values) - self.n_labelled,
            "label_evaluations": self.evaluations,
            "label_seconds": round(self.seconds, 1),
        }


def game_labels(game: Game) -> torch.Tensor:
    """Exact Shapley values ``(B, K, C)`` of every class for every input of ``game`` (``2^k``
    evaluations for an input of ``k`` units), in the game's score space."""
    check_exact(game)
    n_classes = game.full_outputs.shape[-1]
    out = torch.zeros(game.batch_size, game.max_units, n_classes, dtype=torch.float64, device=game.device)

    def every_class(z: torch.Tensor, rows: torch.Tensor) -> torch.Tensor:
        return game.transform(game.outputs(z, rows))

    for items, k, vals in all_coalition_values(game, every_class):  # vals: (inputs, 2^k, C)
        flat_vals = vals.permute(0, 2, 1).reshape(len(items) * n_classes, -1)
        out[items, :k] = shapley_from_values(flat_vals, k).view(len(items), n_classes, k).permute(0, 2, 1)
    return out.float()


def exact_labels(
    view: View,
    inputs: Sequence[Any],
    units: str | None = None,
    score: str = "logit",
    max_units: int = DEFAULT_MAX_UNITS,
    batch_size: int = 16,
) -> ShapleyLabels:
    """Exact Shapley labels of every class for ``inputs`` (as the view prepares them, like training
    does) with at most ``max_units`` units (None for the rest), ``units`` of the view's unit kind
    (strokes by default)."""
    if not 1 <= max_units <= MAX_EXACT_UNITS:
        raise StrokelensError(f"exact labels take 1 to {MAX_EXACT_UNITS} units, not {max_units}")
    start = time.perf_counter()
    inputs = view.prepare(inputs)
    options = {} if units is None else {"kind": units}
    values: list[torch.Tensor | None] = [None] * len(inputs)
    counts = [int(n) for n in view.units_for(list(inputs), **options).n_units] if inputs else []
    small = [i for i, n in enumerate(counts) if n <= max_units]
    small.sort(key=lambda i: counts[i])  # batches of like sizes: less padding
    evaluations = 0
    for s in range(0, len(small), batch_size):
        chunk = small[s : s + batch_size]
        game = view.game(view.units_for([inputs[i] for i in chunk], **options), "auto", score)
        labels = game_labels(game).cpu()
        evaluations += game.evaluations
        for row, i in enumerate(chunk):
            values[i] = labels[row, : counts[i]]
    return ShapleyLabels(values, max_units, evaluations, time.perf_counter() - start, score)


# ---------------------------------------------------------------------- estimated labels, cached
#: Default: exact Shapley values up to this many units, permutation estimates above (`estimate_labels`).
DEFAULT_EXACT_UNITS = 8
#: Default permutations (half of them the reverses of the others) per drawing above the exact limit.
DEFAULT_PERMUTATIONS = 16


def permutation_labels(game: Game, permutations: int, generator: torch.Generator) -> torch.Tensor:
    """Unbiased permutation-sampling estimates ``(B, K, C)`` of every class's Shapley values: each
    input walks ``permutations`` orders of its units (each drawn order followed by its reverse, the
    antithetic pair), adding one unit at a time; ``permutations x (k - 1)`` evaluations for ``k``
    units (the empty and the full input are known). The estimates sum to ``v(N) - v(empty)``."""
    b, k_max = game.batch_size, game.max_units
    n_classes = game.full_outputs.shape[-1]
    dev = game.device
    full = game.transform(game.full_outputs).double()  # (B, C)
    zeros = torch.zeros(b, k_max, device=dev, dtype=game.dtype)
    with torch.no_grad():
        null = game.transform(game.outputs(zeros, torch.arange(b, device=dev))).double()
    half = max(1, permutations // 2)
    out = torch.zeros(b, k_max, n_classes, dtype=torch.float64, device=dev)
    for k in sorted(set(game.n_units.tolist())):
        items = (game.n_units == k).nonzero()[:, 0]
        if k == 1:
            out[items, 0] = full[items] - null[items]
            continue
        keys = torch.rand(len(items), half, k, generator=generator)
        order = keys.argsort(-1)
        order = torch.cat([order, order.flip(-1)], dim=1).to(dev)  # (I, P, k): antithetic pairs
        p = order.shape[1]
        # prefixes of sizes 1..k-1 of each order: z (I, P, k-1, K)
        rank = order.argsort(-1)  # position of each unit in the order
        sizes = torch.arange(1, k, device=dev)
        z = (rank[:, :, None, :] < sizes[None, None, :, None]).to(game.dtype)
        z = torch.cat([z, z.new_zeros(*z.shape[:3], k_max - k)], dim=-1)
        rows = items.repeat_interleave(p * (k - 1))
        flat = z.reshape(-1, k_max)
        with torch.no_grad():
            vals = torch.cat(
                [
                    game.transform(game.outputs(flat[i : i + game.max_rows], rows[i : i + game.max_rows]))
                    for i in range(0, len(rows), game.max_rows)
                ]
            ).double()
        vals = vals.view(len(items), p, k - 1, n_classes)
        path = torch.cat([null[items][:, None, None].expand(-1, p, 1, -1), vals], dim=2)
        path = torch.cat([path, full[items][:, None, None].expand(-1, p, 1, -1)], dim=2)  # (I, P, k+1, C)
        steps = path[:, :, 1:] - path[:, :, :-1]  # step j adds unit order[j]
        phi = torch.zeros(len(items), p, k, n_classes, dtype=torch.float64, device=dev)
        phi.scatter_(2, order[..., None].expand(-1, -1, -1, n_classes), steps)
        out[items, :k] = phi.mean(1)
    return out.float()


@dataclass
class LabelSpec:
    """How labels are made: exact up to ``exact_units`` units, ``permutations`` orders above, at most
    ``max_units`` units (more: no label); the view's ``units`` and ``score``."""

    exact_units: int = DEFAULT_EXACT_UNITS
    permutations: int = DEFAULT_PERMUTATIONS
    max_units: int = 32
    units: str = "stroke"
    score: str = "logit"
    seed: int = 0

    def __post_init__(self) -> None:
        if not 1 <= self.exact_units <= MAX_EXACT_UNITS:
            raise StrokelensError(f"exact labels take 1 to {MAX_EXACT_UNITS} units, not {self.exact_units}")
        if self.permutations < 2 or self.max_units < self.exact_units:
            raise StrokelensError("labels need at least 2 permutations and max_units >= exact_units")

    def tag(self) -> str:
        """What a label depends on (not ``max_units``: that only says which drawings get one)."""
        return f"{self.units}-{self.score}-e{self.exact_units}-p{self.permutations}"


class LabelCache:
    """Labels of drawings on disk, computed once and reused across runs and seeds: one file per model
    (fingerprint) and `LabelSpec`, ``labels-<fingerprint>-<spec>.pt``, holding for every drawing key
    its values ``(K, C)`` (float16), evaluations and seconds."""

    def __init__(self, folder: str | Path, fingerprint: str, spec: LabelSpec) -> None:
        self.path = Path(folder) / f"labels-{fingerprint[:16]}-{spec.tag()}.pt"
        self.spec = spec
        self.entries: dict[str, tuple[torch.Tensor, int, float]] = {}
        if self.path.is_file():
            data = torch.load(self.path, weights_only=True)
            evals, secs = data["evaluations"].tolist(), data["seconds"].tolist()
            for key, value, n, t in zip(data["keys"], data["values"], evals, secs, strict=True):
                self.entries[key] = (value, int(n), float(t))

    def save(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        keys = list(self.entries)
        data = {
            "keys": keys,
            "values": [self.entries[k][0] for k in keys],
            "evaluations": torch.tensor([self.entries[k][1] for k in keys], dtype=torch.long),
            "seconds": torch.tensor([self.entries[k][2] for k in keys], dtype=torch.float64),
        }
        tmp = self.path.with_suffix(".tmp")
        torch.save(data, tmp)
        tmp.replace(self.path)


def estimate_labels(
    view: View,
    inputs: Sequence[Any],
    spec: LabelSpec | None = None,
    cache: LabelCache | None = None,
    batch_size: int = 16,
    save_every: int = 256,
    progress: Any = None,
) -> ShapleyLabels:
    """Shapley labels of every class for ``inputs`` (prepared here): exact values for drawings of at
    most ``spec.exact_units`` units, unbiased permutation estimates up to ``spec.max_units`` (None
    above). With ``cache``, labels computed before (same model, spec and drawing) are reused and new
    ones are added to it; the result's cost counts every label's own evaluations and seconds, whether
    computed now or before (``extra``: how many came from the cache, and what this call spent)."""
    spec = spec or LabelSpec()
    start = time.perf_counter()
    inputs = view.prepare(inputs)
    options = {"kind": spec.units}
    keys = [drawing_key(s) for s in inputs]
    counts = []
    for s in range(0, len(inputs), 512):
        counts += [int(n) for n in view.units_for(list(inputs[s : s + 512]), **options).n_units]
    known = dict(cache.entries) if cache is not None else {}
    todo = [i for i, n in enumerate(counts) if n <= spec.max_units and keys[i] not in known]
    todo = list(dict.fromkeys(todo))
    todo.sort(key=lambda i: counts[i])
    generator = torch.Generator().manual_seed(spec.seed)
    fresh: dict[str, tuple[torch.Tensor, int, float]] = {}
    spent_evals, done = 0, 0
    exact = [i for i in todo if counts[i] <= spec.exact_units]
    rest = [i for i in todo if counts[i] > spec.exact_units]
    chunks = [group[s : s + batch_size] for group in (exact, rest) for s in range(0, len(group), batch_size)]
    for chunk in chunks:  # a batch is all exact or all estimated
        chunk = [i for i in chunk if keys[i] not in fresh]
        if not chunk:
            continue
        t0 = time.perf_counter()
        game = view.game(view.units_for([inputs[i] for i in chunk], **options), "auto", spec.score)
        before = game.evaluations
        if game.max_units <= spec.exact_units:
            labels = game_labels(game).cpu()
        else:
            labels = permutation_labels(game, spec.permutations, generator).cpu()
        evals = game.evaluations - before + game.batch_size  # the full input's evaluation too
        secs = time.perf_counter() - t0
        spent_evals += evals
        for row, i in enumerate(chunk):
            fresh[keys[i]] = (labels[row, : counts[i]].half(), evals // len(chunk), secs / len(chunk))
        done += len(chunk)
        if cache is not None:
            cache.entries.update(fresh)
            if done % save_every < len(chunk):
                cache.save()
        if progress is not None:
            progress(done, len(todo))
    if cache is not None and fresh:
        cache.entries.update(fresh)
        cache.save()
    table = {**known, **fresh}
    values: list[torch.Tensor | None] = []
    evaluations, seconds = 0, 0.0
    for key, n in zip(keys, counts, strict=True):
        entry = table.get(key) if n <= spec.max_units else None
        values.append(None if entry is None else entry[0].float())
        if entry is not None:
            evaluations += entry[1]
            seconds += entry[2]
    extra = {
        "from_cache": len({k for k in keys if k in known}),
        "computed_now": len(fresh),
        "evaluations_now": spent_evals,
        "seconds_now": round(time.perf_counter() - start, 1),
        "exact_units": spec.exact_units,
        "permutations": spec.permutations,
    }
    return ShapleyLabels(values, spec.max_units, evaluations, seconds, spec.score, extra)
