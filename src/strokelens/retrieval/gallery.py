"""Embeddings of many sketches, batched, and the gallery they make.

Sketches are prepared as the model is explained on them (``view.prepare``: DoodleNet's QuickDraw
simplification) and embedded through an `EmbeddingView` in batches: one forward pass of the model
per batch, with every stroke present.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch

from strokelens.errors import StrokelensError
from strokelens.sketch import Sketch
from strokelens.views import EmbeddingView, View, view_for
from strokelens.views.embedding import COSINE

#: Sketches per forward pass when embedding.
EMBED_BATCH = 256


def embedding_view(model_or_view: torch.nn.Module | View) -> EmbeddingView:
    """The cosine `EmbeddingView` of a model (its last linear layer's input) or of a model view."""
    if isinstance(model_or_view, EmbeddingView):
        if model_or_view.similarity is not COSINE:
            raise StrokelensError(
                "retrieval ranks by cosine similarity; this embedding view uses "
                f"{model_or_view.similarity.name!r}"
            )
        return model_or_view
    view = model_or_view if isinstance(model_or_view, View) else view_for(model_or_view)
    return EmbeddingView(view)


def embed_sketches(
    view: EmbeddingView, sketches: Sequence[Sketch], batch_size: int = EMBED_BATCH
) -> torch.Tensor:
    """Embeddings ``(N, D)`` (float32, on the view's device) of already prepared ``sketches``."""
    if batch_size < 1:
        raise StrokelensError(f"batch size must be at least 1, got {batch_size}")
    if not sketches:
        raise StrokelensError("no sketches to embed")
    chunks = [
        view.embed(view.units_for(list(sketches[i : i + batch_size]), "stroke")).float()
        for i in range(0, len(sketches), batch_size)
    ]
    return torch.cat(chunks)


def item_key(sketch: Sketch) -> str | None:
    """What makes two sketches the same drawing: the QuickDraw ``key_id`` (the same drawing even when
    read from two files or datasets), else the file and line it came from; None when neither is known."""
    if sketch.key_id:
        return f"key:{sketch.key_id}"
    if sketch.source:
        return f"source:{sketch.source}"
    return None


@dataclass(eq=False)
class Gallery:
    """Prepared sketches and their embeddings ``(N, D)``, row ``i`` for sketch ``i``."""

    sketches: list[Sketch]
    embeddings: torch.Tensor

    def __post_init__(self) -> None:
        if self.embeddings.dim() != 2 or len(self.embeddings) != len(self.sketches):
            raise StrokelensError(
                f"a gallery of {len(self.sketches)} sketches needs ({len(self.sketches)}, D) embeddings, "
                f"got {tuple(self.embeddings.shape)}"
            )

    def __len__(self) -> int:
        return len(self.sketches)

    @property
    def labels(self) -> list[str | None]:
        return [s.label for s in self.sketches]

    def item(self, j: int) -> dict[str, str | None]:
        """``id``, ``source`` and ``label`` of item ``j``."""
        s = self.sketches[j]
        return {"id": s.key_id or str(j), "source": s.source, "label": s.label}


def build_gallery(view: EmbeddingView, sketches: Sequence[Sketch], batch_size: int = EMBED_BATCH) -> Gallery:
    """Prepare ``sketches`` for the view's model and embed them."""
    prepared = view.prepare(list(sketches))
    return Gallery(prepared, embed_sketches(view, prepared, batch_size))
