"""ndjson fields beyond the coordinates (a bug hunt's findings): labels, ids, part labels and times of
the wrong type are refused with the file and line; one undecodable line costs only itself; a
truncated gzip keeps the records before the break; an upper-case ``.GZ`` is still gzip."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest

from strokelens import StrokelensError
from strokelens.io import count_records, read_records, read_sketches, write_sketches
from strokelens.io.quickdraw import read_spg

GOOD = {"word": "cat", "key_id": "1", "drawing": [[[0, 10, 20], [0, 5, 0]]]}


def write_lines(path: Path, lines: list[bytes]) -> Path:
    path.write_bytes(b"".join(line + b"\n" for line in lines))
    return path


def line(**fields) -> bytes:
    return json.dumps({**GOOD, **fields}).encode()


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"word": 5}, "'word' must be a string, got 5"),
        ({"key_id": {"x": 1}}, "'key_id' must be a string or an integer"),
        ({"key_id": True}, "'key_id' must be a string or an integer"),
        ({"drawing": [[[0, 10], [0, 5], [0, float("nan")]]]}, "times must be finite"),
    ],
)
def test_fields_of_the_wrong_type_are_refused_with_the_line(tmp_path, fields, message):
    path = write_lines(tmp_path / "a.ndjson", [line(), line(**fields)])
    with pytest.raises(StrokelensError, match=message) as info:
        list(read_sketches(path))
    assert f"{path}, line 2" in str(info.value)


def test_a_null_key_id_is_no_key_id(tmp_path):
    path = write_lines(tmp_path / "a.ndjson", [line(key_id=None)])
    assert next(read_sketches(path)).key_id is None


@pytest.mark.parametrize("label", [1.7, -1, float("nan")])
def test_spg_part_labels_must_be_whole_numbers_from_zero(tmp_path, label):
    rec = {"key_id": "1", "drawing": [[[0, 1], [0, 1], [0, label]]]}
    path = write_lines(tmp_path / "cat.ndjson", [json.dumps(rec).encode()])
    with pytest.raises(StrokelensError, match="part labels must be whole numbers from 0"):
        list(read_spg(path))


def test_one_undecodable_line_costs_only_itself(tmp_path):
    lines = (
        [line(key_id=str(i)) for i in range(5)] + [b"\xff\xfe"] + [line(key_id=str(i)) for i in range(5, 10)]
    )
    path = write_lines(tmp_path / "a.ndjson", lines)
    got = list(read_records(path))
    assert [i for i, r in got] == list(range(11)) and count_records(path) == 11
    assert isinstance(got[5][1], StrokelensError) and "line 6: unreadable" in str(got[5][1])
    assert [r.key_id for i, r in got if i != 5] == [str(i) for i in range(10)]


def test_a_truncated_gzip_keeps_the_records_before_the_break(tmp_path):
    whole = gzip.compress(b"".join(line(key_id=str(i)) + b"\n" for i in range(400)))
    path = tmp_path / "a.ndjson.gz"
    path.write_bytes(whole[: len(whole) - 40])
    got = list(read_records(path))
    good = [r for _, r in got if not isinstance(r, StrokelensError)]
    assert len(good) > 300 and isinstance(got[-1][1], StrokelensError)
    assert count_records(path) == len(got)  # a dataset job plans the rows it will get


def test_upper_case_gz_is_gzip_both_ways(tmp_path):
    sketches = list(read_sketches(write_lines(tmp_path / "a.ndjson", [line()])))
    path = tmp_path / "B.NDJSON.GZ"
    write_sketches(sketches, path)
    assert path.read_bytes()[:2] == b"\x1f\x8b"
    assert next(read_sketches(path)).label == "cat"


def test_writing_keeps_meta_and_parts_or_refuses_what_it_cannot_keep(tmp_path):
    from strokelens import Sketch

    raw = {**GOOD, "countrycode": "FR", "recognized": True}
    (sketch,) = read_sketches(write_lines(tmp_path / "a.ndjson", [json.dumps(raw).encode()]))
    write_sketches([sketch], tmp_path / "b.ndjson")
    assert next(read_sketches(tmp_path / "b.ndjson")).meta == {"countrycode": "FR", "recognized": True}
    strokes = [sketch.strokes[0]]
    unnamed = Sketch(strokes=strokes, parts=[[0, 2, 1]], label="cat")
    write_sketches([unnamed], tmp_path / "cat.ndjson")
    back = next(read_sketches(tmp_path / "cat.ndjson"))
    assert back.part_names == ["part 0", "part 1", "part 2"] and back.parts[0].tolist() == [0, 2, 1]
    named = [
        Sketch(strokes=strokes, parts=[[0, 1, 1]], part_names=n, label="cat")
        for n in (["a", "b"], ["x", "y"])
    ]
    with pytest.raises(StrokelensError, match="sketch 1 has other part names than the first"):
        write_sketches(named, tmp_path / "two.ndjson")


def test_stroke3_pen_values_are_zero_or_one():
    from strokelens import Sketch

    with pytest.raises(StrokelensError, match=r"stroke-3 pen values are 0 or 1, got 0\.3"):
        Sketch.from_stroke3([[1, 2, 0], [3, 4, 0.3]])
