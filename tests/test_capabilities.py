"""Methods carry their capabilities: no list of method names outside `strokelens.attribution`, the
family attributes hold, the cost model is what a method really spends, and a configured method
refuses options it does not have."""

from __future__ import annotations

import ast
import json
from pathlib import Path

import pytest
import torch

from strokelens import StrokelensError, defaults
from strokelens.attribution import (
    BaselineAttribution,
    GradientAttribution,
    LearnedAttribution,
    PerturbationAttribution,
)
from strokelens.attribution.base import method_options
from strokelens.attribution.catalogue import CATALOGUE_FILE, catalogue, catalogue_text, main
from strokelens.attribution.cost import Cost
from strokelens.datasets import load_spg
from strokelens.methods import METHODS, Configured, get_method, learned_methods, methods_where
from strokelens.sketch import SketchBatch
from strokelens.units import make_units
from strokelens.views import ImageView, RasterSketchView, preprocess
from toy import CountUnits, QuadraticView

SRC = Path(__file__).resolve().parents[1] / "src" / "strokelens"
#: Where method names may be listed: the methods' own package, and the learned methods' module.
OWN = ("attribution/", "explainers/learned.py")
#: Literal collections that name methods but are not lists of methods, and why.
NOT_METHOD_LISTS = {
    # the geometry attack's piece selections: P-SLA's top pieces, random pieces or all of them
    ("attacks/geometry.py", frozenset({"psla", "random"})),
}


def method_name_lists(path: Path, names: set[str]) -> list[tuple[int, list[str]]]:
    """Literal lists/tuples/sets with two or more method names in ``path``, and comma-joined
    strings of two or more (``"sla,ig"``)."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.List | ast.Tuple | ast.Set):
            hit = [e.value for e in node.elts if isinstance(e, ast.Constant) and e.value in names]
        elif isinstance(node, ast.Constant) and isinstance(node.value, str) and "," in node.value:
            hit = [p.strip() for p in node.value.split(",") if p.strip() in names]
        else:
            continue
        if len(hit) >= 2:
            found.append((node.lineno, hit))
    return found


def test_no_list_of_method_names_outside_attribution():
    """Ask the methods (`methods_where`, `learned_methods`, a class attribute) instead."""
    names = set(METHODS)
    offenders = []
    for path in sorted(SRC.rglob("*.py")):
        rel = path.relative_to(SRC).as_posix()
        if rel.startswith(OWN):
            continue
        for line, hit in method_name_lists(path, names):
            if (rel, frozenset(hit)) not in NOT_METHOD_LISTS:
                offenders.append(f"{rel}:{line}: {hit}")
    assert not offenders, "method names listed outside attribution/:\n" + "\n".join(offenders)


def test_the_scan_finds_a_list(tmp_path):
    bad = tmp_path / "bad.py"
    bad.write_text('A = ("sla", "ig")\nB = ["x", "occlusion"]\nC = "sla,ig,occlusion"\n')
    assert [line for line, _ in method_name_lists(bad, set(METHODS))] == [1, 3]


def test_families_set_what_their_members_share():
    for name, cls in METHODS.items():
        assert cls.family, name
        assert cls.name == name
        if issubclass(cls, GradientAttribution):
            assert cls.needs_gradients and not cls.learned and not cls.model_free
        if issubclass(cls, PerturbationAttribution):
            assert cls.scores_coalitions and not cls.needs_gradients
        if issubclass(cls, LearnedAttribution):
            assert cls.learned and not cls.callable_targets and "weights" in method_options(cls)
        if issubclass(cls, BaselineAttribution):
            assert cls.model_free and cls.evaluations(12) == 0
    assert learned_methods() == methods_where(family="learned") == ("fastshap", "wys")
    assert methods_where(model_free=True) == ("random", "length", "order")
    assert methods_where(reference=True) == ("shapley",)
    assert get_method("shapley").max_units == 16
    assert methods_where(needs_sketch_points=True) == ("psla",)
    assert set(methods_where(units="superpixel")) >= {"gws", "swag", "lime-image", "occlusion"}
    assert "gws" not in methods_where(units="stroke")


def test_queries_give_the_orders_the_commands_used():
    """`evaluate`'s defaults, the page's methods and the demo's are what they were as name lists."""
    from strokelens.cli.demo import demo_methods
    from strokelens.cli.explain import DEFAULT_EVALUATE
    from strokelens.kinds import PHOTO_FILES, SKETCH_FILES
    from strokelens.serve.handlers import sketch_methods

    assert DEFAULT_EVALUATE == {
        SKETCH_FILES: "sla,ig,occlusion,fastshap,wys,lime,kernelshap,shapley,random,length",
        PHOTO_FILES: "gws,gws-ig,occlusion,fastshap,wys,lime,kernelshap,random",
    }
    assert sketch_methods() == ("fastshap", "wys", "sla", "psla", "ig", "occlusion", "shapley")
    assert demo_methods("occlusion") == ("occlusion", "sla", "psla", "ig", "fastshap", "wys", "shapley")
    assert methods_where(scores_coalitions=True, interactive=True) == ("occlusion", "shapley")


