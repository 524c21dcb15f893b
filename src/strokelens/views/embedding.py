"""The embedding view: ``game(z) = similarity(embed(input(z)), reference)``.

For retrieval and any other use of a model's embedding: which units of a query make it similar to a
reference embedding (a gallery item, a class prototype). The embedding is the input of the model's
last linear layer by default (DoodleNet's 512-d penultimate layer, the stroke transformer's class
token), read with a forward hook, so any classifier ending in a linear head works unchanged. The
inner view (raster, vector or image) decides how presence reaches the model.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F

from strokelens.errors import StrokelensError
from strokelens.units.base import Units
from strokelens.views.base import View


def _cosine(emb: torch.Tensor, ref: torch.Tensor) -> torch.Tensor:
    return F.cosine_similarity(emb, ref, dim=1)


def _dot(emb: torch.Tensor, ref: torch.Tensor) -> torch.Tensor:
    return (emb * ref).sum(1)


def _neg_l2(emb: torch.Tensor, ref: torch.Tensor) -> torch.Tensor:
    return -(emb - ref).norm(dim=1)


@dataclass(frozen=True)
class Similarity:
    """A similarity of ``(R, D)`` embeddings to references, ``(R,)``, known by ``name``."""

    name: str
    measure: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]

    def __call__(self, emb: torch.Tensor, ref: torch.Tensor) -> torch.Tensor:
        return self.measure(emb, ref)

    def __reduce__(self) -> tuple[Any, tuple[Any, ...]]:
        if SIMILARITIES.get(self.name) is self:  # a registered similarity comes back as the one instance
            return similarity_named, (self.name,)
        return Similarity, (self.name, self.measure)


COSINE = Similarity("cosine", _cosine)
DOT = Similarity("dot", _dot)
NEG_L2 = Similarity("neg-l2", _neg_l2)
#: Every similarity by name.
SIMILARITIES: dict[str, Similarity] = {s.name: s for s in (COSINE, DOT, NEG_L2)}


def similarity_named(name: str | Similarity) -> Similarity:
    """The similarity called ``name`` (or ``name`` itself when it is one); refuses any other."""
    if isinstance(name, Similarity):
        return name
    if name not in SIMILARITIES:
        raise StrokelensError(f"unknown similarity {name!r}; expected one of {', '.join(SIMILARITIES)}")
    return SIMILARITIES[name]


def last_linear(model: torch.nn.Module) -> torch.nn.Module:
    """The last ``nn.Linear`` registered in ``model`` (its classification head)."""
    linears = [m for m in model.modules() if isinstance(m, torch.nn.Linear)]
    if not linears:
        raise StrokelensError(f"{type(model).__name__} has no linear layer to take an embedding from")
    return linears[-1]


class EmbeddingView(View):
    """Similarity of the embedding of each input under presence ``z`` to its ``reference``.

    ``inner``: the view that reaches the model. ``layer``: the module whose *input* is the
    embedding (default: the last linear layer). ``similarity``: ``cosine`` (default), ``dot`` or
    ``neg-l2`` (minus the Euclidean distance). One output, named ``similarity``: targets are 0 or
    ``auto``, and scores are the raw similarity (not logits).
    """

    outputs_are_logits = False

    def __init__(
        self, inner: View, layer: torch.nn.Module | None = None, similarity: str | Similarity = "cosine"
    ) -> None:
        if isinstance(inner, EmbeddingView):
            raise StrokelensError("an embedding view wraps a model view, not another embedding view")
        self.similarity: Similarity = similarity_named(similarity)
        self.inner = inner
        self.model = inner.model
        self.layer = layer if layer is not None else last_linear(inner.model)
        self.class_names: Sequence[str] = ["similarity"]
        self.units_type = inner.units_type
        self.kind = inner.kind
        self.takes_points = inner.takes_points
        self.sketch_points = inner.sketch_points
        self.reads_stroke_order = inner.reads_stroke_order
        self.max_rows = inner.max_rows

    def prepare(self, inputs: Sequence[Any]) -> list[Any]:
        return self.inner.prepare(inputs)

    def make_units(self, inputs: Sequence[Any], **options: Any) -> Units:
        return self.inner.make_units(inputs, **options)

    def unit_options(self) -> tuple[str, ...]:
        return self.inner.unit_options()

    def points(self, inputs: dict[str, Any]) -> tuple[torch.Tensor, torch.Tensor]:
        return self.inner.points(inputs["inner"])

    def embed_outputs(
        self, z: torch.Tensor, rows: torch.Tensor, inner: dict[str, Any], **override
    ) -> torch.Tensor:
        """Embeddings ``(R, D)`` of items ``rows`` under presence ``z``, through the inner view."""
        captured: list[torch.Tensor] = []

        def hook(_module: torch.nn.Module, args: tuple[torch.Tensor, ...]) -> None:
            captured.append(args[0])

        handle = self.layer.register_forward_pre_hook(hook)
        try:
            self.inner.outputs(z, rows, **{**inner, **override})
        finally:
            handle.remove()
        if not captured:
            raise StrokelensError("the embedding layer was not called by the model's forward pass")
        return torch.cat(captured).flatten(1)

    def embed(self, units: Units) -> torch.Tensor:
        """Embeddings ``(B, D)`` of the inputs with every unit present (references for other games)."""
        units = units.to(self.device)
        rows = torch.arange(len(units), device=self.device)
        z = torch.ones(len(units), units.max_units, device=self.device, dtype=units.dtype)
        with torch.no_grad():
            return self.embed_outputs(z, rows, self.inner.bind(units))

    def bind(self, units: Units, reference: torch.Tensor | None = None) -> dict[str, Any]:
        """Bind ``reference`` ``(B, D)`` or ``(D,)`` embeddings (``view.game(units, reference=...)``);
        default: each input's own full embedding, so ``game(1) = 1`` for cosine."""
        inner = self.inner.bind(units)
        if reference is None:
            with torch.no_grad():
                z = torch.ones(len(units), units.max_units, device=self.device, dtype=units.dtype)
                reference = self.embed_outputs(z, torch.arange(len(units), device=self.device), inner)
        reference = torch.as_tensor(reference, device=self.device).float()
        if reference.dim() == 1:
            reference = reference[None].expand(len(units), -1)
        if reference.dim() != 2 or reference.shape[0] != len(units):
            raise StrokelensError(
                f"reference embeddings must be (D,) or ({len(units)}, D), got {tuple(reference.shape)}"
            )
        return {"inner": inner, "reference": reference}

    def outputs(
        self, z: torch.Tensor, rows: torch.Tensor, inner: dict[str, Any], reference: torch.Tensor, **override
    ) -> torch.Tensor:
        """``(R, 1)``: the similarity of each row's embedding to its input's reference."""
        emb = self.embed_outputs(z, rows, inner, **override)
        ref = reference[rows].to(emb.dtype)
        if ref.shape[1] != emb.shape[1]:
            raise StrokelensError(f"reference has {ref.shape[1]} dimensions, the embedding {emb.shape[1]}")
        return self.similarity(emb, ref)[:, None]
