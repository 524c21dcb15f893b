"""What a sketch explainer may read from the frozen raster model: per-stroke features from one pass.

`stroke_features` renders the whole drawing once and runs the model on it (one model evaluation),
keeping the feature maps of ``feature_layers`` and the activation of ``embedding_layer`` (the input of
the model's linear class head). Each stroke's own ink (the stroke drawn alone) and its *exclusive* ink
(what disappears from the picture when the stroke is removed) are rendered from the game's ink
coverage (no model evaluation: compositing only) and pool every feature map, resized to the map's
cells. Beside them: each stroke's ink and exclusive ink in pixels (log) and the share of the drawing's
ink it carries. With ``gradient``, the same pass also gives the gradient of one class's logit (the
explained class; the predicted one by default) with respect to each stroke's presence: its backward
pass, counted with the pass as one evaluation, as `strokelens.attribution.sla` counts it.

`FeatureSketchNet` (`strokelens.explainers.networks`) embeds these beside the stroke geometry tokens
and reads its per-stroke outputs through the model's own frozen class head, as Shapley values are
linear in the game: the Shapley value of a class logit ``W_c h + b_c`` is ``W_c`` times the Shapley
value of the head's input ``h``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F

from strokelens.errors import StrokelensError
from strokelens.models.wrap import WrappedModel
from strokelens.units.strokes import SketchUnits

#: Extra per-stroke numbers beside the pooled maps: log ink, log exclusive ink, share of the ink.
N_INK_STATS = 3


@dataclass(frozen=True, eq=False)
class StrokeFeatures:
    """Per-stroke model features ``(B, K, F)``, the head input ``(B, D)`` of the whole drawing and the
    model's raw outputs ``(B, C)`` on it (all from one evaluation per drawing); with a gradient, the
    logit gradient ``(B, K)`` of class ``gradient_class`` ``(B,)`` w.r.t. each stroke's presence."""

    per_stroke: torch.Tensor
    embedding: torch.Tensor
    outputs: torch.Tensor
    gradient: torch.Tensor | None = None
    gradient_class: torch.Tensor | None = None


def graph_model(model: torch.nn.Module, layers: list[str]) -> Any:
    """``model`` when it is a TF.js graph model with every one of ``layers`` (or a wrapped one that gets
    its input unchanged: a user's raster model file), else an error."""
    if isinstance(model, WrappedModel) and model.feeds_module_unchanged:
        model = model.module
    graph = getattr(model, "graph", None)
    if graph is None:
        raise StrokelensError(
            f"an explainer that reads model features needs a TF.js graph model; {type(model).__name__} "
            "is not one"
        )
    names = {name for name, _ in graph}
    missing = [name for name in layers if name not in names]
    if missing:
        raise StrokelensError(f"the model has no layers {missing}")
    return model


def run_layers(
    model: Any, images: torch.Tensor, keep: list[str], differentiable: bool = False
) -> dict[str, torch.Tensor]:
    """The outputs of ``keep`` (detached) and of the model's last layer (``"__out__"``, with its graph
    when ``differentiable``) for ``images``."""
    values = {model.input_name: images}
    out: dict[str, torch.Tensor] = {}
    last = None
    with torch.set_grad_enabled(differentiable):
        for name, inputs in model.graph:
            values[name] = model.layers[name](*(values[i] for i in inputs))
            last = name
            if name in keep:  # a copy: a later activation may run in place on it (models.tfjs.fuse)
                out[name] = values[name].detach().clone()
    out["__out__"] = values[last]
    return out


