"""Method families, as Captum's base classes group its methods (``GradientAttribution``,
``PerturbationAttribution``): each sets the capabilities its members share, and a method sets what is
its own (``reference``, ``interactive``, ``cost``, ...). See `Method` for every capability.
"""

from __future__ import annotations

from typing import ClassVar

from strokelens.attribution.base import Method
from strokelens.attribution.cost import FREE, ONE


class GradientAttribution(Method):
    """Gradients of the target through the model (presence weights, pixels or points)."""

    family = "gradient"
    needs_gradients = True
    cost = ONE


class PerturbationAttribution(Method):
    """Forward passes on coalitions of units (units removed, the rest kept)."""

    family = "perturbation"
    scores_coalitions = True


class LearnedAttribution(Method):
    """A trained explainer network: one forward pass of its own, class targets only; where it reads
    the frozen model's features (photos, DoodleNet's sketches) one model evaluation."""

    family = "learned"
    learned = True
    #: Training passes gradients through the explained model (``wys``: its masked inputs).
    training_needs_gradients: ClassVar[bool] = False
    callable_targets = False
    cost = FREE


class BaselineAttribution(Method):
    """Scores that look at no model: what a real method must beat."""

    family = "baseline"
    model_free = True
    cost = FREE


FAMILIES: tuple[type[Method], ...] = (
    GradientAttribution,
    PerturbationAttribution,
    LearnedAttribution,
    BaselineAttribution,
)
