"""Learned explainers: the objectives, training, files, the shipped weights and the methods."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from click.testing import CliRunner

from strokelens.cli import main
from strokelens.cli.app import app
from strokelens.datasets import load_spg, photo_split
from strokelens.errors import StrokelensError
from strokelens.explainers import Explainer, TrainConfig, model_fingerprint, train_explainer
from strokelens.explainers.objectives import (
    area_loss,
    efficient,
    label_ranking,
    shapley_kernel_coalitions,
    soft_deletion,
)
from strokelens.io.photos import load_photos
from strokelens.methods import get_method
from strokelens.metrics import agreement, randomized_model
from strokelens.models import load_model
from strokelens.views import EmbeddingView, view_for


@pytest.fixture(scope="module")
def view(doodlenet):
    return view_for(doodlenet)


@pytest.fixture(scope="module")
def test_sketches(home, view):
    return view.prepare(load_spg("test", per_class=2, home=home))


# ----------------------------------------------------------------------------- objectives
def test_kernel_coalitions_pair_with_complements():
    n = torch.tensor([1, 2, 5, 9])
    z = shapley_kernel_coalitions(n, 9, pairs=64, generator=torch.Generator().manual_seed(0))
    assert z.shape == (4, 128, 9)
    exists = torch.arange(9)[None] < n[:, None]
    assert not (z.bool() & ~exists[:, None]).any()  # padding never in a coalition
    first, second = z[:, 0::2], z[:, 1::2]
    assert torch.equal(first + second, exists[:, None].float().expand_as(first))
    sizes = first.sum(-1)
    assert (sizes[1:] >= 1).all() and (sizes[1:] <= (n[1:, None] - 1)).all()  # never empty or full
    assert torch.equal(first[0], torch.ones_like(first[0][:, :1]) * exists[0].float())  # one unit: full
    # the Shapley kernel favours the smallest and largest coalitions: sizes 1 and 8 beat 4 for n = 9
    counts = torch.bincount(sizes[3].long(), minlength=9)
    assert counts[1] + counts[8] > counts[4] + counts[5]


def test_efficient_values_sum_to_the_total():
    values = torch.randn(3, 4, 5)
    mask = torch.tensor([[1, 1, 1, 1], [1, 1, 0, 0], [1, 0, 0, 0]]).bool()
    total = torch.randn(3, 5)
    out = efficient(values, mask, total)
    assert torch.allclose(out.sum(1), total, atol=1e-5)
    assert (out[~mask] == 0).all()


def test_area_loss_bounds():
    mask = torch.ones(1, 10, dtype=torch.bool)
    within = torch.tensor([[1.0, 1.0, 1.0] + [0.0] * 7])  # 30% on, the largest value is 1
    assert float(area_loss(within, mask, 0.05, 0.3)) == 0.0
    everything = torch.ones(1, 10)
    assert float(area_loss(everything, mask, 0.05, 0.3)) == pytest.approx(0.7)
    nothing = torch.zeros(1, 10)
    assert float(area_loss(nothing, mask, 0.05, 0.3)) == pytest.approx(0.1)


def test_label_ranking_counts_inverted_pairs_by_their_label_gap():
    labels = torch.tensor([[3.0, 1.0, 0.0, 0.0], [1.0, 1.0, 0.0, 0.0]])
    mask = torch.tensor([[True, True, True, False], [True, True, False, False]])
    agreeing = torch.tensor([[30.0, 10.0, 0.0, 99.0], [5.0, 0.0, 0.0, 0.0]])
    # row 2 has one unit per label value but both labelled units tie: no pair, so it is left out
    assert float(label_ranking(agreeing, labels, mask)) < 1e-4
    inverted = torch.tensor([[0.0, 10.0, 30.0, 99.0], [5.0, 0.0, 0.0, 0.0]])
    # pairs (0,1) gap 2 inverted by 10, (0,2) gap 3 by 30, (1,2) gap 1 by 20: weights 2/6, 3/6, 1/6
    expected = (2 * 10 + 3 * 30 + 1 * 20) / 6
    assert float(label_ranking(inverted, labels, mask)) == pytest.approx(expected, rel=1e-4)
    padding_high = torch.tensor([[30.0, 10.0, 0.0, 1e3], [5.0, 0.0, 0.0, 0.0]])  # unit 4 is padding
    assert float(label_ranking(padding_high, labels, mask)) < 1e-4
    assert float(label_ranking(agreeing, torch.zeros(2, 4), mask)) == 0.0  # no labelled pair at all


def test_wys_takes_labels_for_its_ranking_term_and_only_then(home, view):
    from strokelens.explainers.labels import exact_labels
    from strokelens.explainers.objectives import WysWeights

    train = view.prepare(load_spg("train", per_class=1, home=home)[:8])
    labels = exact_labels(view, train, "stroke", "logit", 8)
    explainer = Explainer.create(view, "wys", "doodlenet", d_model=16, n_layers=1, d_ff=16)
    quick = {"epochs": 1, "batch_size": 8}
    with pytest.raises(StrokelensError, match="ranking term"):
        train_explainer(view, explainer, train, train, TrainConfig(**quick), False, labels, labels)
    ranked = TrainConfig(**quick, wys=WysWeights(ranking=1.0))
    with pytest.raises(StrokelensError, match="ranking term"):
        train_explainer(view, explainer, train, train, ranked, False)
    record = train_explainer(view, explainer, train, train, ranked, False, labels, labels)
    assert record.epochs_run == 1 and record.config["wys"]["ranking"] == 1.0
    photo_view = view_for(load_model("darknet-tiny"))
    photos = load_photos(photo_split("train", home)[:1])
    on_photos = Explainer.create(photo_view, "wys", "darknet-tiny")
    with pytest.raises(StrokelensError, match="photos get new superpixels each epoch"):
        train_explainer(photo_view, on_photos, photos, photos, ranked, False, labels, labels)


# ----------------------------------------------------------------------------- training and files
def test_soft_deletion_is_a_point_of_the_deletion_curve_when_the_ranking_is_hard(view, test_sketches):
    from strokelens.metrics import deletion_insertion

    units = view.units_for(test_sketches[:12], "stroke")
    game = view.game(units, "auto")
    scores = torch.randn(game.batch_size, game.max_units, generator=torch.Generator().manual_seed(3))
    curve = deletion_insertion(game, scores).deletion  # (B, K + 1): step j = top j units removed
    rows = torch.nonzero(game.n_units >= 2)[:, 0]
    draw = torch.rand(len(rows), generator=torch.Generator().manual_seed(7))
    j = (draw * (game.n_units[rows] - 1)).long().clamp_max(game.n_units[rows] - 2) + 1
    expected = curve[rows, j].mean()
    hard = soft_deletion(game, scores * 1e4, torch.Generator().manual_seed(7), draws=1)
    assert float(hard) == pytest.approx(float(expected), abs=1e-4)


def test_training_lowers_the_fastshap_loss_and_round_trips(home, view, tmp_path):
    train = view.prepare(load_spg("train", per_class=6, home=home))
    val = view.prepare(load_spg("val", per_class=2, home=home))
    explainer = Explainer.create(view, "fastshap", "doodlenet", d_model=32, n_layers=1, d_ff=64)
    record = train_explainer(
        view, explainer, train, val, TrainConfig(epochs=4, batch_size=16, lr=3e-3), progress=False
    )
    assert record.epochs_run >= 2 and len(record.scores) == record.epochs_run
    assert min(record.scores[1:]) < record.scores[0]  # it learns something in a few epochs
    assert explainer.null_outputs is not None and explainer.null_outputs.shape == (345,)
    explainer.save(tmp_path, "mine")
    meta = json.loads((tmp_path / "mine.json").read_text())
    assert meta["kind"] == "fastshap" and meta["fingerprint"] == model_fingerprint(view.model)
    expl = get_method("fastshap")(view).attribute(val[:6], weights=str(tmp_path / "mine"))
    again = Explainer.load(tmp_path / "mine.safetensors", view)
    game = view.game(expl.units, expl.target)
    assert torch.allclose(again.scores(game).cpu(), expl.scores, atol=1e-5)
    assert expl.evaluations == 0


def test_an_explainer_refuses_another_model(view, tmp_path):
    explainer = Explainer.create(view, "wys", "doodlenet", d_model=16, n_layers=1, d_ff=16)
    explainer.save(tmp_path, "w")
    other = view_for(randomized_model(view.model))
    with pytest.raises(StrokelensError, match="trained for the model 'doodlenet'"):
        Explainer.load(tmp_path / "w", other)
    with pytest.raises(StrokelensError, match="missing explainer file"):
        Explainer.load(tmp_path / "nothing", view)
    with pytest.raises(StrokelensError, match="unknown explainer kind"):
        Explainer.create(view, "gradcam", "doodlenet")
    (tmp_path / "w.json").write_text('{"kind": "wys", "surprise": 1}')
    with pytest.raises(StrokelensError, match=r"not an explainer description.*surprise"):
        Explainer.load(tmp_path / "w", view)
    (tmp_path / "w.json").write_text("{not json")
    with pytest.raises(StrokelensError, match="not an explainer description"):
        Explainer.load(tmp_path / "w", view)


# ----------------------------------------------------------------------------- shipped weights
def _median_spearman_vs_shapley(view, sketches):
    expl = get_method("fastshap")(view).attribute(sketches)
    exact = get_method("shapley")(view).attribute(expl.units, target=expl.target)
    return expl, np.nanmedian(agreement(expl.scores, exact.scores, expl.units.n_units.cpu())["spearman"])


def test_shipped_fastshap_is_efficient_one_pass_and_close_to_shapley(view, test_sketches):
    small = [s for s in test_sketches if 2 <= s.n_strokes <= 10][:24]
    expl, rho = _median_spearman_vs_shapley(view, small)
    assert expl.evaluations == 1  # a drawing: DoodleNet's explainer reads the model's features once
    game = view.game(expl.units, expl.target)
    with torch.no_grad():
        gap = game(game.full()) - game(torch.zeros_like(game.full()))
    assert torch.allclose(expl.scores.sum(1), gap.cpu(), atol=1e-3)  # efficiency, in logit space
    assert rho > 0.75  # the benchmark measures it on the whole test split


def test_shipped_fastshap_holds_on_other_drawers(home, view):
    """quickdraw-345x25's test drawings were never trained on (the old geometry-only explainer: 0.54
    median Spearman on 150 of them, below stroke length's 0.60)."""
    from strokelens.recipe.fit import spread
    from strokelens.training.explainer_data import qd345_split

    drawings = qd345_split("test", home=home)
    chosen = [drawings[i] for i in spread(len(drawings), 40)]
    small = [s for s in view.prepare(chosen) if 2 <= s.n_strokes <= 9][:24]
    _, rho = _median_spearman_vs_shapley(view, small)
    assert rho > 0.7


