"""Every bad input of the foundation issue raises StrokelensError naming the file and the line/record."""

from __future__ import annotations

import gzip
import io
import json
import time
import zipfile
from pathlib import Path

import numpy as np
import pytest

from strokelens import Sketch, StrokelensError
from strokelens.io import read_sketches, write_sketches
from strokelens.sketch import MAX_STROKES


def read_all(path: Path) -> list[Sketch]:
    return list(read_sketches(path))


def ndjson(tmp_path: Path, *lines: str, name: str = "bad.ndjson") -> Path:
    path = tmp_path / name
    path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    return path


GOOD = json.dumps({"word": "cat", "key_id": "1", "drawing": [[[0, 10, 20], [0, 5, 0]]]})


def check(path: Path, *fragments: str) -> str:
    with pytest.raises(StrokelensError) as info:
        read_all(path)
    msg = str(info.value)
    assert str(path) in msg
    for frag in fragments:
        assert frag in msg, msg
    return msg


def test_empty_file(tmp_path):
    path = tmp_path / "empty.ndjson"
    path.write_text("")
    check(path, "empty")
    blank = ndjson(tmp_path, "", "   ", name="blank.ndjson")
    check(blank, "empty")


def test_empty_gzip_and_truncated_gzip(tmp_path):
    path = tmp_path / "empty.ndjson.gz"
    with gzip.open(path, "wt") as fh:
        fh.write("")
    check(path, "empty")
    good = tmp_path / "good.ndjson.gz"
    with gzip.open(good, "wt") as fh:
        fh.write((GOOD + "\n") * 200)
    cut = tmp_path / "cut.ndjson.gz"
    cut.write_bytes(good.read_bytes()[:60])
    check(cut, "unreadable")


def test_line_not_json(tmp_path):
    check(ndjson(tmp_path, GOOD, '{"drawing": [[[1], [2]]'), "line 2", "not JSON")


def test_record_without_drawing(tmp_path):
    check(ndjson(tmp_path, GOOD, GOOD, '{"word": "cat"}'), "line 3", "drawing")


def test_drawing_with_no_strokes(tmp_path):
    check(ndjson(tmp_path, GOOD, '{"drawing": []}'), "line 2", "no strokes")
    check(ndjson(tmp_path, '{"drawing": [[[], []]]}', name="nopts.ndjson"), "line 1", "no points")


def test_xy_of_different_length(tmp_path):
    check(ndjson(tmp_path, '{"drawing": [[[1, 2, 3], [4, 5]]]}'), "line 1", "different lengths")


@pytest.mark.parametrize("value", ["NaN", "Infinity", "-Infinity", "1e30", "1e400"])
def test_non_finite_and_huge_coordinates(tmp_path, value):
    line = '{"drawing": [[[0, 1], [0, 1]], [[3, VALUE], [4, 5]]]}'.replace("VALUE", value)
    check(ndjson(tmp_path, GOOD, line), "line 2", "stroke 1")


def test_non_numeric_and_nested_values(tmp_path):
    check(ndjson(tmp_path, '{"drawing": [[["a", "b"], [1, 2]]]}'), "line 1", "non-numeric")
    check(ndjson(tmp_path, '{"drawing": [[[[1], [2]], [[1], [2]]]]}', name="n.ndjson"), "non-numeric")
    deep = '{"drawing": ' + "[" * 100_000 + "]" * 100_000 + "}"
    check(ndjson(tmp_path, deep, name="deep.ndjson"), "line 1")


def test_single_point_stroke_is_kept(tmp_path):
    path = ndjson(tmp_path, '{"drawing": [[[5], [7]], [[0, 1], [0, 1]]]}')
    (s,) = read_all(path)
    assert s.n_strokes == 2
    assert np.array_equal(s.strokes[0], [[5, 7]])