def test_unknown_capability_is_an_error_that_names_it():
    with pytest.raises(StrokelensError, match="'fast'"):
        methods_where(fast=True)


def test_cost_model_text_and_values():
    assert str(get_method("occlusion").cost) == "K + 1" and get_method("occlusion").evaluations(7) == 8
    assert str(get_method("shapley").cost) == "2^K" and get_method("shapley").evaluations(4) == 16
    assert str(get_method("ig").cost) == "steps" and get_method("ig").evaluations(9, steps=32) == 32
    assert get_method("gws").evaluations(50) == ImageView.gws_default.samples == 14  # measured default
    assert get_method("gws").evaluations(50, pixel="ig-black", steps=8) == 8
    assert get_method("gws").evaluations(50, pixel="smoothgrad", samples=4) == 4
    assert get_method("sla-variant").evaluations(3, presence="full+half") == 2
    assert str(Cost()) == "0" and Cost(2.0, 3.0)(4) == 14
    with pytest.raises(StrokelensError, match="no option 'stepz'"):
        get_method("ig").evaluations(4, stepz=3)


def test_cost_model_is_what_methods_record_on_a_closed_form_game():
    view = QuadraticView(torch.tensor([[1.0, -2.0, 0.5, 3.0, 1.0], [0.2, 0.1, 0.3, 0.4, 0.5]]))
    units = CountUnits([5, 5])
    checked = []
    for name in methods_where(units="stroke", learned=False, needs_sketch_points=False):
        opts = {"n_samples": 20} if "n_samples" in method_options(get_method(name)) else {}
        expl = get_method(name)(view).attribute(units, target=0, **opts)
        assert expl.evaluations == get_method(name).evaluations(5, **opts), name
        checked.append(name)
    assert {"sla", "ig", "occlusion", "shapley", "lime", "kernelshap", "random"} <= set(checked)


def test_cost_model_of_psla_and_learned_methods_on_doodlenet(home, doodlenet):
    raw = load_spg("test", classes=["pig", "crab"], per_class=2, home=home)
    units = make_units(SketchBatch.from_sketches(preprocess(raw, doodlenet)), "stroke")
    view = RasterSketchView(doodlenet)
    for name in ("psla", *learned_methods()):
        method = get_method(name)(view)
        expl = method.attribute(units)
        assert expl.evaluations == method.evaluations_on("stroke", int(units.max_units)), name
    # DoodleNet's shipped fastshap reads the model's features: one pass a drawing, where the method's
    # own cost model (no weights seen) says none; its occlusion fallback adds K for its share
    fastshap = get_method("fastshap")(view)
    assert fastshap.evaluations_on("stroke", 6) == 1.0 and get_method("fastshap").evaluations(6) == 0.0
    assert fastshap.evaluations_on("stroke", 6, fallback=0.5) == 4.0


def test_configured_is_a_value_with_checked_options():
    ig = Configured("ig", {"steps": 32})
    assert ig == Configured.of("ig", steps=32) == Configured(get_method("ig"), {"steps": 32})
    assert hash(ig) == hash(Configured.of("ig", steps=32)) and ig != Configured("ig")
    assert ig.name == "ig" and dict(ig.options) == {"steps": 32} and ig.evaluations(5) == 32
    assert repr(ig) == "Configured(ig, steps=32)"
    with pytest.raises(TypeError):
        ig.options["steps"] = 1  # type: ignore[index]
    with pytest.raises(StrokelensError, match="method 'ig' has no option 'stepz'; its options: steps=16"):
        Configured("ig", {"stepz": 3})
    with pytest.raises(StrokelensError, match="option steps must be int"):
        Configured("ig", {"steps": "many"})
    with pytest.raises(StrokelensError, match="unknown method 'nope'"):
        Configured("nope")


def test_configured_attributes_with_its_options():
    view = QuadraticView(torch.tensor([[1.0, -2.0, 0.5]]))
    expl = Configured.of("ig", steps=4).attribute(view, CountUnits([3]), target=0)
    assert expl.method == "ig" and expl.evaluations == 4


def test_catalogue_json_is_fresh():
    """Stale after a capability changed: run `python -m strokelens.methods --write`."""
    assert CATALOGUE_FILE.read_text(encoding="utf-8") == catalogue_text()
    assert main(["--check"]) == 0
    assert [m["name"] for m in catalogue()["methods"]] == list(methods_where())


def test_defaults_read_the_catalogue():
    """`strokelens.defaults` runs without PyTorch, so it reads the catalogue, not the classes."""
    data = json.loads(CATALOGUE_FILE.read_text(encoding="utf-8"))["methods"]
    assert {m["name"] for m in data} == set(METHODS)
    assert learned_methods() == defaults.LEARNED
    assert methods_where(model_free=True) == defaults.BASELINES
    assert methods_where(reference=True) == defaults.REFERENCES
    assert methods_where(model_free=False, reference=False) == defaults.METHODS
