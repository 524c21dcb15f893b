"""Attribution methods, one file each, all with Captum's call shape:
``Method(view).attribute(sketches, target=..., units=..., seed=..., **options) -> Explanation``.
Look methods up by name with `strokelens.methods.get_method` (the learned ones included).
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

__all__ = ["Method", "register"]
