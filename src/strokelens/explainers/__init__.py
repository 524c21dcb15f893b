"""Learned explainers: networks trained to explain a frozen model in one forward pass.

``wys`` (Stalder et al., NeurIPS 2022) predicts a mask per class and unit; ``fastshap`` (Jethani et
al., ICLR 2022) predicts Shapley values per class and unit. `Explainer.create` makes one for a view,
`train_explainer` trains it on unlabelled inputs, `Explainer.save`/`Explainer.load` keep it, and the
methods ``wys`` and ``fastshap`` use it like every other attribution method.
"""

from strokelens.explainers import learned  # noqa: F401  (importing registers wys and fastshap)
from strokelens.explainers.explainer import Explainer, ExplainerInfo, kinds, model_fingerprint, shipped
from strokelens.explainers.train import ExplainerTask, TrainConfig, train_explainer

__all__ = [
    "Explainer",
    "ExplainerInfo",
    "ExplainerTask",
    "TrainConfig",
    "kinds",
    "model_fingerprint",
    "shipped",
    "train_explainer",
]
