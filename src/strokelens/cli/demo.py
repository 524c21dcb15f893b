"""`strokelens demo`: explain DoodleNet on real SPG test sketches with several methods side by side."""

from __future__ import annotations

import json
from pathlib import Path

import click
from rich.console import Console
from rich.table import Table

from strokelens.attribution import get_method
from strokelens.cli.app import app, home_option
from strokelens.datasets import load_spg, spg_classes
from strokelens.metrics import deletion_insertion, part_summary
from strokelens.models import load_model
from strokelens.sketch import SketchBatch
from strokelens.units import make_units
from strokelens.views import preprocess, view_for
from strokelens.viz.report import write_report

DEMO_METHODS = ("sla", "psla", "ig", "occlusion", "shapley")


@app.command()
@click.option(
    "--out",
    "out_dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("out/demo"),
    show_default=True,
)
@click.option(
    "--n",
    "count",
    type=click.IntRange(1, 40),
    default=10,
    show_default=True,
    help="Sketches (one per SPG class, then round again).",
)
@home_option
def demo(out_dir: Path, count: int, home) -> None:
    """Explain DoodleNet's predictions on real SPG test sketches (SLA, P-SLA, IG, occlusion, exact
    Shapley side by side) and write an HTML report."""
    model = load_model("doodlenet", home=home)
    view = view_for(model)
    classes = spg_classes(home)
    pool = load_spg("test", per_class=-(-count // len(classes)) + 1, home=home)
    per_class = {c: [s for s in pool if s.label == c and s.n_strokes <= 12] for c in classes}
    chosen = [per_class[c][r] for r in range(2) for c in classes if len(per_class[c]) > r][:count]
    sketches = preprocess(chosen, model)
    batch = SketchBatch.from_sketches(sketches)
    explanations, curves = {}, {}
    target = None
    for name in DEMO_METHODS:
        method = get_method(name)
        unit_set = make_units(batch, method.default_units)
        expl = method(view).attribute(unit_set, target="auto" if target is None else target)
        target = expl.target
        explanations[name] = expl
        curves[name] = deletion_insertion(view.game(unit_set, target), expl.scores)
    out_dir.mkdir(parents=True, exist_ok=True)
    with open(out_dir / "explanations.jsonl", "w", encoding="utf-8") as fh:
        for expl in explanations.values():
            for record in expl.records():
                fh.write(json.dumps(record) + "\n")
    report = write_report(
        out_dir / "report.html",
        explanations,
        curves,
        title=f"strokelens demo: DoodleNet on {len(sketches)} SPG test sketches",
    )
    table = Table("sketch", "predicted", "top part (SLA)")
    parts = part_summary(explanations["sla"])
    for s, name in zip(sketches, explanations["sla"].target_names or [], strict=False):
        top = next(iter(parts.get(s.label or "", {})), "-")
        table.add_row(s.label or "?", name, top)
    Console().print(table)
    click.echo(f"report: {report.resolve()}")
