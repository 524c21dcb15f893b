"""Property test: random sketches survive every writer/reader pair (ndjson, ndjson.gz, npz, svg)."""

from __future__ import annotations

import pickle
import tempfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from strokelens import Sketch
from strokelens.errors import StrokelensError
from strokelens.io import read_sketches, write_sketches

coord = st.one_of(
    st.integers(-3000, 3000).map(float),
    st.floats(-1e4, 1e4, allow_nan=False, allow_infinity=False),
)
stroke = st.lists(st.tuples(coord, coord), min_size=1, max_size=12)
label = st.text(alphabet="abcdefghijklmnopqrstuvwxyz ", min_size=1, max_size=12).map(str.strip).filter(bool)


@st.composite
def sketches(draw) -> Sketch:
    strokes = [np.array(s, dtype=np.float64) for s in draw(st.lists(stroke, min_size=1, max_size=6))]
    extra = draw(st.sampled_from(["none", "times", "parts"]))
    kwargs: dict = {
        "label": draw(st.one_of(st.none(), label)),
        "key_id": draw(st.one_of(st.none(), st.text("0123456789", min_size=1, max_size=8))),
    }
    if extra == "times":
        counts = [len(s) for s in strokes]
        steps = draw(st.lists(st.integers(0, 500), min_size=sum(counts), max_size=sum(counts)))
        t = np.cumsum(steps).astype(np.float64)
        kwargs["times"] = np.split(t, np.cumsum(counts)[:-1])
    elif extra == "parts":
        names = ["head", "body", "tail"]
        kwargs["parts"] = [np.full(len(s), draw(st.integers(0, 2)), dtype=np.int64) for s in strokes]
        kwargs["part_names"] = names
    return Sketch(strokes, **kwargs)


def close(a: Sketch, b: Sketch, tol: float) -> None:
    assert [len(s) for s in a.strokes] == [len(s) for s in b.strokes]
    assert np.abs(a.points() - b.points()).max() <= tol


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(batch=st.lists(sketches(), min_size=1, max_size=4))
def test_round_trip_every_format(batch):
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        # ndjson / ndjson.gz: coordinates to 3 decimals, labels, key ids, times and parts kept
        same_kind = [s for s in batch if (s.parts is None) == (batch[0].parts is None)]
        for name in ("sk.ndjson", "sk.ndjson.gz"):
            write_sketches(same_kind, folder / name)
            back = list(read_sketches(folder / name))
            assert len(back) == len(same_kind)
            for a, b in zip(same_kind, back, strict=True):
                close(a, b, 5e-4 + 1e-9)
                # SPG files name their class by the file name when records carry no "word"
                assert b.label == (a.label or "sk" if a.parts is not None else a.label)
                if a.key_id is not None:
                    assert b.key_id == a.key_id
                if a.parts is not None:
                    assert b.part_names == a.part_names
                    assert all(np.array_equal(p, q) for p, q in zip(a.parts, b.parts, strict=True))
                elif a.times is not None:
                    assert all(np.allclose(p, q) for p, q in zip(a.times, b.times, strict=True))
        # npz: exact geometry (int16 when whole, float64 otherwise), order kept within a split
        write_sketches(batch, folder / "sk.npz")
        back = list(read_sketches(folder / "sk.npz"))
        assert len(back) == len(batch)
        for a, b in zip(batch, back, strict=True):
            close(a, b, 1e-7)
        # svg: one file a sketch, three decimals
        for a in batch:
            write_sketches([a], folder / "sk.svg")
            (b,) = list(read_sketches(folder / "sk.svg"))
            close(a, b, 5e-4 + 1e-9)
            assert b.label == a.label


def test_each_file_name_picks_its_format_object(tmp_path):
    from strokelens.io import NDJSON, NPZ, SVG, format_named_by, sketch_format

    for name, fmt in (("a.ndjson", NDJSON), ("b.JSONL.GZ", NDJSON), ("c.npz", NPZ), ("d.Svg", SVG)):
        assert format_named_by(Path(name)) is fmt
    with pytest.raises(StrokelensError, match="unsupported sketch file type"):
        format_named_by(Path("e.txt"))
    path = tmp_path / "one.svg"
    path.write_text("<svg/>")
    assert sketch_format(path) == (path, SVG)
    assert pickle.loads(pickle.dumps(NDJSON)) is NDJSON  # a format travels as the one instance
