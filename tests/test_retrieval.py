"""Explained sketch retrieval: scores checked by hand, self-exclusion, explanations of matches and
their faithfulness on real sketches, the `strokelens retrieve` command and its errors, the docs."""

from __future__ import annotations

import json

import pytest
import torch

from strokelens.cli import main
from strokelens.datasets import load_qd345, load_spg
from strokelens.errors import StrokelensError
from strokelens.retrieval import (
    average_precision,
    build_gallery,
    check_method,
    deletion_curves,
    embed_sketches,
    embedding_view,
    explain_matches,
    rank_after_deletion,
    retrieval_scores,
    same_item_mask,
    search,
)

pytestmark = pytest.mark.usefixtures("one_thread")


# ----------------------------------------------------------------------------- scores by hand
SIM = torch.tensor([[0.9, 0.8, 0.7, 0.6, 0.5], [0.1, 0.9, 0.3, 0.8, 0.2]])


def test_average_precision_by_hand():
    relevant = torch.tensor([[1, 0, 1, 0, 0], [0, 0, 1, 1, 0]], dtype=torch.bool)
    ap, p2 = average_precision(SIM, relevant, k=2)
    # query 0: hits at ranks 1 and 3 -> (1/1 + 2/3) / 2; query 1 ranks items 1, 3, 2, ...: hits at 2, 3
    assert ap.tolist() == pytest.approx([(1 + 2 / 3) / 2, (1 / 2 + 2 / 3) / 2])
    assert p2.tolist() == pytest.approx([0.5, 0.5])
    # query 0's own drawing is item 0: without it the only hit is item 2, at rank 2
    exclude = torch.zeros(2, 5, dtype=torch.bool)
    exclude[0, 0] = True
    ap, p2 = average_precision(SIM, relevant, exclude, k=2)
    assert ap.tolist() == pytest.approx([1 / 2, (1 / 2 + 2 / 3) / 2])
    assert p2.tolist() == pytest.approx([0.5, 0.5])
    # a query with nothing relevant is not scored
    ap, _ = average_precision(SIM, torch.zeros(2, 5, dtype=torch.bool))
    assert torch.isnan(ap).all()


def test_retrieval_scores_per_category_by_hand():
    gallery = ["Cat", "dog", "cat", "Dog", None]  # spellings differ; None is never relevant
    scores = retrieval_scores(SIM, ["cat", "dog"], gallery, k=2)
    cat, dog = (1 + 2 / 3) / 2, 1.0  # dog: items 1 and 3 ranked first and second
    assert scores.per_category["cat"]["map"] == pytest.approx(cat)
    assert scores.per_category["dog"]["map"] == pytest.approx(dog)
    assert scores.map == pytest.approx((cat + dog) / 2)
    assert scores.precision == pytest.approx((0.5 + 1.0) / 2)
    assert retrieval_scores(SIM, ["cat", "dog"], gallery).precision == pytest.approx((2 + 2) / 20)
    with pytest.raises(StrokelensError, match="have no label"):
        retrieval_scores(SIM, ["cat", None], gallery)
    with pytest.raises(StrokelensError, match="does not match"):
        retrieval_scores(SIM, ["cat"], gallery)


# ----------------------------------------------------------------------------- real sketches
@pytest.fixture(scope="module")
def view(doodlenet):
    return embedding_view(doodlenet)


@pytest.fixture(scope="module")
def queries(home, view):
    return view.prepare(load_spg("test", per_class=2, home=home))


@pytest.fixture(scope="module")
def gallery(home, view):
    spg = load_spg("test", per_class=4, home=home)  # holds every query
    qd = load_qd345(classes=["airplane", "ant", "cat", "The Eiffel Tower"], per_class=5, home=home)
    return build_gallery(view, spg + qd)


def test_embeddings_batched_match_one_by_one(view, queries):
    whole = embed_sketches(view, queries[:6], batch_size=4)
    single = torch.cat([embed_sketches(view, [s]) for s in queries[:6]])
    assert whole.shape == (6, 512)
    assert torch.allclose(whole, single, atol=1e-5)


def test_a_query_never_matches_itself(view, queries, gallery):
    emb = embed_sketches(view, queries)
    exclude = same_item_mask(queries, gallery.sketches)
    assert exclude.sum(1).tolist() == [1] * len(queries)  # every query is in the gallery once
    own = exclude.nonzero()[:, 1]
    plain = search(emb, gallery.embeddings, k=1)
    assert (plain.indices[:, 0] == own).all()  # without exclusion each finds itself...
    assert torch.allclose(plain.similarities[:, 0], torch.ones(len(queries)), atol=1e-4)
    matches = search(emb, gallery.embeddings, k=5, exclude=exclude)
    assert not (matches.indices == own[:, None]).any()  # ...with it, never
    assert (matches.similarities[:, :-1] >= matches.similarities[:, 1:]).all()
    with pytest.raises(StrokelensError, match="no item other than the query itself"):
        search(emb[:1], gallery.embeddings[own[:1]], k=1, exclude=torch.ones(1, 1, dtype=torch.bool))