def test_shipped_wys_masks_beat_random_on_deletion(view, test_sketches):
    from strokelens.metrics import deletion_insertion

    units = view.units_for(test_sketches[:32], "stroke")
    wys = get_method("wys")(view).attribute(units)
    rnd = get_method("random")(view).attribute(units, target=wys.target)
    game = view.game(units, wys.target)
    assert wys.evaluations == 0
    auc_wys = deletion_insertion(game, wys.scores).deletion_auc.mean()
    auc_rnd = deletion_insertion(game, rnd.scores).deletion_auc.mean()
    assert auc_wys < auc_rnd


def test_learned_methods_refuse_what_they_were_not_trained_for(view, test_sketches):
    with pytest.raises(StrokelensError, match="no shipped fastshap explainer for this model and piece units"):
        get_method("fastshap")(view).attribute(test_sketches[:2], units="piece")
    with pytest.raises(StrokelensError, match="estimates Shapley values of 'logit'"):
        get_method("fastshap")(view).attribute(test_sketches[:2], score="prob")
    with pytest.raises(StrokelensError, match="class targets"):
        get_method("wys")(view).attribute(test_sketches[:2], target=lambda out: out[:, 0])
    with pytest.raises(StrokelensError, match="no shipped fastshap explainer"):
        get_method("fastshap")(view_for(randomized_model(view.model))).attribute(test_sketches[:2])
    for kind in ("fastshap", "wys"):  # the same model, but a similarity is not a class score
        with pytest.raises(StrokelensError, match="an embedding similarity"):
            get_method(kind)(EmbeddingView(view)).attribute(test_sketches[:2])


