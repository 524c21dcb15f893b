"""A sketch classifier that reads strokes as tokens, after SketchXAI (Qu et al., CVPR 2023).

Each stroke becomes one token, the sum of three embeddings:

- **shape**: a bidirectional LSTM over the stroke's point offsets ``(dx, dy, pen)``, summed over time
  (translation invariant: moving a whole stroke leaves it unchanged);
- **order**: a learned embedding of the stroke's index, evaluated at a *soft* index (see below);
- **location**: a linear layer on the stroke's first point, in absolute normalised coordinates.

A learned [CLS] token, a pre-norm transformer encoder and a linear head on the [CLS] output follow.

Soft presence. ``forward(points, stroke_ids, presence)`` takes a weight ``presence[b, k]`` in [0, 1]
per stroke. It enters in two places, both differentiable:

- attention: stroke ``k``'s key weight is multiplied by ``presence[k]`` before the softmax is
  renormalised (the same as adding ``log presence`` to the scores, but with a finite gradient at 0);
  [CLS] is always present;
- order: stroke ``j`` takes the order embedding at ``sum_{i<j} presence_i`` (linear interpolation
  between learned rows), so removing a stroke re-indexes the later ones as deleting it would.

So presence 0 gives exactly the output for the sketch without that stroke (other strokes unchanged).

Caching. Shape and location embeddings do not depend on presence, and the shape LSTM is most of a
forward pass. ``encode(points, stroke_ids)`` computes them once as a `StrokeEncoding`;
``forward_encoded(encoding, presence, rows)`` runs the rest for any presence, taking the encoding's
sketches ``rows`` (one per presence row, so many coalitions of a few sketches share one encoding).
``forward`` is exactly ``forward_encoded(encode(...), presence)``.

A model has ``max_strokes`` learned order embeddings; a sketch with more strokes is refused with a
`StrokelensError` (the clamped soft index would give all later strokes one order embedding).
The input frame is QuickDraw's normalised frame divided by 255: the top-left corner at 0, the longer
side spanning 0..1; `StrokeTransformer.prepare` builds it from a `SketchBatch` and resamples every
stroke to a fixed number of points by arc length.
"""

from __future__ import annotations

import math
import os
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from strokelens.config import dataclass_from_dict
from strokelens.errors import StrokelensError
from strokelens.models.files import read_weights, save_weights
from strokelens.models.stroke_geometry import (
    normalise_points,
    point_positions,
    resample_strokes,
    stroke_grid,
)
from strokelens.sketch import SketchBatch

#: The shipped models: safetensors weights and a JSON file with the config and class names.
WEIGHTS_DIR = Path(__file__).parent / "weights"
#: ``stroke-transformer``: SPG train split, basic augmentation (the benchmarks measure this one).
WEIGHTS_NAME = "stroke_transformer_spg"
#: ``stroke-transformer-mixed``: SPG train plus quickdraw-345x25's train drawings of the SPG classes,
#: varied augmentation (``strokelens train stroke-transformer --augment varied --extra-repeat 4
#: --epochs 36``; the record is ``stroke_transformer_mixed.training.json``).
MIXED_WEIGHTS_NAME = "stroke_transformer_mixed"


@dataclass
class StrokeTransformerConfig:
    """Sizes of a `StrokeTransformer`. The default trains on the SPG train split in minutes on a CPU."""

    n_classes: int = 20
    d_model: int = 128
    n_layers: int = 3
    n_heads: int = 4
    d_ff: int = 256
    lstm_hidden: int = 64
    max_strokes: int = 64
    points_per_stroke: int = 16
    dropout: float = 0.1
    #: Offsets in the normalised frame are small; they are multiplied by this before the LSTM.
    offset_scale: float = 10.0

    @classmethod
    def from_dict(cls, data: dict) -> StrokeTransformerConfig:
        """Build from a dict, refusing unknown keys."""
        return dataclass_from_dict(cls, data)

    def to_dict(self) -> dict:
        return asdict(self)


