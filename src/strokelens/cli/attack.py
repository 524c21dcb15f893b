"""`strokelens attack FILE...`: adversarial stroke attacks driven by explanations.

``--attack removal`` removes strokes in the order ``--method`` ranks them (up to ``--max-strokes``)
until the model reads another class, or ``--goal``; ``--attack geometry`` moves the points of the
``--pieces`` pieces P-SLA ranks highest (``--selection``), each by at most ``--eps`` of the drawing's
bounding-box diagonal. Every attacked drawing is read afresh (as ``strokelens predict`` reads a saved
file) and the record says what the model reads then. Writes, under ``--out``: ``attacked.ndjson``
(every drawing after the attack), ``<n>_<id>.svg`` (the attacked drawing), ``<n>_<id>.png`` (before
and after, what changed in red), ``results.jsonl`` (one record a drawing) and ``report.html``.
"""

from __future__ import annotations

import html
import json
from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import click
import torch
from rich.console import Console
from rich.progress import Progress

from strokelens.attacks import SELECTIONS, classify, geometry_attack, removal_attack, stroke_scores
from strokelens.cli.app import app, file_stem, files_argument, home_option
from strokelens.cli.options import device_option, learned_options, model_options, read_all, weights_option
from strokelens.errors import StrokelensError
from strokelens.games import class_index, normalise_class_name
from strokelens.io import write_sketches
from strokelens.kinds import RASTER_SKETCH, VECTOR_SKETCH
from strokelens.methods import METHODS
from strokelens.models.spec import ModelSpec, resolve_device
from strokelens.units.strokes import PIECE, STROKE
from strokelens.viz.attacks import geometry_pair, removal_pair, write_attack_report
from strokelens.viz.sketch_image import sketch_svg

if TYPE_CHECKING:
    from PIL import Image

    from strokelens.sketch import Sketch
    from strokelens.views.base import View

#: The removal ordering by default: among the best measured on SPG (benchmarks/results/attack.json)
#: and free (no model evaluation).
DEFAULT_ORDERING = "fastshap"


@dataclass(frozen=True)
class _Settings:
    """The command's options that the attacks read."""

    method: str
    options: dict[str, Any]
    max_strokes: int
    selection: str
    eps: float
    pieces: int
    steps: int
    confidence: float
    seed: int


class _AttackKind(ABC):
    """What ``--attack`` names: how it checks its options, attacks a batch and reports a drawing."""

    name: ClassVar[str]

    def check_method(self, method: str) -> None:  # noqa: B027  (most attacks read any method)
        """Refuse a ``--method`` the attack does not read."""

    def check_view(self, view: View, model_name: str) -> None:  # noqa: B027  (or work on any model)
        """Refuse a model the attack cannot work on."""

    @abstractmethod
    def run(self, view: View, chunk: list, goals: torch.Tensor | None, settings: _Settings, lo: int) -> Any:
        """The attack's result on ``chunk``, the drawings from ``lo`` on (a seed for each batch)."""

    def record_extras(self, settings: _Settings) -> dict[str, Any]:
        """What a drawing's record says beside the result's own record."""
        return {}

    @abstractmethod
    def pair(self, result: Any, i: int, before: Sketch, after: Sketch, rec: dict) -> Image.Image:
        """Drawing ``i`` before and after, what changed marked."""

    @abstractmethod
    def what(self, rec: dict) -> str:
        """What the attack did to one drawing, in words (the report's caption)."""

    @abstractmethod
    def summary_rows(self, records: list[dict]) -> list[tuple[str, str]]:
        """The attack's own lines of the summary."""


