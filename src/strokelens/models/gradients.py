"""Models that give no gradients (an ONNX file run by onnxruntime): what they say about it, and the
one check that a gradient method or training through the model makes before any work."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from torch import nn

from strokelens.errors import StrokelensError


@dataclass(frozen=True)
class NoGradients:
    """Why a model gives no gradients (``reason``: "this ONNX model (m.onnx) runs in onnxruntime
    without them") and how to get a differentiable one (``remedy``)."""

    reason: str
    remedy: str


def no_gradients(model: object) -> NoGradients | None:
    """What ``model`` (or the module it wraps, as `strokelens.wrap` does) says about having no
    gradients; None for an ordinary differentiable PyTorch module."""
    seen: set[int] = set()
    while isinstance(model, nn.Module) and id(model) not in seen:
        seen.add(id(model))
        if getattr(model, "differentiable", True) is False:
            return getattr(model, "no_gradients", None) or NoGradients(
                f"{type(model).__name__} declares that it has no gradients", "use a differentiable model"
            )
        model = getattr(model, "module", None)
    return None


def require_gradients(model: object, who: str, instead: Sequence[str] = ()) -> None:
    """Refuse, in one line, ``who`` (``"method 'sla'"``) on a model without gradients; ``instead``:
    what runs without them."""
    missing = no_gradients(model)
    if missing is None:
        return
    other = f"use {', '.join(instead)} or " if instead else ""
    raise StrokelensError(f"{who} needs gradients, and {missing.reason}; {other}{missing.remedy}")
