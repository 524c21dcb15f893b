"""The stroke transformer: soft presence equals deletion, gradients flow, training works, weights load."""

from __future__ import annotations

import json

import pytest
import torch

from strokelens.cli import main
from strokelens.datasets import load_qd345_spg, load_spg
from strokelens.errors import StrokelensError
from strokelens.models import load_model
from strokelens.models.stroke_transformer import (
    StrokeEncoding,
    StrokeTransformer,
    StrokeTransformerConfig,
    load,
    resample_strokes,
    stroke_grid,
)
from strokelens.sketch import Sketch, SketchBatch
from strokelens.training.augment import AugmentConfig, augment, simplified_copies
from strokelens.training.sketch_data import evaluate, prepare_sketches
from strokelens.training.stroke_transformer import train_stroke_transformer

CLASSES = ["airplane", "alarm clock", "butterfly", "face"]

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def sketches(home) -> list[Sketch]:
    """Real SPG test sketches of several classes, with different stroke counts."""
    return load_spg("test", classes=CLASSES, per_class=3, home=home)


@pytest.fixture(scope="module")
def model() -> StrokeTransformer:
    torch.manual_seed(0)
    cfg = StrokeTransformerConfig(n_classes=4, d_model=32, n_layers=2, n_heads=4, d_ff=64, lstm_hidden=16)
    return StrokeTransformer(cfg, CLASSES).eval()


def delete_strokes(points: torch.Tensor, stroke_ids: torch.Tensor, drop: torch.Tensor):
    """The prepared input with stroke ``drop[b]`` of each sketch deleted (others re-numbered, same frame)."""
    rows_p, rows_s = [], []
    for b in range(points.shape[0]):
        keep = (stroke_ids[b] >= 0) & (stroke_ids[b] != drop[b])
        sid = stroke_ids[b][keep]
        rows_p.append(points[b][keep])
        rows_s.append(sid - (sid > drop[b]).long())
    width = max(len(r) for r in rows_p)
    out_p = torch.zeros(len(rows_p), width, 2)
    out_s = torch.full((len(rows_p), width), -1, dtype=torch.long)
    for b, (p, s) in enumerate(zip(rows_p, rows_s, strict=True)):
        out_p[b, : len(p)], out_s[b, : len(s)] = p, s
    return out_p, out_s


