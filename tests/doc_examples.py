"""The Python examples of the project's Markdown files (README.md, docs/*.md), for tests that run them."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def python_blocks(relative: str) -> list[str]:
    """The ```python blocks of ``relative`` (a path from the project's root), in order."""
    text = (ROOT / relative).read_text(encoding="utf-8")
    return re.findall(r"```python\n(.*?)```", text, flags=re.S)


def run_blocks(relative: str, blocks: list[str] | None = None) -> dict:
    """Run ``blocks`` (default: all of ``relative``'s) in order in one namespace; returns it."""
    namespace: dict = {}
    for block in python_blocks(relative) if blocks is None else blocks:
        exec(compile(block, str(ROOT / relative), "exec"), namespace)
    return namespace
