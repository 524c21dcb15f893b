"""Every attribution method by name: `get_method` and `METHODS`, the learned ones included, and the
questions asked of their capabilities (`methods_where`, `learned_methods`, `Configured`).

`strokelens.attribution` registers the methods that need no training; the learned explainers
(``wys``, ``fastshap``) sit a floor above it, in `strokelens.explainers.learned`, and register
themselves into the same table. Everything above both floors looks methods up here, so the answers
always include the learned methods. ``python -m strokelens.methods --write`` (``make catalogue``)
rewrites the capability catalogue (``attribution/catalogue.json``); ``--check`` exits 1 when stale.
"""

from __future__ import annotations

import sys

import strokelens.attribution
import strokelens.explainers  # noqa: F401  (importing registers the learned methods)
from strokelens.attribution.base import METHODS, get_method
from strokelens.attribution.catalogue import learned_methods, main, methods_where
from strokelens.attribution.configured import Configured

__all__ = ["METHODS", "Configured", "get_method", "learned_methods", "methods_where"]

if __name__ == "__main__":
    sys.exit(main())
