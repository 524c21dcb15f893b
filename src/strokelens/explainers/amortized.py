"""Stochastic amortization: a sketch explainer regressed on cached Shapley labels.

Covert et al. (NeurIPS 2024, "Stochastic Amortization") show that an explainer regressed on noisy but
unbiased estimates of its targets converges to the exact values, often closer to them than its labels.
Here the labels are exact Shapley values for small drawings and permutation estimates above
(`strokelens.explainers.labels.estimate_labels`, cached on disk and reused across runs and seeds).

The network's inputs do not depend on its weights, so they are computed once per drawing
(`precompute`: geometry tokens and, for `FeatureSketchNet`, the frozen model's features from one pass)
and every epoch trains on tensors alone, with no model evaluation. The loss is the squared error of
the efficient values (FastSHAP's additive correction: they sum to ``v(N) - v(empty)`` for every class)
against the labels, weighted so that the classes explanations are asked about dominate: each class
weighs ``1/C``, the predicted class ``target_weight`` and its ``rivals`` runners-up ``rival_weight``
together. Augmentation (``shuffle``): the strokes' order, which a raster model does not see (its
labels permute with the strokes; position features are recomputed). Validation: the median Spearman
correlation, per drawing, of the predicted class's values with its labels.
"""

from __future__ import annotations

import random
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import torch

from strokelens.errors import StrokelensError
from strokelens.explainers.explainer import Explainer, empty_outputs
from strokelens.explainers.labels import ShapleyLabels
from strokelens.explainers.networks import FeatureSketchNet, SketchExplainerNet
from strokelens.explainers.objectives import efficient
from strokelens.explainers.tokens import unit_tokens
from strokelens.scores import score_space
from strokelens.training import LoopConfig, Schedule, TrainingRecord, Validation, fit


@dataclass
class AmortizedConfig:
    """Settings of `train_amortized`."""

    epochs: int = 40
    batch_size: int = 64
    lr: float = 1e-3
    weight_decay: float = 1e-4
    patience: int = 6
    seed: int = 0
    max_minutes: float | None = None
    #: Extra weight of the predicted class beside the mean over all classes.
    target_weight: float = 4.0
    #: Weight shared by the ``rivals`` classes the model ranks next.
    rival_weight: float = 2.0
    rivals: int = 5
    #: Probability of shuffling a training drawing's stroke order (a raster model does not see it).
    shuffle: float = 0.0

    def __post_init__(self) -> None:
        if self.epochs < 1 or self.batch_size < 1 or self.patience < 1 or self.rivals < 0:
            raise StrokelensError("epochs, batch_size and patience must be at least 1, rivals at least 0")
        if not 0 <= self.shuffle <= 1:
            raise StrokelensError(f"shuffle is a probability, not {self.shuffle}")

    def loop(self, progress: bool) -> LoopConfig:
        return LoopConfig(
            epochs=self.epochs,
            lr=self.lr,
            optimiser="adamw",
            weight_decay=self.weight_decay,
            schedule=Schedule("cosine"),
            clip_grad_norm=5.0,
            patience=self.patience,
            max_minutes=self.max_minutes,
            seed=self.seed,
            progress=progress,
            label="fastshap (labels)",
        )


@dataclass
class Precomputed:
    """Per drawing: geometry tokens ``(K, G)``, model features ``(K, F)`` (or None), the head input
    ``(D,)`` (or None), raw outputs ``(C,)``, labels ``(K, C)`` and the predicted class's presence
    gradient ``(K,)`` (or None)."""

    geo: list[torch.Tensor]
    feats: list[torch.Tensor | None]
    embedding: list[torch.Tensor | None]
    outputs: list[torch.Tensor]
    labels: list[torch.Tensor]
    gradient: list[torch.Tensor | None] = field(default_factory=list)
    seconds: float = 0.0

    def __len__(self) -> int:
        return len(self.geo)


def precompute(
    explainer: Explainer, view: Any, sketches: Sequence[Any], labels: ShapleyLabels, batch_size: int = 64
) -> Precomputed:
    """The network's inputs for every drawing of ``sketches`` that has a label (one model evaluation a
    drawing for `FeatureSketchNet`, the prediction's for the other)."""
    if len(labels.values) != len(sketches):
        raise StrokelensError(f"{len(labels.values)} labels for {len(sketches)} drawings")
    start = time.perf_counter()
    keep = [i for i, v in enumerate(labels.values) if v is not None]
    prepared = view.prepare([sketches[i] for i in keep])
    net = explainer.net
    out = Precomputed([], [], [], [], [])
    units_kind = {"kind": explainer.info.units}
    for s in range(0, len(prepared), batch_size):
        chunk = prepared[s : s + batch_size]
        units = view.units_for(chunk, **units_kind)
        n = units.n_units.tolist()
        with torch.no_grad():
            if isinstance(net, FeatureSketchNet):
                geo, _, f = net.inputs(units)
                per, emb, outs = f.per_stroke.cpu(), f.embedding.cpu(), f.outputs.cpu()
                grad = None if f.gradient is None else f.gradient.cpu()
            else:
                geo = unit_tokens(units, net.config.points_per_unit).features
                rows = torch.arange(len(chunk), device=view.device)
                full = torch.ones(len(chunk), units.max_units, device=view.device)
                outs = view.outputs(full, rows, **view.bind(units)).cpu()
                per = emb = grad = None
        geo = geo.cpu()
        for row, k in enumerate(n):
            label = labels.values[keep[s + row]]
            if label.shape[0] != k:
                raise StrokelensError(f"a label of {label.shape[0]} units for a drawing of {k}")
            out.geo.append(geo[row, :k])
            out.feats.append(None if per is None else per[row, :k])
            out.embedding.append(None if emb is None else emb[row])
            out.gradient.append(None if grad is None else grad[row, :k])
            out.outputs.append(outs[row])
            out.labels.append(label.float())
    out.seconds = time.perf_counter() - start
    return out


