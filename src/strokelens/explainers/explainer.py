"""`Explainer`: a trained explainer network bound to the explanandum it was trained for.

An explainer knows its kind (``wys`` masks or ``fastshap`` values), the model it explains (by name and
by a fingerprint of its weights), the units and score space it was trained on, and, for views whose
empty input does not depend on the input (sketches: an empty canvas), the explanandum's output on it.
It is saved as ``NAME.safetensors`` (weights only, no pickle) and ``NAME.json`` (all of the above and
the training record), and refuses a model, unit kind or score it was not trained for.
"""

from __future__ import annotations

import hashlib
import json
import os
import weakref
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from torch import nn

from strokelens.config import dataclass_from_dict
from strokelens.errors import StrokelensError
from strokelens.explainers.explainer_kinds import EXPLAINER_KINDS, ExplainerKind, explainer_kind
from strokelens.explainers.networks import (
    FeatureSketchNet,
    PhotoExplainerNet,
    PhotoNetConfig,
    SketchExplainerNet,
    SketchNetConfig,
)
from strokelens.explainers.objectives import efficient
from strokelens.kinds import PHOTO_FILES, SKETCH_FILES
from strokelens.models.tfjs import TFJSModel

if TYPE_CHECKING:
    from strokelens.games import Game
    from strokelens.views.base import View

#: The file stem of an explainer in the folder `strokelens train explainer --out` writes.
FOLDER_STEM = "explainer"
#: Where the shipped explainers live (inside the package).
SHIPPED_DIR = Path(__file__).parent / "weights"
#: The explainer network for each kind of input files, by its word (``sketch``, ``photo``; the ``net``
#: of a saved explainer): its config type and how to build it for a view.
NETWORKS: dict[str, tuple[Any, Any]] = {
    SKETCH_FILES.word: (
        SketchNetConfig,
        lambda config, view: (
            FeatureSketchNet(config, view) if config.reads_model else SketchExplainerNet(config)
        ),
    ),
    PHOTO_FILES.word: (PhotoNetConfig, lambda config, view: PhotoExplainerNet(config, view.model)),
}


#: Fingerprints of the models seen, so explaining a batch does not hash the weights again.
_FINGERPRINTS: weakref.WeakKeyDictionary[nn.Module, str] = weakref.WeakKeyDictionary()


def model_fingerprint(model: nn.Module, cached: bool = True) -> str:
    """SHA-1 of a model's class names and every parameter and buffer (names, shapes, values); of a TF.js
    or Keras model, those its files hold (`TFJSModel.published_state_dict`: folding batch norms for
    speed changes no fingerprint). ``cached``: reuse the value computed for this model object before
    (weights changed in place since then are not seen; pass False after training a model)."""
    if cached and model in _FINGERPRINTS:
        return _FINGERPRINTS[model]
    h = hashlib.sha1()
    h.update(json.dumps(list(getattr(model, "class_names", []))).encode())
    for name, tensor in sorted(published_state(model).items()):
        t = tensor.detach().cpu().contiguous()
        h.update(f"{name}:{tuple(t.shape)}:{t.dtype}".encode())
        h.update(t.numpy().tobytes() if t.dtype != torch.bfloat16 else t.float().numpy().tobytes())
    _FINGERPRINTS[model] = h.hexdigest()
    return _FINGERPRINTS[model]


def published_state(model: nn.Module) -> dict[str, torch.Tensor]:
    """``model.state_dict()`` with each TF.js / Keras graph inside it (the model itself, or the module a
    user's file is wrapped around) as its files hold it (`TFJSModel.published_state_dict`)."""
    state = model.state_dict()
    for prefix, sub in model.named_modules():
        if isinstance(sub, TFJSModel):
            p = f"{prefix}." if prefix else ""
            state = {k: v for k, v in state.items() if not k.startswith(p)}
            state |= {p + k: v for k, v in sub.published_state_dict().items()}
    return state


def kinds() -> tuple[str, ...]:
    """The explainer kinds' names (``wys``, ``fastshap``; `strokelens.explainers.explainer_kinds`)."""
    return tuple(EXPLAINER_KINDS)