def test_shipped_photo_fastshap_counts_its_passes(home):
    model = load_model("darknet-tiny", home=home)
    photo_view = view_for(model)
    photos = load_photos(photo_split("test", home)[:2])
    units = photo_view.units_for(photos, n_segments=12)
    expl = get_method("fastshap")(photo_view).attribute(units)
    assert expl.evaluations == 2  # the frozen feature pass and the empty photo
    game = photo_view.game(units, expl.target)
    with torch.no_grad():
        gap = game(game.full()) - game(torch.zeros_like(game.full()))
    assert torch.allclose(expl.scores.sum(1), gap.cpu(), atol=1e-3)


def test_photo_explainer_starts_as_the_class_activation_map(home):
    model = load_model("darknet-tiny", home=home)
    photo_view = view_for(model)
    units = photo_view.units_for(load_photos(photo_split("train", home)[:2]), n_segments=20)
    explainer = Explainer.create(photo_view, "fastshap", "darknet-tiny")
    with torch.no_grad():
        shares = explainer.net(units)
        logits = model(units.images)
    assert torch.allclose(shares.sum(1), logits, atol=1e-3)


def test_photo_explainer_subtracting_the_empty_photo_starts_efficient(home):
    """With ``subtract_empty`` the shares at initialisation sum to v(N) - v(empty) on their own, and the
    empty photo's feature pass gives v(empty): two evaluations, as without it."""
    from strokelens.explainers.explainer import empty_outputs

    photo_view = view_for(load_model("darknet-tiny", home=home))
    units = photo_view.units_for(load_photos(photo_split("train", home)[:2]), n_segments=20)
    explainer = Explainer.create(photo_view, "fastshap", "darknet-tiny", subtract_empty=True)
    game = photo_view.game(units, "auto")
    with torch.no_grad():
        raw, null = explainer.raw_members(game)
        empty = empty_outputs(game)
    assert torch.allclose(null, empty, atol=1e-4)
    assert torch.allclose(raw[0].sum(1), game.full_outputs - empty, atol=1e-3)
    assert explainer.evaluations == 2
    with pytest.raises(StrokelensError, match="give the empty photos"):
        explainer.net(units)
    wys = Explainer.create(photo_view, "wys", "darknet-tiny", subtract_empty=True)
    before = game.evaluations
    wys.explain(game)
    assert game.evaluations - before == 2 * len(units) == wys.evaluations * len(units)


