"""Assisted drawing: does the first suggestion make the model read what the drawer meant?

Over real drawings each model misreads (the SPG test split and quickdraw-345x25; each drawing's label
is the class its drawer meant), `strokelens.assist.assist` searches verified edits toward the label
with the strokes it may lend read from the data folder (SPG's train split, else quickdraw-extra: never
the drawings measured). A drawing counts as assisted when its FIRST suggestion, read afresh through
the model's own preparation, is read as the label with at least 70% of the drawer's ink unchanged.
A kind names the changes an edit makes (``add``: one or two strokes added; ``_one_change``: the
share of first suggestions that make one change).

Figures per model (``doodlenet``, ``stroke_transformer``): ``assist_success_<model>`` (and per source
``_spg`` / ``_qd345``), the median ink kept of first suggestions, the share of first suggestions of
each edit kind, the milliseconds a drawing, and baselines measured the same way on the same drawings:
1-3 random strokes removed, 3 random pieces moved by the same bounded attack (DoodleNet) or one random
stroke shifted (the stroke transformer), and the ghost alone (every stroke moved by stroke location
inversion, 25 steps; ``_read``: read as the label whatever the ink it changed). ``_api_raw``: raw
drawings of quickdraw-extra (other drawers, with timing) the model misreads, each sent to
``/api/assist`` of an in-process server, judged by the reply's first suggestion.

    python benchmarks/assist.py --smoke   # or --quick (under a minute)
    python benchmarks/assist.py --json benchmarks/results/assist.json
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np
import torch
from rich.console import Console
from rich.table import Table

from _common import benchmark_parser, spg_classes_for, write_figures
from strokelens.assist import Donors, assist, read, removal, translation
from strokelens.assist.search import MOVE_EPS, MOVE_SHIFTS, MOVE_STEPS, geometry_moves
from strokelens.datasets import load_qd345, load_spg, qd345_classes
from strokelens.games import normalise_class_name
from strokelens.inversion import invert
from strokelens.models import load_model
from strokelens.views import view_for

MODELS = {"doodlenet": "doodlenet", "stroke_transformer": "stroke-transformer"}
#: A suggestion must keep at least this share of the drawer's ink.
INK = 0.7
BATCH = 8
KINDS = ("remove", "move", "add", "remove+add", "remove+move", "move+add", "remove+move+add")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = benchmark_parser(
        __doc__,
        quick="10 misread drawings a source and model (about 45 CPU seconds)",
        smoke="3 misread drawings a source and model, 2 SPG classes",
    )
    p.add_argument("--per-source", type=int, default=60, help="misread drawings a source and model")
    p.add_argument("--home", default=None)
    args = p.parse_args(argv)
    args.per_source = args.size.pick(full=args.per_source, quick=10, smoke=3)
    return args


def misread(view, sketches, n: int, seed: int = 0) -> tuple[list, list[int]]:
    """Up to ``n`` of ``sketches`` whose label is one of the model's classes and which it reads as
    another, spread over the list (seeded); with their labels' class indices."""
    index = {normalise_class_name(c): i for i, c in enumerate(view.class_names)}
    known = [s for s in sketches if normalise_class_name(s.label or "") in index]
    labels = [index[normalise_class_name(s.label)] for s in known]
    probs = read(view, known)
    wrong = [i for i, (p, t) in enumerate(zip(probs, labels, strict=True)) if int(p.argmax()) != t]
    rng = np.random.default_rng(seed)
    pick = sorted(rng.choice(wrong, size=min(n, len(wrong)), replace=False).tolist()) if wrong else []
    return [known[i] for i in pick], [labels[i] for i in pick]


def works(view, sketches, edits, targets) -> np.ndarray:
    """``(B,)`` bool: each edit (None: none) read as its target with at least `INK` of the ink kept."""
    jobs = [(i, e) for i, e in enumerate(edits) if e is not None]
    ok = np.zeros(len(sketches), dtype=bool)
    if jobs:
        probs = read(view, [e.apply(sketches[i]) for i, e in jobs])
        for (i, e), p in zip(jobs, probs, strict=True):
            ok[i] = int(p.argmax()) == targets[i] and e.ink_kept(sketches[i].stroke_lengths) >= INK
    return ok


def random_removals(sketches, rng):
    out = []
    for s in sketches:
        k = int(rng.integers(1, min(3, s.n_strokes - 1) + 1)) if s.n_strokes > 1 else 0
        out.append(removal(rng.choice(s.n_strokes, size=k, replace=False).tolist()) if k else None)
    return out


