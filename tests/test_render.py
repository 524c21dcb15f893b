"""The differentiable rasteriser, its dense twin, the presets and the plain QuickDraw reference."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from strokelens import Sketch, SketchBatch, StrokelensError
from strokelens.datasets import load_qd345, load_spg
from strokelens.render import (
    QuickDrawBitmap,
    Rasterizer,
    SketchCanvas,
    quickdraw_bitmap_reference,
    rasterize,
    rasterize_dense,
)
from strokelens.render.rasteriser import COVERAGE_EPS, distance2, segment_params

DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])


def random_polylines(seed: int, batch: int = 3, m: int = 14, extent: float = 20.0, dtype=torch.float64):
    """Random points, a unit per segment (sorted, so units are polylines) with padding, and weights."""
    g = torch.Generator().manual_seed(seed)
    pts = torch.rand(batch, m + 1, 2, generator=g, dtype=dtype) * extent - 2.0
    unit = torch.randint(0, 4, (batch, m), generator=g).sort(1).values
    unit[1, m - 4 :] = -1  # padding
    weight = torch.rand(batch, 4, generator=g, dtype=dtype)
    return pts, unit, weight


def polyline_segments(pts: torch.Tensor, unit: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Segments between consecutive points; a unit's last segment is a dot, like SketchBatch.segments."""
    last = torch.cat([unit[:, 1:] != unit[:, :-1], torch.ones_like(unit[:, :1], dtype=torch.bool)], 1)
    starts = pts[:, :-1]
    return starts, torch.where(last[..., None], starts, pts[:, 1:])


def random_segments(seed: int, batch: int = 3, m: int = 14, extent: float = 20.0, dtype=torch.float64):
    pts, unit, weight = random_polylines(seed, batch, m, extent, dtype)
    return *polyline_segments(pts, unit), unit, weight


def test_gradcheck_unit_weight():
    starts, ends, unit, weight = random_segments(0, batch=2, m=8, extent=8.0)
    weight.requires_grad_(True)

    def f(w):
        return rasterize(starts, ends, unit, w, size=(7, 8), line_width=2.0, supersample=2, softness=1.5)

    assert torch.autograd.gradcheck(f, (weight,))


def test_gradcheck_coordinates():
    # Through shared points, as a sketch is drawn: a dot's start and end are one point (the split of
    # a dot's gradient between two separate end points is not defined).
    pts, unit, weight = random_polylines(1, batch=2, m=8, extent=8.0)
    pts.requires_grad_(True)

    def f(p):
        starts, ends = polyline_segments(p, unit)
        return rasterize(starts, ends, unit, weight, size=(7, 8), line_width=2.0, supersample=2, softness=1.5)

    assert torch.autograd.gradcheck(f, (pts,))


def test_gradcheck_preset_points():
    sk = [Sketch([[[0, 0], [40, 10], [80, 60]], [[10, 70], [60, 75]], [[30, 30]]])]
    batch = SketchBatch.from_sketches(sk, dtype=torch.float64)
    model = QuickDrawBitmap(size=9, supersample=2, softness=1.5)
    frame = model.frame(batch)
    pts = batch.points.clone().requires_grad_(True)
    assert torch.autograd.gradcheck(lambda p: model(batch, points=p, frame=frame), (pts,))


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize(("supersample", "size"), [(1, (18, 23)), (2, (12, 9))])
def test_sparse_matches_dense(seed, supersample, size):
    starts, ends, unit, weight = random_segments(seed)
    starts.requires_grad_(True)
    ends.requires_grad_(True)
    weight.requires_grad_(True)
    kw = dict(size=size, line_width=2.5, supersample=supersample, softness=1.0)
    sparse = rasterize(starts, ends, unit, weight, **kw)
    dense = rasterize_dense(starts, ends, unit, weight, **kw)
    assert sparse.shape == (3, *size)
    assert (sparse - dense).abs().max() < 1e-10
    probe = torch.randn(sparse.shape, generator=torch.Generator().manual_seed(seed), dtype=sparse.dtype)
    g_sparse = torch.autograd.grad((sparse * probe).sum(), (starts, ends, weight))
    g_dense = torch.autograd.grad((dense * probe).sum(), (starts, ends, weight))
    for a, b in zip(g_sparse, g_dense, strict=True):
        assert (a - b).abs().max() < 1e-9


