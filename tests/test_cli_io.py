"""CLI: bad input gives exit code 2 and one stderr line; info on all real files; render; demo."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from strokelens import Sketch
from strokelens.cli import main
from strokelens.io import write_sketches
from strokelens.models import INPUT_KINDS, REGISTRY

BOMB = """<?xml version="1.0"?>
<!DOCTYPE svg [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">
<!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;"><!ENTITY d "&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;">]>
<svg xmlns="http://www.w3.org/2000/svg"><title>&d;</title><path d="M0 0 L1 1"/></svg>
"""
XXE = """<?xml version="1.0"?>
<!DOCTYPE svg [<!ENTITY x SYSTEM "file:///etc/passwd">]>
<svg xmlns="http://www.w3.org/2000/svg"><title>&x;</title><path d="M0 0 L1 1"/></svg>
"""


def truncated_npz(path: Path) -> bytes:
    write_sketches([Sketch([np.arange(20.0).reshape(-1, 2)])] * 20, path)
    return path.read_bytes()[:-40]


CASES = {
    "empty.ndjson": "",
    "notjson.ndjson": '{"drawing": [[[0], [0]]]}\n{"drawing": [[[0], [0]\n',
    "nostrokes.ndjson": '{"drawing": []}\n',
    "xylen.ndjson": '{"drawing": [[[0, 1, 2], [0, 1]]]}\n',
    "nan.ndjson": '{"drawing": [[[0, NaN], [0, 1]]]}\n',
    "inf.ndjson": '{"drawing": [[[0, Infinity], [0, 1]]]}\n',
    "huge.ndjson": '{"drawing": [[[0, 1e30], [0, 1]]]}\n',
    "many.ndjson": json.dumps({"drawing": [[[1], [2]]] * 100_000}) + "\n",
    "bomb.svg": BOMB,
    "xxe.svg": XXE,
    "cut.npz": None,
}


@pytest.mark.parametrize("name", sorted(CASES))
@pytest.mark.parametrize("command", ["info", "render"])
def test_bad_input_exit_2_one_line(tmp_path, capsys, name, command):
    path = tmp_path / name
    if CASES[name] is None:
        path.write_bytes(truncated_npz(tmp_path / "full.npz"))
    else:
        path.write_text(CASES[name])
    render = ["--out", str(tmp_path / "x.png"), "--index", "1"]  # drawing 1: past the bad line 2
    args = [command, str(path)] + (render if command == "render" else [])
    code = main(args)
    err = capsys.readouterr().err
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("strokelens: error: ") and str(path) in lines[0]
    if name.endswith(".ndjson") and name != "empty.ndjson":
        assert "line " in lines[0]
    assert not (tmp_path / "x.png").exists()


def test_missing_file_and_bad_suffix(tmp_path, capsys):
    assert main(["info", str(tmp_path / "nope.ndjson")]) == 2
    (tmp_path / "a.txt").write_text("x")
    assert main(["info", str(tmp_path / "a.txt")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 2 and "no such file" in err[0] and "unsupported" in err[1]


def test_info_on_every_real_file(home, capsys):
    data = home / "data"
    spg = sorted((data / "quickdraw-spg").glob("*.ndjson.gz"))
    qd = sorted((data / "quickdraw-345x25").glob("*.ndjson"))
    tu = sorted((data / "tu-berlin-svg").glob("*/*.svg"))
    assert (len(spg), len(qd), len(tu)) == (20, 344, 15)
    files = [*spg, *qd, *tu]
    assert main(["info", "--json", "--limit", "40", *map(str, files)]) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    sources = {r["source"].split(", line")[0] for r in rows}
    assert sources == {str(f) for f in files}  # every file was read
    assert len(rows) == 20 * 40 + 344 * 25 + 15
    by_class = {r["class"] for r in rows}
    assert {"The Eiffel Tower", "alarm clock", "airplane", "angel"} <= by_class
    for r in rows:
        assert r["strokes"] >= 1 and r["points"] >= r["strokes"] and len(r["bbox"]) == 4


def test_render_spg_png_and_svg(spg_dir, tmp_path, capsys):
    png, svg = tmp_path / "pig.png", tmp_path / "pig.svg"
    assert (
        main(["render", str(spg_dir / "pig.ndjson.gz"), "--out", str(png), "--index", "3", "--size", "200"])
        == 0
    )
    assert main(["render", str(spg_dir / "pig.ndjson.gz"), "--out", str(svg), "--index", "3"]) == 0
    assert capsys.readouterr().out.split() == [str(png), str(svg)]
    img = np.asarray(Image.open(png).convert("RGB"))
    assert img.shape == (200, 200, 3)
    colours = {tuple(c) for c in img.reshape(-1, 3)[(img.reshape(-1, 3).std(1) > 40)]}
    assert len(colours) > 3  # parts in several colours, not black ink
    text = svg.read_text()
    assert "outline of head" in text or "nose" in text  # legend of part names


def test_render_index_out_of_range_and_bad_out(spg_dir, tmp_path, capsys):
    assert (
        main(["render", str(spg_dir / "pig.ndjson.gz"), "--out", str(tmp_path / "a.png"), "--index", "900"])
        == 2
    )
    assert main(["render", str(spg_dir / "pig.ndjson.gz"), "--out", str(tmp_path / "a.jpg")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 2 and "no drawing 900" in err[0] and ".png or .svg" in err[1]


def test_render_svg_input(home, tmp_path):
    src = home / "data" / "tu-berlin-svg" / "angel" / "161.svg"
    assert main(["render", str(src), "--out", str(tmp_path / "a.png")]) == 0
    assert Image.open(tmp_path / "a.png").size == (256, 256)


def test_npz_and_svg_through_info(tmp_path, capsys):
    path = tmp_path / "cat.npz"
    write_sketches([Sketch([[[0, 0], [3, 4]]]), Sketch([[[1, 1]]])], path)
    with zipfile.ZipFile(path) as zf:
        assert sorted(zf.namelist()) == ["test.npy", "train.npy", "valid.npy"]
    assert main(["info", "--json", str(path)]) == 0
    rows = [json.loads(x) for x in capsys.readouterr().out.splitlines()]
    assert [r["points"] for r in rows] == [2, 1] and rows[0]["class"] == "cat"


# ------------------------------------------------------------------ predict: every shipped model


def _predict_input(kind: str, home: Path) -> tuple[list[Path], list[str]]:
    """Real inputs for a model of ``kind``: SPG sketch files for sketch models, named ImageNet photos."""
    if kind == "image":
        photos = ["n01443537_goldfish.JPEG", "n02123045_tabby.JPEG"]
        return [home / "data" / "imagenet-samples" / p for p in photos], ["--limit", "1"]
    spg = home / "data" / "quickdraw-spg"
    return [spg / f"{c}.ndjson.gz" for c in ("airplane", "cactus", "pig")], ["--limit", "5"]


@pytest.mark.parametrize("model", sorted(REGISTRY))
def test_predict_runs_every_shipped_model(home, capsys, model):
    files, extra = _predict_input(INPUT_KINDS[model], home)
    args = ["predict", *map(str, files), "--model", model, "--top", "5", "--json", *extra]
    assert main([*args, "--home", str(home)]) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert all(r["model"] == model and len(r["top"]) == 5 for r in rows)
    for r in rows:
        probs = [t["probability"] for t in r["top"]]
        assert probs == sorted(probs, reverse=True) and 0 < sum(probs) <= 1 + 1e-6
    if INPUT_KINDS[model] == "image":
        assert [Path(r["source"]).name for r in rows] == [f.name for f in files]
        wanted = [{"goldfish"}, {"tabby", "tiger cat", "Egyptian cat"}]
        for r, ok in zip(rows, wanted, strict=True):  # right (or a sibling class) within the top 5
            assert ok & {t["class"] for t in r["top"]}, r
    else:
        assert len(rows) == 15 and {r["label"] for r in rows} == {"airplane", "cactus", "pig"}
        right = sum(r["top"][0]["class"] == r["label"] for r in rows)
        assert right >= 12, [(r["label"], r["top"][0]["class"]) for r in rows]


def test_predict_stroke_transformer_table_and_wrong_input(home, capsys):
    pig = home / "data" / "quickdraw-spg" / "pig.ndjson.gz"
    assert main(["predict", str(pig), "--model", "stroke-transformer", "--limit", "1", "--top", "2"]) == 0
    out = capsys.readouterr().out
    assert "pig.ndjson.gz #0 (pig)" in out and "rank" in out
    photo = home / "data" / "imagenet-samples" / "n01443537_goldfish.JPEG"
    assert main(["predict", str(photo), "--model", "stroke-transformer", "--home", str(home)]) == 2
    assert main(["predict", str(pig), "--model", "darknet-tiny", "--home", str(home)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 2 and "takes sketches" in err[0] and "takes photos" in err[1]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["explain", "{airplane}", "--method", "length", "--target=--5", "--out", "{tmp}/o"], "--5"),
        (
            ["explain", "{airplane}", "--method", "length", "--out", "/proc/no/such/job"],
            "cannot make the job folder",
        ),
        (["check", "doodlenet", "{airplane}", "--limit", "2", "--out", "{tmp}/chk.txt"], "ending in .png"),
        (["check", "doodlenet", "{airplane}", "--limit", "2", "--out", "/proc/no/x.png"], "cannot write"),
    ],
)
def test_odd_targets_and_unusable_out_paths_exit_2_one_line(spg_dir, tmp_path, capsys, args, message):
    filled = [a.format(airplane=spg_dir / "airplane.ndjson.gz", tmp=tmp_path) for a in args]
    assert main(filled) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and message in err, err