def random_moves(view, sketches, targets, rng):
    if view.sketch_points:
        return geometry_moves(
            view,
            sketches,
            view.prepare(sketches),
            targets,
            MOVE_EPS,
            MOVE_STEPS,
            "random",
            int(rng.integers(1 << 30)),
        )
    out = []
    for s in sketches:
        extent = max(s.bbox()[2] - s.bbox()[0], s.bbox()[3] - s.bbox()[1])
        angle = rng.integers(8) * np.pi / 4
        d = rng.choice(MOVE_SHIFTS) * extent * np.array([np.cos(angle), np.sin(angle)])
        out.append(translation(s, int(rng.integers(s.n_strokes)), d))
    return out


def ghosts(view, sketches, targets) -> tuple[np.ndarray, np.ndarray]:
    """The ghost read as its target: with at least `INK` of the ink unchanged, and at all."""
    inv = invert(view, sketches, mode="transfer", to=list(targets), iterations=25)
    shift = (inv.final_locations - inv.true_locations).double().numpy()
    probs = read(view, inv.sketches)
    read_ok = np.array([int(p.argmax()) == t for p, t in zip(probs, targets, strict=True)])
    kept = []
    for i, s in enumerate(sketches):
        lengths = s.stroke_lengths
        still = np.abs(shift[i, : s.n_strokes]).max(1) <= 1e-9
        kept.append(lengths[still].sum() / max(lengths.sum(), 1e-12))
    return read_ok & (np.array(kept) >= INK), read_ok


def share(xs: list) -> float:
    return round(float(np.mean(xs)), 4) if xs else float("nan")


def run_model(key: str, args, sources: dict) -> dict:
    view = view_for(load_model(MODELS[key], home=args.home))
    donors = Donors(view, args.home)
    rng = np.random.default_rng(0)
    fig: dict = {}
    added: list[float] = []
    firsts, success, rand_rm, rand_mv, ghost, ghost_read, per_source, seconds = (
        [],
        [],
        [],
        [],
        [],
        [],
        {},
        0.0,
    )
    for name, sketches in sources.items():
        chosen, targets = misread(view, sketches, args.per_source)
        ok_source = []
        for j in range(0, len(chosen), BATCH):
            sk, tg = chosen[j : j + BATCH], targets[j : j + BATCH]
            for t in tg:
                donors(t)  # read once a class, as a running server does
            start = time.perf_counter()
            found = assist(view, sk, tg, donors)
            seconds += time.perf_counter() - start
            for a in found:
                first = a.suggestions[0] if a.suggestions else None
                firsts.append(first)
                if first is not None:
                    added.append(first.edit.added_ink(a.sketch.stroke_lengths))
                ok_source.append(bool(first is not None and first.works and first.ink_kept >= INK))
            rand_rm += works(view, sk, random_removals(sk, rng), tg).tolist()
            rand_mv += works(view, sk, random_moves(view, sk, tg, rng), tg).tolist()
            g, gr = ghosts(view, sk, tg)
            ghost += g.tolist()
            ghost_read += gr.tolist()
        per_source[name] = ok_source
        success += ok_source
    n = len(success)
    fig[f"assist_drawings_{key}"] = n
    fig[f"assist_success_{key}"] = share(success)
    for name, oks in per_source.items():
        fig[f"assist_success_{key}_{name}"] = share(oks)
        fig[f"assist_drawings_{key}_{name}"] = len(oks)
    inks = [f.ink_kept for f in firsts if f is not None]
    fig[f"assist_ink_kept_median_{key}"] = round(float(np.median(inks)), 4) if inks else float("nan")
    fig[f"assist_added_ink_median_{key}"] = round(float(np.median(added)), 4) if added else float("nan")
    fig[f"assist_no_suggestion_{key}"] = share([f is None for f in firsts])
    fig[f"assist_one_change_{key}"] = share([f is not None and f.edit.changes == 1 for f in firsts])
    for kind in KINDS:
        fig[f"assist_kind_{kind.replace('+', '_')}_{key}"] = share(
            [f is not None and f.edit.kind == kind for f in firsts]
        )
    fig[f"assist_baseline_random_remove_{key}"] = share(rand_rm)
    fig[f"assist_baseline_random_move_{key}"] = share(rand_mv)
    fig[f"assist_baseline_ghost_{key}"] = share(ghost)
    fig[f"assist_baseline_ghost_read_{key}"] = share(ghost_read)
    fig[f"assist_ms_per_drawing_{key}"] = round(1000 * seconds / max(n, 1), 1)
    return fig, inks