def test_100k_strokes_refused_before_building_arrays(tmp_path, monkeypatch):
    stroke = [[1, 2], [3, 4]]
    path = ndjson(tmp_path, GOOD, json.dumps({"drawing": [stroke] * 100_000}))
    calls = []
    real_array = np.array

    def spy(*args, **kwargs):
        calls.append(1)
        return real_array(*args, **kwargs)

    start = time.perf_counter()
    with pytest.raises(StrokelensError) as info:
        it = read_sketches(path)
        next(it)  # the good line builds its arrays normally
        monkeypatch.setattr(np, "array", spy)
        next(it)
    elapsed = time.perf_counter() - start
    msg = str(info.value)
    assert "line 2" in msg and "100000 strokes" in msg and str(MAX_STROKES) in msg
    assert calls == []  # refused on the JSON lists, before any array was made
    assert elapsed < 10.0  # generous: the machine may be busy; the spy above is the real check


def test_too_many_points_refused(tmp_path):
    # one-digit values keep the 600,000-point line (3.6 MB) under the 8 MiB line cap, so the point
    # limit is what refuses it (list(range(600_000)) made a 9.4 MB line, now refused by the line cap)
    xs = [k % 10 for k in range(600_000)]
    path = ndjson(tmp_path, json.dumps({"drawing": [[xs, xs]]}))
    check(path, "line 1", "limit of 500000 points")


def test_overlong_line_refused(tmp_path, monkeypatch):
    from strokelens.io import quickdraw

    monkeypatch.setattr(quickdraw, "MAX_LINE_CHARS", 1000)
    path = ndjson(tmp_path, GOOD, json.dumps({"drawing": [[list(range(500)), list(range(500))]]}))
    check(path, "line 2", "longer than")


def test_spg_part_label_out_of_range(tmp_path):
    (tmp_path / "parts").mkdir()
    (tmp_path / "parts" / "cat.txt").write_text("head\nbody\n")
    path = ndjson(tmp_path, '{"key_id": "1", "drawing": [[[0, 1], [0, 1], [0, 5]]]}', name="cat.ndjson")
    check(path, "line 1", "part label 5")


BOMB = """<?xml version="1.0"?>
<!DOCTYPE svg [
 <!ENTITY a "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa">
 <!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">
 <!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;">
 <!ENTITY d "&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;">
 <!ENTITY e "&d;&d;&d;&d;&d;&d;&d;&d;&d;&d;&d;&d;&d;&d;&d;&d;">
 <!ENTITY f "&e;&e;&e;&e;&e;&e;&e;&e;&e;&e;&e;&e;&e;&e;&e;&e;">
 <!ENTITY g "&f;&f;&f;&f;&f;&f;&f;&f;&f;&f;&f;&f;&f;&f;&f;&f;">
]>
<svg xmlns="http://www.w3.org/2000/svg"><title>&g;</title><path d="M0 0 L10 10"/></svg>
"""

EXTERNAL = """<?xml version="1.0"?>
<!DOCTYPE svg [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>
<svg xmlns="http://www.w3.org/2000/svg"><title>&xxe;</title><path d="M0 0 L10 10"/></svg>
"""

EXTERNAL_PARAM = """<?xml version="1.0"?>
<!DOCTYPE svg [<!ENTITY % ext SYSTEM "file:///etc/passwd"> %ext;]>
<svg xmlns="http://www.w3.org/2000/svg"><path d="M0 0 L10 10"/></svg>
"""


def test_svg_entity_bomb(tmp_path):
    path = tmp_path / "bomb.svg"
    path.write_text(BOMB)
    start = time.perf_counter()
    check(path, "entit")
    assert time.perf_counter() - start < 2.0


@pytest.mark.parametrize("text", [EXTERNAL, EXTERNAL_PARAM])
def test_svg_external_entity(tmp_path, text):
    path = tmp_path / "xxe.svg"
    path.write_text(text)
    check(path, "external entit", "file:///etc/passwd")


