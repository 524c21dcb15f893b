"""`ViewLoader`: a picklable recipe for a model's view, loaded wherever it is called (a dataset
job's worker, a Ray actor)."""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from strokelens.models.spec import ModelSpec, resolve_device

if TYPE_CHECKING:
    from strokelens.views.base import View

__all__ = ["ViewLoader"]


@dataclass
class ViewLoader:
    """A picklable ``() -> View`` for dataset jobs: loads the model of ``spec`` on ``device`` (None:
    CUDA when present) wherever it is called, a Ray actor included."""

    spec: ModelSpec
    home: Path | None = None
    device: str | None = None

    def __call__(self) -> View:
        from strokelens.views import view_for

        return view_for(self.spec.load(home=self.home, device=resolve_device(self.device)))

    def __getstate__(self) -> dict[str, Any]:  # send the recipe, not a loaded model
        return {**self.__dict__, "spec": replace(self.spec, _model=None)}
