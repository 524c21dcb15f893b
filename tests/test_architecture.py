"""One architecture for sketches, photos and embeddings: the Units and View protocols, strict
options and shapes, the embedding view, and one evaluation for every input kind (real data); and the
package's shape: no import cycles, no module over 450 lines (the layers are `lint-imports`'s)."""

from __future__ import annotations

from pathlib import Path

import grimp
import pytest
import torch

from strokelens.attribution.base import method_options
from strokelens.datasets import load_spg
from strokelens.errors import StrokelensError
from strokelens.evaluation import evaluate
from strokelens.explain import explain
from strokelens.games import Game, class_index, class_indices
from strokelens.io.photos import load_photos
from strokelens.methods import METHODS, get_method
from strokelens.models import load_model
from strokelens.units import SketchUnits, SuperpixelUnits, Units
from strokelens.views import EmbeddingView, ImageView, RasterSketchView, VectorSketchView, View, view_for
from toy import CountUnits, LinearView

SRC = Path(__file__).resolve().parents[1] / "src" / "strokelens"
MAX_MODULE_LINES = 450


@pytest.fixture(scope="module")
def transformer(home):
    return load_model("stroke-transformer", home=home)


@pytest.fixture(scope="module")
def darknet(home):
    return load_model("darknet-tiny", home=home)


@pytest.fixture(scope="module")
def sketches(home):
    return load_spg("test", classes=["pig", "crab", "apple"], per_class=2, home=home)


@pytest.fixture(scope="module")
def photo_paths(home) -> list[Path]:
    folder = Path(home, "data", "imagenet-samples")
    return sorted(folder.glob("n0*_*.JPEG"))[:2]


def test_view_for_every_input_kind(doodlenet, transformer, darknet):
    assert isinstance(view_for(doodlenet), RasterSketchView)
    assert isinstance(view_for(transformer), VectorSketchView)
    assert isinstance(view_for(darknet), ImageView)  # photo models too
    with pytest.raises(StrokelensError, match="input_kind"):
        view_for(torch.nn.Linear(2, 2))


def test_every_unit_kind_implements_the_protocol(doodlenet, darknet, sketches, photo_paths):
    strokes = view_for(doodlenet).units_for(sketches, "stroke")
    pieces = view_for(doodlenet).units_for(sketches, "piece", pieces_per_stroke=2)
    superpixels = view_for(darknet).units_for(photo_paths, n_segments=12)
    for units, cls, kind in ((strokes, SketchUnits, "stroke"), (pieces, SketchUnits, "piece")):
        assert isinstance(units, Units) and isinstance(units, cls) and units.kind == kind
    assert isinstance(superpixels, SuperpixelUnits) and superpixels.kind == "superpixel"
    for units in (strokes, pieces, superpixels):
        n = len(units)
        assert units.unit_mask.shape == (n, units.max_units)
        assert units.unit_mask.sum(1).tolist() == units.n_units.tolist()
        sub = units.select([n - 1, 0])
        assert sub.n_units.tolist() == [int(units.n_units[n - 1]), int(units.n_units[0])]
        assert sub.item(1)["id"] == units.item(0)["id"]
        assert units.to("cpu").n_units.tolist() == units.n_units.tolist()
        assert units.unit_lengths().shape == units.unit_mask.shape
    assert torch.equal(pieces.n_units, 2 * strokes.n_units)


def test_unit_options_are_checked(doodlenet, transformer, darknet, sketches, photo_paths):
    with pytest.raises(StrokelensError, match="superpixel"):
        view_for(darknet).units_for(photo_paths, "stroke")
    with pytest.raises(StrokelensError, match="n_segments"):
        view_for(doodlenet).units_for(sketches, "stroke", n_segments=5)
    with pytest.raises(StrokelensError, match="whole strokes"):
        view_for(transformer).units_for(sketches, "piece")
    with pytest.raises(StrokelensError, match="Sketch objects"):
        view_for(doodlenet).units_for(photo_paths)


def test_unknown_method_options_name_the_valid_ones(doodlenet, sketches):
    view = view_for(doodlenet)
    with pytest.raises(StrokelensError, match=r"no option 'step'.*steps=16"):
        get_method("ig")(view).attribute(sketches[:1], step=64)
    with pytest.raises(StrokelensError, match="steps must be int"):
        get_method("ig")(view).attribute(sketches[:1], steps="64")
    with pytest.raises(StrokelensError, match="no option"):
        get_method("sla")(view).attribute(sketches[:1], n_samples=10)
    expl = get_method("ig")(view).attribute(sketches[:1], steps=4)
    assert expl.evaluations == 4  # the option given is the option used