def empty_outputs(game: Game) -> torch.Tensor:
    """The model's raw outputs ``(B, C)`` with every unit of every input removed (B evaluations)."""
    zeros = torch.zeros(game.batch_size, game.max_units, device=game.device, dtype=game.dtype)
    return game.outputs(zeros, torch.arange(game.batch_size, device=game.device))


def uncertainty(members: torch.Tensor, unit_mask: torch.Tensor) -> torch.Tensor:
    """How much an ensemble's members ``(E, B, K)`` disagree on each input, ``(B,)``: the mean over
    units of their standard deviation, over the mean magnitude of their mean (0 for one member)."""
    if members.shape[0] < 2:
        return torch.zeros(members.shape[1], device=members.device)
    mask = unit_mask.to(members.dtype)
    n = mask.sum(1).clamp_min(1)
    spread = (members.std(0) * mask).sum(1) / n
    size = (members.mean(0).abs() * mask).sum(1) / n
    return spread / size.clamp_min(1e-6)


@dataclass
class ExplainerInfo:
    """What an explainer is for; saved as its JSON file."""

    kind: str
    model: str
    fingerprint: str
    input_kind: str
    units: str
    score: str
    net: str
    net_config: dict[str, Any]
    unit_options: dict[str, Any] = field(default_factory=dict)
    training: dict[str, Any] = field(default_factory=dict)


