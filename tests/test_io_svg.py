"""SVG: the 15 real TU-Berlin files, transforms, path commands, curve flattening, writing."""

from __future__ import annotations

import math
import re
from pathlib import Path

import numpy as np
import pytest

from strokelens import Sketch, StrokelensError
from strokelens.io import read_sketches, svg_text, write_sketches, write_svg
from strokelens.io.svg import FLATNESS, parse_path, parse_transform


@pytest.fixture(scope="session")
def tu_files(home: Path) -> list[Path]:
    files = sorted((home / "data" / "tu-berlin-svg").glob("*/*.svg"))
    assert len(files) == 15
    return files


def read_one(path: Path) -> Sketch:
    (s,) = list(read_sketches(path))
    return s


def svg(tmp_path: Path, body: str, name: str = "t.svg") -> Path:
    path = tmp_path / name
    path.write_text(f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 100 100">{body}</svg>')
    return path


def bezier(p: np.ndarray, t: np.ndarray) -> np.ndarray:
    t = t[:, None]
    return (1 - t) ** 3 * p[0] + 3 * (1 - t) ** 2 * t * p[1] + 3 * (1 - t) * t**2 * p[2] + t**3 * p[3]


def test_real_files_one_stroke_per_path(tu_files):
    for path in tu_files:
        text = path.read_text()
        s = read_one(path)
        assert s.n_strokes == len(re.findall(r"<path\b", text))
        assert s.label == path.parent.name
        assert s.meta["viewBox"] == [0, 0, 800, 800]
        x0, y0, x1, y1 = s.bbox()
        # TU-Berlin centres drawings in the 800x800 frame with a margin of about 87.5 units
        assert min(x0, y0) > 60 and max(x1, y1) < 740 and max(x1 - x0, y1 - y0) > 500


def test_real_file_transform_applied(tu_files):
    path = next(p for p in tu_files if p.parent.name == "airplane" and p.name == "1.svg")
    s = read_one(path)
    # translate(87.52,135.4065) scale(1.6233) translate(0,-60) applied to "M167 268" and the end "265 283"
    assert np.allclose(s.strokes[0][0], [87.52 + 1.6233 * 167, 135.4065 + 1.6233 * (268 - 60)])
    assert np.allclose(s.strokes[0][-1], [87.52 + 1.6233 * 265, 135.4065 + 1.6233 * (283 - 60)])


def test_flattening_within_tolerance(tu_files):
    text = tu_files[0].read_text()
    d = re.search(r'<path id="1" d="([^"]+)"', text).group(1)
    (start, segs), *_ = parse_path(d)
    path = svg_path_only(d)
    pts = read_one(path).strokes[0]
    dense = np.concatenate([bezier(seg, np.linspace(0, 1, 2000)) for seg in segs])
    # every flattened point lies on the curve
    dist_to_curve = np.min(np.linalg.norm(pts[:, None] - dense[None], axis=2), axis=1)
    assert dist_to_curve.max() < 0.05
    # and the polyline stays within FLATNESS of every curve point
    a, b = pts[:-1], pts[1:]
    ab = b - a
    tt = np.clip(((dense[:, None] - a[None]) * ab[None]).sum(-1) / np.maximum((ab**2).sum(-1), 1e-12), 0, 1)
    proj = a[None] + tt[..., None] * ab[None]
    dev = np.min(np.linalg.norm(dense[:, None] - proj, axis=2), axis=1)
    assert dev.max() <= FLATNESS + 1e-6
    assert np.allclose(pts[0], start)


def svg_path_only(d: str) -> Path:
    import tempfile

    folder = Path(tempfile.mkdtemp())
    path = folder / "p.svg"
    path.write_text(f'<svg xmlns="http://www.w3.org/2000/svg"><path d="{d}"/></svg>')
    return path


def test_nested_transforms_compose(tmp_path):
    body = (
        '<g transform="translate(10,20)"><g transform="scale(2) rotate(90)">'
        '<path d="M1 0 L2 0"/></g></g>'
        '<g transform="matrix(1 0 0 1 5 5)"><path d="M0 0 L1 1" transform="skewX(45)"/></g>'
        '<g transform="rotate(180, 50, 50)"><path d="M0 0 h10"/></g>'
    )
    s = read_one(svg(tmp_path, body))
    assert np.allclose(s.strokes[0], [[10, 22], [10, 24]])  # rotate (1,0)->(0,1), scale, translate
    assert np.allclose(s.strokes[1], [[5, 5], [7, 6]])
    assert np.allclose(s.strokes[2], [[100, 100], [90, 100]])
    assert np.allclose(parse_transform("translate(3) scale(2,3)"), [[2, 0, 3], [0, 3, 0], [0, 0, 1]])
    with pytest.raises(StrokelensError, match="transform"):
        read_one(svg(tmp_path, '<path transform="scale(1,2,3)" d="M0 0 L1 1"/>', "bad.svg"))


def test_path_commands_absolute_and_relative(tmp_path):
    body = (
        '<path d="M10 10 l5 0 h5 v5 H10 V30 L0 0 z"/>'
        '<path d="m0 0 c0 10 10 10 10 0 s10 -10 10 0"/>'
        '<path d="M0 0 Q5 10 10 0 T20 0"/>'
        '<path d="M1 1 2 2 3 3"/>'  # implicit lineto pairs after a moveto
        '<path d="M0,0L1e1-5"/>'  # compact numbers
        '<path d="M0 0 A5 5 0 0 1 10 0"/>'  # arc: straight line to its end point
        '<polyline points="0,0 1,1 2,0"/><polygon points="0 0 4 0 4 4"/><line x1="1" y1="2" x2="3" y2="4"/>'
        "<defs><path d='M0 0 L 99 99'/></defs>"
    )
    s = read_one(svg(tmp_path, body))
    assert s.n_strokes == 9
    assert np.allclose(
        s.strokes[0], [[10, 10], [15, 10], [20, 10], [20, 15], [10, 15], [10, 30], [0, 0], [10, 10]]
    )
    cubic = s.strokes[1]
    assert np.allclose(cubic[[0, -1]], [[0, 0], [20, 0]])
    assert cubic[:, 1].max() == pytest.approx(7.5, abs=0.3)  # peak of the first cubic
    assert cubic[:, 1].min() == pytest.approx(-7.5, abs=0.3)  # the smooth continuation mirrors it
    quad = s.strokes[2]
    assert quad[:, 1].max() == pytest.approx(5, abs=0.3) and quad[:, 1].min() == pytest.approx(-5, abs=0.3)
    assert np.allclose(s.strokes[3], [[1, 1], [2, 2], [3, 3]])
    assert np.allclose(s.strokes[4], [[0, 0], [10, -5]])
    assert np.allclose(s.strokes[5], [[0, 0], [10, 0]])
    assert np.allclose(s.strokes[7], [[0, 0], [4, 0], [4, 4], [0, 0]])
    assert np.allclose(s.strokes[8], [[1, 2], [3, 4]])


def test_subpaths_become_strokes_and_dot_kept(tmp_path):
    s = read_one(svg(tmp_path, '<path d="M0 0 L5 5 M10 10 L20 20"/><path d="M3 4Z"/>'))
    assert [len(x) for x in s.strokes] == [2, 2, 1]
    assert np.allclose(s.strokes[2], [[3, 4]])


def test_bad_path_data(tmp_path):
    for d in ["L1 1", "M0 0 C1 2 3", "M0 0 X5 5", "M0 0 Z 5"]:
        with pytest.raises(StrokelensError, match=r"t\.svg"):
            read_one(svg(tmp_path, f'<path d="{d}"/>'))


def test_writer_round_trip_and_colours(tmp_path):
    s = Sketch([[[0, 0], [10.5, 3.25], [20, 0]], [[5, 5]], [[1, 1], [1, 1]]], label="cup & <saucer>")
    path = tmp_path / "w.svg"
    write_svg(s, path, stroke_colors=["#ff0000", (0, 128, 0), (0.0, 0.0, 1.0)], width=2)
    text = path.read_text()
    assert 'stroke-linecap="round"' in text and 'stroke-linejoin="round"' in text
    assert "#ff0000" in text and "#008000" in text and "#0000ff" in text
    back = read_one(path)
    assert back.label == "cup & <saucer>"
    assert [len(x) for x in back.strokes] == [3, 1, 2]
    assert np.allclose(back.points(), s.points())
    with pytest.raises(StrokelensError, match="2 stroke colours for 3"):
        svg_text(s, stroke_colors=["red", "blue"])


def test_write_sketches_svg_needs_exactly_one(tmp_path):
    s = Sketch([[[0, 0], [1, 1]]])
    write_sketches([s], tmp_path / "one.svg")
    assert read_one(tmp_path / "one.svg").n_strokes == 1
    with pytest.raises(StrokelensError, match="one drawing, got 2"):
        write_sketches([s, s], tmp_path / "two.svg")


def test_real_files_round_trip_through_writer(tu_files, tmp_path):
    for path in tu_files[:3]:
        s = read_one(path)
        out = tmp_path / path.name
        write_svg(s, out)
        back = read_one(out)
        assert [len(x) for x in back.strokes] == [len(x) for x in s.strokes]
        assert np.abs(back.points() - s.points()).max() <= 5e-4 + 1e-9
        assert math.isclose(back.bbox()[0], s.bbox()[0], abs_tol=1e-3)
