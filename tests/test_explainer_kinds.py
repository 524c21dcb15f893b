"""Explainer kinds as objects (`strokelens.explainers.explainer_kinds`): the learned methods' kinds,
each refusing the networks and the training it cannot take, and one instance each after a copy."""

from __future__ import annotations

import pytest

from strokelens.datasets import load_spg
from strokelens.errors import StrokelensError
from strokelens.explainers import Explainer
from strokelens.views import view_for


@pytest.fixture(scope="module")
def view(doodlenet):
    return view_for(doodlenet)


@pytest.fixture(scope="module")
def test_sketches(home, view):
    return view.prepare(load_spg("test", per_class=1, home=home))


def test_each_explainer_kind_refuses_a_network_it_cannot_use(view):
    with pytest.raises(StrokelensError, match="the class gate shapes wys masks"):
        Explainer.create(view, "fastshap", "doodlenet", class_gate=True)
    with pytest.raises(StrokelensError, match="ensembles are for fastshap explainers"):
        Explainer.create(view, "wys", "doodlenet", ensemble=2)
    with pytest.raises(StrokelensError, match="unknown explainer kind 'shap'; expected one of fastshap, wys"):
        Explainer.create(view, "shap", "doodlenet")


def test_explainer_kinds_are_the_learned_methods_and_refuse_what_they_cannot_do(view, test_sketches):
    import copy
    import pickle

    from strokelens.explainers.amortized import train_amortized
    from strokelens.explainers.explainer_kinds import EXPLAINER_KINDS, MASKS, VALUES
    from strokelens.explainers.heldout import heldout_report
    from strokelens.methods import learned_methods

    assert tuple(EXPLAINER_KINDS) == learned_methods()
    assert MASKS.gives_masks and not VALUES.gives_masks
    assert pickle.loads(pickle.dumps(MASKS)) is MASKS and copy.deepcopy(VALUES) is VALUES
    masks = Explainer.create(view, "wys", "doodlenet")
    assert masks.kind is MASKS
    with pytest.raises(StrokelensError, match="label training is for fastshap explainers"):
        train_amortized(view, masks, test_sketches[:2], None, test_sketches[2:4], None)
    with pytest.raises(StrokelensError, match="the held-out report compares Shapley estimates"):
        heldout_report(view, masks, test_sketches[:2], None)


def test_training_config_refuses_a_schedule_with_the_list():
    from strokelens.explainers import TrainConfig

    with pytest.raises(StrokelensError, match="unknown schedule 'linear'; expected one of cosine, constant"):
        TrainConfig(schedule="linear")
