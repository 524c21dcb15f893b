"""`strokelens retrieve`: search a gallery of sketches for every query sketch by embedding cosine
similarity, score the search by category and explain the top matches in strokes."""

from __future__ import annotations

from pathlib import Path

import click
from rich.console import Console
from rich.table import Table

from strokelens.cli.app import app, home_option
from strokelens.cli.options import device_option, limit_option, model_options, read_all
from strokelens.errors import StrokelensError
from strokelens.models.spec import ModelSpec, resolve_device

#: Queries the printed table shows (results.jsonl has them all).
TABLE_ROWS = 20


def _read(files, limit, what: str):
    try:
        return read_all(files, limit)
    except StrokelensError as exc:
        raise StrokelensError(f"{what}: {exc}") from None


@app.command()
@click.argument("query_files", nargs=-1, required=True, type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "--gallery",
    "gallery_files",
    multiple=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="Sketch file(s) to search (repeat the option for several files).",
)
@model_options(user_models=False)
@click.option("--method", default="sla", show_default=True, help="Attribution method explaining the matches.")
@click.option("--top", type=click.IntRange(min=1), default=10, show_default=True, help="Matches per query.")
@click.option(
    "--explain",
    "n_explain",
    type=click.IntRange(min=0),
    default=8,
    show_default=True,
    help="Explain the top match of the first N queries (0: none).",
)
@click.option("--seed", type=int, default=0, show_default=True)
@click.option(
    "--out",
    "out_dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Write results.jsonl and report.html here.",
)
@limit_option
@device_option
@home_option
def retrieve(
    query_files,
    gallery_files,
    model_spec: ModelSpec,
    method,
    top,
    n_explain,
    seed,
    out_dir,
    limit,
    device,
    home,
):
    """Search a gallery of sketches for every drawing in QUERY_FILES; explain the top matches in strokes.

    The gallery is the --gallery files; sketches are ranked by the cosine similarity of the model's
    embedding (the input of its last linear layer), a query's own drawing never among its results."""
    from strokelens.retrieval import build_gallery, check_method, embedding_view
    from strokelens.retrieval.explain import probe_method
    from strokelens.retrieval.report import save_retrieval
    from strokelens.retrieval.run import run_retrieval

    if not gallery_files:
        raise StrokelensError("no gallery: pass --gallery FILE (one or more sketch files to search)")
    model_name = model_spec.name
    if not model_spec.kind().sketches:
        raise StrokelensError(f"retrieve searches sketches; {model_name} is a photo model")
    view = embedding_view(model_spec.load(home=home, device=resolve_device(device)))
    if n_explain:
        check_method(view, method)
    queries = _read(query_files, limit, "queries")
    if n_explain:  # a method that cannot work on this view fails here, not after the gallery
        probe_method(view, method, view.prepare(queries[:1])[0])
    gallery_sketches = _read(gallery_files, limit, "gallery")
    gallery = build_gallery(view, gallery_sketches)
    run = run_retrieval(view, queries, gallery, k=top, explain=n_explain, method=method, seed=seed)
    _print(run, model_name)
    if out_dir is not None:
        title = f"strokelens retrieve: {model_name}, {method}"
        records = save_retrieval(run, out_dir, title)
        click.echo(f"{len(records)} queries in {out_dir / 'results.jsonl'}")
        click.echo(f"report: {out_dir / 'report.html'}")


def _print(run, model_name: str) -> None:
    from strokelens.games import normalise_class_name

    table = Table(
        "query",
        "label",
        "top match",
        "its label",
        "similarity",
        title=f"{len(run.queries)} queries, gallery of {len(run.gallery)}, {model_name}",
    )
    idx, sims = run.matches.indices.tolist(), run.matches.similarities.tolist()
    for i, q in enumerate(run.queries[:TABLE_ROWS]):
        match = run.gallery.item(idx[i][0])
        same = (
            q.label
            and match["label"]
            and normalise_class_name(q.label) == normalise_class_name(match["label"])
        )
        label = f"[green]{match['label']}[/green]" if same else str(match["label"] or "")
        table.add_row(q.key_id or str(i), q.label or "", match["id"], label, f"{sims[i][0]:.4f}")
    console = Console()
    console.print(table)
    if len(run.queries) > TABLE_ROWS:
        console.print(f"... and {len(run.queries) - TABLE_ROWS} more queries")
    if run.scores is not None:
        console.print(f"mAP {run.scores.map:.4f}, precision@{run.scores.k} {run.scores.precision:.4f}")
    else:
        console.print("no category scores: not every query has a label the gallery shares")
