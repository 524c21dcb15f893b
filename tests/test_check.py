"""`strokelens check` and `--fit-recipe` on real drawings (quickdraw-345x25) with DoodleNet and a
user's model file that expects inverted ink; recipes saved beside a model; predict's accuracy line."""

from __future__ import annotations

import dataclasses
import json
import random
import warnings
from pathlib import Path

import pytest
import torch
from PIL import Image
from torch import nn

from strokelens.cli import main
from strokelens.errors import StrokelensError
from strokelens.io import read_sketches, write_quickdraw
from strokelens.models.recipe_file import read_recipe, recipe_path, write_recipe
from strokelens.recipe import class_targets, near_chance_threshold
from strokelens.recipe.picture import COLUMNS, tile_side

pytestmark = pytest.mark.usefixtures("one_thread")

#: Drawings read from each quickdraw-345x25 class file (344 files).
PER_FILE = 3


class Inverted(nn.Module):
    """A model trained on black ink on white: DoodleNet reading ``1 - x``."""

    def __init__(self, net: nn.Module) -> None:
        super().__init__()
        self.net = net

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(1 - x)


@pytest.fixture(scope="module")
def inverted_file(doodlenet, tmp_path_factory) -> Path:
    """The inverted DoodleNet as a user's TorchScript file, with a class file spelled with ``_``."""
    folder = tmp_path_factory.mktemp("inverted")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", torch.jit.TracerWarning)
        torch.jit.trace(Inverted(doodlenet), torch.rand(2, 1, 28, 28)).save(str(folder / "inverted.pt"))
    names = [n.replace(" ", "_") for n in doodlenet.class_names]
    (folder / "classes.txt").write_text("\n".join(names) + "\n", encoding="utf-8")
    return folder / "inverted.pt"


@pytest.fixture(scope="module")
def qd_files(qd345_dir) -> list[str]:
    return [str(p) for p in sorted(qd345_dir.glob("*.ndjson"))]


def run(args: list[str], capsys) -> tuple[int, str, str]:
    code = main(args)
    out = capsys.readouterr()
    return code, out.out, out.err


def own(model: Path, input: bool = True) -> list[str]:
    """A user's model file with its class file (and ``--input raster-sketch`` when ``input``)."""
    return [str(model), "--classes", str(model.parent / "classes.txt")] + (
        ["--input", "raster-sketch"] if input else []
    )


def test_near_chance_threshold_and_normalised_names():
    assert near_chance_threshold(345) == pytest.approx(0.05)
    assert near_chance_threshold(10) == pytest.approx(0.3)
    assert near_chance_threshold(2) == pytest.approx(0.75)  # a two-class model can still pass
    targets = class_targets(
        ["ice cream", "Ice-Cream", "The Eiffel Tower", "unicorn", None], ["ice_cream", "the_eiffel_tower"]
    )
    assert targets.tolist() == [0, 0, 1, -1, -1]


def test_doodlenet_check_prints_accuracy_and_writes_the_picture(qd_files, home, tmp_path, capsys):
    out = tmp_path / "grid.png"
    args = ["check", "doodlenet", *qd_files, "--limit", str(PER_FILE), "--show", "16", "--out", str(out)]
    code, text, err = run([*args, "--home", str(home)], capsys)
    assert code == 0, err
    assert f"doodlenet on {344 * PER_FILE} drawings: top-1" in text and "what the model receives" in text
    assert err == ""  # DoodleNet reads these as drawn: no warning
    code, text, _ = run([*args, "--json", "--home", str(home)], capsys)
    figures = json.loads(text)
    assert figures["matched"] == 344 * PER_FILE and figures["unmatched_labels"] == []
    assert 0.6 < figures["top1"] < 0.8 and figures["top5"] > 0.85 and not figures["near_chance"]
    side = tile_side(28)
    assert side == 112
    with Image.open(out) as image:  # 16 tiles of 28x28 at 4x: 8 columns, 2 rows, captions under each
        assert image.size == (COLUMNS * (side + 8), 2 * (side + 8 + 26))


