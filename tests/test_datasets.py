"""The real datasets: SPG's fixed 600/100/100 split by key-id hash, quickdraw-345x25's class names,
padded batches; the shipped sample."""

from __future__ import annotations

import ast
import gzip

import pytest

from doc_examples import python_blocks, run_blocks
from strokelens.datasets import (
    SAMPLE_DIR,
    SAMPLE_PER_CLASS,
    batches,
    load_qd345,
    load_qd345_spg,
    load_sample,
    load_spg,
    qd345_classes,
    spg_classes,
    split_rank_key,
    write_sample,
)
from strokelens.errors import StrokelensError
from strokelens.home import ENV_VAR


@pytest.fixture(scope="module")
def spg_all(home):
    return load_spg("all", home=home)


def test_spg_has_20_classes_and_counts_every_sketch(spg_all, home):
    classes = spg_classes(home)
    assert len(classes) == 20 and "alarm clock" in classes and "coffee cup" in classes
    per_class = {c: 0 for c in classes}
    for s in spg_all:
        per_class[s.label] += 1
    # The data's README speaks of one class of 799; the files hold 800 in every class.
    assert min(per_class.values()) >= 799 and sum(per_class.values()) == len(spg_all) == 16_000


def test_spg_split_is_600_100_100_disjoint_and_hash_ordered(home):
    classes = ["airplane", "pig"]
    parts = {split: load_spg(split, classes=classes, home=home) for split in ("train", "val", "test")}
    for name in classes:
        sizes = [sum(s.label == name for s in parts[split]) for split in ("train", "val", "test")]
        assert sizes == [600, 100, 100]
    ids = {split: {s.key_id for s in sk} for split, sk in parts.items()}
    assert not ids["train"] & ids["val"] and not ids["train"] & ids["test"] and not ids["val"] & ids["test"]
    # every train hash sorts before every val hash, and val before test (per class)
    for name in classes:
        keys = {}
        for split, sk in parts.items():
            keys[split] = sorted(split_rank_key(s.key_id) for s in sk if s.label == name)
        assert keys["train"][-1] < keys["val"][0] and keys["val"][-1] < keys["test"][0]
    assert all(s.meta["split"] == "test" for s in parts["test"])


def test_spg_split_is_stable(home):
    a = [s.key_id for s in load_spg("test", classes=["crab"], home=home)]
    b = [s.key_id for s in load_spg("test", classes=["crab"], home=home)]
    assert a == b and len(a) == 100
    assert split_rank_key("5079913426395136") == split_rank_key("5079913426395136")
    with pytest.raises(StrokelensError, match="split"):
        load_spg("holdout", home=home)


def test_qd345_class_names_keep_quickdraw_spelling(home):
    names = qd345_classes(home)
    assert "The Eiffel Tower" in names and "alarm clock" in names and len(names) == 344
    sketches = load_qd345(classes=["The Eiffel Tower"], home=home)
    assert len(sketches) == 25 and {s.label for s in sketches} == {"The Eiffel Tower"}


def test_qd345_spg_split_is_disjoint_fixed_and_outside_spg(home, spg_all):
    parts = {split: load_qd345_spg(split, home=home) for split in ("train", "val", "test")}
    classes = spg_classes(home)
    assert [len(parts[split]) for split in ("train", "val", "test")] == [88, 30, 107]
    for split, sketches in parts.items():
        assert {s.label for s in sketches} <= set(classes) and all(s.meta["split"] == split for s in sketches)
    assert {s.label for s in parts["test"]} == set(classes)  # every class is tested
    ids = {split: [s.key_id for s in sk] for split, sk in parts.items()}
    assert all(len(set(v)) == len(v) for v in ids.values())
    assert not set(ids["train"]) & set(ids["val"]) and not set(ids["train"]) & set(ids["test"])
    assert not set(ids["val"]) & set(ids["test"])
    everything = load_qd345_spg("all", home=home)
    assert sum(map(len, ids.values())) == len(everything) == 225
    # none is an SPG sketch, and the 275 left out are
    spg_ids = {s.key_id for s in spg_all}
    assert not spg_ids & {s.key_id for s in everything}
    assert len(spg_ids & {s.key_id for s in load_qd345(classes=classes, home=home)}) == 275
    # fixed by key-id hash: train hashes before val before test in each class, whatever the file order
    for name in ("cactus", "duck"):
        keys = {
            split: sorted(split_rank_key(s.key_id) for s in sk if s.label == name)
            for split, sk in parts.items()
        }
        assert keys["train"][-1] < keys["val"][0] and keys["val"][-1] < keys["test"][0]
    assert [s.key_id for s in load_qd345_spg("test", classes=["pig"], home=home)] == [
        s.key_id for s in parts["test"] if s.label == "pig"
    ]
    with pytest.raises(StrokelensError, match="split"):
        load_qd345_spg("holdout", home=home)
    with pytest.raises(StrokelensError, match="no drawings"):
        load_qd345_spg("test", classes=["unicorn"], home=home)