def raw_drawings(names, home) -> list:
    """quickdraw-extra's raw drawings (with timing: drawers the project never trained on) of classes
    ``names``, less any that a server could lend strokes from (the same key id)."""
    from strokelens.assist import class_drawings
    from strokelens.home import resolve_home
    from strokelens.io.quickdraw import read_quickdraw

    folder = resolve_home(home) / "data/quickdraw-extra/raw"
    out = []
    for name in names:
        path = folder / f"{name}.ndjson"
        if path.exists():
            lent = {s.key_id for s in class_drawings(name, home)}
            out += [s for s in read_quickdraw(path) if s.key_id not in lent]
    return out


def through_the_api(key: str, args) -> list[bool]:
    """Raw drawings the model misreads, each sent to ``/api/assist`` of an in-process server with its
    own class as the target: is the reply's first suggestion read as it, with `INK` of the ink kept?"""
    from fastapi.testclient import TestClient

    from strokelens.serve.app import create_app
    from strokelens.serve.drawing import to_strokes
    from strokelens.serve.handlers import Served

    served = Served.load(MODELS[key], home=args.home)
    names = (
        served.class_names
        if args.size.is_full
        else served.class_names[:: args.size.pick(full=1, quick=3, smoke=15)]
    )
    chosen, _ = misread(served.view, raw_drawings(names, args.home), args.per_source)
    out = []
    with TestClient(create_app([served])) as client:
        for s in chosen:
            body = {"strokes": to_strokes(s), "target": s.label, "model": served.name}
            reply = client.post("/api/assist", json=body)
            reply.raise_for_status()
            first = (reply.json()["suggestions"] or [None])[0]
            out.append(bool(first and first["success"] and first["ink_kept"] >= INK))
    return out


def main(argv: list[str] | None = None) -> dict:
    args = parse_args(argv)
    torch.manual_seed(0)
    classes = spg_classes_for(args.size, args.home)
    spg = load_spg("test", classes, home=args.home)
    spg_ids = {s.key_id for s in load_spg("all", classes, home=args.home)}
    per_class = args.size.pick(full=None, quick=4, smoke=2)
    qd_classes = qd345_classes(args.home)
    if classes is not None:
        qd_classes = qd_classes[:: max(1, len(qd_classes) // 10)]
    # quickdraw-345x25 drawings that are also SPG drawings could lend their own strokes: left out
    qd = [s for s in load_qd345(qd_classes, per_class, home=args.home) if s.key_id not in spg_ids]
    figures: dict = {
        "quick": not args.size.is_full,
        "ink_kept_at_least": INK,
        "load_average_1m_at_start": round(os.getloadavg()[0], 2),
        "cpu_count": os.cpu_count(),
    }
    all_inks: list[float] = []
    for key in MODELS:
        fig, inks = run_model(key, args, {"spg": spg, "qd345": qd})
        figures.update(fig)
        all_inks += inks
        api = through_the_api(key, args)
        figures[f"assist_success_{key}_api_raw"] = share(api)
        figures[f"assist_drawings_{key}_api_raw"] = len(api)
    figures["assist_ink_kept_median"] = round(float(np.median(all_inks)), 4) if all_inks else float("nan")
    table = Table("figure", "doodlenet", "stroke transformer", title="assisted drawing: first suggestion")
    for label, stem in [
        ("misread drawings", "assist_drawings"),
        ("success (read as meant, >= 70% ink kept)", "assist_success"),
        ("  on SPG test", "assist_success_{k}_spg"),
        ("  on quickdraw-345x25", "assist_success_{k}_qd345"),
        ("  raw drawings through /api/assist", "assist_success_{k}_api_raw"),
        ("ink kept, median", "assist_ink_kept_median"),
        ("ink added (share of the drawer's), median", "assist_added_ink_median"),
        ("baseline: 1-3 random strokes removed", "assist_baseline_random_remove"),
        ("baseline: random pieces moved", "assist_baseline_random_move"),
        ("baseline: the ghost alone", "assist_baseline_ghost"),
        ("  ghost read as meant (any ink)", "assist_baseline_ghost_read"),
        ("ms a drawing", "assist_ms_per_drawing"),
        ("first suggestion is one change", "assist_one_change"),
        *[(f"first suggestion: {k}", f"assist_kind_{k.replace('+', '_')}") for k in KINDS],
    ]:
        cells = [figures.get(stem.format(k=k) if "{k}" in stem else f"{stem}_{k}") for k in MODELS]
        table.add_row(label, *[str(c) for c in cells])
    Console().print(table)
    print(f"assist_ink_kept_median (both models): {figures['assist_ink_kept_median']}")
    write_figures(args.json, figures)
    return figures


if __name__ == "__main__":
    main()
