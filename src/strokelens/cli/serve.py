"""`strokelens serve`: the assisted-drawing web app on a local address (FastAPI + uvicorn)."""

from __future__ import annotations

import ipaddress
from pathlib import Path

import click

from strokelens.cli.app import app, home_option
from strokelens.cli.options import shipped_models
from strokelens.errors import StrokelensError
from strokelens.kinds import RASTER_SKETCH, VECTOR_SKETCH

#: The sketch models the page can serve.
SKETCH_MODELS = shipped_models(takes=(RASTER_SKETCH, VECTOR_SKETCH))


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@app.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to bind (loopback by default).")
@click.option("--port", type=click.IntRange(0, 65535), default=8000, show_default=True)
@click.option(
    "--model",
    "models",
    type=click.Choice(SKETCH_MODELS),
    multiple=True,
    default=("doodlenet",),
    show_default=True,
    help="Model to serve; repeat to serve several (the first is the page's default).",
)
@click.option(
    "--threads",
    type=click.IntRange(min=1),
    default=1,
    show_default=True,
    help="PyTorch threads per model operation (the explain and assist workers run side by side).",
)
@home_option
def serve(host: str, port: int, models: tuple[str, ...], threads: int, home: Path | None) -> None:
    """Serve the assisted-drawing page and its JSON API: draw, and see the model's reading of every
    stroke; open the printed address in a browser."""
    import torch
    import uvicorn

    from strokelens.serve.app import create_app
    from strokelens.serve.handlers import Served

    if len(set(models)) != len(models):
        raise StrokelensError(f"--model given twice: {', '.join(models)}")
    if not is_loopback(host):
        click.echo(
            f"warning: binding {host}, not the loopback address: anyone who can reach this machine can "
            "use the server",
            err=True,
        )
    torch.set_num_threads(threads)
    served = [Served.load(name, home=home) for name in models]
    application = create_app(served)
    click.echo(f"strokelens serve: http://{host if ':' not in host else f'[{host}]'}:{port}/  (Ctrl-C stops)")
    uvicorn.run(application, host=host, port=port, log_level="warning")
