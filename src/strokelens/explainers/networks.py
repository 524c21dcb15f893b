"""The explainer networks: one output per unit and class, in one forward pass.

- `SketchExplainerNet`: a set network over unit tokens (`strokelens.explainers.tokens`): an MLP
  embeds each stroke or piece, a [CLS] token and a transformer encoder (the stroke transformer's
  presence-weighted layers, padding given presence 0) mix them, and a linear head gives every unit
  one value per class. Any number of units, strokes or pieces. With ``ensemble`` E > 1 the head
  gives E values per unit and class (members trained each on its own loss); their mean is the
  output and their spread the explainer's uncertainty (`SketchExplainerNet.members`).
- `PhotoExplainerNet`: a small trainable decoder on the frozen explanandum's own features (Tiny
  Darknet's last feature map), read out through the explanandum's own frozen class head, so each
  class's map comes from that class's weights (one photo per class is enough to train it), pooled
  to superpixels by area. At initialisation its output is the class activation map.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import torch
from torch import nn

from strokelens.config import dataclass_from_dict
from strokelens.errors import StrokelensError
from strokelens.explainers.tokens import n_token_features, unit_tokens
from strokelens.models.stroke_transformer import PresenceAttentionLayer
from strokelens.units.strokes import SketchUnits
from strokelens.units.superpixels import SuperpixelUnits


@dataclass
class SketchNetConfig:
    """Sizes of a `SketchExplainerNet`."""

    n_classes: int
    points_per_unit: int = 16
    d_model: int = 128
    n_layers: int = 3
    n_heads: int = 4
    d_ff: int = 256
    dropout: float = 0.1
    #: Members of the head ensemble (1: one head, as the shipped explainers).
    ensemble: int = 1
    #: Read the frozen model's features (`FeatureSketchNet`; one model evaluation a drawing): the
    #: feature maps pooled along each stroke's ink, the head's input layer and the linear class head
    #: the values are read out through. Empty: stroke geometry only (`SketchExplainerNet`).
    feature_layers: tuple[str, ...] = ()
    embedding_layer: str = ""
    head_layer: str = ""
    #: With model features: also read the explained class's logit gradient w.r.t. each stroke's
    #: presence from the same pass (its backward; `strokelens.explainers.features`).
    read_gradient: bool = False
    #: Channels of each feature layer (set when the net is made).
    feature_channels: tuple[int, ...] = ()
    #: Size of the head's input (set when the net is made).
    embedding_size: int = 0
    #: ``wys``: multiply each class's mask odds by the model's probability of that class (from the whole
    #: drawing's outputs, which every game has), so a class the model sees no evidence of gets an empty
    #: mask, as the paper's non-target masks (`gated`).
    class_gate: bool = False

    def __post_init__(self) -> None:
        if self.ensemble < 1:
            raise StrokelensError(f"an explainer's ensemble has at least 1 member, got {self.ensemble}")
        self.feature_layers = tuple(self.feature_layers)
        self.feature_channels = tuple(self.feature_channels)
        if self.feature_layers and not (self.embedding_layer and self.head_layer):
            raise StrokelensError("an explainer reading model features needs embedding_layer and head_layer")
        if self.read_gradient and not self.feature_layers:
            raise StrokelensError("an explainer reads the model's gradient beside its features: name them")
        if self.class_gate and (self.feature_layers or self.ensemble > 1):
            raise StrokelensError("the class gate is for wys masks of a geometry-only net with one member")

    @property
    def reads_model(self) -> bool:
        return bool(self.feature_layers)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SketchNetConfig:
        return dataclass_from_dict(cls, data)


@dataclass
class PhotoNetConfig:
    """Where a `PhotoExplainerNet` reads the explanandum: its feature layer and its 1x1 class head."""

    n_classes: int
    feature_layer: str = "leaky_re_lu_15"
    head_layer: str = "conv2d_16"
    hidden: int = 128
    #: Read each superpixel's share of the class map minus its share of the *empty* photo's map (every
    #: superpixel at the view's baseline): one more feature pass, whose outputs are also ``v(empty)``.
    #: At initialisation the shares then sum to ``v(N) - v(empty)`` exactly. Off in files from before.
    subtract_empty: bool = False

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> PhotoNetConfig:
        return dataclass_from_dict(cls, data)


class SketchExplainerNet(nn.Module):
    """Unit tokens -> ``(B, K, C)``: one value per unit and class (see the module docstring)."""

    #: Model evaluations an input: none, it reads the units' geometry only.
    model_evaluations = 0

    def __init__(self, config: SketchNetConfig) -> None:
        super().__init__()
        self.config = config
        d = config.d_model
        self.embed = nn.Sequential(
            nn.Linear(n_token_features(config.points_per_unit), d), nn.GELU(), nn.Linear(d, d)
        )
        self.cls = nn.Parameter(torch.randn(d) * 0.02)
        self.layers = nn.ModuleList(
            PresenceAttentionLayer(d, config.n_heads, config.d_ff, config.dropout)
            for _ in range(config.n_layers)
        )
        self.norm = nn.LayerNorm(d)
        self.head = nn.Linear(d, config.n_classes * config.ensemble)

    def forward(self, units: SketchUnits) -> torch.Tensor:
        """``(B, K, C)``: the mean of the ensemble's members."""
        return self.members(units).mean(0)

    def members(self, units: SketchUnits) -> torch.Tensor:
        """``(E, B, K, C)``: every member's values."""
        tokens = unit_tokens(units, self.config.points_per_unit)
        return self.from_tokens(tokens.features, tokens.exists)

    def gated(self, logits: torch.Tensor, outputs: torch.Tensor) -> torch.Tensor:
        """Mask logits ``(B, K, C)`` plus the model's log-probability of each class (its odds times that
        probability), from the whole inputs' raw class logits ``outputs`` ``(B, C)``; as given without
        the class gate."""
        if not self.config.class_gate:
            return logits
        return logits + outputs.float().log_softmax(-1).to(logits.dtype)[:, None, :]

    def from_tokens(self, features: torch.Tensor, exists: torch.Tensor) -> torch.Tensor:
        """``(E, B, K, C)`` from unit tokens ``(B, K, F)`` and their presence ``(B, K)``."""
        x = self.embed(features)
        x = encode_with_cls(self.layers, self.cls.expand(x.shape[0], 1, -1), x, exists)
        out = self.head(self.norm(x))  # (B, K, E * C)
        b, k = out.shape[:2]
        return out.view(b, k, self.config.ensemble, self.config.n_classes).permute(2, 0, 1, 3)