@pytest.mark.parametrize("piece_length", [0.3, 1.0, 7.0])
def test_piece_length_does_not_change_the_picture(piece_length):
    starts, ends, unit, weight = random_segments(4, extent=30.0)
    kw = dict(size=32, line_width=3.0)
    ref = rasterize_dense(starts, ends, unit, weight, **kw)
    out = rasterize(starts, ends, unit, weight, piece_length=piece_length, **kw)
    assert (out - ref).abs().max() < 1e-10


def test_float32_matches_dense():
    starts, ends, unit, weight = random_segments(5, dtype=torch.float32)
    kw = dict(size=24, line_width=2.0, supersample=2)
    out = Rasterizer(**kw)(starts, ends, unit, weight)
    assert out.dtype == torch.float32
    assert (out - rasterize_dense(starts, ends, unit, weight, **kw)).abs().max() < 1e-5


@pytest.mark.parametrize("seed", [0, 3])
def test_weight_zero_equals_removing_the_unit(seed):
    starts, ends, unit, weight = random_segments(seed)
    for u in range(4):
        w0 = weight.clone()
        w0[:, u] = 0
        removed = torch.where(unit == u, -1, unit)
        a = rasterize(starts, ends, unit, w0, size=24, line_width=2.5, supersample=2)
        b = rasterize(starts, ends, removed, weight, size=24, line_width=2.5, supersample=2)
        assert (a - b).abs().max() < 1e-6


def test_all_weights_zero_is_blank():
    starts, ends, unit, weight = random_segments(2)
    out = rasterize(starts, ends, unit, torch.zeros_like(weight), size=16, line_width=2.0)
    assert out.abs().max() == 0


def test_one_unit_covers_like_a_union():
    """Many collinear overlapping segments of one unit draw one line, not a darker one."""
    xs = torch.linspace(4.0, 20.0, 33, dtype=torch.float64)
    pts = torch.stack([xs, torch.full_like(xs, 12.3)], 1)[None]
    starts, ends = pts[:, :-1], pts[:, 1:]
    unit = torch.zeros(1, 32, dtype=torch.long)
    ink = rasterize(starts, ends, unit, size=24, line_width=3.0)
    # Away from the caps every column holds exactly the line width (linear ramp, softness 1).
    assert torch.allclose(ink[0, :, 8:16].sum(0), torch.full((8,), 3.0, dtype=ink.dtype), atol=1e-4)
    # A unit per segment instead stacks the soft edges and darkens them.
    split = rasterize(starts, ends, torch.arange(32)[None], size=24, line_width=3.0)
    assert split[0, :, 8:16].sum(0).min() > 3.05


def exact_union(starts, ends, unit, size: int, line_width: float) -> torch.Tensor:
    """The textbook picture: per unit, coverage from the distance to its nearest segment."""
    ys, xs = torch.meshgrid(torch.arange(size) + 0.5, torch.arange(size) + 0.5, indexing="ij")
    cx, cy = xs.reshape(-1, 1).double(), ys.reshape(-1, 1).double()
    out = []
    for b in range(starts.shape[0]):
        d2, _, _, _ = distance2(cx, cy, segment_params(starts[b], ends[b])[None])
        log_t = torch.zeros(size * size, dtype=torch.float64)
        for u in unit[b].unique():
            if u >= 0:
                d = d2[:, unit[b] == u].min(1).values.sqrt()
                log_t += torch.log1p(-((line_width / 2 - d) + 0.5).clamp(0, 1 - COVERAGE_EPS))
        out.append(-torch.expm1(log_t).view(size, size))
    return torch.stack(out)