def test_explained_matches_and_their_faithfulness(view, queries, gallery):
    emb = embed_sketches(view, queries)
    exclude = same_item_mask(queries, gallery.sketches)
    top = search(emb, gallery.embeddings, k=1, exclude=exclude).indices[:, 0]
    refs = gallery.embeddings[top]
    auc, ranks = {}, {}
    for method in ("sla", "occlusion", "random"):
        expl = explain_matches(view, queries, emb, gallery, top, method, batch_size=16)
        q, g = expl.query[0], expl.gallery[0]
        assert q.scores.shape == (16, q.units.max_units) and len(expl.query) == 3
        assert g.scores.shape == (16, g.units.max_units) and len(expl.gallery) == 3
        n_query = [s.n_strokes for s in queries]
        n_match = [gallery.sketches[j].n_strokes for j in top.tolist()]
        assert [len(s) for s in expl.query_scores()] == n_query
        assert [len(s) for s in expl.gallery_scores()] == n_match
        curves = [deletion_curves(view, e, refs[i * 16 : (i + 1) * 16]) for i, e in enumerate(expl.query)]
        assert curves[0].quantity == "raw"
        # all strokes present: the similarity the search found
        full = torch.cat([c.deletion[:, 0] for c in curves])
        assert torch.allclose(full, (torch.nn.functional.cosine_similarity(emb, refs)).cpu(), atol=1e-4)
        auc[method] = float(torch.cat([c.deletion_auc for c in curves]).mean())
        ranks[method] = torch.cat(
            [
                rank_after_deletion(
                    view, e, gallery.embeddings, top[i * 16 : (i + 1) * 16], 1, exclude[i * 16 : (i + 1) * 16]
                )
                for i, e in enumerate(expl.query)
            ]
        )
    # deleting what SLA ranks highest lowers the similarity faster, and sinks the match further
    for method in ("sla", "occlusion"):
        assert auc[method] < auc["random"]
        assert float(ranks[method].nanmean()) > float(ranks["random"].nanmean())
    assert (ranks["sla"][torch.isfinite(ranks["sla"])] >= 1).all()


def test_learned_and_photo_methods_refused(view, queries, gallery):
    for method in ("wys", "fastshap"):
        with pytest.raises(StrokelensError, match="trained to predict class scores"):
            check_method(view, method)
    with pytest.raises(StrokelensError, match="needs superpixel units"):
        check_method(view, "lime-image")
    with pytest.raises(StrokelensError, match="unknown method"):
        check_method(view, "nope")
    with pytest.raises(StrokelensError, match="no option"):
        check_method(view, "ig", {"bogus": 1})
    emb = embed_sketches(view, queries[:2])
    with pytest.raises(StrokelensError, match="trained to predict class scores"):
        explain_matches(view, queries[:2], emb, gallery, [0, 1], "wys")


# ----------------------------------------------------------------------------- the command
def test_cli_writes_results_and_report(spg_dir, qd345_dir, home, tmp_path):
    out = tmp_path / "out"
    spg = str(spg_dir / "ant.ndjson.gz")
    args = ["retrieve", spg, "--gallery", spg, "--gallery", str(qd345_dir / "ant.ndjson"), "--gallery"]
    args += [str(qd345_dir / "cat.ndjson"), "--limit", "12", "--top", "5", "--explain", "3", "--method"]
    args += ["occlusion", "--out", str(out), "--home", str(home)]
    assert main(args) == 0
    records = [json.loads(line) for line in (out / "results.jsonl").read_text().splitlines()]
    assert len(records) == 12
    for r in records:
        assert len(r["gallery_ids"]) == len(r["similarities"]) == len(r["gallery_labels"]) == 5
        assert r["id"] not in r["gallery_ids"]  # never itself
        assert 0 <= r["average_precision"] <= 1
    assert [("explanation" in r) for r in records] == [True] * 3 + [False] * 9
    assert records[0]["explanation"]["method"] == "occlusion"
    report = (out / "report.html").read_text()
    assert "mAP" in report and report.count("<img") == 6  # query and match, 3 pairs


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ([], "no gallery: pass --gallery FILE"),
        (["--gallery", "SPG", "--method", "bogus"], "unknown method 'bogus'"),
        (["--gallery", "SPG", "--method", "wys"], "trained to predict class scores"),
        (["--gallery", "MISSING"], "gallery: no such file"),
        (["--gallery", "SPG", "--top", "50"], "top 50 of a gallery with only 3"),
        (["--gallery", "SPG", "--model", "stroke-transformer", "--method", "psla"], "P-SLA needs a view"),
    ],
)
def test_cli_bad_input_is_one_line_and_exit_2(spg_dir, home, tmp_path, capsys, extra, message):
    spg = str(spg_dir / "ant.ndjson.gz")
    swap = {"SPG": spg, "MISSING": str(tmp_path / "missing.ndjson")}
    args = ["retrieve", spg, *[swap.get(a, a) for a in extra], "--limit", "4", "--home", str(home)]
    assert main(args) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and message in err[0], err


# ----------------------------------------------------------------------------- docs
def test_docs_examples_run(run_doc, tmp_path):
    namespace = run_doc("docs/retrieval.md", 1)
    assert 0 <= namespace["run"].scores.map <= 1
    assert (tmp_path / "out" / "report.html").is_file()
