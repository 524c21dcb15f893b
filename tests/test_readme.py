"""The README's Python examples run as written, on the real data."""

from __future__ import annotations

import re
from pathlib import Path

README = Path(__file__).resolve().parents[1] / "README.md"


def test_python_examples_run(home, tmp_path, monkeypatch):
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(encoding="utf-8"), flags=re.S)
    assert len(blocks) >= 2
    monkeypatch.setenv("STROKELENS_HOME", str(home))
    monkeypatch.chdir(tmp_path)  # the examples write under out/
    namespace: dict = {}
    for block in blocks:
        exec(compile(block, str(README), "exec"), namespace)
    assert (tmp_path / "out" / "cat" / "report.html").is_file()
    assert namespace["expl"].scores.shape[0] == len(namespace["sketches"])
