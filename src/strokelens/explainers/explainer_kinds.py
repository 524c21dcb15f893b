"""The explainer kinds as objects: `MASKS` (``wys``: class-specific mask logits, Stalder et al.,
NeurIPS 2022) and `VALUES` (``fastshap``: efficient Shapley value estimates, Jethani et al., ICLR
2022). Each knows what its network's outputs mean and how they are read for a game, and refuses the
networks and training it cannot take, so that the explainer, its training and the CLI ask the kind
instead of comparing its name."""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import TYPE_CHECKING, Any, ClassVar, Protocol

import torch

from strokelens.errors import StrokelensError
from strokelens.explainers.networks import PhotoExplainerNet, SketchExplainerNet

if TYPE_CHECKING:
    from strokelens.games import Game
    from strokelens.views.base import View


class _ExplainerLike(Protocol):
    """What a kind reads of the `strokelens.explainers.explainer.Explainer` it serves (not imported:
    the explainer asks its kind, not the other way)."""

    net: Any
    info: Any
    null_outputs: torch.Tensor | None

    @property
    def reads_empty(self) -> bool: ...

    def empty_inputs(self, game: Game) -> torch.Tensor | None: ...

    def member_values(self, game: Game) -> torch.Tensor: ...


class ExplainerKind(ABC):
    """One kind of learned explainer; ``name`` is the learned method's and the saved file's."""

    name: ClassVar[str]
    #: Whether its outputs estimate Shapley values in a score space (``fastshap``).
    estimates_values: ClassVar[bool]

    @property
    def gives_masks(self) -> bool:
        """Whether its outputs are class mask logits (``wys``): the other kind of output."""
        return not self.estimates_values

    def __repr__(self) -> str:
        return f"<explainer kind {self.name}>"

    def __reduce__(self) -> tuple[Any, tuple[str]]:  # unpickled or copied: the one instance
        return explainer_kind, (self.name,)

    @abstractmethod
    def check_network(self, config: Any) -> None:
        """Refuse a network configuration (`SketchNetConfig`, `PhotoNetConfig`) this kind cannot use."""

    @abstractmethod
    def check_training(self, view: View, labelled: bool, ranking: float) -> None:
        """Refuse training on ``view`` with Shapley labels (``labelled``) and a ranking weight."""

    @abstractmethod
    def unit_outputs(self, explainer: _ExplainerLike, game: Game) -> torch.Tensor:
        """``(B, K, C)`` network outputs for the game's units, as this kind reads them."""

    @abstractmethod
    def member_outputs(self, explainer: _ExplainerLike, game: Game) -> torch.Tensor:
        """``(E, B, K, C)``: each ensemble member's scores for every class (one member for masks)."""

    @abstractmethod
    def check_score(self, explainer: _ExplainerLike, score: str) -> None:
        """Refuse a game's score space the explainer's outputs do not hold."""

    def null_pass(self, explainer: _ExplainerLike) -> bool:
        """Whether an explanation evaluates the empty input besides the network's own passes."""
        return False


class MaskKind(ExplainerKind):
    """``wys``: a mask logit for each unit and class; the class gate adds the model's log-probability."""

    name = "wys"
    estimates_values = False

    def check_network(self, config: Any) -> None:
        if getattr(config, "ensemble", 1) > 1:
            raise StrokelensError("ensembles are for fastshap explainers")

    def check_training(self, view: View, labelled: bool, ranking: float) -> None:
        if labelled != (ranking > 0):
            raise StrokelensError("a wys explainer takes Shapley labels for its ranking term, and only then")
        if not view.outputs_are_logits:
            raise StrokelensError("a wys explainer needs a model whose outputs are class logits")

    def unit_outputs(self, explainer: _ExplainerLike, game: Game) -> torch.Tensor:
        net = explainer.net
        if isinstance(net, PhotoExplainerNet):
            return net.mask_logits(game.units, explainer.empty_inputs(game))
        out = net(game.units)
        return net.gated(out, game.full_outputs) if isinstance(net, SketchExplainerNet) else out

    def member_outputs(self, explainer: _ExplainerLike, game: Game) -> torch.Tensor:
        return self.unit_outputs(explainer, game)[None]

    def check_score(self, explainer: _ExplainerLike, score: str) -> None:
        pass  # a mask ranks units for any score space


class ValueKind(ExplainerKind):
    """``fastshap``: Shapley value estimates, made efficient against the game's ``v(N) - v(empty)``."""

    name = "fastshap"
    estimates_values = True

    def check_network(self, config: Any) -> None:
        if getattr(config, "class_gate", False):
            raise StrokelensError("the class gate shapes wys masks; a fastshap explainer has none")

    def check_training(self, view: View, labelled: bool, ranking: float) -> None:
        pass  # labelled inputs regress on their labels, the rest train on FastSHAP's objective

    def unit_outputs(self, explainer: _ExplainerLike, game: Game) -> torch.Tensor:
        net = explainer.net
        if isinstance(net, PhotoExplainerNet):
            return net(game.units, explainer.empty_inputs(game))
        return net(game.units)

    def member_outputs(self, explainer: _ExplainerLike, game: Game) -> torch.Tensor:
        return explainer.member_values(game)

    def check_score(self, explainer: _ExplainerLike, score: str) -> None:
        info = explainer.info
        if score != info.score:
            raise StrokelensError(
                f"this fastshap explainer of {info.model!r} estimates Shapley values of {info.score!r} "
                f"scores; the game asks for {score!r}"
            )

    def null_pass(self, explainer: _ExplainerLike) -> bool:
        return explainer.null_outputs is None and not explainer.reads_empty


MASKS, VALUES = MaskKind(), ValueKind()
#: The kinds by name (in the order of the learned methods' listing).
EXPLAINER_KINDS: dict[str, ExplainerKind] = {k.name: k for k in (VALUES, MASKS)}


def explainer_kind(name: str) -> ExplainerKind:
    """The kind called ``name``; any other is refused with the list."""
    try:
        return EXPLAINER_KINDS[name]
    except KeyError:
        raise StrokelensError(
            f"unknown explainer kind {name!r}; expected one of {', '.join(EXPLAINER_KINDS)}"
        ) from None