def test_polylines_are_the_union_of_their_capsules():
    """Dense points on a curve, sparse points with sharp bends, a reversal: the exact union."""
    t = torch.linspace(0, 1, 60, dtype=torch.float64)
    wave = torch.stack([4 + 24 * t, 16 + 6 * torch.sin(6 * t)], 1)
    zigzag = torch.tensor([[4.0, 4.0], [14.0, 5.0], [6.0, 7.0], [25.0, 10.5], [22.1, 4.2]])
    back = torch.tensor([[4.0, 26.0], [20.0, 27.0], [9.0, 27.5], [9.0, 27.5]])  # ends with a dot
    pts = torch.cat([wave, zigzag.double(), back.double()])[None]
    unit = torch.tensor([0] * 60 + [1] * 5 + [2] * 3)[None]
    starts, ends = polyline_segments(pts, unit)
    ink = rasterize(starts, ends, unit, size=32, line_width=3.0)
    assert (ink - exact_union(starts, ends, unit, 32, 3.0)).abs().max() < 1e-6


def test_disconnected_segments_of_one_unit_draw_every_segment():
    starts, ends, unit, _ = random_segments(7)
    ends = ends + 0.37  # no segment starts where the previous one ends
    ink = rasterize(starts, ends, unit, size=24, line_width=2.0)
    assert (ink - rasterize_dense(starts, ends, unit, size=24, line_width=2.0)).abs().max() < 1e-10
    # Far-apart segments of one unit: each draws its full capsule.
    starts = torch.tensor([[[3.0, 3.0], [15.0, 15.0]]])
    ends = torch.tensor([[[8.0, 3.0], [15.0, 20.0]]])
    unit = torch.zeros(1, 2, dtype=torch.long)
    ink = rasterize(starts, ends, unit, size=24, line_width=2.0)
    alone = [
        rasterize(starts[:, i : i + 1], ends[:, i : i + 1], unit[:, :1], size=24, line_width=2.0)
        for i in (0, 1)
    ]
    assert (ink - alone[0] - alone[1]).abs().max() < 1e-6


def test_dot_renders_a_disc():
    start = torch.tensor([[[10.3, 9.8]]])
    unit = torch.zeros(1, 1, dtype=torch.long)
    ink = rasterize(start, start, unit, size=20, line_width=6.0, supersample=4)
    assert ink[0, 9, 10] > 0.99
    assert abs(ink.sum().item() - math.pi * 9) < 0.05 * math.pi * 9


def test_errors_are_project_errors():
    starts, ends, unit, weight = random_segments(0)
    with pytest.raises(StrokelensError, match="shape"):
        rasterize(starts, ends[:, :-1], unit, weight, size=8, line_width=1.0)
    with pytest.raises(StrokelensError, match="units"):
        rasterize(starts, ends, unit, weight[:, :2], size=8, line_width=1.0)
    with pytest.raises(StrokelensError, match="positive"):
        rasterize(starts, ends, unit, weight, size=8, line_width=0.0)


# --------------------------------------------------------------------------------------- presets
@pytest.fixture(scope="module")
def spg_sample(home):
    return load_spg("test", per_class=3, home=home)


def test_preset_matches_reference_on_spg(spg_sample):
    batch = SketchBatch.from_sketches(spg_sample)
    ours = QuickDrawBitmap()(batch)[:, 0].numpy()
    ref = np.stack([quickdraw_bitmap_reference(s) for s in spg_sample])
    assert ours.shape == ref.shape == (len(spg_sample), 28, 28)
    assert np.abs(ours - ref).mean() < 0.05
    # Same amount of ink to within a few percent, and no sketch far off.
    assert abs(ours.sum() / ref.sum() - 1) < 0.05
    assert np.abs(ours - ref).mean(axis=(1, 2)).max() < 0.05


def test_preset_matches_reference_on_simplified_quickdraw(home):
    sketches = load_qd345(classes=["cat", "The Eiffel Tower", "zebra"], per_class=5, home=home)
    ours = QuickDrawBitmap()(SketchBatch.from_sketches(sketches))[:, 0].numpy()
    ref = np.stack([quickdraw_bitmap_reference(s) for s in sketches])
    assert np.abs(ours - ref).mean() < 0.05