def _position(n: torch.Tensor, k: int) -> torch.Tensor:
    """The tokens' position features ``(B, K, 3)`` (as `unit_tokens` makes them)."""
    index = torch.arange(k, dtype=torch.float32)[None].expand(len(n), k)
    nf = n.float()[:, None]
    return torch.stack([index / (nf - 1).clamp_min(1), index.add(1).log(), nf.expand(-1, k).log()], dim=-1)


class _Batch:
    def __init__(self, data: Precomputed, items: list[int], orders: list[torch.Tensor] | None) -> None:
        b = len(items)
        ks = [len(data.geo[i]) for i in items]
        k = max(ks)
        n = torch.tensor(ks)
        self.exists = torch.arange(k)[None] < n[:, None]
        g = data.geo[items[0]].shape[-1]
        c = data.labels[items[0]].shape[-1]
        self.geo = torch.zeros(b, k, g)
        self.labels = torch.zeros(b, k, c)
        feats = data.feats[items[0]]
        self.feats = None if feats is None else torch.zeros(b, k, feats.shape[-1])
        self.gradient = None if data.gradient[items[0]] is None else torch.zeros(b, k)
        for row, i in enumerate(items):
            order = orders[row] if orders is not None else torch.arange(ks[row])
            self.geo[row, : ks[row]] = data.geo[i][order]
            self.labels[row, : ks[row]] = data.labels[i][order]
            if self.feats is not None:
                self.feats[row, : ks[row]] = data.feats[i][order]
            if self.gradient is not None:
                self.gradient[row, : ks[row]] = data.gradient[i][order]
        if orders is not None:  # positions follow the new order
            self.geo[..., -3:] = torch.where(self.exists[..., None], _position(n, k), 0.0)
        emb = data.embedding[items[0]]
        self.embedding = None if emb is None else torch.stack([data.embedding[i] for i in items])
        self.outputs = torch.stack([data.outputs[i] for i in items])
        #: The class each gradient is of: the predicted one (as `precompute` took it).
        self.predicted = self.outputs.argmax(-1)


