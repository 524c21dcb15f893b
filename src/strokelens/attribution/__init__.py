"""Attribution methods, one file each, all with Captum's call shape:
``Method(view).attribute(sketches, target=..., units=..., seed=..., **options) -> Explanation``.
"""

from strokelens.attribution import (  # noqa: F401  (importing registers the methods)
    baselines,
    gws,
    integrated_gradients,
    kernel_shap,
    learned,
    lime,
    lime_image,
    occlusion,
    psla,
    shapley,
    sla,
    smoothgrad,
)
from strokelens.attribution.base import METHODS, Method, get_method, register

__all__ = ["METHODS", "Method", "get_method", "register"]
