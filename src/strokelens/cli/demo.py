"""`strokelens demo`: explain DoodleNet on real SPG test sketches with several methods side by side.

With no data folder it reads the sample that ships with strokelens (`strokelens.datasets.load_sample`);
with ``--home`` or ``$STROKELENS_HOME``, the full SPG test split there."""

from __future__ import annotations

import json
import os
from pathlib import Path

import click
from rich.console import Console
from rich.table import Table

from strokelens.cli.app import app, home_option
from strokelens.datasets import load_sample, load_spg, spg_classes
from strokelens.defaults import default_method
from strokelens.explain import explain
from strokelens.home import ENV_VAR
from strokelens.methods import methods_where
from strokelens.metrics import part_summary
from strokelens.models import load_model
from strokelens.sketch import Sketch
from strokelens.views import view_for
from strokelens.viz.report import write_report


def demo_pool(count: int, home: Path | None) -> tuple[list[Sketch], str]:
    """SPG test sketches to choose from, and what they are: the full test split of the data folder
    (``home`` or ``$STROKELENS_HOME``) when one is given, else the shipped sample."""
    if home is None and not os.environ.get(ENV_VAR):
        return load_sample(), "sample SPG test sketches"
    per_class = -(-count // len(spg_classes(home))) + 1
    return load_spg("test", per_class=per_class, home=home), "SPG test sketches"


def demo_methods(default: str) -> tuple[str, ...]:
    """The interactive methods for stroke units (as the server's page offers them), the default
    method first (added when it is not among them)."""
    return (default, *(m for m in methods_where(interactive=True, units="stroke") if m != default))


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
    """Explain DoodleNet's predictions on real SPG test sketches (SLA, P-SLA, IG, occlusion, the
    learned fastshap and wys explainers, exact Shapley side by side) and write an HTML report.

    The default method (`strokelens.defaults`, chosen by measurement) comes first, marked. Runs on the
    sample that ships with strokelens unless a data folder is given."""
    model = load_model("doodlenet")
    view = view_for(model)
    pool, what = demo_pool(count, home)
    classes = sorted({s.label or "" for s in pool})
    per_class = {c: [s for s in pool if s.label == c and s.n_strokes <= 12] for c in classes}
    chosen = [per_class[c][r] for r in range(2) for c in classes if len(per_class[c]) > r][:count]
    sketches = view.prepare(chosen)
    default = default_method("doodlenet", view.kind.files)
    explanations, curves = {}, {}
    target = "auto"
    for name in demo_methods(default):
        run = explain(view, sketches, name, target=target, batch_size=len(sketches))
        target = run.explanations[0].target  # every method explains the class the default found
        explanations[name], curves[name] = run.explanations[0], run.curves[0]
    out_dir.mkdir(parents=True, exist_ok=True)
    with open(out_dir / "explanations.jsonl", "w", encoding="utf-8") as fh:
        for expl in explanations.values():
            for record in expl.records():
                fh.write(json.dumps(record) + "\n")
    report = write_report(
        out_dir / "report.html",
        explanations,
        curves,
        title=f"strokelens demo: DoodleNet on {len(sketches)} {what}",
        default=default,
    )
    table = Table("sketch", "predicted", f"top part ({default}, the default)")
    parts = part_summary(explanations[default])
    for s, name in zip(sketches, explanations[default].target_names or [], strict=False):
        top = next(iter(parts.get(s.label or "", {})), "-")
        table.add_row(s.label or "?", name, top)
    Console().print(table)
    click.echo(f"report: {report.resolve()}")
