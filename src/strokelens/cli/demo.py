"""`strokelens demo --out DIR`: SPG test sketches drawn with their parts coloured, plus an HTML gallery.

(A placeholder until the explanation engine lands.)
"""

from __future__ import annotations

import html
import math
from pathlib import Path

import click

from strokelens.cli.app import app, home_option
from strokelens.cli.render import render_sketch
from strokelens.datasets import load_spg, spg_classes
from strokelens.errors import StrokelensError


@app.command()
@click.option("--out", "out", required=True, type=click.Path(file_okay=False, path_type=Path))
@click.option("--n", "n", type=click.IntRange(min=1, max=2000), default=8, show_default=True)
@home_option
def demo(out: Path, n: int, home: Path | None) -> None:
    """Draw the first N SPG test sketches (one class after another) as SVG + PNG with an index.html."""
    classes = spg_classes(home)
    per_class = math.ceil(n / len(classes))
    sketches = load_spg("test", classes=classes[: math.ceil(n / per_class)], per_class=per_class, home=home)
    # Round-robin over classes so a small N still shows several classes.
    by_class: dict[str, list] = {}
    for s in sketches:
        by_class.setdefault(s.label or "", []).append(s)
    order = [g[i] for i in range(per_class) for g in by_class.values() if i < len(g)][:n]
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise StrokelensError(f"cannot create {out}: {exc.strerror or exc}") from None
    cells = []
    for k, s in enumerate(order):
        stem = f"{k:03d}-{(s.label or 'sketch').replace(' ', '_')}"
        render_sketch(s, out / f"{stem}.svg", title=s.label)
        render_sketch(s, out / f"{stem}.png", title=s.label)
        cells.append(
            f'<figure><img src="{stem}.svg" width="256" height="256" alt="{html.escape(s.label or "")}">'
            f"<figcaption>{html.escape(s.label or '')} · key {html.escape(s.key_id or '?')} · "
            f'<a href="{stem}.png">png</a></figcaption></figure>'
        )
    page = (
        "<!doctype html><meta charset='utf-8'><title>strokelens demo</title>"
        "<style>body{font-family:sans-serif}figure{display:inline-block;margin:6px}</style>"
        f"<h1>SPG test sketches, parts coloured ({len(order)})</h1>\n" + "\n".join(cells) + "\n"
    )
    index = out / "index.html"
    index.write_text(page, encoding="utf-8")
    click.echo(str(index))