def cell_means(ink: torch.Tensor, cells: tuple[int, int]) -> torch.Tensor:
    """``ink`` ``(B, N, H, W)`` averaged over each cell of an ``r x s`` grid -> ``(B, N, r, s)``: as
    adaptive average pooling, by a plain average pool where the grid divides the image (the same
    numbers, about 3x faster on CPU) and no pooling at all where the grid is the image's."""
    h, w = ink.shape[-2:]
    r, s = cells
    if (h, w) == (r, s):
        return ink
    if h % r == 0 and w % s == 0:
        return F.avg_pool2d(ink, (h // r, w // s))
    return F.adaptive_avg_pool2d(ink, cells)


def n_stroke_features(channels: list[int]) -> int:
    """Length of one stroke's model features: each map pooled over own and exclusive ink, + stats."""
    return 2 * sum(channels) + N_INK_STATS


def stroke_features(
    view: Any,
    units: SketchUnits,
    feature_layers: list[str],
    embedding_layer: str,
    bound: dict[str, Any] | None = None,
    gradient: bool = False,
    classes: torch.Tensor | None = None,
) -> StrokeFeatures:
    """`StrokeFeatures` of ``units`` (see the module docstring): one model evaluation per drawing.
    ``bound``: the view's `bind` of these units when a game has it already (its ink coverage).
    ``gradient``: also the presence gradient of the logit of ``classes`` ``(B,)`` (default: each
    drawing's predicted class)."""
    model = graph_model(view.model, [*feature_layers, embedding_layer])
    units = units.to(view.device)
    b, k = len(units), units.max_units
    dev = view.device
    inputs = bound if bound is not None and "coverage" in bound else view.bind(units, cache=True)
    if "coverage" not in inputs:
        raise StrokelensError(
            "per-stroke model features need a renderer that caches ink coverage; "
            f"{type(view.renderer).__name__} does not"
        )
    exists = (torch.arange(k, device=dev)[None] < units.n_units.to(dev)[:, None]).float()
    every = torch.arange(b, device=dev)
    z = exists.clone().requires_grad_(gradient)
    with torch.set_grad_enabled(gradient):
        full = view.render(z, every, **inputs)  # (B, 1, H, W)
    with torch.no_grad():
        own, exclusive = inputs["coverage"].unit_inks(k)  # (B, K, H, W) each
    contrast = getattr(view.renderer, "contrast", 1.0)
    taps = run_layers(model, full, [*feature_layers, embedding_layer], differentiable=gradient)
    outputs = taps["__out__"]
    grad = None
    if gradient:
        classes = outputs.detach().argmax(-1) if classes is None else classes.to(dev)
        with torch.enable_grad():  # the caller may hold gradients off (an explanation does)
            chosen = outputs.gather(1, classes[:, None]).sum()
        (grad,) = torch.autograd.grad(chosen, z)
        grad = grad * exists
        outputs = outputs.detach()
    full = full.detach()
    both = torch.cat([own, exclusive], dim=1)  # (B, 2K, H, W): pooled together, one call a layer
    pooled = []
    for name in feature_layers:
        fmap = taps[name]  # (B, C, r, s)
        if fmap.dim() != 4:
            raise StrokelensError(f"feature layer {name!r} gives no feature map ({tuple(fmap.shape)})")
        for cells in cell_means(both, tuple(fmap.shape[-2:])).chunk(2, dim=1):  # (B, K, r, s) each
            mass = cells.flatten(2).sum(-1, keepdim=True).clamp_min(1e-6)
            pooled.append(torch.einsum("bkrs,bcrs->bkc", cells, fmap) / mass)
    own_ink = own.flatten(2).sum(-1)
    excl_ink = exclusive.flatten(2).sum(-1)
    total = full.abs().amax(1).flatten(1).sum(-1, keepdim=True).div(contrast).clamp_min(1e-6)
    stats = torch.stack([own_ink.add(1).log(), excl_ink.add(1).log(), own_ink / total], dim=-1)
    per_stroke = torch.cat([*pooled, stats], dim=-1) * exists[..., None]
    embedding = taps[embedding_layer].flatten(1)
    return StrokeFeatures(per_stroke, embedding, outputs, grad, classes if gradient else None)
