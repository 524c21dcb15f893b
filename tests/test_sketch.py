import numpy as np
import pytest
import torch

from strokelens import Sketch, SketchBatch, StrokelensError
from strokelens.io import read_spg


def test_bbox_and_normalise():
    s = Sketch([[[10, 20], [30, 60]], [[20, 40]]])
    assert s.bbox() == (10, 20, 30, 60)
    n = s.normalized()
    assert n.bbox() == (0, 0, 127.5, 255)
    assert n.n_strokes == 2 and n.strokes[1].shape == (1, 2)  # a dot is kept


def test_resample_spacing_and_endpoints():
    s = Sketch([[[0, 0], [10, 0], [10, 5]], [[3, 3]]], times=[np.array([0, 10, 15]), np.array([20])])
    r = s.resampled(1.0)
    steps = np.linalg.norm(np.diff(r.strokes[0], axis=0), axis=1)
    assert np.allclose(steps, 1.0)
    assert np.allclose(r.strokes[0][[0, -1]], [[0, 0], [10, 5]])
    assert np.allclose(r.strokes[1], [[3, 3]])
    assert np.allclose(r.times[0][[0, -1]], [0, 15])


def test_rdp_drops_collinear_points_and_keeps_corners():
    line = np.stack([np.arange(11.0), np.zeros(11)], axis=1)
    corner = np.array([[0, 0], [5, 0.5], [10, 0], [10, 10]], dtype=float)
    s = Sketch([line, corner]).simplified(2.0)
    assert np.allclose(s.strokes[0], [[0, 0], [10, 0]])
    assert np.allclose(s.strokes[1], [[0, 0], [10, 0], [10, 10]])


def test_rdp_matches_recursive_reference(spg_dir):
    def rdp(p, eps):
        if len(p) < 3:
            return p
        a, b = p[0], p[-1]
        d = b - a
        nrm = np.hypot(*d)
        dist = (
            np.abs(d[0] * (p[:, 1] - a[1]) - d[1] * (p[:, 0] - a[0])) / nrm if nrm else np.hypot(*(p - a).T)
        )
        i = int(np.flatnonzero(dist >= dist.max() - 1e-9)[0])  # ties within 1e-9: the first point
        if dist[i] > eps:
            return np.vstack([rdp(p[: i + 1], eps)[:-1], rdp(p[i:], eps)])
        return np.vstack([a, b])

    for sketch in list(read_spg(spg_dir / "pig.ndjson.gz", limit=20)):
        norm = sketch.normalized().resampled(1.0)
        ours = norm.simplified(2.0)
        for mine, stroke in zip(ours.strokes, norm.strokes, strict=True):
            assert np.allclose(mine, rdp(stroke, 2.0))


def test_stroke3_and_stroke5_round_trip():
    s = Sketch([[[1, 2], [3, 4], [5, 5]], [[7, 7]], [[0, 0], [1, 1]]])
    back = Sketch.from_stroke3(s.to_stroke3())
    assert all(np.allclose(a, b) for a, b in zip(back.strokes, s.strokes, strict=True))
    five = s.to_stroke5(max_len=10)
    assert five.shape == (10, 5) and five[6:, 4].all()
    back5 = Sketch.from_stroke5(five)
    assert [len(t) for t in back5.strokes] == [3, 1, 2]


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), 1e30])
def test_bad_coordinates_refused(bad):
    with pytest.raises(StrokelensError, match="stroke 1"):
        Sketch([[[0, 0], [1, 1]], [[0, bad]]], source="x.ndjson")


def test_empty_and_oversized_refused():
    with pytest.raises(StrokelensError, match="no strokes"):
        Sketch([])
    with pytest.raises(StrokelensError, match="limit"):
        Sketch([[[0, 0]]] * 100_000)


def test_batch_padding_and_segments():
    a = Sketch([[[0, 0], [1, 0]], [[5, 5]]])
    b = Sketch([[[2, 2], [3, 3], [4, 4]]])
    batch = SketchBatch.from_sketches([a, b])
    assert batch.points.shape == (2, 3, 2)
    assert batch.stroke_ids.tolist() == [[0, 0, 1], [0, 0, 0]]
    assert batch.stroke_mask.tolist() == [[True, True], [True, False]]
    starts, ends, sid = batch.segments()
    assert torch.equal(ends[0, 0], torch.tensor([1.0, 0.0]))
    assert torch.equal(ends[0, 1], starts[0, 1])  # last point of a stroke: a dot
    assert torch.equal(ends[0, 2], starts[0, 2])  # single-point stroke: a dot
    assert sid[1].tolist() == [0, 0, 0]