def test_class_gate_scales_each_class_mask_odds_by_the_model_probability(view, test_sketches):
    """With the class gate a wys mask's logit is the net's plus the model's log-probability of that
    class, read from the game's full outputs at no evaluation; so, untrained, the predicted class keeps
    several times the mask the other classes get. Only wys masks have it."""
    torch.manual_seed(0)
    gated = Explainer.create(view, "wys", "doodlenet", class_gate=True)
    gated.net.eval()  # no dropout: two passes agree
    game = view.game(view.units_for(test_sketches[:8], "stroke"), "auto")
    with torch.no_grad():
        out = gated.unit_outputs(game)
        raw = gated.net(game.units)
    log_p = game.full_outputs.log_softmax(-1)
    assert torch.allclose(out, raw + log_p[:, None, :], atol=1e-5)
    mask = game.unit_mask[..., None].float()
    mass = (torch.sigmoid(out) * mask).sum(1) / mask.sum(1)
    own = mass.gather(1, game.target[:, None])[:, 0]
    assert own.mean() > 2 * (mass.sum(1) - own).mean() / (mass.shape[1] - 1)
    before = game.evaluations
    gated.explain(game)
    assert game.evaluations == before and gated.evaluations == 0


# ----------------------------------------------------------------------------- command line
def test_cli_trains_an_explainer_and_explains_with_it(home, tmp_path, capsys):
    runner = CliRunner()
    out = tmp_path / "expl"
    result = runner.invoke(
        app,
        [
            "train",
            "explainer",
            "--model",
            "stroke-transformer",
            "--kind",
            "wys",
            "--limit",
            "40",
            "--epochs",
            "1",
            "--entropy-weight",
            "2",
            "--out",
            str(out),
            "--quiet",
            "--home",
            str(home),
        ],
    )
    assert result.exit_code == 0, result.output
    summary = json.loads(result.output.strip().splitlines()[-1])
    assert summary["epochs_run"] == 1
    record = json.loads((out / "training.json").read_text())
    assert record["data"] == ["quickdraw-spg"] and record["n_train"] == 40
    assert record["config"]["wys"]["entropy"] == 2.0
    assert json.loads((out / "explainer.json").read_text())["net_config"]["class_gate"] is True  # default
    tuned = tmp_path / "tuned"
    base = ["train", "explainer", "--model", "stroke-transformer", "--limit", "40", "--epochs", "1"]
    tail = ["--quiet", "--home", str(home)]
    args = [*base, "--kind", "wys", "--init", str(out), "--deletion-weight", "5", "--out", str(tuned)]
    result = runner.invoke(app, [*args, *tail])
    assert result.exit_code == 0, result.output
    record = json.loads((tuned / "training.json").read_text())
    assert record["config"]["wys"]["deletion"] == 5.0
    assert record["fine_tuned_from"]["weights"] == str(out)  # with the record of how that was trained
    assert record["fine_tuned_from"]["training"]["config"]["wys"]["entropy"] == 2.0
    before = Explainer.load(out, view_for(load_model("stroke-transformer"))).net.state_dict()
    after = Explainer.load(tuned, view_for(load_model("stroke-transformer"))).net.state_dict()
    assert any(not torch.equal(before[k], after[k]) for k in before)  # it trained from there
    assert main([*args, "--class-gate", *tail]) == 2
    assert "--init keeps the network it starts from" in capsys.readouterr().err
    assert main([*base, "--kind", "fastshap", "--init", str(out), "--out", str(tuned), *tail]) == 2
    assert "holds a wys explainer, not fastshap" in capsys.readouterr().err
    assert main([*base, "--kind", "fastshap", "--deletion-weight", "1", "--out", str(tuned), *tail]) == 2
    assert "--ranking-weight weigh terms of the wys objective" in capsys.readouterr().err
    ranked = [*base, "--kind", "wys", "--init", str(out), "--ranking-weight", "3", "--label-units", "8"]
    result = runner.invoke(app, [*ranked, "--out", str(tmp_path / "ranked"), *tail])
    assert result.exit_code == 0, result.output
    record = json.loads((tmp_path / "ranked" / "training.json").read_text())
    assert record["config"]["wys"]["ranking"] == 3.0
    assert record["labels"]["train"]["labelled"] > 0 and record["label_evaluations"] > 0
    assert "test" not in record["labels"] and "heldout" not in record  # the held-out report is fastshap's
    assert main([*ranked, "--label-units", "0", "--out", str(tuned), *tail]) == 2
    assert "--label-units must be at least 1" in capsys.readouterr().err
    assert main([*base, "--kind", "wys", "--permutations", "4", "--out", str(tuned), *tail]) == 2
    assert "label sketches: fastshap or --ranking-weight" in capsys.readouterr().err
    photos = ["train", "explainer", "--model", "darknet-tiny", "--kind", "wys", "--ranking-weight", "1"]
    assert main([*photos, "--out", str(tuned), *tail]) == 2
    assert "--ranking-weight is for wys explainers of sketch models" in capsys.readouterr().err
    spg = home / "data" / "quickdraw-spg" / "apple.ndjson.gz"
    result = runner.invoke(
        app,
        [
            "explain",
            str(spg),
            "--model",
            "stroke-transformer",
            "--method",
            "wys",
            "--limit",
            "3",
            "--weights",
            str(out),
            "--out",
            str(tmp_path / "report"),
            "--home",
            str(home),
        ],
    )
    assert result.exit_code == 0, result.output
    rows = [
        json.loads(line) for line in (tmp_path / "report" / "explanations.jsonl").read_text().splitlines()
    ]
    assert len(rows) == 3 and rows[0]["method"] == "wys" and rows[0]["evaluations"] == 0
    args = [
        "explain",
        str(spg),
        "--model",
        "doodlenet",
        "--method",
        "sla",
        "--weights",
        str(out / "x"),
        "--out",
        str(tmp_path / "r2"),
        "--home",
        str(home),
    ]
    assert main(args) == 2  # one line on stderr, exit code 2
    assert "--weights is for the learned explainers" in capsys.readouterr().err
    args = [
        "train",
        "explainer",
        "--model",
        "doodlenet",
        "--kind",
        "fastshap",
        "--class-gate",
        "--out",
        str(out),
    ]
    assert main([*args, "--home", str(home)]) == 2
    assert "--class-gate shapes the masks of wys explainers" in capsys.readouterr().err