def test_reference_line_width_and_range():
    img = quickdraw_bitmap_reference(Sketch([[[0, 0], [255, 0]]]))
    assert img.dtype == np.float32 and img.min() >= 0 and img.max() <= 1
    assert abs(img.sum(axis=0)[10] - 16 * 28 / 304) < 0.03  # a 16-unit line, in 28/304 pixels


def test_mixed_sizes_batch_matches_one_by_one(spg_sample):
    sketches = [spg_sample[0], Sketch([[[5, 5]]]), spg_sample[7], Sketch([[[0, 0], [10, 30]], [[20, 0]]])]
    model = QuickDrawBitmap(supersample=2)
    together = model(SketchBatch.from_sketches(sketches))
    alone = torch.cat([model(SketchBatch.from_sketches([s])) for s in sketches])
    assert (together - alone).abs().max() < 1e-6
    assert all(img.sum() > 0.5 for img in together)


def test_preset_weight_zero_equals_dropping_the_stroke(spg_sample):
    batch = SketchBatch.from_sketches(spg_sample[:16])
    model = QuickDrawBitmap()
    weight = torch.ones(len(batch), batch.max_strokes)
    weight[:, 1] = 0  # the second stroke of each sketch (sketches with one stroke are unaffected)
    dropped = torch.where(batch.stroke_ids == 1, -1, batch.stroke_ids)
    a = model(batch, unit_weight=weight)
    b = model(batch, segment_unit=dropped)
    assert (a - b).abs().max() < 1e-6
    assert (a - model(batch)).abs().amax((1, 2, 3)).gt(0.05).sum() >= 12  # removing strokes shows


def test_preset_frame_is_fixed_and_detached(spg_sample):
    batch = SketchBatch.from_sketches(spg_sample[:4])
    model = QuickDrawBitmap()
    frame = model.frame(batch)
    assert frame.shape == (4, 3) and not frame.requires_grad
    # Pixel box of the recipe: the longer side spans 255/304 of the canvas, centred.
    px = model.to_pixels(batch.points, frame)
    mask = batch.point_mask[..., None]
    lo = torch.where(mask, px, 1e9).amin(1)
    hi = torch.where(mask, px, -1e9).amax(1)
    assert torch.allclose((hi - lo).amax(1), torch.full((4,), 28 * 255 / 304), atol=1e-4)
    assert torch.allclose((hi + lo) / 2, torch.full((4, 2), 14.0), atol=1e-4)
    # Gradients reach the points; the frame does not move with them.
    pts = batch.points.clone().requires_grad_(True)
    out = model(batch, points=pts * 1.1)
    out.sum().backward()
    assert pts.grad.abs().sum() > 0
    assert torch.equal(
        model.frame(batch.with_points(pts.detach() * 1.1)), model.frame(batch.with_points(pts * 1.1))
    )


def test_sketch_canvas_sizes(spg_sample):
    batch = SketchBatch.from_sketches(spg_sample[:3])
    big = SketchCanvas(64)(batch)
    small = SketchCanvas(32, line_width=2.0, extent=30.0)(batch)
    assert big.shape == (3, 1, 64, 64) and small.shape == (3, 1, 32, 32)
    assert float(big.min()) >= 0 and float(big.max()) <= 1
    # The 64-pixel canvas draws the 28-pixel recipe at a higher resolution.
    down = torch.nn.functional.avg_pool2d(SketchCanvas(56)(batch), 2)
    assert (down - QuickDrawBitmap(supersample=2)(batch)).abs().max() < 1e-5


@pytest.mark.parametrize("device", DEVICES)
def test_runs_on_device(device):
    starts, ends, unit, weight = (t.to(device) for t in random_segments(0, dtype=torch.float32))
    weight.requires_grad_(True)
    out = rasterize(starts, ends, unit, weight, size=16, line_width=2.0, supersample=2)
    out.sum().backward()
    assert out.device.type == device and weight.grad.device.type == device
    ref = rasterize_dense(
        starts.cpu(), ends.cpu(), unit.cpu(), weight.detach().cpu(), size=16, line_width=2.0, supersample=2
    )
    assert (out.detach().cpu() - ref).abs().max() < 1e-5