# ----------------------------------------------------------------------------------- the model
@dataclass(frozen=True, eq=False)
class StrokeEncoding:
    """The presence-independent part of a stroke transformer's input, from `StrokeTransformer.encode`.

    ``tokens`` ``(B, S, d)``: shape + location embedding of every stroke slot (zero on empty slots);
    ``exists`` ``(B, S)`` bool: which slots hold a stroke. Presence does not change either, so one
    encoding serves every coalition of its sketches (see `StrokeTransformer.forward_encoded`).
    """

    tokens: torch.Tensor
    exists: torch.Tensor

    def __len__(self) -> int:
        return self.tokens.shape[0]

    @property
    def n_slots(self) -> int:
        """Stroke slots per sketch, ``S``."""
        return self.tokens.shape[1]

    def select(self, rows: torch.Tensor) -> StrokeEncoding:
        """The encoding of sketches ``rows`` ``(R,)`` (indices into this encoding, repeats allowed)."""
        return StrokeEncoding(self.tokens[rows], self.exists[rows])

    def detach(self) -> StrokeEncoding:
        """The same values with no autograd history (for a cache that points are not optimised through)."""
        return StrokeEncoding(self.tokens.detach(), self.exists)


class PresenceAttentionLayer(nn.Module):
    """Pre-norm transformer encoder layer whose attention weighs each key by a presence in [0, 1]."""

    def __init__(self, d_model: int, n_heads: int, d_ff: int, dropout: float) -> None:
        super().__init__()
        if d_model % n_heads:
            raise StrokelensError(f"d_model {d_model} is not divisible by n_heads {n_heads}")
        self.n_heads = n_heads
        self.norm1 = nn.LayerNorm(d_model)
        self.qkv = nn.Linear(d_model, 3 * d_model)
        self.proj = nn.Linear(d_model, d_model)
        self.norm2 = nn.LayerNorm(d_model)
        self.ff = nn.Sequential(
            nn.Linear(d_model, d_ff), nn.GELU(), nn.Dropout(dropout), nn.Linear(d_ff, d_model)
        )
        self.drop = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor, key_presence: torch.Tensor) -> torch.Tensor:
        """``x`` ``(B, T, d)``, ``key_presence`` ``(B, T)``: attention to key t is scaled by it."""
        b, t, d = x.shape
        q, k, v = self.qkv(self.norm1(x)).reshape(b, t, 3, self.n_heads, d // self.n_heads).unbind(2)
        q, k, v = (z.transpose(1, 2) for z in (q, k, v))  # (B, H, T, dh)
        scores = q @ k.transpose(-1, -2) / math.sqrt(d // self.n_heads)
        # softmax(s + log p), written so that p = 0 gives an exact zero weight and a finite gradient.
        w = torch.softmax(scores, dim=-1) * key_presence[:, None, None, :]
        w = w / w.sum(dim=-1, keepdim=True)
        att = (self.drop(w) @ v).transpose(1, 2).reshape(b, t, d)
        x = x + self.drop(self.proj(att))
        return x + self.drop(self.ff(self.norm2(x)))


class StrokeTransformer(nn.Module):
    """Stroke-token sketch classifier with a soft presence per stroke (see the module docstring)."""

    input_kind = "vector-sketch"

    def __init__(self, config: StrokeTransformerConfig, class_names: list[str] | None = None) -> None:
        super().__init__()
        self.config = config
        self.class_names = list(class_names) if class_names else [str(i) for i in range(config.n_classes)]
        if len(self.class_names) != config.n_classes:
            raise StrokelensError(f"{len(self.class_names)} class names for {config.n_classes} classes")
        d = config.d_model
        self.lstm = nn.LSTM(3, config.lstm_hidden, batch_first=True, bidirectional=True)
        self.shape_proj = nn.Linear(2 * config.lstm_hidden, d)
        self.order = nn.Parameter(torch.randn(config.max_strokes, d) * 0.02)
        self.location = nn.Linear(2, d)
        self.cls = nn.Parameter(torch.randn(d) * 0.02)
        self.layers = nn.ModuleList(
            PresenceAttentionLayer(d, config.n_heads, config.d_ff, config.dropout)
            for _ in range(config.n_layers)
        )
        self.norm = nn.LayerNorm(d)
        self.head = nn.Linear(d, config.n_classes)

    # ------------------------------------------------------------------ input
    def prepare(self, batch: SketchBatch) -> tuple[torch.Tensor, torch.Tensor]:
        """Model input from a batch: normalised frame ([0, 1], top-left at 0), strokes resampled."""
        pts = normalise_points(batch.points.to(torch.float32), batch.point_mask)
        sid = torch.where(batch.point_mask, batch.stroke_ids, torch.full_like(batch.stroke_ids, -1))
        return resample_strokes(pts, sid, self.config.points_per_stroke)

    # ---------------------------------------------------------------- forward
    def embed_strokes(
        self, points: torch.Tensor, stroke_ids: torch.Tensor, n_strokes: int | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Shape + location embedding of every stroke slot, ``(B, S, d)``, and its point counts ``(B, S)``."""
        grid, lengths = stroke_grid(points, stroke_ids, n_strokes)
        b, s, width, _ = grid.shape
        present = lengths > 0
        g, n = grid[present], lengths[present]  # (K, L, 2), (K,): every real stroke of every sketch at once
        ar = torch.arange(width, device=points.device)
        inside = ar < n[:, None]
        delta = torch.cat([torch.zeros_like(g[:, :1]), g[:, 1:] - g[:, :-1]], dim=1)
        delta = torch.where(inside[..., None], delta * self.config.offset_scale, torch.zeros_like(delta))
        pen = (ar == (n[:, None] - 1)).to(g.dtype)
        seq = torch.cat([delta, pen[..., None]], dim=-1)
        if bool((n == width).all()):
            out, _ = self.lstm(seq)
        else:
            packed = pack_padded_sequence(seq, n.cpu(), batch_first=True, enforce_sorted=False)
            out, _ = pad_packed_sequence(self.lstm(packed)[0], batch_first=True, total_length=width)
        shape = self.shape_proj((out * inside[..., None].to(out.dtype)).sum(dim=1))
        emb = grid.new_zeros(b, s, self.config.d_model)
        emb = emb.index_put((present.nonzero(as_tuple=True)), shape + self.location(g[:, 0]))
        return emb, lengths

    def order_embedding(self, presence: torch.Tensor) -> torch.Tensor:
        """Order embedding at the soft index ``sum_{i<j} presence_i``, ``(B, S, d)``."""
        index = (presence.cumsum(dim=1) - presence).clamp(0, self.config.max_strokes - 1)
        lo = index.floor().long().clamp_max(self.config.max_strokes - 1)
        hi = (lo + 1).clamp_max(self.config.max_strokes - 1)
        w = (index - lo.to(index.dtype))[..., None]
        return self.order[lo] * (1 - w) + self.order[hi] * w

    def check_input(self, points: torch.Tensor, stroke_ids: torch.Tensor) -> None:
        """Raise `StrokelensError` unless ``points`` ``(B, N, 2)`` and ``stroke_ids`` ``(B, N)`` fit.

        Stroke ids must stay below ``config.max_strokes``: past it every stroke would share the last
        order embedding and the model would silently read a different drawing order.
        """
        if points.ndim != 3 or points.shape[-1] != 2 or stroke_ids.shape != points.shape[:2]:
            raise StrokelensError(
                f"stroke transformer needs points (B, N, 2) and stroke_ids (B, N); "
                f"got {tuple(points.shape)} and {tuple(stroke_ids.shape)}"
            )
        limit = self.config.max_strokes
        if stroke_ids.numel() and int(stroke_ids.max()) >= limit:
            raise StrokelensError(
                f"a sketch has {int(stroke_ids.max()) + 1} strokes but this stroke transformer has order "
                f"embeddings for at most max_strokes = {limit}; merge or drop strokes first"
            )

    def encode(
        self, points: torch.Tensor, stroke_ids: torch.Tensor, n_strokes: int | None = None
    ) -> StrokeEncoding:
        """The presence-independent part of `forward`: shape + location embeddings, ``S`` slots.

        ``S`` is ``n_strokes`` or the largest stroke id + 1. Differentiable in ``points``; call
        `StrokeEncoding.detach` (or run under ``torch.no_grad``) to cache it for presence-only games.
        """
        self.check_input(points, stroke_ids)
        if n_strokes is not None and bool((stroke_ids >= n_strokes).any()):
            raise StrokelensError(
                f"presence has {n_strokes} strokes but stroke ids reach {int(stroke_ids.max())}"
            )
        tokens, lengths = self.embed_strokes(points, stroke_ids, n_strokes)
        return StrokeEncoding(tokens, lengths > 0)

    def forward_encoded(
        self,
        encoding: StrokeEncoding,
        presence: torch.Tensor | None = None,
        rows: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Class logits ``(R, n_classes)`` from a cached `encode` result: the presence-dependent rest.

        ``rows`` ``(R,)``: the encoding's sketch for each output row (None: all of them, in order);
        ``presence`` ``(R, S)`` in [0, 1] per stroke slot (None: all 1). Equals `forward` on the
        rows' points.
        """
        enc = encoding if rows is None else encoding.select(rows)
        tokens = enc.tokens
        exists = enc.exists.to(tokens.dtype)
        if presence is not None and presence.shape != exists.shape:
            raise StrokelensError(
                f"presence must have shape {tuple(exists.shape)} (rows, stroke slots); "
                f"got {tuple(presence.shape)}"
            )
        p = exists if presence is None else presence.to(tokens.dtype) * exists
        # Trailing slots that no row has a stroke in are absent everywhere: attention gives them
        # weight 0 and they come after every real stroke in order, so dropping them changes nothing
        # but the cost (a batch padded to its longest sketch, coalitions of its shorter ones).
        used = enc.exists.any(0).nonzero()
        keep = int(used[-1]) + 1 if len(used) else 0
        if keep < tokens.shape[1]:
            tokens, p = tokens[:, :keep], p[:, :keep]
        tokens = tokens + self.order_embedding(p)
        x = torch.cat([self.cls.expand(tokens.shape[0], 1, -1), tokens], dim=1)
        key_presence = torch.cat([torch.ones_like(p[:, :1]), p], dim=1)
        for layer in self.layers:
            x = layer(x, key_presence)
        return self.head(self.norm(x[:, 0]))

    def forward(
        self, points: torch.Tensor, stroke_ids: torch.Tensor, presence: torch.Tensor | None = None
    ) -> torch.Tensor:
        """Class logits ``(B, n_classes)``: ``forward_encoded(encode(points, stroke_ids), presence)``.

        ``points`` ``(B, N, 2)`` in the normalised frame (see `prepare`), ``stroke_ids`` ``(B, N)``
        long with ``-1`` padding, ``presence`` ``(B, S)`` in [0, 1] per stroke slot (None: all 1).
        Stroke slots that hold no points are absent whatever their presence.
        """
        n_slots = presence.shape[1] if presence is not None else None
        return self.forward_encoded(self.encode(points, stroke_ids, n_slots), presence)

    def classify(self, batch: SketchBatch) -> torch.Tensor:
        """Logits for a `SketchBatch` (prepared with `prepare`)."""
        return self(*self.prepare(batch))

    # ------------------------------------------------------------ save / load
    def save(
        self, directory: str | os.PathLike[str], name: str = WEIGHTS_NAME, extra: dict | None = None
    ) -> Path:
        """Write ``name.safetensors`` (weights only) and ``name.json`` (config, class names, extra)."""
        meta = {"config": self.config.to_dict(), "class_names": self.class_names, **(extra or {})}
        return save_weights(self, directory, name, meta)

    @classmethod
    def from_files(
        cls, weights: str | os.PathLike[str], config_json: str | os.PathLike[str]
    ) -> StrokeTransformer:
        """Load a model saved by `save` (safetensors: no pickle)."""
        return read_weights(
            weights,
            config_json,
            "stroke transformer",
            lambda meta: cls(StrokeTransformerConfig.from_dict(meta["config"]), meta["class_names"]),
        )


def _shipped(name: str) -> StrokeTransformer:
    return StrokeTransformer.from_files(WEIGHTS_DIR / f"{name}.safetensors", WEIGHTS_DIR / f"{name}.json")


def load(home: str | os.PathLike[str] | None = None) -> StrokeTransformer:
    """The shipped stroke transformer trained on the SPG train split (``home`` is not needed)."""
    del home  # the weights ship inside the package
    return _shipped(WEIGHTS_NAME)


def load_mixed(home: str | os.PathLike[str] | None = None) -> StrokeTransformer:
    """The stroke transformer trained on SPG train and quickdraw-345x25's train drawings of the SPG
    classes (`strokelens.datasets.load_qd345_spg`) with varied augmentation: better on drawings made
    outside SPG; its own fastshap and wys explainers ship (``home`` is not needed)."""
    del home
    return _shipped(MIXED_WEIGHTS_NAME)


__all__ = [
    "StrokeEncoding",
    "StrokeTransformer",
    "StrokeTransformerConfig",
    "load",
    "normalise_points",
    "point_positions",
    "resample_strokes",
    "stroke_grid",
]
