"""sketch-rnn stroke-3 .npz: round trips, sketch-rnn compatibility, and refusal of anything unsafe."""

from __future__ import annotations

import io
import os
import pickle
import struct
import zipfile
from pathlib import Path

import numpy as np
import pytest

from strokelens import Sketch, StrokelensError
from strokelens.io import read_sketches, read_strokes3, write_sketches
from strokelens.io.strokes3 import parse_array_pickle


def sketches(n: int = 5, scale: float = 1.0) -> list[Sketch]:
    rng = np.random.default_rng(0)
    out = []
    for k in range(n):
        strokes = [rng.integers(0, 255, (int(m), 2)) * scale for m in rng.integers(1, 30, k % 4 + 1)]
        out.append(Sketch(strokes))
    return out


def npz(path: Path, members: dict[str, bytes]) -> Path:
    with zipfile.ZipFile(path, "w") as zf:
        for key, raw in members.items():
            zf.writestr(key + ".npy", raw)
    return path


def header(descr: str, shape: tuple) -> bytes:
    text = f"{{'descr': '{descr}', 'fortran_order': False, 'shape': {shape}, }}"
    text += " " * (63 - len(text) % 64) + "\n"
    return b"\x93NUMPY\x01\x00" + struct.pack("<H", len(text)) + text.encode()


def test_round_trip_splits_and_dtypes(tmp_path):
    src = sketches(6)
    for s, split in zip(src, ["train", "val", "test", "train", None, "valid"], strict=True):
        if split:
            s.meta["split"] = split
    src.append(Sketch([[[0.5, 1.25], [3.0, 4.0]]]))  # not whole numbers -> float64
    path = tmp_path / "cat.npz"
    write_sketches(src, path)
    back = list(read_sketches(path))
    assert [s.meta["split"] for s in back] == ["train"] * 4 + ["val"] * 2 + ["test"]
    expect = [src[0], src[3], src[4], src[6], src[1], src[5], src[2]]
    assert len(back) == len(expect)
    for a, b in zip(expect, back, strict=True):
        assert b.label == "cat"
        assert [len(s) for s in a.strokes] == [len(s) for s in b.strokes]
        assert np.allclose(a.points(), b.points(), atol=1e-9)
    # sketch-rnn code loads the file the usual way and sees int16 stroke-3 rows
    with np.load(path, allow_pickle=True, encoding="latin1") as data:
        assert set(data.files) == {"train", "valid", "test"}
        assert data["train"][0].dtype == np.int16
        assert np.array_equal(data["train"][0], src[0].to_stroke3())
        assert data["train"][-1].dtype == np.float64
    assert len(list(read_strokes3(path, limit=2))) == 2


def test_numeric_member_is_one_sketch(tmp_path):
    s3 = Sketch([[[0, 0], [5, 5]], [[1, 1]]]).to_stroke3()
    path = tmp_path / "dog.npz"
    np.savez(path, test=s3)
    (s,) = list(read_sketches(path))
    assert s.meta["split"] == "test" and s.n_strokes == 2
    assert np.array_equal(s.strokes[1], [[1, 1]])


def test_protocol2_pickle_from_python3(tmp_path):
    items = np.empty(2, dtype=object)
    items[0] = np.array([[1, 2, 0], [3, 4, 1]], dtype=np.int16)
    items[1] = np.array([[5, 6, 1]], dtype=">i4")  # big-endian survives
    raw = header("|O", (2,)) + pickle.dumps(items, protocol=2)
    got = list(read_sketches(npz(tmp_path / "p2.npz", {"train": raw})))
    assert np.array_equal(got[0].strokes[0], [[1, 2], [4, 6]])
    assert np.array_equal(got[1].strokes[0], [[5, 6]])


def py2_array(shape: tuple, code: str, data: bytes) -> bytes:
    """An ndarray pickled the way Python 2 did it (GLOBAL, BINSTRING), body only (no PROTO/STOP)."""

    def sbs(s: bytes) -> bytes:
        return b"U" + bytes([len(s)]) + s

    dims = b"".join(b"K" + bytes([d]) for d in shape) + {1: b"\x85", 2: b"\x86"}[len(shape)]
    return (
        b"cnumpy.core.multiarray\n_reconstruct\n"
        + b"cnumpy\nndarray\nK\x00\x85"
        + sbs(b"b")
        + b"\x87R(K\x01"
        + dims
        + b"cnumpy\ndtype\n"
        + sbs(code.encode())
        + b"K\x00K\x01\x87R(K\x03"
        + sbs(b"<" if code != "O8" else b"|")
        + b"NNNJ\xff\xff\xff\xffJ\xff\xff\xff\xffK\x00tb\x89"
        + data
        + b"tb"
    )


def test_python2_sketch_rnn_pickle(tmp_path):
    a = np.array([[1, 2, 0], [3, 4, 1]], dtype="<i2")
    b = np.array([[7, 8, 1]], dtype="<i2")
    inner = [py2_array(x.shape, "i2", b"U" + bytes([x.nbytes]) + x.tobytes()) for x in (a, b)]
    body = py2_array((2,), "O8", b"](" + b"".join(inner) + b"e")
    raw = b"\x80\x02" + body + b"."
    arr = parse_array_pickle(raw)
    assert arr.dtype == object and np.array_equal(arr[0], a) and np.array_equal(arr[1], b)
    got = list(read_sketches(npz(tmp_path / "cat.npz", {"valid": header("|O", (2,)) + raw})))
    assert [s.meta["split"] for s in got] == ["val", "val"]
    assert np.array_equal(got[0].strokes[0], [[1, 2], [4, 6]])


class Evil:
    def __reduce__(self):
        return (os.system, ("touch pwned-by-pickle",))


@pytest.mark.parametrize(
    "payload, fragment",
    [
        (Evil(), "refusing the pickled global"),
        ([np.zeros((2, 3))], "does not hold an array"),
        ({"a": 1}, "not allowed"),
    ],
)
def test_unsafe_pickles_are_refused_not_run(tmp_path, monkeypatch, payload, fragment):
    monkeypatch.chdir(tmp_path)
    raw = header("|O", (1,)) + pickle.dumps(payload, protocol=4)
    path = npz(tmp_path / "evil.npz", {"train": raw})
    with pytest.raises(StrokelensError) as info:
        list(read_sketches(path))
    assert str(path) in str(info.value) and fragment in str(info.value)
    assert not (tmp_path / "pwned-by-pickle").exists()


def test_object_array_holding_non_arrays_is_refused(tmp_path):
    items = np.empty(2, dtype=object)
    items[0] = np.zeros((2, 3))
    items[1] = "a string"
    raw = io.BytesIO()
    np.save(raw, items, allow_pickle=True)
    path = npz(tmp_path / "mixed.npz", {"train": raw.getvalue()})
    with pytest.raises(StrokelensError, match="something other than a numeric array"):
        list(read_sketches(path))


def test_structured_dtype_refused():
    arr = np.zeros(2, dtype=[("a", "<i4")])
    with pytest.raises(ValueError):
        parse_array_pickle(pickle.dumps(np.array([arr], dtype=object), protocol=4))