class _Removal(_AttackKind):
    """Remove the strokes ``--method`` ranks highest until the model reads another class."""

    name = "removal"

    def run(self, view: View, chunk: list, goals: torch.Tensor | None, settings: _Settings, lo: int) -> Any:
        units = view.units_for(chunk, STROKE)
        target = view.game(units).full_outputs.argmax(1)
        s = settings
        scores, _ = stroke_scores(view, units, s.method, target, goals, seed=s.seed, options=s.options)
        return removal_attack(view, units, scores, goal=goals, max_removed=s.max_strokes)

    def record_extras(self, settings: _Settings) -> dict[str, Any]:
        return {"method": settings.method}

    def pair(self, result: Any, i: int, before: Sketch, after: Sketch, rec: dict) -> Image.Image:
        return removal_pair(before, after, rec["removed_strokes"], (rec["original"], rec["reread"]))

    def what(self, rec: dict) -> str:
        return f"{rec['strokes_removed']} of {rec['n_strokes']} strokes removed"

    def summary_rows(self, records: list[dict]) -> list[tuple[str, str]]:
        done = [r for r in records if r["success"]]
        mean = sum(r["strokes_removed"] for r in done) / max(len(done), 1)
        ink = sum(r["ink_removed"] for r in done) / max(len(done), 1)
        return [
            ("strokes removed where it succeeded (mean)", f"{mean:.2f}"),
            ("ink removed (mean)", f"{ink:.1%}"),
        ]


class _Geometry(_AttackKind):
    """Move the points of the pieces P-SLA ranks highest (``--selection``), each by at most ``--eps``."""

    name = "geometry"

    def check_method(self, method: str) -> None:
        if method != DEFAULT_ORDERING:
            raise StrokelensError(
                "--method orders strokes for --attack removal; the geometry attack uses --selection"
            )

    def check_view(self, view: View, model_name: str) -> None:
        if not view.sketch_points:
            raise StrokelensError(
                f"the geometry attack moves the points a raster model draws; {model_name} is not one"
            )

    def run(self, view: View, chunk: list, goals: torch.Tensor | None, settings: _Settings, lo: int) -> Any:
        s = settings
        units = view.units_for(chunk, PIECE, pieces_per_stroke=3)
        return geometry_attack(
            view,
            units,
            eps=s.eps,
            selection=s.selection,
            n_pieces=s.pieces,
            steps=s.steps,
            confidence=s.confidence,
            goal=goals,
            seed=s.seed + lo,
        )

    def pair(self, result: Any, i: int, before: Sketch, after: Sketch, rec: dict) -> Image.Image:
        moved = result.moved[i, : before.n_points].tolist()
        return geometry_pair(before, after, moved, (rec["original"], rec["reread"]))

    def what(self, rec: dict) -> str:
        return (
            f"{rec['points_moved']} of {rec['n_points']} points moved, "
            f"mean {rec['mean_displacement']:.3f} of the diagonal"
        )

    def summary_rows(self, records: list[dict]) -> list[tuple[str, str]]:
        n = len(records)
        moved = sum(r["points_moved"] for r in records) / n
        disp = sum(r["mean_displacement"] for r in records) / n
        return [("points moved (mean)", f"{moved:.1f}"), ("displacement / diagonal (mean)", f"{disp:.4f}")]


#: ``--attack``'s choices.
ATTACK_KINDS: dict[str, _AttackKind] = {k.name: k for k in (_Removal(), _Geometry())}


