"""How fast does the differentiable rasteriser draw real sketches, against the dense reference?

Renders SPG test sketches (raw coordinates, about 210 points each) with the QuickDraw 28x28 preset
and with a 256x256 canvas (the same recipe scaled up: a 13.5-pixel line), at batch sizes 1 and 256:
forward only (no autograd) and forward + backward with respect to the unit weights (one per stroke)
AND the point coordinates. The dense reference (every pixel against every segment, plain autograd)
runs in the same process on the same sketches; its memory grows with pixels x segments x batch, so it
runs on smaller batches (see the ``batch`` column). The speed-ups (``speedup_vs_dense_*``) compare like
with like: the sparse rasteriser is timed again on exactly the dense run's batches (same sketches, same
batch size; keys ``*_same_batches_*``). Both paths share the frame, the segments and the timing loop:
only the rasteriser differs.

Reports sketches per second of wall time (and of process CPU time, robust to other load on the
machine), with torch's default thread count.

    python benchmarks/render_speed.py --smoke   # or --quick; the full run:
    python benchmarks/render_speed.py --json benchmarks/results/render_speed.json
"""

from __future__ import annotations

import argparse
import os
import resource
import time
from collections.abc import Callable, Sequence

import torch
from rich.console import Console
from rich.table import Table

from _common import Size, benchmark_parser, spg_classes_for, write_figures
from strokelens.datasets import load_spg
from strokelens.render import QuickDrawBitmap, SketchCanvas, rasterize, rasterize_dense
from strokelens.sketch import Sketch, SketchBatch

Rasterise = Callable[..., torch.Tensor]


def render(
    preset: SketchCanvas, raster: Rasterise, batch: SketchBatch, weight: torch.Tensor, points: torch.Tensor
) -> torch.Tensor:
    """What `SketchCanvas.forward` does, with the rasteriser as an argument."""
    frame = preset.frame(batch)
    starts, ends, unit = batch.segments(preset.to_pixels(points, frame))
    return raster(
        starts,
        ends,
        unit,
        weight,
        size=preset.size,
        line_width=preset.line_width,
        supersample=preset.supersample,
        softness=preset.softness,
    )


def run_once(preset: SketchCanvas, raster: Rasterise, batch: SketchBatch, backward: bool) -> None:
    weight = torch.ones(len(batch), batch.max_strokes, requires_grad=backward)
    points = batch.points.clone().requires_grad_(backward)
    if backward:
        render(preset, raster, batch, weight, points).sum().backward()
        assert weight.grad is not None and points.grad is not None
    else:
        with torch.no_grad():
            render(preset, raster, batch, weight, points)


def measure(
    preset: SketchCanvas, raster: Rasterise, batches: Sequence[SketchBatch], backward: bool, warm: bool = True
) -> dict[str, float]:
    """Warm up on the first batch (unless not ``warm``), then time one pass over all batches."""
    if warm:
        run_once(preset, raster, batches[0], backward)
    n = sum(len(b) for b in batches)
    w0, c0 = time.perf_counter(), time.process_time()
    for b in batches:
        run_once(preset, raster, b, backward)
    wall, cpu = time.perf_counter() - w0, time.process_time() - c0
    return {"per_s": n / wall, "per_cpu_s": n / cpu, "sketches": n, "seconds": wall}


def make_batches(sketches: list[Sketch], size: int, count: int) -> list[SketchBatch]:
    return [SketchBatch.from_sketches(sketches[i * size : (i + 1) * size]) for i in range(count)]


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = benchmark_parser(
        __doc__,
        quick="fewer batches (under a minute)",
        smoke="a few short sketches; the large canvas at 64x64",
    )
    parser.add_argument("--home", default=None, help="data folder (default: $STROKELENS_HOME)")
    return parser.parse_args(argv)