class PhotoExplainerNet(nn.Module):
    """Superpixel units -> ``(B, K, C)`` through the frozen explanandum's features and class head.

    ``explanandum`` must be a `strokelens.models.tfjs.TFJSModel` whose output is the global average
    of ``head_layer`` (a 1x1 convolution) applied to ``feature_layer``; checked when built.
    """

    def __init__(self, config: PhotoNetConfig, explanandum: nn.Module) -> None:
        super().__init__()
        self.config = config
        graph = getattr(explanandum, "graph", None)
        if graph is None:
            raise StrokelensError(
                "a photo explainer reads a TF.js graph model's layers; "
                f"{type(explanandum).__name__} is not one"
            )
        names = [name for name, _ in graph]
        for layer in (config.feature_layer, config.head_layer):
            if layer not in names:
                raise StrokelensError(f"the explanandum has no layer {layer!r}")
        head = explanandum.layers[config.head_layer]
        if not isinstance(head, nn.Conv2d) or head.kernel_size != (1, 1):
            raise StrokelensError(f"layer {config.head_layer!r} is not a 1x1 convolution")
        self._explanandum = [explanandum]  # not a submodule: its weights are not the explainer's
        c = head.in_channels
        self.refine = nn.Sequential(
            nn.Conv2d(c, config.hidden, 3, padding=1), nn.GELU(), nn.Conv2d(config.hidden, c, 1)
        )
        nn.init.zeros_(self.refine[-1].weight)
        nn.init.zeros_(self.refine[-1].bias)
        #: Mask logits are the pooled class map on this scale and offset (used by ``wys``).
        self.mask_scale = nn.Parameter(torch.tensor(1.0))
        self.mask_offset = nn.Parameter(torch.tensor(0.0))

    @property
    def explanandum(self) -> nn.Module:
        return self._explanandum[0]

    @property
    def model_evaluations(self) -> int:
        """Model evaluations an input, counted by `Explainer.explain`: the photo's feature pass, and
        the empty photo's with ``subtract_empty``."""
        return 1 + int(self.config.subtract_empty)

    def features(self, images: torch.Tensor) -> torch.Tensor:
        """The explanandum's ``feature_layer`` output for ``images`` (no gradient: it is frozen)."""
        model = self.explanandum
        values = {model.input_name: images.contiguous(memory_format=torch.channels_last)}
        with torch.no_grad():
            for name, inputs in model.graph:
                values[name] = model.layers[name](*(values[i] for i in inputs))
                if name == self.config.feature_layer:
                    return values[name]
        raise StrokelensError(f"layer {self.config.feature_layer!r} was never reached")

    def class_maps(self, features: torch.Tensor) -> torch.Tensor:
        """Per-cell class logits ``(B, C, h, w)`` from the explanandum's features, whose spatial mean
        is the explanandum's output at initialisation."""
        return self.explanandum.layers[self.config.head_layer](features + self.refine(features))

    def read(
        self, units: SuperpixelUnits, empty: torch.Tensor | None = None, mean: bool = False
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Each superpixel's share of every class map ``(B, K, C)`` (``mean``: its mean instead) and
        the explanandum's outputs on the ``empty`` photos ``(B, 3, S, S)`` (None unless
        ``subtract_empty``, which needs them). A share weights cells by the fraction of their pixels
        in the superpixel over the cell count, so the K shares sum to the map's mean."""
        from strokelens.explainers.features import run_layers

        maps = self.class_maps(self.features(units.images))
        empty_outputs = None
        if self.config.subtract_empty:
            if empty is None:
                msg = "this explainer reads the empty photo's class map: give the empty photos"
                raise StrokelensError(msg)
            layer = self.config.feature_layer
            ran = run_layers(self.explanandum, empty.contiguous(memory_format=torch.channels_last), [layer])
            maps = maps - self.class_maps(ran[layer])
            empty_outputs = ran["__out__"]
        area = cell_areas(units, maps.shape[-2:])  # (B, K, h*w)
        norm = area.sum(-1, keepdim=True).clamp_min(1e-6) if mean else area.shape[-1]
        return area @ maps.flatten(2).transpose(1, 2) / norm, empty_outputs

    def forward(self, units: SuperpixelUnits, empty: torch.Tensor | None = None) -> torch.Tensor:
        """Each superpixel's share of every class map, ``(B, K, C)`` (see `read`)."""
        return self.read(units, empty)[0]

    def members(self, units: SuperpixelUnits, empty: torch.Tensor | None = None) -> torch.Tensor:
        """``(1, B, K, C)``: one member (a photo explainer is no ensemble)."""
        return self(units, empty)[None]

    def mask_logits(self, units: SuperpixelUnits, empty: torch.Tensor | None = None) -> torch.Tensor:
        """Mask logits ``(B, K, C)``: each superpixel's mean class-map value, scaled and offset."""
        return self.read(units, empty, mean=True)[0] * self.mask_scale + self.mask_offset


