"""`strokelens` command line. Errors a user can cause print one line on stderr and exit with code 2.

Command modules are imported only when their command runs (see `strokelens.cli.app.COMMANDS`), so
``strokelens --help`` and ``strokelens info`` start without importing PyTorch.
"""

from __future__ import annotations

import sys

import click

from strokelens.cli.app import app
from strokelens.errors import StrokelensError

__all__ = ["app", "main"]


def main(argv: list[str] | None = None) -> int:
    """Entry point: run the CLI, turning `StrokelensError` into one line on stderr and exit code 2."""
    try:
        result = app(args=argv, standalone_mode=False, prog_name="strokelens")
    except StrokelensError as exc:
        message = " ".join(str(exc).split())
        print(f"strokelens: error: {message}", file=sys.stderr)
        return _exit(2, argv)
    except click.ClickException as exc:
        print(f"strokelens: error: {' '.join(exc.format_message().split())}", file=sys.stderr)
        return _exit(exc.exit_code, argv)
    except click.exceptions.Exit as exc:
        return _exit(exc.exit_code, argv)
    except click.Abort:
        print("strokelens: aborted", file=sys.stderr)
        return _exit(1, argv)
    return _exit(result if isinstance(result, int) else 0, argv)


def _exit(code: int, argv: list[str] | None) -> int:
    if argv is None:  # called as a console script
        sys.exit(code)
    return code