class LabelTask:
    """`strokelens.training.fit`'s task: regress the explainer on precomputed inputs and labels."""

    #: The mean, not the median: with a few strokes a drawing, Spearman takes few values and the
    #: median over the validation drawings moves in steps (stopping training while the mean rises).
    score = "val_mean_spearman"
    higher_is_better = True

    def __init__(
        self,
        explainer: Explainer,
        train: Precomputed,
        val: Precomputed,
        null_outputs: torch.Tensor,
        config: AmortizedConfig,
    ) -> None:
        self.explainer, self.train, self.val, self.config = explainer, train, val, config
        self.model = explainer.net
        self.null = null_outputs.cpu()
        self.score_space = score_space(explainer.info.score)
        self.rng = random.Random(config.seed)
        self.n_train, self.n_val = len(train), len(val)
        self.steps_per_epoch = -(-len(train) // config.batch_size)

    def parameter_groups(self) -> list[dict[str, Any]]:
        return [{"params": [p for p in self.model.parameters() if p.requires_grad]}]

    def batches(self, epoch: int) -> list[list[int]]:
        order = list(range(len(self.train)))
        self.rng.shuffle(order)
        size = self.config.batch_size
        return [order[i : i + size] for i in range(0, len(order), size)]

    def _members(self, batch: _Batch) -> torch.Tensor:
        net = self.model
        if isinstance(net, FeatureSketchNet):
            raw = net.from_inputs(
                batch.geo, batch.exists, batch.feats, batch.embedding, batch.gradient, batch.predicted
            )
        elif isinstance(net, SketchExplainerNet):
            raw = net.from_tokens(batch.geo, batch.exists)
        else:
            raise StrokelensError(f"label training takes sketch explainers, not {type(net).__name__}")
        total = self.score_space(batch.outputs) - self.score_space(self.null[None])
        return efficient(raw, batch.exists, total)

    def _weights(self, outputs: torch.Tensor) -> torch.Tensor:
        """``(B, C)`` class weights of the loss (see the module docstring)."""
        b, c = outputs.shape
        cfg = self.config
        w = torch.full((b, c), 1.0 / c)
        top = outputs.topk(min(c, cfg.rivals + 1), dim=-1).indices
        w.scatter_add_(1, top[:, :1], torch.full((b, 1), cfg.target_weight))
        if cfg.rivals and top.shape[1] > 1:
            rivals = top[:, 1:]
            w.scatter_add_(1, rivals, torch.full(rivals.shape, cfg.rival_weight / rivals.shape[1]))
        return w

    def loss(self, items: list[int]) -> torch.Tensor:
        orders = None
        if self.config.shuffle > 0:
            orders = []
            for i in items:
                k = len(self.train.geo[i])
                if self.rng.random() < self.config.shuffle:
                    orders.append(torch.randperm(k))
                else:
                    orders.append(torch.arange(k))
        batch = _Batch(self.train, items, orders)
        phi = self._members(batch)  # (E, B, K, C)
        err = (phi - batch.labels[None]) * batch.exists[None, ..., None]
        per_unit = (err.pow(2) * self._weights(batch.outputs)[None, :, None, :]).sum(-1)  # (E, B, K)
        count = batch.exists.sum(1).clamp_min(1)
        return (per_unit.sum(-1) / count).mean(-1).sum()

    def predictions(
        self, data: Precomputed, batch_size: int = 256
    ) -> list[tuple[torch.Tensor, torch.Tensor]]:
        """Per drawing: the predicted class's efficient values and its labels, ``(K,)`` each."""
        out = []
        self.model.eval()
        with torch.no_grad():
            for s in range(0, len(data), batch_size):
                items = list(range(s, min(len(data), s + batch_size)))
                batch = _Batch(data, items, None)
                phi = self._members(batch).mean(0)
                target = batch.outputs.argmax(-1)
                for row, i in enumerate(items):
                    k = len(data.geo[i])
                    t = int(target[row])
                    out.append((phi[row, :k, t], batch.labels[row, :k, t]))
        return out

    def validate(self) -> Validation:
        pairs = self.predictions(self.val)
        rho = [spearman(a, b) for a, b in pairs]
        rho = [r for r in rho if r == r]
        if not rho:
            return Validation(float("nan"), {"val_spearman": float("nan")})
        values = torch.tensor(rho)
        return Validation(float(values.mean()), {"val_spearman": float(values.median())})


def spearman(a: torch.Tensor, b: torch.Tensor) -> float:
    """Spearman correlation of two vectors (average ranks for ties); NaN below 2 items or with a
    constant side."""
    if len(a) < 2:
        return float("nan")
    from scipy import stats

    value = stats.spearmanr(a.numpy(), b.numpy()).statistic
    return float(value)


def null_of(view: Any, explainer: Explainer, sample: Any) -> torch.Tensor:
    """The explanandum's raw outputs ``(C,)`` on the empty drawing."""
    game = view.game(view.units_for([sample], kind=explainer.info.units), "auto")
    with torch.no_grad():
        return empty_outputs(game)[0].cpu()


def train_amortized(
    view: Any,
    explainer: Explainer,
    train_sketches: Sequence[Any],
    train_labels: ShapleyLabels,
    val_sketches: Sequence[Any],
    val_labels: ShapleyLabels,
    config: AmortizedConfig | None = None,
    progress: bool = True,
) -> TrainingRecord:
    """Train a sketch ``explainer`` (``fastshap``) in place on the labels (see the module
    docstring); returns the record (also in ``explainer.info.training``)."""
    config = config or AmortizedConfig()
    if not explainer.kind.estimates_values:
        raise StrokelensError("label training is for fastshap explainers")
    if not view.empty_is_constant:
        raise StrokelensError("label training needs a view whose empty input is the same for every input")
    frozen = [(p, p.requires_grad) for p in view.model.parameters()]
    for p, _ in frozen:
        p.requires_grad_(False)
    try:
        train = precompute(explainer, view, train_sketches, train_labels)
        val = precompute(explainer, view, val_sketches, val_labels)
        if not len(train) or not len(val):
            raise StrokelensError("no labelled drawings to train or validate on")
        explainer.null_outputs = null_of(view, explainer, view.prepare(list(train_sketches[:1]))[0])
        trained = fit(
            lambda: LabelTask(explainer, train, val, explainer.null_outputs, config), config.loop(progress)
        )
    finally:
        for p, flag in frozen:
            p.requires_grad_(flag)
    record = trained.record
    record.info.update(
        {
            "kind": explainer.kind.name,
            "objective": "label regression (stochastic amortization)",
            "precompute_seconds": round(train.seconds + val.seconds, 1),
            "train_labels": train_labels.summary() | train_labels.extra,
            "val_labels": val_labels.summary() | val_labels.extra,
        }
    )
    record.config = asdict(config)
    explainer.info.training = record.to_dict()
    return record
