"""Limits before work: file, line and member caps, point counting while tokenising, SPG without parts."""

from __future__ import annotations

import gzip
import io
import json
import os
import shutil
import subprocess
import sys
import time
import tracemalloc
import zipfile
from pathlib import Path

import numpy as np
import pytest

from strokelens import StrokelensError
from strokelens.io import quickdraw, read_sketches, strokes3, svg
from strokelens.io.svg import parse_path
from strokelens.sketch import MAX_POINTS, MAX_STROKES

SVG_HEAD = '<svg xmlns="http://www.w3.org/2000/svg">'

# ------------------------------------------------------------------------------------ SVG


def write_long_path_svg(path: Path, size: int) -> None:
    """An SVG of about ``size`` bytes holding one ``<path>`` of line segments with realistic numbers."""
    seg = " L123.456 789.012"
    body = seg * 4096
    with open(path, "w", encoding="ascii") as fh:
        fh.write(SVG_HEAD + '<path d="M0 0')
        for _ in range(max(1, (size - 80) // len(body))):
            fh.write(body)
        fh.write('"/></svg>\n')


# Reads the file in a child that imports only strokelens.io; it prints the exception's type and message,
# then the seconds read_sketches took. (strokelens.io pulls in strokelens.sketch, which imports
# PyTorch: that import is part of the child's wall time and memory.)
_CHILD = """
import sys, time
import strokelens.io.svg as svg
if len(sys.argv) > 2:
    svg.MAX_SVG_BYTES = int(sys.argv[2])
from strokelens.io import read_sketches
start = time.perf_counter()
try:
    list(read_sketches(sys.argv[1]))
    print("read without error")
except Exception as exc:
    print(type(exc).__name__, exc)
elapsed = time.perf_counter() - start
try:  # this process's own peak resident memory (Linux): not inherited from the parent before exec
    hwm = [l for l in open("/proc/self/status") if l.startswith("VmHWM:")][0].split()[1]
except OSError:
    hwm = "-1"
print("peak_kb", hwm)
print("read_s", elapsed)
"""


def run_measured(args: list[str], out: Path) -> tuple[float, float, float, float, str]:
    """Run the child; return its wall time, its CPU time (user + system), its read time (all in s),
    its own peak RSS (MB) and its message.

    ``os.wait4`` gives the rusage of that one child. Its peak memory is the child's own ``VmHWM``
    (Linux): ``ru_maxrss`` also counts the parent's memory copied into the child before ``exec``, so a
    pytest worker holding models reported 2.8 GB for a child that used under 300 MB. The time limits
    are checked on CPU time: on the shared 2-core machine, with other test runs going, wall time
    measures the load as much as the reader (the whole child once took 10 s of wall time for 2 s of
    CPU there).
    """
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}
    with open(out, "w") as fh:
        start = time.perf_counter()
        proc = subprocess.Popen([sys.executable, "-c", _CHILD, *args], stdout=fh, stderr=fh, env=env)
        _pid, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    lines = out.read_text().splitlines()
    assert proc.returncode == 0 and lines[-1].startswith("read_s "), "\n".join(lines)
    cpu = usage.ru_utime + usage.ru_stime
    peak_kb = float(lines[-2].split()[1])
    if peak_kb < 0:  # no /proc: fall back on the rusage figure (an upper bound)
        peak_kb = usage.ru_maxrss
    return wall, cpu, float(lines[-1].split()[1]), peak_kb / 1024, lines[0]


@pytest.mark.skipif(not hasattr(os, "wait4"), reason="needs os.wait4 (Linux, macOS)")
def test_30mb_one_path_svg_refused_fast_and_small(tmp_path):
    path = tmp_path / "long.svg"
    write_long_path_svg(path, 30 * 1024 * 1024)
    assert path.stat().st_size > 30_000_000
    wall, cpu, read_s, peak_mb, first = run_measured([str(path)], tmp_path / "child.txt")
    assert first.startswith(f"StrokelensError {path}: "), first
    assert "MAX_SVG_BYTES" in first and str(svg.MAX_SVG_BYTES) in first
    # the whole child, interpreter and imports included (before: 96 s and 3.6 GB)
    assert cpu < 5.0, f"{cpu:.1f} s of CPU (wall {wall:.1f} s)"
    assert peak_mb < 600, f"{peak_mb:.0f} MB"
    assert read_s < 1.0, f"read_sketches took {read_s:.1f} s"


@pytest.mark.skipif(not hasattr(os, "wait4"), reason="needs os.wait4 (Linux, macOS)")
def test_30mb_one_path_svg_stopped_at_the_point_limit_when_the_size_cap_is_raised(tmp_path):
    # With the size cap out of the way, counting points while tokenising must stop the path at the
    # point limit instead of tokenising all 30 MB of it.
    path = tmp_path / "long.svg"
    write_long_path_svg(path, 30 * 1024 * 1024)
    wall, cpu, read_s, peak_mb, first = run_measured([str(path), str(1 << 30)], tmp_path / "child.txt")
    assert first.startswith(f"StrokelensError {path}, <path> #2: "), first
    assert f"more than the limit of {MAX_POINTS} points" in first
    # the whole child: interpreter, PyTorch's import, 30 MB of XML, the path up to the limit
    assert cpu < 5.0, f"{cpu:.1f} s of CPU (wall {wall:.1f} s, read_sketches {read_s:.1f} s)"
    assert peak_mb < 600, f"{peak_mb:.0f} MB"


def test_path_tokenised_lazily_up_to_the_point_limit():
    # the junk at the end is never reached: the limit stops the tokeniser first
    d = "M0 0" + " L1 1" * 20 + " X"
    with pytest.raises(svg._Bad, match="more than the limit of 10 points"):
        parse_path(d, max_points=10)
    with pytest.raises(svg._Bad, match="unexpected 'X'"):
        parse_path(d, max_points=100)
    subpaths = "M0 0 " * 5 + "?"
    with pytest.raises(svg._Bad, match="more than the limit of 3 strokes"):
        parse_path(subpaths, max_subpaths=3)
    # exactly at the limit is fine: 1 start + 9 segments
    ((start, segs),) = parse_path("M0 0" + " L1 1" * 9, max_points=10)
    assert segs.shape == (9, 4, 2) and np.array_equal(start, [0, 0])


def test_point_budget_spans_elements(tmp_path, monkeypatch):
    monkeypatch.setattr(svg, "MAX_POINTS", 50)
    path = tmp_path / "three.svg"
    many = "M0 0" + " L1 1" * 30
    path.write_text(f'{SVG_HEAD}<path d="{many}"/><path id="b" d="{many}"/><path d="M0 0 X"/></svg>')
    with pytest.raises(StrokelensError) as info:
        list(read_sketches(path))
    msg = str(info.value)
    assert str(path) in msg and "(id 'b')" in msg and "more than the limit of 50 points" in msg
    poly = tmp_path / "poly.svg"
    pts = " ".join(f"{k},{k}" for k in range(60))
    poly.write_text(f'{SVG_HEAD}<polyline id="p" points="{pts}"/></svg>')
    with pytest.raises(StrokelensError, match=r"\(id 'p'\).*more than the limit of 50 points"):
        list(read_sketches(poly))


def test_stroke_limit_counted_inside_one_path(tmp_path):
    path = tmp_path / "dots.svg"
    path.write_text(f'{SVG_HEAD}<path d="{"M1 1 " * (MAX_STROKES + 1)}"/></svg>')
    with pytest.raises(StrokelensError, match=f"more than the limit of {MAX_STROKES} strokes"):
        list(read_sketches(path))
    ok = tmp_path / "ok.svg"
    ok.write_text(f'{SVG_HEAD}<path d="{"M1 1 " * MAX_STROKES}"/></svg>')
    (s,) = read_sketches(ok)
    assert s.n_strokes == MAX_STROKES


def test_svg_size_cap_names_its_constant(tmp_path, monkeypatch):
    path = tmp_path / "big.svg"
    path.write_text(f'{SVG_HEAD}<path d="M0 0{" L1 1" * 400}"/></svg>')
    monkeypatch.setattr(svg, "MAX_SVG_BYTES", 1000)
    with pytest.raises(StrokelensError) as info:
        list(read_sketches(path))
    msg = str(info.value)
    assert str(path) in msg and "limit of 1000 bytes" in msg
    assert "strokelens.io.svg.MAX_SVG_BYTES" in msg
    monkeypatch.setattr(svg, "MAX_SVG_BYTES", 1 << 20)  # raising the constant lets it through
    (s,) = read_sketches(path)
    assert s.n_points == 401


def test_svg_size_cap_is_far_above_real_files(home):
    sizes = [p.stat().st_size for p in (home / "data" / "tu-berlin-svg").glob("*/*.svg")]
    assert len(sizes) == 15
    assert max(sizes) * 100 < svg.MAX_SVG_BYTES  # largest real file: 21,250 bytes


# ---------------------------------------------------------------------------------- ndjson


def test_line_cap_names_its_constant_and_can_be_raised(tmp_path, monkeypatch):
    path = tmp_path / "long.ndjson"
    path.write_text(json.dumps({"drawing": [[list(range(500)), list(range(500))]]}) + "\n")
    monkeypatch.setattr(quickdraw, "MAX_LINE_CHARS", 1000)
    with pytest.raises(StrokelensError) as info:
        list(read_sketches(path))
    msg = str(info.value)
    assert "line 1" in msg and "limit of 1000 characters" in msg
    assert "strokelens.io.quickdraw.MAX_LINE_CHARS" in msg
    monkeypatch.setattr(quickdraw, "MAX_LINE_CHARS", 10_000)
    (s,) = read_sketches(path)
    assert s.n_points == 500


def test_line_cap_holds_a_record_at_the_point_limit(tmp_path):
    # SPG density (3-digit raw coordinates and a part label a point): the point limit, not the line
    # cap, is what a record of real density meets first
    rng = np.random.default_rng(0)
    strokes = []
    for k in range(MAX_POINTS // 1000):
        xy = rng.integers(100, 1000, size=(2, 1000)).tolist()
        strokes.append([*xy, [k % 7] * 1000])
    line = json.dumps({"i": 0, "key_id": "1", "drawing": strokes})
    assert len(line) < quickdraw.MAX_LINE_CHARS
    (tmp_path / "parts").mkdir()
    (tmp_path / "parts" / "cat.txt").write_text("".join(f"p{k}\n" for k in range(7)))
    path = tmp_path / "cat.ndjson"
    path.write_text(line + "\n")
    (s,) = read_sketches(path)
    assert s.n_points == MAX_POINTS


def test_too_many_points_message(tmp_path):
    xs = [k % 10 for k in range(MAX_POINTS + 1)]
    path = tmp_path / "many.ndjson"
    path.write_text(json.dumps({"drawing": [[xs, xs]]}) + "\n")
    with pytest.raises(StrokelensError, match=f"line 1: more than the limit of {MAX_POINTS} points"):
        list(read_sketches(path))


# ------------------------------------------------------------------------ SPG without parts


def test_real_spg_file_without_parts_folder_is_refused(spg_dir, tmp_path):
    src = spg_dir / "candle.ndjson.gz"
    dst = tmp_path / "candle.ndjson.gz"
    shutil.copyfile(src, dst)
    with pytest.raises(StrokelensError) as info:
        list(read_sketches(dst))
    msg = str(info.value)
    assert f"{dst}, line 1" in msg
    assert "part names are missing" in msg
    assert str(tmp_path / "parts" / "candle.txt") in msg
    # with its parts folder beside it, the same file reads as SPG
    (tmp_path / "parts").mkdir()
    shutil.copyfile(spg_dir / "parts" / "candle.txt", tmp_path / "parts" / "candle.txt")
    sketches = list(read_sketches(dst, limit=5))
    assert len(sketches) == 5 and sketches[0].parts is not None and sketches[0].times is None


def test_spg_shaped_record_without_i_key(tmp_path):
    # labels constant along each stroke are part labels, even without SPG's "i" key
    rec = {"key_id": "1", "drawing": [[[0, 5, 9], [0, 5, 9], [2, 2, 2]], [[1, 2], [3, 4], [0, 0]]]}
    path = tmp_path / "cup.ndjson"
    path.write_text(json.dumps(rec) + "\n")
    with pytest.raises(StrokelensError, match=r"constant along every stroke.*parts/cup\.txt"):
        list(read_sketches(path))


def test_constant_but_rising_times_are_times(tmp_path):
    # every stroke drawn within one millisecond: constant along each stroke, but never going back
    rec = {"key_id": "1", "drawing": [[[0, 5, 9], [0, 5, 9], [0, 0, 0]], [[1, 2], [3, 4], [7, 7]]]}
    path = tmp_path / "fast.ndjson"
    path.write_text(json.dumps(rec) + "\n")
    (sketch,) = read_sketches(path)
    assert sketch.parts is None and [t.tolist() for t in sketch.times] == [[0, 0, 0], [7, 7]]


def test_raw_quickdraw_with_times_still_reads(tmp_path):
    rec = {
        "word": "cup",
        "drawing": [[[0, 5, 9], [0, 5, 9], [0, 16, 40]], [[1, 2], [3, 4], [90, 120]], [[7], [7], [150]]],
    }
    path = tmp_path / "raw.ndjson.gz"
    with gzip.open(path, "wt") as fh:
        fh.write(json.dumps(rec) + "\n")
    (s,) = read_sketches(path)
    assert s.times is not None and s.parts is None
    assert np.array_equal(s.times[0], [0, 16, 40]) and np.array_equal(s.times[2], [150])


# ------------------------------------------------------------------------------------- npz


def npz_member(
    tmp_path: Path, raw: bytes, name: str = "cat.npz", compress: int = zipfile.ZIP_DEFLATED
) -> Path:
    path = tmp_path / name
    with zipfile.ZipFile(path, "w", compress) as zf:
        zf.writestr("train.npy", raw)
    return path


def npy(arr: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.save(buf, arr, allow_pickle=True)
    return buf.getvalue()


def sketch_items(n: int, rows: int) -> np.ndarray:
    items = np.empty(n, dtype=object)
    for i in range(n):
        a = np.zeros((rows, 3), np.int16)
        a[:, 0] = 1
        a[-1, 2] = 1
        items[i] = a
    return items


def test_member_cap_names_its_constant_and_can_be_raised(tmp_path, monkeypatch):
    path = npz_member(tmp_path, npy(sketch_items(20, 100)))
    monkeypatch.setattr(strokes3, "MAX_MEMBER_BYTES", 1000)
    with pytest.raises(StrokelensError) as info:
        list(read_sketches(path))
    msg = str(info.value)
    assert str(path) in msg and "'train'" in msg and "limit of 1000 bytes" in msg
    assert "strokelens.io.strokes3.MAX_MEMBER_BYTES" in msg
    monkeypatch.setattr(strokes3, "MAX_MEMBER_BYTES", 1 << 20)
    assert len(list(read_sketches(path))) == 20


@pytest.mark.parametrize("kind", ["object", "numeric"])
def test_member_read_once_without_a_second_copy(tmp_path, kind):
    arr = sketch_items(700, 5000) if kind == "object" else np.ones((3_500_000, 3), np.int16)
    raw = npy(arr)  # about 21 MB either way
    path = npz_member(tmp_path, raw)
    del arr
    with zipfile.ZipFile(path) as zf:
        info = zf.getinfo("train.npy")
        tracemalloc.start()
        try:
            got = strokes3._read_member(zf, info)
            _current, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
    assert got.shape == ((700,) if kind == "object" else (3_500_000, 3))
    # before: 4.0x (object) and 2.5x (numeric) the member's size at peak
    assert peak < 1.3 * len(raw), f"peak {peak / len(raw):.2f}x the member size"


def test_numeric_header_larger_than_the_member_is_refused_before_allocating(tmp_path):
    buf = io.BytesIO()
    header = {"descr": "<i2", "fortran_order": False, "shape": (999_999_999_999, 3)}
    np.lib.format.write_array_header_1_0(buf, header)
    liar = buf.getvalue() + np.zeros((4, 3), "<i2").tobytes()  # 6 TB declared, 24 bytes held
    path = npz_member(tmp_path, liar, compress=zipfile.ZIP_STORED)
    start = time.perf_counter()
    with pytest.raises(StrokelensError) as info:
        list(read_sketches(path))
    msg = str(info.value)
    assert "'train'" in msg and "header says shape (999999999999, 3)" in msg and "holds 24" in msg
    assert time.perf_counter() - start < 5.0