def test_batches_are_padded_with_masks(home):
    sketches = load_spg("test", classes=["face"], per_class=10, home=home)
    out = list(batches(sketches, 4))
    assert [len(b.n_strokes) for b in out] == [4, 4, 2]
    for k, b in enumerate(out):
        assert b.points.shape[:2] == b.point_mask.shape == b.stroke_ids.shape
        chunk = sketches[4 * k : 4 * k + 4]
        assert b.point_mask.sum(1).tolist() == [len(s.points()) for s in chunk]
        assert b.n_strokes.tolist() == [s.n_strokes for s in chunk]
        assert ((b.stroke_ids == -1) == ~b.point_mask).all() and (b.points[~b.point_mask] == 0).all()
    with pytest.raises(StrokelensError, match="batch size"):
        next(batches(sketches, 0))


# ------------------------------------------------------------------------------- the shipped sample
def test_sample_loads_without_a_data_folder(monkeypatch):
    monkeypatch.delenv(ENV_VAR, raising=False)
    sample = load_sample()
    assert len(sample) == 20 * SAMPLE_PER_CLASS and len({s.label for s in sample}) == 20
    assert all(s.parts is not None and s.part_names and s.meta["split"] == "test" for s in sample)
    assert [s.label for s in load_sample(["ice cream"], per_class=2)] == ["ice cream"] * 2
    with pytest.raises(StrokelensError, match="shipped sample has no class 'zebra'"):
        load_sample(["zebra"])
    assert (SAMPLE_DIR / "ATTRIBUTION.md").read_text().count("CC BY 4.0") >= 1


def test_sample_is_what_write_sample_makes_from_the_data_folder(home, tmp_path):
    """The committed sample is exactly what `scripts/make_sample.py` writes from the SPG release: the
    same files with the same (decompressed) lines, the first test sketches as `load_spg` orders them."""
    written = write_sample(tmp_path, home=home)
    shipped = sorted(p.relative_to(SAMPLE_DIR) for p in SAMPLE_DIR.rglob("*") if p.is_file())
    assert [p for p in shipped if p.name != "ATTRIBUTION.md"] == sorted(
        p.relative_to(tmp_path) for p in written
    )
    for rel in shipped:
        if rel.suffix == ".gz":
            assert gzip.decompress((SAMPLE_DIR / rel).read_bytes()) == gzip.decompress(
                (tmp_path / rel).read_bytes()
            )
        elif rel.name != "ATTRIBUTION.md":
            assert (SAMPLE_DIR / rel).read_bytes() == (tmp_path / rel).read_bytes()
    full = load_spg("test", per_class=SAMPLE_PER_CLASS, home=home)
    assert [s.key_id for s in load_sample()] == [s.key_id for s in full]
    assert all(
        len(a.strokes) == len(b.strokes)
        and all((x == y).all() for x, y in zip(a.strokes, b.strokes, strict=True))
        for a, b in zip(load_sample(), full, strict=True)
    )


def test_install_doc_example_runs_with_no_data_folder(monkeypatch, tmp_path, capsys):
    monkeypatch.delenv(ENV_VAR, raising=False)
    monkeypatch.chdir(tmp_path)
    (block,) = python_blocks("docs/install.md")
    run_blocks("docs/install.md", [block])
    pairs = ast.literal_eval(capsys.readouterr().out.strip())
    assert [drawn for drawn, _ in pairs] == ["pig", "pig", "crab", "crab"]
    assert sum(drawn == read for drawn, read in pairs) >= 3  # DoodleNet reads most of them right