class Explainer:
    """A trained (or freshly made) explainer network and what it is for.

    ``unit_outputs(game)``: ``(B, K, C)`` network outputs (mask logits or raw values).
    ``scores(game)``: ``(B, K)`` scores for the game's targets, in one forward pass: the target mask
    logit (``wys``) or the efficient Shapley estimate in the game's score space (``fastshap``).
    """

    def __init__(self, net: nn.Module, info: ExplainerInfo, null_outputs: torch.Tensor | None = None) -> None:
        #: What its outputs are and how they are read (`ExplainerKind`), from ``info.kind``.
        self.kind: ExplainerKind = explainer_kind(info.kind)
        self.kind.check_network(net.config)
        self.net = net
        self.info = info
        #: Raw explanandum outputs ``(C,)`` on the empty input, where that does not depend on the input.
        self.null_outputs = null_outputs

    # ------------------------------------------------------------------ making one
    @classmethod
    def create(
        cls,
        view: View,
        kind: str,
        model_name: str,
        units: str | None = None,
        score: str = "logit",
        unit_options: dict[str, Any] | None = None,
        **net_options: Any,
    ) -> Explainer:
        """An untrained explainer of ``kind`` for ``view``'s model (a set network for sketch views,
        a feature decoder for image views)."""
        explainer_kind(kind)  # an unknown kind is refused before any network is built
        n_classes = len(view.class_names)
        units = units or view.units_type.KINDS[0]
        if units not in view.units_type.KINDS:
            raise StrokelensError(
                f"{type(view).__name__} has {' or '.join(view.units_type.KINDS)} units, not {units!r}"
            )
        net_name = view.kind.files.word
        config_type, build = NETWORKS[net_name]
        net: nn.Module = build(config_type(n_classes=n_classes, **net_options), view)
        info = ExplainerInfo(
            kind=kind,
            model=model_name,
            fingerprint=model_fingerprint(view.model),
            input_kind=view.kind.name,
            units=units,
            score=score,
            net=net_name,
            net_config=asdict(net.config),
            unit_options=dict(unit_options or {}),
        )
        return cls(net.to(view.device), info)

    @classmethod
    def from_weights(
        cls,
        view: View,
        kind: str,
        weights: str = "shipped",
        units: str | None = None,
        score: str | None = None,
    ) -> Explainer:
        """A fresh copy of the ``kind`` explainer in ``weights`` (``"shipped"``, or files or a folder
        from `strokelens train explainer --out`) for ``view``'s model: refused unless it is one for
        ``units`` and ``score`` (None: any)."""
        explainer = shipped(view, kind, units) if weights == "shipped" else cls.load(weights, view)
        if explainer.info.kind != kind:
            raise StrokelensError(f"{weights} holds a {explainer.info.kind} explainer, not {kind}")
        explainer.check(view, units, score)
        return explainer

    # ------------------------------------------------------------------ checks
    def check(self, view: View, units: str | None = None, score: str | None = None) -> None:
        """Refuse a view whose model, unit kind or (for ``fastshap``) score this explainer was not
        trained for."""
        info = self.info
        if view.kind.name != info.input_kind or model_fingerprint(view.model) != info.fingerprint:
            raise StrokelensError(
                f"this {info.kind} explainer was trained for the model {info.model!r} "
                f"(fingerprint {info.fingerprint[:12]}); the view's model is a different one. Train one "
                f"for it with `strokelens train explainer --kind {info.kind}`"
            )
        if list(view.class_names) != list(view.model.class_names):
            raise StrokelensError(
                f"this {info.kind} explainer predicts {info.model!r}'s class scores; {type(view).__name__} "
                f"scores {', '.join(map(str, view.class_names[:3]))} instead (an embedding similarity?)"
            )
        if units is not None and units != info.units:
            raise StrokelensError(
                f"this {info.kind} explainer of {info.model!r} was trained on {info.units} units, not {units}"
            )
        if score is not None:
            self.kind.check_score(self, score)

    # ------------------------------------------------------------------ use
    @property
    def evaluations(self) -> int:
        """Model evaluations an explanation costs an input: the feature passes where the network reads
        the model, and the empty input's outputs where ``fastshap`` has none stored and no feature pass
        gives them (photos)."""
        return self.net.model_evaluations + int(self.kind.null_pass(self))

    @property
    def reads_empty(self) -> bool:
        """Whether the network reads the empty input's features (a photo net with ``subtract_empty``),
        whose pass also gives ``v(empty)``."""
        return isinstance(self.net, PhotoExplainerNet) and self.net.config.subtract_empty

    def empty_inputs(self, game: Game) -> torch.Tensor | None:
        """The empty inputs ``(B, ...)`` (every unit at the view's baseline) where the network reads
        them, else None."""
        if not self.reads_empty:
            return None
        return game.view.images(game.units, torch.zeros_like(game.unit_mask, dtype=game.dtype))

    def unit_outputs(self, game: Game) -> torch.Tensor:
        """``(B, K, C)`` network outputs for the game's units: mask logits for ``wys``, raw values
        for ``fastshap``."""
        return self.kind.unit_outputs(self, game)

    def null_scores(self, game: Game) -> torch.Tensor:
        """``v(empty)`` ``(B, C)`` in the game's score space: the stored output where the empty input
        is the same for every input (no evaluation), else one evaluation per input."""
        if self.null_outputs is not None:
            null = self.null_outputs.to(game.device, game.full_outputs.dtype)
            return game.transform(null[None]).expand(game.batch_size, -1)
        return game.transform(empty_outputs(game))

    def raw_members(self, game: Game) -> tuple[torch.Tensor, torch.Tensor]:
        """Each member's raw values ``(E, B, K, C)`` and ``v(empty)`` ``(B, C)`` in the game's score
        space (``fastshap``), the latter from the network's own pass where it reads the empty input."""
        if isinstance(self.net, FeatureSketchNet):
            # the game's ink coverage, reused; a gradient-reading net differentiates the asked class
            raw = self.net.members(game.units, bound=game.inputs, classes=game.target)
        elif self.reads_empty:
            raw, outputs = self.net.read(game.units, self.empty_inputs(game))
            return raw[None], game.transform(outputs)
        else:
            raw = self.net.members(game.units)
        return raw, self.null_scores(game)

    def values(self, game: Game) -> torch.Tensor:
        """Efficient Shapley estimates ``(B, K, C)`` for every class (``fastshap``)."""
        return self.member_values(game).mean(0)

    def member_values(self, game: Game) -> torch.Tensor:
        """Each ensemble member's efficient Shapley estimates ``(E, B, K, C)`` (``fastshap``)."""
        raw, null = self.raw_members(game)
        return efficient(raw, game.unit_mask, game.transform(game.full_outputs) - null)

    def scores(self, game: Game) -> torch.Tensor:
        """``(B, K)`` scores for the game's targets (class targets only)."""
        return self.explain(game)[0]

    def explain(self, game: Game) -> tuple[torch.Tensor, torch.Tensor]:
        """``(B, K)`` scores for the game's targets and each input's uncertainty ``(B,)``, in one
        forward pass: the target mask logit (``wys``) or the efficient Shapley estimate in the game's
        score space (``fastshap``), and `uncertainty` of the ensemble's members (0 for one member)."""
        if game.target is None:
            raise StrokelensError("a learned explainer explains class targets, not a callable target")
        self.check(game.view, game.units.kind, game.score)
        self.net.eval()
        game.count(game.batch_size * self.net.model_evaluations)  # the frozen model's feature pass
        with torch.no_grad():
            out = self.kind.member_outputs(self, game)
        t = game.target[None, :, None, None].expand(*out.shape[:3], 1)
        members = out.gather(3, t)[..., 0]  # (E, B, K)
        return members.mean(0), uncertainty(members, game.unit_mask)

    # ------------------------------------------------------------------ files
    def save(self, directory: str | os.PathLike[str], name: str) -> Path:
        """Write ``NAME.safetensors`` and ``NAME.json``; returns the safetensors path."""
        from safetensors.torch import save_file

        out = Path(directory)
        out.mkdir(parents=True, exist_ok=True)
        state = {k: v.detach().cpu().contiguous() for k, v in self.net.state_dict().items()}
        if self.null_outputs is not None:
            state["null_outputs"] = self.null_outputs.detach().cpu().float().contiguous()
        save_file(state, str(out / f"{name}.safetensors"))
        (out / f"{name}.json").write_text(json.dumps(asdict(self.info), indent=2) + "\n")
        return out / f"{name}.safetensors"

    @classmethod
    def load(cls, path: str | os.PathLike[str], view: View) -> Explainer:
        """Load ``NAME.safetensors`` + ``NAME.json`` (give either, the stem, or the folder
        `strokelens train explainer --out` wrote) for ``view``'s model, checking that it was trained
        for that model."""
        from safetensors.torch import load_file

        stem = Path(path)
        if stem.is_dir():
            if not (stem / f"{FOLDER_STEM}.json").is_file():
                raise StrokelensError(
                    f"{stem} holds no explainer ({FOLDER_STEM}.json from `train explainer --out`)"
                )
            stem = stem / FOLDER_STEM
        elif stem.suffix in (".safetensors", ".json"):
            stem = stem.with_suffix("")
        weights, meta = stem.with_suffix(".safetensors"), stem.with_suffix(".json")
        for p in (weights, meta):
            if not p.is_file():
                raise StrokelensError(f"missing explainer file {p}")
        try:
            info = dataclass_from_dict(ExplainerInfo, json.loads(meta.read_text()))
        except (ValueError, StrokelensError) as exc:
            raise StrokelensError(f"{meta}: not an explainer description ({exc})") from exc
        try:
            state = load_file(str(weights))
        except Exception as exc:
            raise StrokelensError(f"{weights}: not a safetensors file ({exc})") from exc
        null = state.pop("null_outputs", None)
        if info.net not in NETWORKS:
            raise StrokelensError(f"{meta}: unknown explainer network {info.net!r}")
        config_type, build = NETWORKS[info.net]
        net: nn.Module = build(config_type.from_dict(info.net_config), view)
        try:
            net.load_state_dict(state)
        except RuntimeError as exc:
            raise StrokelensError(f"{weights}: weights do not fit the network in {meta} ({exc})") from exc
        explainer = cls(net.to(view.device).eval(), info, null)
        explainer.check(view)
        return explainer


def shipped(view: View, kind: str, units: str | None = None) -> Explainer:
    """The shipped explainer of ``kind`` trained for ``view``'s model (and ``units``), or an error
    saying what ships and how to train one."""
    fingerprint = model_fingerprint(view.model)
    available = []
    for meta in sorted(SHIPPED_DIR.glob("*.json")):
        if meta.name.endswith(".training.json"):
            continue
        data = json.loads(meta.read_text())
        available.append(f"{data['model']}/{data['kind']}/{data['units']}")
        if data["kind"] == kind and data["fingerprint"] == fingerprint and units in (None, data["units"]):
            return Explainer.load(meta, view)
    raise StrokelensError(
        f"no shipped {kind} explainer for this model{f' and {units} units' if units else ''} "
        f"(shipped: {', '.join(available) or 'none'}); train one with `strokelens train explainer "
        f"--kind {kind}` and pass its file as the method option weights=PATH"
    )