def main() -> None:
    args = parse_args()

    classes = spg_classes_for(args.size, args.home)
    sketches = load_spg(
        "test", classes, per_class=args.size.pick(full=None, quick=None, smoke=12), home=args.home
    )
    # Interleave classes so every batch mixes them.
    sketches = [sketches[i] for i in sorted(range(len(sketches)), key=lambda i: (i % 100, i))]
    if args.size is Size.SMOKE:  # the dense reference's cost grows with points: the shortest sketches
        sketches.sort(key=lambda s: s.n_points)
    n = args.size.pick
    # A smoke run draws the large canvas at 64x64 (its keys keep the name 256).
    presets = {"28": QuickDrawBitmap(), "256": SketchCanvas(n(full=256, quick=256, smoke=64))}
    # (name, batch size, number of batches) per canvas; dense batches are as large as memory allows.
    # The smoke run's "b256" batches hold 8 and 2 sketches (the keys keep their names).
    warm = args.size is not Size.SMOKE  # a smoke run's timings mean nothing: no warm-up
    plan = {
        "28": {
            "b256": (n(full=256, quick=256, smoke=8), n(full=4, quick=1, smoke=1)),
            "b1": (1, n(full=64, quick=16, smoke=4)),
            "dense": (n(full=32, quick=32, smoke=2), n(full=4, quick=1, smoke=1)),
        },
        "256": {
            "b256": (n(full=256, quick=256, smoke=2), n(full=2, quick=1, smoke=1)),
            "b1": (1, n(full=32, quick=8, smoke=2)),
            "dense": (1, n(full=6, quick=2, smoke=1)),
        },
    }
    load = os.getloadavg()[0]
    out: dict[str, float | int | bool | str] = {
        "quick": not args.size.is_full,
        "threads": torch.get_num_threads(),
        "load_average_1min_at_start": round(load, 2),
        "sketches_mean_points": round(sum(s.n_points for s in sketches) / len(sketches), 1),
    }
    table = Table("canvas", "rasteriser", "batch", "pass", "sketches", "sketches/s", "per CPU s", "ms/sketch")
    rows = []
    for canvas, preset in presets.items():
        for label, (size, count) in plan[canvas].items():
            dense = label == "dense"
            batches = make_batches(sketches, size, count)
            for backward in (False, True):
                pas = "fwd_bwd" if backward else "fwd"
                if dense:  # the sparse rasteriser on the very same batches, right before the dense one
                    r = measure(preset, rasterize, batches, backward, warm)
                    key = f"{pas}_{canvas}_b{size}_same_batches"
                    out[f"{key}_per_s"] = round(r["per_s"], 2)
                    rows.append((canvas, "sparse (dense's batches)", size, pas, r))
                r = measure(preset, rasterize_dense if dense else rasterize, batches, backward, warm)
                key = f"{'dense_' if dense else ''}{pas}_{canvas}_{'b256' if label == 'b256' else f'b{size}'}"
                out[f"{key}_per_s"] = round(r["per_s"], 2)
                out[f"{key}_per_cpu_s"] = round(r["per_cpu_s"], 2)
                rows.append((canvas, "dense" if dense else "sparse", size, pas, r))
            if not dense and label == "b256":  # the key says b256 whatever the batch
                out[f"peak_rss_mb_after_sparse_{canvas}_b256"] = round(
                    resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1
                )
    for canvas, preset in presets.items():
        d = plan[canvas]["dense"][0]
        out[f"dense_batch_{canvas}"] = d
        for pas, sfx in (("fwd_bwd", ""), ("fwd", "_fwd")):
            # sparse / dense on the same batches of d sketches: a like-with-like ratio
            out[f"speedup_vs_dense_{canvas}{sfx}"] = round(
                out[f"{pas}_{canvas}_b{d}_same_batches_per_s"] / out[f"dense_{pas}_{canvas}_b{d}_per_s"], 2
            )
        out[f"line_width_{canvas}"] = round(preset.line_width, 3)
    for canvas, kind, size, pas, r in rows:
        table.add_row(
            f"{canvas}x{canvas}",
            kind,
            str(size),
            pas,
            str(r["sketches"]),
            f"{r['per_s']:,.1f}",
            f"{r['per_cpu_s']:,.1f}",
            f"{1000 / r['per_s']:.2f}",
        )
    console = Console()
    console.print(table)
    console.print(
        f"speed-up (fwd+bwd, sparse vs dense on the same batches of {out['dense_batch_28']} and "
        f"{out['dense_batch_256']}): 28x28 {out['speedup_vs_dense_28']}x, "
        f"256x256 {out['speedup_vs_dense_256']}x; {out['threads']} threads, load average {load:.1f} at start"
    )
    write_figures(args.json, out)


if __name__ == "__main__":
    main()