# ------------------------------------------------------------------------- cached coverage
def rows_of(batch: SketchBatch, rows: torch.Tensor) -> SketchBatch:
    """The sub-batch of ``rows`` (repeats allowed), as a game hands the rasteriser coalitions."""
    from dataclasses import replace

    return replace(
        batch,
        points=batch.points[rows],
        stroke_ids=batch.stroke_ids[rows],
        point_mask=batch.point_mask[rows],
        n_strokes=batch.n_strokes[rows],
        sketches=[batch.sketches[i] for i in rows.tolist()],
        parts=None,
        times=None,
    )


@pytest.mark.parametrize(("supersample", "kind"), [(1, "stroke"), (2, "stroke"), (1, "piece")])
def test_coverage_composite_equals_the_preset_on_spg(spg_sample, supersample, kind):
    """One coverage per batch, composited for many coalitions of its sketches: the same pictures and
    the same gradients with respect to the unit weights as rendering each row from its points."""
    from strokelens.units import piece_units, stroke_units

    sketches = [s.quickdraw_simplified() for s in spg_sample[::3]]
    units = (stroke_units if kind == "stroke" else piece_units)(SketchBatch.from_sketches(sketches))
    batch, seg_unit = units.batch, units.segment_unit
    model = QuickDrawBitmap(supersample=supersample)
    frame = model.frame(units.original)
    coverage = model.coverage(batch, segment_unit=seg_unit, frame=frame)
    assert len(coverage) == len(batch) and bool((coverage.pairs_per_item() > 0).all())
    g = torch.Generator().manual_seed(1)
    rows = torch.randint(0, len(batch), (60,), generator=g)
    z = torch.rand(len(rows), units.max_units, generator=g)
    z[z < 0.3] = 0.0
    z[0] = 1.0
    z_plain, z_cached = z.clone().requires_grad_(True), z.clone().requires_grad_(True)
    plain = model(rows_of(batch, rows), unit_weight=z_plain, segment_unit=seg_unit[rows], frame=frame[rows])
    cached = model.composite(coverage, z_cached, rows)
    assert cached.shape == plain.shape == (len(rows), 1, 28, 28)
    torch.testing.assert_close(cached, plain, atol=1e-6, rtol=0)
    assert (
        plain - model(rows_of(batch, rows), segment_unit=seg_unit[rows], frame=frame[rows])
    ).abs().max() > 0.1
    w = torch.randn(plain.shape, generator=g)
    (plain * w).sum().backward()
    (cached * w).sum().backward()
    assert z_plain.grad.abs().max() > 1e-2
    torch.testing.assert_close(z_cached.grad, z_plain.grad, atol=1e-5, rtol=1e-5)


def test_coverage_composite_in_chunks_matches_rasterize(monkeypatch):
    """Rows composited a few pairs at a time (and a row larger than a chunk) change nothing."""
    import strokelens.render.coverage as rast

    starts, ends, unit, weight = random_segments(4, batch=3, m=14, extent=14.0)
    kwargs = dict(size=(12, 15), line_width=2.0, supersample=2, softness=1.5)
    coverage = rast.ink_coverage(starts, ends, unit, **kwargs)
    assert coverage.value.dtype == torch.float64 and int(coverage.pairs_per_item().min()) > 7
    rows = torch.tensor([2, 0, 0, 1, 2])
    z = torch.rand(
        len(rows), weight.shape[1], dtype=torch.float64, generator=torch.Generator().manual_seed(0)
    )
    expected = rasterize(starts[rows], ends[rows], unit[rows], z, **kwargs)
    whole = coverage.composite(z, rows)
    monkeypatch.setattr(rast, "CHUNK_PAIRS", 7)
    torch.testing.assert_close(coverage.composite(z, rows), expected, atol=1e-12, rtol=0)
    torch.testing.assert_close(whole, expected, atol=1e-12, rtol=0)
    # Weight 0 removes the unit there too, and the hand-written backward passes gradcheck.
    z[1, 2] = 0.0
    assert torch.autograd.gradcheck(lambda w: coverage.composite(w, rows), (z.clone().requires_grad_(True),))
    none = rast.ink_coverage(starts, ends, torch.full_like(unit, -1), **kwargs)
    assert len(none.value) == 0 and none.composite(z, rows).abs().max() == 0