def test_every_method_declares_keyword_only_options():
    for name, cls in METHODS.items():
        for option, param in method_options(cls).items():
            assert param.default is not param.empty, f"{name}.{option} has no default"
            assert param.annotation in ("int", "float", "str", "bool"), f"{name}.{option} untyped"


def test_game_checks_the_shape_of_every_z():
    game = Game(LinearView(torch.tensor([[1.0, 2.0, 3.0]])), CountUnits([3]), target=0)
    assert game(torch.ones(1, 3)).shape == (1,)
    with pytest.raises(StrokelensError, match=r"\(1, 3\).*game\.value"):
        game(torch.ones(5, 3))  # the call Captum makes without rows
    with pytest.raises(StrokelensError, match="shape"):
        game(torch.ones(1, 4))
    with pytest.raises(StrokelensError, match="floating"):
        game(torch.ones(1, 3, dtype=torch.long))
    rows = torch.zeros(5, dtype=torch.long)
    assert game.value(torch.ones(5, 3), rows).shape == (5,)  # with rows, any number of rows
    with pytest.raises(StrokelensError, match="index"):
        game.value(torch.ones(2, 3), torch.tensor([0, 1]))
    with pytest.raises(StrokelensError, match="valid"):
        game(torch.ones(1, 2, 3), torch.ones(2, 1, dtype=torch.bool))


def test_callable_targets_see_the_score_and_curves_say_what_they_measure(doodlenet, sketches):
    view = view_for(doodlenet)
    units = view.units_for(view.prepare(sketches[:2]))
    picked = view.game(units).target

    def target_fn(outputs):
        return outputs.gather(1, picked[:, None])[:, 0]

    by_index = view.game(units, picked, score="prob")
    by_callable = view.game(units, target_fn, score="prob")
    torch.testing.assert_close(by_callable(by_callable.full()), by_index(by_index.full()))
    assert bool((by_callable(by_callable.full()) <= 1).all())  # probabilities, not logits


def test_embedding_view_scores_similarity_to_a_reference(doodlenet, transformer, sketches):
    for model in (doodlenet, transformer):
        inner = view_for(model)
        view = EmbeddingView(inner)
        units = view.units_for(view.prepare(sketches))
        game = view.game(units)
        torch.testing.assert_close(game(game.full()).detach(), torch.ones(len(units)), atol=1e-4, rtol=0)
        # similarity of every sketch to the first one: lower for other sketches, 1 for itself
        reference = view.embed(units)[0]
        other = view.game(units, reference=reference)
        sims = other(other.full()).detach()
        assert sims[0] == pytest.approx(1.0, abs=1e-4) and bool((sims[1:] < 0.9999).all())
        expl = get_method("occlusion")(view).attribute(units)
        assert expl.scores.shape == (len(units), units.max_units) and torch.isfinite(expl.scores).all()
        with pytest.raises(StrokelensError, match="not logits"):
            view.game(units, score="prob")
        with pytest.raises(StrokelensError, match="reference"):
            view.game(units, reference=torch.ones(2, 3))
    dim = EmbeddingView(view_for(doodlenet)).embed(units).shape[1]
    assert dim == 512  # DoodleNet's penultimate layer


def _l1_similarity(emb: torch.Tensor, ref: torch.Tensor) -> torch.Tensor:
    return -(emb - ref).abs().sum(1)


def test_embedding_view_similarities_are_what_their_names_say(doodlenet, sketches):
    import pickle

    from strokelens.views.embedding import COSINE, SIMILARITIES, Similarity

    inner = view_for(doodlenet)
    units = inner.units_for(inner.prepare(sketches[:3]))
    emb = EmbeddingView(inner).embed(units)
    ref = emb[0]
    expected = {
        "cosine": torch.nn.functional.cosine_similarity(emb, ref[None], dim=1),
        "dot": emb @ ref,
        "neg-l2": -(emb - ref).norm(dim=1),
    }
    assert set(expected) == set(SIMILARITIES)
    for name, want in expected.items():
        game = EmbeddingView(inner, similarity=name).game(units, reference=ref)
        torch.testing.assert_close(game(game.full()).detach(), want, atol=1e-3, rtol=1e-4)
    assert pickle.loads(pickle.dumps(COSINE)) is COSINE
    own = Similarity("l1", _l1_similarity)  # a user's own travels as itself
    assert pickle.loads(pickle.dumps(own)) == own
    from strokelens.retrieval.gallery import embedding_view

    with pytest.raises(
        StrokelensError, match="retrieval ranks by cosine similarity; this embedding view uses 'dot'"
    ):
        embedding_view(EmbeddingView(inner, similarity="dot"))
    with pytest.raises(StrokelensError, match="unknown similarity 'l1'; expected one of cosine, dot, neg-l2"):
        EmbeddingView(inner, similarity="l1")