def test_docs_examples_run(run_doc, tmp_path):
    namespace = run_doc("docs/explainers.md", 3)
    assert namespace["values"].evaluations == 1  # one feature pass a drawing
    assert (tmp_path / "out" / "mine" / "doodlenet_fastshap.safetensors").is_file()
    safer = namespace["safer"]
    assert int(safer.extras["fallback"].sum()) == 2 and safer.evaluations > 0  # 4 sketches, half
    assert namespace["labels"].n_labelled > 0 and "explainer_spearman_vs_shapley" in namespace["report"]


def test_piece_explainers_train_and_score_pieces(home, view, tmp_path):
    sketches = view.prepare(load_spg("train", per_class=2, home=home))
    explainer = Explainer.create(view, "wys", "doodlenet", units="piece", d_model=16, n_layers=1, d_ff=16)
    train_explainer(
        view, explainer, sketches, sketches[:8], TrainConfig(epochs=1, batch_size=20), progress=False
    )
    explainer.save(tmp_path, "pieces")
    expl = get_method("wys")(view).attribute(sketches[:4], units="piece", weights=str(tmp_path / "pieces"))
    assert expl.units.kind == "piece" and expl.scores.shape == (4, expl.units.max_units)
    assert (expl.scores[~expl.unit_mask] == 0).all() and torch.isfinite(expl.scores).all()
    with pytest.raises(StrokelensError, match="trained on piece units, not stroke"):
        Explainer.load(tmp_path / "pieces", view).check(view, "stroke")