def test_coverage_errors_are_project_errors(spg_sample):
    batch = SketchBatch.from_sketches(spg_sample[:2])
    model = QuickDrawBitmap()
    coverage = model.coverage(batch)
    k = batch.max_strokes
    with pytest.raises(StrokelensError, match="only"):
        coverage.composite(torch.ones(2, k - 1))
    with pytest.raises(StrokelensError, match="rows must index"):
        coverage.composite(torch.ones(1, k), torch.tensor([2]))
    with pytest.raises(StrokelensError, match=r"rows \(R,\)"):
        coverage.composite(torch.ones(3, k), torch.tensor([0, 1]))
    with pytest.raises(StrokelensError, match="canvas"):
        QuickDrawBitmap(supersample=2).composite(coverage, torch.ones(2, k))


@pytest.mark.parametrize("device", DEVICES)
def test_coverage_runs_on_device(device):
    from strokelens.render.rasteriser import ink_coverage

    starts, ends, unit, weight = (t.to(device) for t in random_segments(0, dtype=torch.float32))
    weight.requires_grad_(True)
    coverage = ink_coverage(starts, ends, unit, size=16, line_width=2.0, supersample=2)
    out = coverage.composite(weight)
    out.sum().backward()
    assert out.device.type == device and weight.grad.device.type == device
    ref = rasterize(
        starts.cpu(), ends.cpu(), unit.cpu(), weight.detach().cpu(), size=16, line_width=2.0, supersample=2
    )
    assert (out.detach().cpu() - ref).abs().max() < 1e-5


@pytest.mark.parametrize(("supersample", "kind"), [(1, "stroke"), (2, "stroke"), (1, "piece")])
def test_unit_inks_are_each_unit_alone_and_what_leaves_without_it(spg_sample, supersample, kind):
    """One pass over the pairs gives what compositing every unit alone, and the drawing without each
    unit, gives: own ink and exclusive ink (padding units past a sketch's own: none)."""
    from strokelens.units import piece_units, stroke_units

    sketches = [s.quickdraw_simplified() for s in spg_sample[::3]]
    units = (stroke_units if kind == "stroke" else piece_units)(SketchBatch.from_sketches(sketches))
    model = QuickDrawBitmap(supersample=supersample)
    coverage = model.coverage(units.batch, segment_unit=units.segment_unit, frame=model.frame(units.original))
    b, k = len(units), units.max_units + 2
    own, exclusive = coverage.unit_inks(k)
    assert own.shape == exclusive.shape == (b, k, 28, 28)
    exists = (torch.arange(k)[None] < units.n_units[:, None]).to(coverage.value.dtype)
    rows = torch.arange(b).repeat_interleave(k)
    eye = torch.eye(k).repeat(b, 1)
    alone = model.composite(coverage, eye, rows)[:, 0].view(b, k, 28, 28)
    full = model.composite(coverage, exists, torch.arange(b))[:, 0]
    without = model.composite(coverage, exists[rows] * (1 - eye), rows)[:, 0].view(b, k, 28, 28)
    torch.testing.assert_close(own, alone, atol=1e-5, rtol=0)
    torch.testing.assert_close(exclusive, full[:, None] - without, atol=1e-5, rtol=0)
    assert own.amax() > 0.9 and exclusive.amax() > 0.9  # real ink, not two blank pictures
    assert bool((exclusive <= own + 1e-6).all())  # a unit removes at most its own ink
    assert own[~exists.bool()].abs().max() == 0 and exclusive[~exists.bool()].abs().max() == 0
    with pytest.raises(StrokelensError, match="too few"):
        coverage.unit_inks(coverage.n_units - 1)