def test_svg_not_xml_no_paths_bad_path_data(tmp_path):
    bad = tmp_path / "bad.svg"
    bad.write_text('<svg xmlns="http://www.w3.org/2000/svg"><path d="M0 0 L1 1"></svg>')
    check(bad, "line 1", "well-formed")
    empty = tmp_path / "empty.svg"
    empty.write_text('<svg xmlns="http://www.w3.org/2000/svg"><g/></svg>')
    check(empty, "no strokes")
    nan = tmp_path / "nan.svg"
    nan.write_text('<svg xmlns="http://www.w3.org/2000/svg"><path id="p7" d="M0 0 L nan 1"/></svg>')
    check(nan, "'p7'")
    huge = tmp_path / "huge.svg"
    huge.write_text('<svg xmlns="http://www.w3.org/2000/svg"><path d="M0 0 L 1e30 1"/></svg>')
    check(huge, "out-of-range")
    notsvg = tmp_path / "x.svg"
    notsvg.write_text("<html/>")
    check(notsvg, "not an SVG")
    zero = tmp_path / "zero.svg"
    zero.write_text("")
    check(zero, "empty")


def test_svg_100k_paths_refused_fast(tmp_path):
    path = tmp_path / "many.svg"
    body = '<path d="M0 0 L1 1"/>' * 100_000
    path.write_text(f'<svg xmlns="http://www.w3.org/2000/svg">{body}</svg>')
    start = time.perf_counter()
    check(path, "strokes", str(MAX_STROKES))
    assert time.perf_counter() - start < 10.0


def good_npz(tmp_path: Path) -> Path:
    path = tmp_path / "cat.npz"
    sketches = [Sketch([np.arange(40.0).reshape(-1, 2) * (k + 1)]) for k in range(30)]
    write_sketches(sketches, path)
    return path


def test_truncated_npz(tmp_path):
    data = good_npz(tmp_path).read_bytes()
    for cut in (0, 10, len(data) // 3, len(data) // 2, len(data) - 30, len(data) - 1):
        path = tmp_path / f"cut{cut}.npz"
        path.write_bytes(data[:cut])
        check(path)


def test_corrupt_npz_member(tmp_path):
    data = bytearray(good_npz(tmp_path).read_bytes())
    data[80:90] = b"\xff" * 10  # inside the first member's compressed data
    path = tmp_path / "corrupt.npz"
    path.write_bytes(bytes(data))
    check(path, "corrupt")


def npz_with(tmp_path: Path, name: str, members: dict[str, bytes]) -> Path:
    path = tmp_path / name
    with zipfile.ZipFile(path, "w") as zf:
        for key, raw in members.items():
            zf.writestr(key + ".npy", raw)
    return path


def npy_bytes(arr: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.save(buf, arr, allow_pickle=True)
    return buf.getvalue()


def test_npz_records_bad_shape_or_empty(tmp_path):
    items = np.empty(2, dtype=object)
    items[0] = np.zeros((3, 3), np.int16)
    items[1] = np.zeros((4, 2), np.int16)
    check(npz_with(tmp_path, "a.npz", {"train": npy_bytes(items)}), "record 1", "(n, 3)")
    items[1] = np.zeros((0, 3), np.int16)
    check(npz_with(tmp_path, "b.npz", {"train": npy_bytes(items)}), "record 1", "no strokes")
    lifts = np.zeros((100_000, 3), np.int16)
    lifts[:, 2] = 1
    items[1] = lifts
    check(npz_with(tmp_path, "c.npz", {"train": npy_bytes(items)}), "record 1", "100000 strokes")
    check(npz_with(tmp_path, "d.npz", {"other": npy_bytes(np.zeros(3))}), "no train/valid/test")
    check(npz_with(tmp_path, "e.npz", {"train": npy_bytes(np.empty(0, dtype=object))}), "empty")
    check(npz_with(tmp_path, "f.npz", {"train": npy_bytes(np.full((2, 3), np.nan))}), "record 0")