def encode_with_cls(
    layers: nn.ModuleList, cls: torch.Tensor, x: torch.Tensor, exists: torch.Tensor
) -> torch.Tensor:
    """Unit tokens ``x`` ``(B, K, D)`` through presence-masked attention ``layers`` behind a class
    token ``cls`` ``(B, 1, D)`` that every unit may attend to; the units' outputs ``(B, K, D)``."""
    x = torch.cat([cls, x], dim=1)
    presence = exists.to(x.dtype)
    key_presence = torch.cat([torch.ones_like(presence[:, :1]), presence], dim=1)
    for layer in layers:
        x = layer(x, key_presence)
    return x[:, 1:]


def cell_areas(units: SuperpixelUnits, cells: tuple[int, int] | torch.Size) -> torch.Tensor:
    """``(B, K, h*w)``: the fraction of each feature cell's pixels that lie in each superpixel."""
    b, size_h, size_w = units.labels.shape
    h, w = int(cells[0]), int(cells[1])
    k = units.max_units
    dev = units.labels.device
    row = torch.arange(size_h, device=dev) * h // size_h
    col = torch.arange(size_w, device=dev) * w // size_w
    cell = (row[:, None] * w + col[None, :]).flatten()  # (H*W,)
    flat = (torch.arange(b, device=dev)[:, None] * k + units.labels.flatten(1)) * (h * w) + cell[None]
    counts = torch.bincount(flat.flatten(), minlength=b * k * h * w).view(b, k, h * w).float()
    return counts / counts.sum(1, keepdim=True).clamp_min(1)