def test_unmatched_labels_are_named(qd345_dir, home, tmp_path, capsys):
    cats = read_sketches(qd345_dir / "cat.ndjson", limit=4)
    labels = ["ice_cream", "zebra crossing", "cat", "cat"]
    relabelled = [dataclasses.replace(s, label=lab) for s, lab in zip(cats, labels, strict=True)]
    path = tmp_path / "mixed.ndjson"
    write_quickdraw(relabelled, path)
    code, text, err = run(
        ["check", "doodlenet", str(path), "--out", str(tmp_path / "c.png"), "--home", str(home)], capsys
    )
    assert code == 0, err
    assert "3 of 4 drawings whose label names a class" in text
    assert "1 labels name no class of the model: zebra crossing" in text


def test_inverted_model_warns_and_fit_recipe_recovers_it(
    inverted_file, doodlenet, qd_files, home, tmp_path, capsys
):
    files = [*qd_files, "--limit", str(PER_FILE), "--home", str(home)]
    code, text, err = run(
        ["check", *own(inverted_file), *files, "--json", "--out", str(tmp_path / "a.png")], capsys
    )
    assert code == 0, err
    before = json.loads(text)
    assert before["matched"] == 344 * PER_FILE  # labels with spaces meet class names with underscores
    assert before["top1"] < 0.05 and before["near_chance"]
    assert len(err.strip().splitlines()) == 1
    assert "near chance" in err and "inverted ink (--ink/--background)" in err and "--fit-recipe" in err

    code, text, err = run(
        ["check", *own(inverted_file), *files, "--json", "--fit-recipe", "--out", str(tmp_path / "b.png")],
        capsys,
    )
    assert code == 0, err
    fit = json.loads(text)["fit"]
    assert (fit["best"]["ink"], fit["best"]["background"]) == (0.0, 1.0)
    assert fit["current_top1"] < 0.05 < 0.6 < fit["best_top1"]
    assert fit["seconds"] < 60
    code, text, _ = run(["check", "doodlenet", *files, "--json", "--out", str(tmp_path / "d.png")], capsys)
    doodlenet_top1 = json.loads(text)["top1"]
    assert fit["all_top1"] == pytest.approx(doodlenet_top1, abs=0.05)  # DoodleNet's own figure, or near it
    assert (tmp_path / "b-fitted.png").is_file()
    saved = recipe_path(inverted_file)
    assert saved == inverted_file.with_name("inverted.recipe.json") and Path(fit["saved"]) == saved
    assert read_recipe(saved)["render"] == fit["best"]

    # A later predict on the model file (no --input, no rendering option) draws with the recipe.
    cat = str(Path(qd_files[0]).parent / "cat.ndjson")
    code, text, err = run(
        ["predict", cat, "--model", *own(inverted_file, input=False), "--home", str(home)], capsys
    )
    assert code == 0, err
    assert len(err.strip().splitlines()) == 1 and f"with the recipe {saved}" in err
    line = text.strip().splitlines()[-1]
    assert line.startswith("accuracy: top-1") and "over 25 of 25 drawings" in line
    assert float(line.split("top-1 ")[1].split("%")[0]) > 40
    # Explicit options win.
    code, text, err = run(
        [
            "predict",
            cat,
            "--model",
            *own(inverted_file),
            "--ink",
            "1",
            "--home",
            str(home),
        ],
        capsys,
    )
    assert code == 0 and "not using the recipe" in err
    assert float(text.strip().splitlines()[-1].split("top-1 ")[1].split("%")[0]) < 20


def test_class_file_of_another_model_warns(doodlenet, inverted_file, qd_files, home, tmp_path, capsys):
    names = list(doodlenet.class_names)
    random.Random(0).shuffle(names)
    (tmp_path / "classes.txt").write_text("\n".join(names), encoding="utf-8")
    # In a folder of its own: a class file beside the model would be picked up without --classes.
    (tmp_path / "model").mkdir()
    model = tmp_path / "model" / "doodlenet.pt"
    model.write_bytes(inverted_file.read_bytes())
    # The un-inverted recipe, explicitly, but a shuffled class file: near chance again.
    args = [
        "check",
        str(model),
        "--classes",
        str(tmp_path / "classes.txt"),
        "--input",
        "raster-sketch",
        "--ink",
        "0",
        "--background",
        "1",
    ]
    code, _, err = run(
        [*args, *qd_files[:40], "--limit", "2", "--out", str(tmp_path / "c.png"), "--home", str(home)], capsys
    )
    assert code == 0 and "near chance" in err and "a class file of another model (--classes)" in err
    code, _, err = run(
        ["check", str(model), "--input", "raster-sketch", *qd_files[:2], "--out", str(tmp_path / "d.png")],
        capsys,
    )
    assert code == 0 and "no label names a class of the model (its classes: 0, 1, 2, ...)" in err


