"""What an explanation's JSON record carries besides its scores: the settings and per-input extras a
method reports (a learned explainer's uncertainty and fallback flags, gws's pixel technique)."""

from __future__ import annotations

import json

import pytest

from strokelens.datasets import load_spg
from strokelens.methods import get_method
from strokelens.views import view_for


@pytest.fixture(scope="module")
def view(doodlenet):
    return view_for(doodlenet)


def test_learned_explainer_records_carry_each_drawings_uncertainty_and_fallback(home, view):
    units = view.units_for(load_spg("test", home=home)[:6], kind="stroke")
    expl = get_method("fastshap")(view).attribute(units, fallback=0.5)
    records = [json.loads(json.dumps(r)) for r in expl.records()]  # JSON-ready
    doubt = expl.extras["uncertainty"]
    assert [r["uncertainty"] for r in records] == pytest.approx(doubt.tolist(), abs=1e-6)
    assert [r["fallback"] for r in records] == expl.extras["fallback"].tolist()
    assert sum(r["fallback"] for r in records) == 3


def test_point_scores_stay_out_of_records_and_record_keys_are_never_overwritten(home, view):
    units = view.units_for(load_spg("test", home=home)[:2], kind="stroke")
    expl = get_method("psla")(view).attribute(units)
    expl.extras["scores"] = "not these"
    record = expl.record(0)
    assert "point_scores" not in record and isinstance(record["scores"], list)
