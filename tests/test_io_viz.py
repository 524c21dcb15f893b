"""Sketch pictures: colours where the strokes are, anti-aliasing, layout, SVG that reads back."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from strokelens import Sketch, StrokelensError
from strokelens.colors import to_rgb
from strokelens.io import read_sketches, read_spg
from strokelens.viz import part_colors, part_legend, sketch_png, sketch_svg


def two_lines() -> Sketch:
    # a horizontal line at the top and one at the bottom, same length
    return Sketch([[[0, 0], [100, 0]], [[0, 100], [100, 100]]])


def test_to_rgb_forms():
    got = to_rgb(["#ff0000", "#0f0", "blue", (10, 20, 30), (1.0, 0.5, 0.0), np.array([0.0, 0.0, 1.0, 0.3])])
    assert got.tolist() == [[255, 0, 0], [0, 255, 0], [0, 0, 255], [10, 20, 30], [255, 128, 0], [0, 0, 255]]
    assert to_rgb(np.array([[1.0, 1.0, 1.0]])).tolist() == [[255, 255, 255]]
    with pytest.raises(StrokelensError, match="unknown colour"):
        to_rgb(["notacolour"])


def test_png_stroke_colours_land_on_their_strokes(tmp_path):
    img = sketch_png(two_lines(), tmp_path / "a.png", stroke_colors=["#ff0000", "#0000ff"], size=128, width=4)
    assert Image.open(tmp_path / "a.png").size == (128, 128)
    arr = np.asarray(img).astype(int)
    red = (arr[..., 0] > 200) & (arr[..., 1] < 60) & (arr[..., 2] < 60)
    blue = (arr[..., 2] > 200) & (arr[..., 0] < 60) & (arr[..., 1] < 60)
    ys_red, ys_blue = np.nonzero(red)[0], np.nonzero(blue)[0]
    assert len(ys_red) > 100 and len(ys_blue) > 100
    assert ys_red.max() < 64 < ys_blue.min()  # red on top, blue at the bottom
    # drawn inside the padded canvas, and anti-aliased: intermediate shades at the line edges
    assert ys_red.min() > 0 and ys_blue.max() < 127
    partial = (arr[..., 1] > 0) & (arr[..., 1] < 255)
    assert partial.sum() > 50


def test_png_is_anti_aliased():
    img = np.asarray(sketch_png(Sketch([[[0, 0], [100, 37]]]), None, size=96, width=3))
    levels = np.unique(img[..., 0])
    assert len(levels) > 10  # 4x4 supersampling: up to 17 coverage shades, not just ink and paper


def test_png_point_colours_split_a_stroke():
    s = Sketch([[[0, 0], [50, 0], [100, 0]]])
    img = np.asarray(sketch_png(s, None, point_colors=["#ff0000", "#00ff00", "#00ff00"], size=100, width=6))
    row = img[50]
    red_x = np.nonzero((row[:, 0] > 200) & (row[:, 1] < 80))[0]
    green_x = np.nonzero((row[:, 1] > 200) & (row[:, 0] < 80))[0]
    assert red_x.max() < 55 and green_x.min() > 45 and red_x.min() < green_x.min()


def test_dots_are_drawn():
    img = np.asarray(sketch_png(Sketch([[[0, 0]], [[10, 10]]]), None, size=64, width=6))
    assert (img.sum(-1) < 300).sum() >= 2 * 6  # two round dots


def test_colour_count_checked():
    with pytest.raises(StrokelensError, match="1 stroke colours for 2 strokes"):
        sketch_png(two_lines(), None, stroke_colors=["red"])
    with pytest.raises(StrokelensError, match="point colours"):
        sketch_svg(two_lines(), point_colors=["red"] * 3)
    with pytest.raises(StrokelensError, match="not both"):
        sketch_svg(two_lines(), stroke_colors=["red"] * 2, point_colors=["red"] * 4)


def test_part_colours_and_legend(spg_dir, tmp_path):
    s = next(iter(read_spg(spg_dir / "face.ndjson.gz")))
    colors = part_colors(s)
    assert len(colors) == s.n_points
    labels = np.concatenate(s.parts)
    assert len(set(colors)) == len(np.unique(labels))
    legend = part_legend(s)
    assert [name for name, _ in legend] == [s.part_names[k] for k in np.unique(labels)]
    svg = sketch_svg(s, point_colors=colors, legend=legend, title="face <1>")
    for name, color in legend:
        assert name in svg and color in svg
    assert "face &lt;1&gt;" in svg
    img = sketch_png(s, tmp_path / "face.png", point_colors=colors, legend=legend, title="face", size=200)
    arr = np.asarray(img)
    for _, color in legend:  # every legend colour is on the picture
        rgb = to_rgb([color])[0].astype(int)
        assert (np.abs(arr.astype(int) - rgb).sum(-1) < 10).sum() > 10


def test_svg_output_reads_back_as_fitted_sketch(tmp_path):
    s = two_lines()
    path = tmp_path / "v.svg"
    path.write_text(sketch_svg(s, stroke_colors=["red", "blue"], size=200))
    (back,) = list(read_sketches(path))
    assert back.n_strokes == 2
    x0, y0, x1, y1 = back.bbox()
    assert 0 < x0 < x1 < 200 and 0 < y0 < y1 < 200
    assert x1 - x0 == pytest.approx(y1 - y0, rel=1e-3)  # uniform scale of a square sketch
    assert (x0 + x1) / 2 == pytest.approx(100, abs=0.1)