@app.command(name="attack")
@files_argument
@model_options(
    help="Model to attack (a sketch model).", user_models=False, takes=(RASTER_SKETCH, VECTOR_SKETCH)
)
@click.option("--attack", "kind", type=click.Choice(list(ATTACK_KINDS)), default="removal", show_default=True)
@click.option(
    "--method",
    type=click.Choice(sorted(METHODS)),
    default=DEFAULT_ORDERING,
    show_default=True,
    help="Removal: the attribution method that orders the strokes (psla is pooled to strokes).",
)
@click.option("--goal", default=None, help="A class to reach (targeted); default: any other class.")
@click.option("--max-strokes", type=click.IntRange(min=1), default=3, show_default=True)
@click.option("--selection", type=click.Choice(list(SELECTIONS)), default="psla", show_default=True)
@click.option("--eps", type=click.FloatRange(min=0, min_open=True), default=0.05, show_default=True)
@click.option("--pieces", type=click.IntRange(min=1), default=3, show_default=True, help="Pieces to move.")
@click.option("--steps", type=click.IntRange(min=1), default=30, show_default=True)
@click.option("--confidence", type=click.FloatRange(min=0), default=1.0, show_default=True)
@click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path), required=True)
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--limit", type=click.IntRange(min=1), default=None, help="At most N drawings per file.")
@click.option("--batch-size", type=click.IntRange(min=1), default=64, show_default=True)
@weights_option
@device_option
@home_option
def attack(
    files,
    model_spec: ModelSpec,
    kind: str,
    method: str,
    goal: str | None,
    max_strokes: int,
    selection: str,
    eps: float,
    pieces: int,
    steps: int,
    confidence: float,
    out_dir: Path,
    seed: int,
    limit: int | None,
    batch_size: int,
    weights: Path | None,
    device: str | None,
    home: Path | None,
) -> None:
    """Attack a sketch model on every drawing in FILES: remove the strokes an explanation ranks
    highest, or move the points of the pieces P-SLA ranks highest; save the attacked drawings."""
    from strokelens.views import view_for

    options = learned_options([method], weights).get(method, {})
    chosen = ATTACK_KINDS[kind]
    model_name = model_spec.name
    chosen.check_method(method)
    view = view_for(model_spec.load(home=home, device=resolve_device(device)))
    chosen.check_view(view, model_name)
    goal_index = None if goal is None else class_index(goal, view.class_names)
    sketches = view.prepare(read_all(files, limit))
    out_dir.mkdir(parents=True, exist_ok=True)
    settings = _Settings(method, options, max_strokes, selection, eps, pieces, steps, confidence, seed)
    attacked_all, records, items = [], [], []
    progress = Progress(transient=True, disable=len(sketches) <= batch_size)
    with open(out_dir / "results.jsonl", "w", encoding="utf-8") as jsonl, progress:
        task = progress.add_task(f"{kind} attack on {len(sketches)} drawings", total=len(sketches))
        for lo in range(0, len(sketches), batch_size):
            chunk = sketches[lo : lo + batch_size]
            goals = None if goal_index is None else torch.full((len(chunk),), goal_index)
            result = chosen.run(view, chunk, goals, settings, lo)
            attacked = result.attacked_sketches()
            reread = classify(view, attacked)
            for i, (before, after) in enumerate(zip(chunk, attacked, strict=True)):
                n = lo + i
                stem = file_stem(n, before.key_id)
                rec = {**result.record(i), "model": model_name, **chosen.record_extras(settings)}
                rec["reread"] = reread[i]
                wanted = rec["goal"] if goal_index is not None else None
                rec["fooled"] = (
                    normalise_class_name(reread[i]) == normalise_class_name(wanted)
                    if wanted is not None
                    else normalise_class_name(reread[i]) != normalise_class_name(rec["original"])
                )
                picture = chosen.pair(result, i, before, after, rec)
                picture.save(out_dir / f"{stem}.png")
                (out_dir / f"{stem}.svg").write_text(sketch_svg(after), encoding="utf-8")
                rec["files"] = {"png": f"{stem}.png", "svg": f"{stem}.svg"}
                jsonl.write(json.dumps(rec) + "\n")
                records.append(rec)
                items.append((picture, _caption(rec, chosen.what(rec))))
            attacked_all.extend(attacked)
            progress.advance(task, len(chunk))
    write_sketches(attacked_all, out_dir / "attacked.ndjson")
    summary = _summary(records) + chosen.summary_rows(records)
    title = f"strokelens: {kind} attack on {model_name}"
    write_attack_report(out_dir / "report.html", title, summary, items)
    console = Console()
    for key, value in summary:
        console.print(f"{key}: {value}")
    console.print(f"attacked drawings, pictures, results.jsonl and report.html in {out_dir}")


def _caption(rec: dict, what: str) -> str:
    verdict = "fooled" if rec["fooled"] else "not fooled"
    return (
        f"{html.escape(str(rec['label'] or ''))} {html.escape(str(rec['id']))}<br>"
        f"<span class='small'>{html.escape(rec['original'])} &rarr; {html.escape(rec['reread'])} ({verdict})"
        f"<br>{html.escape(what)}<br>{html.escape(rec['source'] or '')}</span>"
    )


def _summary(records: list[dict]) -> list[tuple[str, str]]:
    n = len(records)
    fooled = sum(r["fooled"] for r in records)
    return [("drawings", str(n)), ("fooled (read afresh)", f"{fooled} ({fooled / n:.1%})")]