def test_vector_model_picture(qd_files, home, tmp_path, capsys):
    out = tmp_path / "v.png"
    code, _, err = run(
        [
            "check",
            "stroke-transformer",
            *qd_files[:3],
            "--limit",
            "3",
            "--out",
            str(out),
            "--home",
            str(home),
        ],
        capsys,
    )
    assert code == 0, err
    with Image.open(out) as image:
        assert image.size == (COLUMNS * (112 + 8), 2 * (112 + 8 + 26))  # 9 drawings: 8 + 1


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["check", "doodlenet"], "give a model and at least one labelled file"),
        (
            ["check", "cat.ndjson", "dog.ndjson"],
            "cat.ndjson is a drawing or photo file; give the model first",
        ),
        (["check", "darknet-tiny", "x.JPEG", "--fit-recipe"], "--fit-recipe is for raster-sketch models"),
        (
            ["check", "stroke-transformer", "x.ndjson", "--fit-recipe"],
            "--fit-recipe is for raster-sketch models",
        ),
    ],
)
def test_bad_checks_exit_2_with_one_line(args, message, capsys):
    code, _, err = run(args, capsys)
    assert code == 2 and message in err and len(err.strip().splitlines()) == 1


def test_recipe_files(tmp_path):
    model = tmp_path / "net.v2.pt"
    model.write_bytes(b"x")
    assert recipe_path(model) == tmp_path / "net.v2.recipe.json"
    assert recipe_path(tmp_path) == tmp_path / "recipe.json"
    assert recipe_path("pkg.mod:make") is None
    path = write_recipe(recipe_path(model), {"size": 32, "ink": 0.0, "background": 1.0}, {"drawings": 5})
    assert read_recipe(path)["render"] == {"size": 32, "ink": 0.0, "background": 1.0}
    with pytest.raises(StrokelensError, match="unknown rendering options colour"):
        write_recipe(path, {"colour": 1})
    path.write_text('{"strokelens_recipe": 1, "input": "raster-sketch", "render": {"colour": 1}}')
    with pytest.raises(StrokelensError, match="must hold only"):
        read_recipe(path)
    path.write_text("[]")
    with pytest.raises(StrokelensError, match="not a strokelens recipe"):
        read_recipe(path)


def test_docs_example_runs(run_doc):
    namespace = run_doc("docs/check.md", 1)
    assert namespace["result"].accuracy.matched == 120
    assert Path("check.png").is_file()


def test_fit_recipe_recovers_the_line_width(doodlenet, qd_files, home, tmp_path, capsys):
    """DoodleNet as a user's file drawn with a 0.5-pixel line: near chance; the fit finds the
    QuickDraw line width (16/304 of the side) again."""
    model = tmp_path / "plain.pt"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", torch.jit.TracerWarning)
        torch.jit.trace(doodlenet, torch.rand(2, 1, 28, 28)).save(str(model))
    (tmp_path / "classes.txt").write_text("\n".join(doodlenet.class_names), encoding="utf-8")
    args = ["check", *own(model), "--line-width", "0.5", *qd_files, "--limit", "1", "--fit-recipe"]
    code, text, err = run([*args, "--json", "--out", str(tmp_path / "c.png"), "--home", str(home)], capsys)
    assert code == 0, err
    report = json.loads(text)
    assert report["near_chance"] and "line width (--line-width)" in err
    assert report["fit"]["best"]["line_width"] == pytest.approx(16 / 304 * 28, abs=1e-3)
    assert report["fit"]["all_top1"] > 0.6


def test_photo_check_shows_the_model_input(photo_paths, home, tmp_path, capsys):
    out = tmp_path / "photos.png"
    code, text, err = run(
        ["check", "darknet-tiny", *map(str, photo_paths), "--json", "--out", str(out), "--home", str(home)],
        capsys,
    )
    assert code == 0, err
    assert json.loads(text)["matched"] == len(photo_paths)
    with Image.open(out) as image:  # 224x224 inputs at 1x, one row
        assert image.size == (len(photo_paths) * (tile_side(224) + 8), tile_side(224) + 8 + 26)
