"""Attribution methods, one file each, all with Captum's call shape:
``Method(view).attribute(sketches, target=..., units=..., seed=..., **options) -> Explanation``.

Methods carry their capabilities as class attributes (`families`, `cost`); `methods_where` and
`learned_methods` ask them; `Configured` is a method with checked options.
"""

from strokelens.attribution import (  # noqa: F401  (importing registers the methods)
    baselines,
    gws,
    integrated_gradients,
    kernel_shap,
    lime,
    lime_image,
    occlusion,
    psla,
    shapley,
    sla,
    smoothgrad,
)
from strokelens.attribution.base import Method, register
from strokelens.attribution.catalogue import learned_methods, methods_where
from strokelens.attribution.configured import Configured
from strokelens.attribution.cost import Cost
from strokelens.attribution.families import (
    BaselineAttribution,
    GradientAttribution,
    LearnedAttribution,
    PerturbationAttribution,
)

__all__ = [
    "BaselineAttribution",
    "Configured",
    "Cost",
    "GradientAttribution",
    "LearnedAttribution",
    "Method",
    "PerturbationAttribution",
    "learned_methods",
    "methods_where",
    "register",
]