def config_dict(config: SketchNetConfig | PhotoNetConfig) -> dict[str, Any]:
    return asdict(config)


#: DoodleNet's layers a feature-reading explainer uses: the last conv of each block, the dense layer
#: before the class head, the class head.
DOODLENET_LAYERS: dict[str, Any] = {
    "feature_layers": ("conv2d_1", "conv2d_3", "conv2d_5"),
    "embedding_layer": "dense",
    "head_layer": "dense_1",
}


def feature_layers(text: str) -> dict[str, Any]:
    """The layers a feature-reading explainer uses, named ``doodlenet`` (`DOODLENET_LAYERS`) or
    ``FEATURES:EMBEDDING:HEAD`` (feature layers separated by commas)."""
    if text == "doodlenet":
        return dict(DOODLENET_LAYERS)
    parts = text.split(":")
    if len(parts) != 3 or not all(parts):
        raise StrokelensError(f"--model-features {text!r}: expected 'doodlenet' or FEATURES:EMBEDDING:HEAD")
    layers = tuple(name for name in parts[0].split(",") if name)
    return {"feature_layers": layers, "embedding_layer": parts[1], "head_layer": parts[2]}


class FeatureSketchNet(nn.Module):
    """Stroke geometry tokens beside the frozen raster model's own per-stroke features
    (`strokelens.explainers.features`, one evaluation a drawing) -> ``(B, K, C)``.

    A set transformer mixes the strokes, with the model's head input for the whole drawing as its
    [CLS] token; each stroke's output is a vector in the head's input space, read out through the
    model's frozen linear class head (without its bias), so every class's value comes from that
    class's own weights. With ``read_gradient``, each stroke also sees the explained class's logit
    gradient w.r.t. its presence (signed: as a share of the drawing's and as ``asinh``), and the
    explained class's value adds that gradient times a gate each stroke's output learns (0 at first).
    The efficiency correction (`strokelens.explainers.objectives.efficient`) is applied after, as
    for `SketchExplainerNet`."""

    #: Model evaluations a drawing (the feature pass), counted by `Explainer.explain`.
    model_evaluations = 1

    def __init__(self, config: SketchNetConfig, view: Any) -> None:
        super().__init__()
        from strokelens.explainers.features import graph_model, n_stroke_features, run_layers

        model = graph_model(view.model, [*config.feature_layers, config.embedding_layer, config.head_layer])
        head = model.layers[config.head_layer]
        if not isinstance(head, nn.Linear):
            raise StrokelensError(f"layer {config.head_layer!r} is not a linear class head")
        if not config.feature_channels or not config.embedding_size:
            size = int(getattr(model, "input_size", 28) or 28)
            shape = (1, *getattr(model, "input_shape", (1, size, size)))
            probe = torch.zeros(shape, device=next(model.parameters()).device)
            taps = run_layers(model, probe, [*config.feature_layers, config.embedding_layer])
            config.feature_channels = tuple(int(taps[n].shape[1]) for n in config.feature_layers)
            config.embedding_size = int(taps[config.embedding_layer].flatten(1).shape[1])
        if head.in_features != config.embedding_size or head.out_features != config.n_classes:
            raise StrokelensError(
                f"layer {config.head_layer!r} maps {head.in_features} to {head.out_features}; expected "
                f"{config.embedding_size} to {config.n_classes}"
            )
        self.config = config
        self._view = [view]  # not a submodule: the model's weights are not the explainer's
        self._head = [head]  # the frozen class head, found once (not a submodule either)
        d = config.d_model
        n_geo = n_token_features(config.points_per_unit)
        n_feat = n_stroke_features(list(config.feature_channels))
        self.feature_norm = nn.LayerNorm(n_feat)
        n_grad = N_GRADIENT_FEATURES if config.read_gradient else 0
        self.embed = nn.Sequential(nn.Linear(n_geo + n_feat + n_grad, d), nn.GELU(), nn.Linear(d, d))
        self.cls = nn.Sequential(nn.Linear(config.embedding_size, d), nn.GELU(), nn.Linear(d, d))
        self.layers = nn.ModuleList(
            PresenceAttentionLayer(d, config.n_heads, config.d_ff, config.dropout)
            for _ in range(config.n_layers)
        )
        self.norm = nn.LayerNorm(d)
        self.out = nn.Linear(d, config.embedding_size * config.ensemble)
        if config.read_gradient:
            self.gate = nn.Linear(d, config.ensemble)
            nn.init.zeros_(self.gate.weight)
            nn.init.zeros_(self.gate.bias)

    @property
    def view(self) -> Any:
        return self._view[0]

    def head_weight(self) -> torch.Tensor:
        return self._head[0].weight.detach()

    def inputs(
        self,
        units: SketchUnits,
        bound: dict[str, Any] | None = None,
        classes: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor, Any]:
        """Geometry tokens ``(B, K, G)``, presence ``(B, K)`` and `StrokeFeatures` of ``units``
        (``bound``: a game's bound view inputs, reused; ``classes``: the explained classes ``(B,)``
        whose gradient a ``read_gradient`` net reads, default the predicted ones)."""
        from strokelens.explainers.features import stroke_features

        c = self.config
        tokens = unit_tokens(units, c.points_per_unit)
        feats = stroke_features(
            self.view, units, list(c.feature_layers), c.embedding_layer, bound, c.read_gradient, classes
        )
        return tokens.features, tokens.exists, feats

    def forward(self, units: SketchUnits) -> torch.Tensor:
        return self.members(units).mean(0)

    def members(
        self, units: SketchUnits, bound: dict[str, Any] | None = None, classes: torch.Tensor | None = None
    ) -> torch.Tensor:
        """``(E, B, K, C)``: every member's values (see `inputs` for ``classes``)."""
        geo, exists, feats = self.inputs(units, bound, classes)
        return self.from_inputs(
            geo, exists, feats.per_stroke, feats.embedding, feats.gradient, feats.gradient_class
        )

    def from_inputs(
        self,
        geo: torch.Tensor,
        exists: torch.Tensor,
        per_stroke: torch.Tensor,
        embedding: torch.Tensor,
        gradient: torch.Tensor | None = None,
        gradient_class: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """``(E, B, K, C)`` from precomputed inputs (training reuses them across epochs); a
        ``read_gradient`` net needs ``gradient`` ``(B, K)`` and the class it is of ``(B,)``."""
        parts = [geo, self.feature_norm(per_stroke)]
        if self.config.read_gradient:
            if gradient is None or gradient_class is None:
                raise StrokelensError("this explainer reads the model's gradient: give it and its class")
            parts.append(gradient_features(gradient, exists))
        x = self.embed(torch.cat(parts, dim=-1))
        x = encode_with_cls(self.layers, self.cls(embedding)[:, None], x, exists)
        h = self.norm(x)
        g = self.out(h)  # (B, K, E * D)
        b, k = g.shape[:2]
        g = g.view(b, k, self.config.ensemble, self.config.embedding_size).permute(2, 0, 1, 3)
        values = g @ self.head_weight().t().to(g.dtype)  # (E, B, K, C)
        if not self.config.read_gradient:
            return values
        skip = self.gate(h).permute(2, 0, 1) * gradient.to(h.dtype)  # (E, B, K)
        where = gradient_class.to(values.device)[None, :, None, None].expand(*values.shape[:3], 1)
        return values.scatter_add(3, where, skip[..., None])


#: Per-stroke gradient inputs of a ``read_gradient`` net (`gradient_features`).
N_GRADIENT_FEATURES = 2


def gradient_features(gradient: torch.Tensor, exists: torch.Tensor) -> torch.Tensor:
    """``(B, K, 2)``: each stroke's presence gradient as a signed share of the drawing's total
    magnitude, and as ``asinh`` (a signed log scale)."""
    g = gradient * exists.to(gradient.dtype)
    share = g / g.abs().sum(-1, keepdim=True).clamp_min(1e-6)
    return torch.stack([share, torch.asinh(g)], dim=-1)