@pytest.mark.parametrize("which", ["first", "middle", "last"])
def test_presence_zero_equals_deleting_the_stroke(model, sketches, which):
    multi = [s for s in sketches if s.n_strokes >= 3]
    assert len({s.n_strokes for s in multi}) > 1  # a batch of different stroke counts
    points, stroke_ids = model.prepare(SketchBatch.from_sketches(multi))
    n = torch.tensor([s.n_strokes for s in multi])
    drop = {"first": torch.zeros_like(n), "middle": n // 2, "last": n - 1}[which]
    presence = torch.ones(len(multi), int(n.max()))
    presence[torch.arange(len(multi)), drop] = 0.0
    with torch.no_grad():
        soft = model(points, stroke_ids, presence)
        deleted = model(*delete_strokes(points, stroke_ids, drop))
        full = model(points, stroke_ids)
    torch.testing.assert_close(soft, deleted, atol=1e-5, rtol=0)
    assert (soft - full).abs().max() > 1e-3  # removing a stroke does change the output


def test_batched_equals_one_at_a_time_with_uneven_strokes(model, sketches):
    """Raw (not resampled) strokes of different lengths take the packed LSTM path."""
    batch = SketchBatch.from_sketches([s.normalized(1.0) for s in sketches])
    with torch.no_grad():
        together = model(batch.points, batch.stroke_ids)
        alone = torch.cat(
            [
                model(*(t[None, : s.n_points] for t in (batch.points[i], batch.stroke_ids[i])))
                for i, s in enumerate(batch.sketches)
            ]
        )
    torch.testing.assert_close(together, alone, atol=1e-5, rtol=0)


def test_presence_and_points_are_differentiable(model, sketches):
    points, stroke_ids = model.prepare(SketchBatch.from_sketches(sketches[:4]))
    points.requires_grad_(True)
    presence = torch.ones(4, int(stroke_ids.max()) + 1)
    presence[:, 0] = 0.0  # the gradient at 0 is finite too (integrated gradients start there)
    presence.requires_grad_(True)
    model(points, stroke_ids, presence)[:, 0].sum().backward()
    assert torch.isfinite(presence.grad).all() and presence.grad.abs().sum() > 0
    assert presence.grad[:, 0].abs().sum() > 0
    assert torch.isfinite(points.grad).all() and points.grad[stroke_ids >= 0].abs().sum() > 0


def test_translating_a_stroke_changes_only_its_location(model, sketches):
    points, stroke_ids = model.prepare(SketchBatch.from_sketches(sketches[:3]))
    shift = torch.where((stroke_ids == 1)[..., None], torch.tensor([0.1, -0.05]), torch.zeros(2))
    with torch.no_grad():
        before, _ = model.embed_strokes(points, stroke_ids)
        after, _ = model.embed_strokes(points + shift, stroke_ids)
        moved = model.location.weight @ torch.tensor([0.1, -0.05])
    torch.testing.assert_close(after[:, 1] - before[:, 1], moved.expand(3, -1), atol=1e-5, rtol=0)
    torch.testing.assert_close(after[:, [0, 2]], before[:, [0, 2]], atol=1e-6, rtol=0)


def test_prepare_gives_the_normalised_frame(model, sketches):
    batch = SketchBatch.from_sketches(sketches)
    points, stroke_ids = model.prepare(batch)
    count = model.config.points_per_stroke
    assert points.shape[1] == batch.max_strokes * count
    valid = stroke_ids >= 0
    assert points[valid].min() == 0 and points[valid].max() == pytest.approx(1.0)
    first = sketches[0].normalized(1.0)
    torch.testing.assert_close(points[0, 0], torch.tensor(first.strokes[0][0], dtype=torch.float32))
    torch.testing.assert_close(points[0, count - 1], torch.tensor(first.strokes[0][-1], dtype=torch.float32))


def test_resampling_is_even_in_arc_length():
    pts = torch.tensor([[[0.0, 0.0], [1.0, 0.0], [1.0, 1.0], [5.0, 5.0]]])
    sid = torch.tensor([[0, 0, 0, 1]])
    out, out_sid = resample_strokes(pts, sid, 5)
    expected = torch.tensor([[0, 0], [0.5, 0], [1, 0], [1, 0.5], [1, 1]] + [[5.0, 5.0]] * 5)
    torch.testing.assert_close(out[0], expected)
    assert out_sid[0].tolist() == [0] * 5 + [1] * 5
    grid, lengths = stroke_grid(pts, sid)
    assert grid.shape == (1, 2, 3, 2) and lengths.tolist() == [[3, 1]]


def test_tiny_config_loss_falls_on_real_sketches(home):
    train = load_spg("train", classes=CLASSES, per_class=40, home=home)
    cfg = StrokeTransformerConfig(
        n_classes=4, d_model=32, n_layers=1, n_heads=2, d_ff=64, lstm_hidden=16, dropout=0.0
    )
    kwargs = dict(out_dir=None, progress=False, batch_size=16, lr=3e-3, warmup_steps=5, use_augment=False)
    metrics = train_stroke_transformer(cfg, train, train[::4], epochs=8, seed=0, **kwargs).record.to_dict()
    losses = metrics["train_loss"]
    assert losses[-1] < losses[0] - 0.2, losses


def test_training_is_seeded(home, tmp_path):
    train = load_spg("train", classes=CLASSES, per_class=12, home=home)
    cfg = StrokeTransformerConfig(n_classes=4, d_model=16, n_layers=1, n_heads=2, d_ff=32, lstm_hidden=8)
    runs = [
        train_stroke_transformer(
            cfg, train, train, epochs=2, seed=3, out_dir=tmp_path / str(i), progress=False, batch_size=8
        ).record.to_dict()
        for i in range(2)
    ]
    assert runs[0]["train_loss"] == runs[1]["train_loss"]
    files = [(tmp_path / str(i) / "stroke_transformer_spg.safetensors").read_bytes() for i in range(2)]
    assert files[0] == files[1]
    assert json.loads((tmp_path / "0" / "metrics.json").read_text())["epochs"] == 2


#: Augmentation that changes nothing (points are still put back in the normalised frame).
NO_AUGMENT = AugmentConfig.none()


def test_augment_reverses_and_reorders_whole_strokes(model, sketches):
    data = prepare_sketches(model, sketches)
    pts, sid, _ = data.batch(torch.arange(len(data)))
    p = data.points_per_stroke
    gen = torch.Generator().manual_seed(0)
    same, presence = augment(pts, sid, gen, NO_AUGMENT, p)
    assert (presence == 1).all() and (same[sid < 0] == 0).all()
    grid = same.reshape(len(data), -1, p, 2)
    flipped, _ = augment(pts, sid, gen, AugmentConfig(**{**NO_AUGMENT.to_dict(), "reverse": 1.0}), p)
    exists = (sid >= 0).reshape(len(data), -1, p)[..., 0]
    assert torch.allclose(flipped.reshape(grid.shape)[exists], grid[exists].flip(1))
    mixed, _ = augment(pts, sid, gen, AugmentConfig(**{**NO_AUGMENT.to_dict(), "order_noise": 3.0}), p)
    mixed = mixed.reshape(grid.shape)
    moved = 0
    for b, n in enumerate(data.n_strokes.tolist()):
        # the same strokes, each whole, in another order; empty slots stay empty and last
        match = [int(((grid[b, :n] - mixed[b, j]).abs().amax((1, 2)) < 1e-6).nonzero()[0]) for j in range(n)]
        assert sorted(match) == list(range(n)) and (mixed[b, n:] == 0).all()
        moved += match != list(range(n))
    assert moved > 0
    dropped, presence = augment(pts, sid, gen, AugmentConfig(stroke_drop=0.5), p)
    kept = (presence > 0) & exists
    assert (kept.sum(1) >= 1).all() and (kept.sum(1) < data.n_strokes).any()  # never every stroke
    assert dropped.shape == pts.shape and float(dropped[sid >= 0].min()) == 0.0


def test_simplified_copies_keep_strokes_and_drop_points(sketches):
    copies = simplified_copies(sketches, (1.0, 4.0), seed=0)
    assert [c.n_strokes for c in copies] == [s.n_strokes for s in sketches]
    assert sum(c.n_points for c in copies) < sum(s.n_points for s in sketches)
    assert [c.n_points for c in simplified_copies(sketches, (1.0, 4.0), seed=0)] == [
        c.n_points for c in copies
    ]


def test_training_mixes_extra_drawings_and_scores_each_val_set(home):
    train = load_spg("train", classes=CLASSES, per_class=6, home=home)
    extra = load_qd345_spg("train", classes=CLASSES, home=home)
    cfg = StrokeTransformerConfig(n_classes=4, d_model=16, n_layers=1, n_heads=2, d_ff=32, lstm_hidden=8)
    metrics = train_stroke_transformer(
        cfg,
        train,
        {"spg": train[::3], "qd345": extra},
        epochs=2,
        seed=0,
        out_dir=None,
        progress=False,
        batch_size=8,
        extra_train=extra,
        extra_repeat=3,
    ).record.to_dict()
    assert metrics["n_train"] == len(train) + 3 * len(extra) and metrics["n_extra_train"] == len(extra)
    by_set = metrics["val_top1_by_set"]
    assert set(by_set) == {"spg", "qd345"} and all(len(v) == 2 for v in by_set.values())
    n_spg, n_qd = len(train[::3]), len(extra)
    pooled = [
        (a * n_spg + b * n_qd) / (n_spg + n_qd) for a, b in zip(by_set["spg"], by_set["qd345"], strict=True)
    ]
    assert metrics["val_top1"] == pytest.approx(pooled, abs=1e-4)
    assert metrics["augment"] == AugmentConfig().to_dict()
    with pytest.raises(StrokelensError, match="extra_repeat"):
        train_stroke_transformer(
            cfg, train, train, 1, 0, None, progress=False, extra_train=extra, extra_repeat=0
        )


def test_save_and_reload_round_trip(model, sketches, tmp_path):
    model.save(tmp_path, "m")
    again = StrokeTransformer.from_files(tmp_path / "m.safetensors", tmp_path / "m.json")
    inputs = model.prepare(SketchBatch.from_sketches(sketches))
    with torch.no_grad():
        torch.testing.assert_close(again(*inputs), model(*inputs))
    (tmp_path / "bad.json").write_text(json.dumps({"config": {"nope": 1}, "class_names": []}))
    with pytest.raises(StrokelensError, match=r"bad\.json"):
        StrokeTransformer.from_files(tmp_path / "m.safetensors", tmp_path / "bad.json")
    with pytest.raises(StrokelensError, match="missing"):
        StrokeTransformer.from_files(tmp_path / "none.safetensors", tmp_path / "m.json")


def test_shipped_weights_classify_spg_test_sketches(home):
    model = load_model("stroke-transformer", home=home)
    assert model.input_kind == "vector-sketch" and len(model.class_names) == 20
    test = load_spg("test", per_class=5, home=home)
    accuracy = evaluate(model, prepare_sketches(model, test))
    assert accuracy >= 0.85
    assert isinstance(load(), StrokeTransformer)


def test_mixed_weights_read_held_out_drawings_better_and_ship_their_explainers(home):
    """``stroke-transformer-mixed`` ships beside the SPG model with its record; on quickdraw-345x25
    drawings kept out of its training it beats the SPG model by far (it saw quickdraw-345x25's train
    drawings and quickdraw-extra's); its own fastshap/wys ship, and the
    measured default (fastshap) is one of them."""
    from strokelens.defaults import default_method, weights_ship
    from strokelens.models.stroke_transformer import MIXED_WEIGHTS_NAME, WEIGHTS_DIR

    record = json.loads((WEIGHTS_DIR / f"{MIXED_WEIGHTS_NAME}.training.json").read_text())
    assert record["extra_repeat"] == 4 and record["n_extra_train"] == 88 + 555  # qd345 train + extra
    assert "quickdraw-extra" in record["extra_data"]
    assert record["distillation"]["teacher"] == "doodlenet" and record["distillation"]["n_transfer"] > 7000
    mixed, spg = (
        load_model("stroke-transformer-mixed", home=home),
        load_model("stroke-transformer", home=home),
    )
    assert mixed.class_names == spg.class_names
    held_out = load_qd345_spg("test", home=home)
    acc = {name: evaluate(m, prepare_sketches(m, held_out)) for name, m in (("mixed", mixed), ("spg", spg))}
    assert acc["mixed"] > acc["spg"] + 0.15  # 0.869 against 0.645 (0.776 before DoodleNet was distilled)
    assert weights_ship("stroke-transformer-mixed", "fastshap") and weights_ship(
        "stroke-transformer-mixed", "wys"
    )
    assert default_method("stroke-transformer-mixed", "sketch") == "fastshap"


def test_cli_lists_the_training_command_and_rejects_unknown_data(capsys):
    assert main(["train", "--help"]) == 0
    assert "stroke-transformer" in capsys.readouterr().out
    assert main(["train", "stroke-transformer", "--data", "mnist", "--out", "x"]) == 2
    assert main(["train", "stroke-transformer", "--extra-data", "mnist", "--out", "x"]) == 2
    assert "quickdraw-extra" in capsys.readouterr().err
    assert main(["train", "stroke-transformer", "--points-per-stroke", "1", "--out", "x"]) == 2
    assert "--points-per-stroke" in capsys.readouterr().err


@pytest.fixture(scope="module")
def shipped() -> StrokeTransformer:
    return load()


def test_cached_encoding_equals_forward_with_rows_and_gradients(shipped, home):
    """Many coalitions of a few real sketches through one encoding: the same logits and presence
    gradients as the plain forward on the rows' own points."""
    sk = load_spg("test", classes=CLASSES, per_class=2, home=home)
    points, stroke_ids = shipped.prepare(SketchBatch.from_sketches(sk))
    k = int(stroke_ids.max()) + 1
    g = torch.Generator().manual_seed(0)
    rows = torch.randint(0, len(sk), (40,), generator=g)
    rows[:3] = torch.tensor([2, 2, 0])  # repeats and any order
    presence = torch.rand(len(rows), k, generator=g)
    presence[presence < 0.3] = 0.0  # removed strokes too
    presence[5] = 1.0
    with torch.no_grad():
        encoding = shipped.encode(points, stroke_ids, k)
    assert isinstance(encoding, StrokeEncoding) and encoding.tokens.shape == (len(sk), k, 128)
    assert not encoding.tokens.requires_grad

    p_plain = presence.clone().requires_grad_(True)
    plain = shipped(points[rows], stroke_ids[rows], p_plain)
    p_cached = presence.clone().requires_grad_(True)
    cached = shipped.forward_encoded(encoding, p_cached, rows)
    torch.testing.assert_close(cached, plain, atol=1e-5, rtol=0)
    weights = torch.randn(plain.shape, generator=g)
    (plain * weights).sum().backward()
    (cached * weights).sum().backward()
    assert p_plain.grad.abs().max() > 1e-3  # a gradient that could differ
    # Gradients reach about 50: float32 summation order alone moves them by a few 1e-7 of that, and
    # on this machine's CPU (AMD EPYC) one of 400 moved by 1.9e-5. A relative tolerance of 1e-6 keeps
    # a real difference (the wrong rows, a missing term) far outside.
    torch.testing.assert_close(p_cached.grad, p_plain.grad, atol=1e-5, rtol=1e-6)
    # Presence matters through the cache: rows of one sketch with different presence differ.
    assert (cached[0] - cached[1]).abs().max() > 1e-3
    with torch.no_grad():
        torch.testing.assert_close(
            shipped.forward_encoded(encoding), shipped(points, stroke_ids), atol=1e-5, rtol=0
        )


def test_forward_encoded_refuses_a_presence_of_the_wrong_width(model, sketches):
    points, stroke_ids = model.prepare(SketchBatch.from_sketches(sketches[:2]))
    encoding = model.encode(points, stroke_ids)
    with pytest.raises(StrokelensError, match="presence must have shape"):
        model.forward_encoded(encoding, torch.ones(2, encoding.n_slots + 1))


def test_more_strokes_than_order_embeddings_is_an_error():
    torch.manual_seed(0)
    cfg = StrokeTransformerConfig(
        n_classes=2, d_model=16, n_layers=1, n_heads=2, d_ff=32, lstm_hidden=8, max_strokes=4
    )
    small = StrokeTransformer(cfg).eval()

    def strokes(n: int) -> Sketch:
        return Sketch([[[10.0 * i, 0.0], [10.0 * i + 5, 8.0]] for i in range(n)])

    with torch.no_grad():
        ok = small.classify(SketchBatch.from_sketches([strokes(4)]))
    assert ok.shape == (1, 2)
    batch = SketchBatch.from_sketches([strokes(2), strokes(5)])
    with pytest.raises(StrokelensError, match=r"5 strokes.*max_strokes = 4"):
        small.classify(batch)
    with pytest.raises(StrokelensError, match="max_strokes = 4"):
        small.encode(*small.prepare(batch))


def test_rows_of_short_sketches_in_a_long_batch(shipped, sketches):
    """Coalitions of the shorter sketches of a batch padded to a longer one: trailing empty slots
    are skipped, the logits are those of each sketch alone and the presence gradient keeps every slot."""
    points, stroke_ids = shipped.prepare(SketchBatch.from_sketches(sketches))
    counts = torch.tensor([s.n_strokes for s in sketches])
    short = (counts < counts.max()).nonzero()[:, 0]
    assert len(short) >= 2
    rows = short.repeat(2)
    k = int(counts.max())
    encoding = shipped.encode(points, stroke_ids, k).detach()
    presence = torch.rand(len(rows), k, generator=torch.Generator().manual_seed(2)).requires_grad_(True)
    cached = shipped.forward_encoded(encoding, presence, rows)
    (grad,) = torch.autograd.grad(cached[:, 0].sum(), presence)
    assert grad.shape == (len(rows), k) and grad[:, int(counts[short].max()) :].abs().max() == 0
    with torch.no_grad():
        for r, i in enumerate(rows.tolist()):
            n = int(counts[i])
            alone = shipped(points[i : i + 1], stroke_ids[i : i + 1], presence[r : r + 1, :n])
            torch.testing.assert_close(cached[r : r + 1], alone, atol=1e-5, rtol=0)