def test_embedding_view_faithfulness_curve_is_similarity(doodlenet, sketches):
    view = EmbeddingView(view_for(doodlenet))
    run = explain(view, view.prepare(sketches), "sla", batch_size=len(sketches))
    curves = run.curves[0]
    assert curves.quantity == "raw"
    assert curves.deletion[:, 0] == pytest.approx(1.0, abs=1e-4)  # nothing deleted: itself


def test_evaluate_never_drops_batch_mates_figures(doodlenet, darknet, sketches, photo_paths):
    """A large input gets no Shapley reference, but the others keep theirs (no NaN for them)."""
    view = view_for(doodlenet)
    prepared = view.prepare(sketches)
    counts = [s.n_strokes for s in prepared]
    limit = sorted(counts)[len(counts) // 2]
    reports = evaluate(
        view, prepared, ["sla", "shapley"], batch_size=len(prepared), max_reference_units=limit
    )
    spearman = reports["sla"].values["spearman_vs_shapley"]
    small = [c <= limit for c in counts]
    assert [v == v for v in spearman] == small  # NaN exactly where the sketch is over the limit
    assert len(reports["shapley"].values["deletion_auc"]) == sum(small)
    # photos share the same function
    photo_view = view_for(darknet)
    reports = evaluate(photo_view, photo_paths, ["gws"], unit_options={"n_segments": 8}, batch_size=2)
    assert reports["gws"].values["evaluations_per_image"] == [get_method("gws").evaluations(8)] * 2


def test_psla_and_lime_image_ask_the_view(transformer, doodlenet, sketches):
    with pytest.raises(StrokelensError, match="draws the sketch's own points"):
        get_method("psla")(view_for(transformer)).attribute(sketches[:1], units="stroke")
    with pytest.raises(StrokelensError, match="superpixel"):
        get_method("lime-image")(view_for(doodlenet)).attribute(sketches[:1])


def test_views_share_one_protocol(doodlenet, transformer, darknet):
    for model in (doodlenet, transformer, darknet):
        view = view_for(model)
        assert isinstance(view, View) and list(view.class_names) == list(model.class_names)
    assert RasterSketchView.takes_points and RasterSketchView.sketch_points
    assert VectorSketchView.takes_points and not VectorSketchView.sketch_points
    assert not ImageView.takes_points


def test_one_class_lookup(doodlenet):
    names = doodlenet.class_names
    assert class_index("Traffic_Light", names) == class_index(" traffic  light ", names)
    assert class_index("the eiffel tower", names) == list(names).index("The Eiffel Tower")
    with pytest.raises(StrokelensError, match="unknown class"):
        class_index("no such thing", names)
    assert class_indices(["Traffic_Light", 3, "the eiffel tower"], names) == [
        class_index("traffic light", names),
        3,
        class_index("The Eiffel Tower", names),
    ]
    with pytest.raises(StrokelensError, match="unknown class 'nope', 'nada' for the teacher"):
        class_indices(["cat", "nope", "nada"], names, owner="the teacher")
    with pytest.raises(StrokelensError, match=r"outside 0\.\.344"):
        class_indices([345], names)


def test_photos_through_any_path_size(darknet, photo_paths):
    photos = load_photos(photo_paths)
    view = ImageView(darknet)
    from_paths = view.make_units(photo_paths, n_segments=10)
    from_photos = view.make_units(photos, n_segments=10)
    assert torch.equal(from_paths.labels, from_photos.labels)


def _cycles(graph: grimp.ImportGraph) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    for root in sorted(graph.modules):
        if root in index:
            continue
        work = [(root, iter(sorted(graph.find_modules_directly_imported_by(root))))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph.find_modules_directly_imported_by(child)))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return found


def test_no_import_cycles():
    """No two modules need each other, counting imports inside functions and under TYPE_CHECKING."""
    graph = grimp.build_graph("strokelens", exclude_type_checking_imports=False)
    assert _cycles(graph) == []


def test_cycle_finder_finds_a_cycle():
    graph = grimp.ImportGraph()
    for a, b in (("p.a", "p.b"), ("p.b", "p.c"), ("p.c", "p.a"), ("p.c", "p.d")):
        graph.add_import(importer=a, imported=b)
    assert _cycles(graph) == [["p.a", "p.b", "p.c"]]


def test_no_module_is_over_450_lines():
    """The package's modules, and the benchmarks', scripts' and tests' beside it."""
    root = SRC.parents[1]
    paths = [p for folder in ("src", "benchmarks", "scripts", "tests") for p in (root / folder).rglob("*.py")]
    long = {
        str(path.relative_to(root)): n
        for path in paths
        if (n := len(path.read_text(encoding="utf-8").splitlines())) > MAX_MODULE_LINES
    }
    assert len(paths) > 100 and long == {}
