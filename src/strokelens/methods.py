"""Every attribution method by name: `get_method` and `METHODS`, the learned ones included.

`strokelens.attribution` registers the methods that need no training; the learned explainers
(``wys``, ``fastshap``) sit a floor above it, in `strokelens.explainers.learned`, and register
themselves into the same table. Everything above both floors looks methods up here.
"""

from __future__ import annotations

import strokelens.attribution
import strokelens.explainers  # noqa: F401  (importing registers the learned methods)
from strokelens.attribution.base import METHODS, get_method

__all__ = ["METHODS", "get_method"]
