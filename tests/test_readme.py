"""The README's quick start and the docs' Python page run as written, on the real data."""

from __future__ import annotations

import os
import re
import shlex
from pathlib import Path

from doc_examples import python_blocks

ROOT = Path(__file__).resolve().parents[1]


def test_readme_opens_with_the_two_commands_and_stays_short():
    lines = (ROOT / "README.md").read_text(encoding="utf-8").splitlines()
    commands = [line.split("#")[0].strip() for line in lines[:6] if line.startswith("    make ")]
    assert commands == ["make demo", "make test"], "the README opens with `make demo` and `make test`"
    assert len(lines) <= 150, f"the README is a quick start: {len(lines)} lines"


def test_readme_python_examples_run(run_doc, tmp_path):
    namespace = run_doc("README.md", 2)
    assert (tmp_path / "out" / "cat" / "report.html").is_file()
    assert namespace["expl"].scores.shape[0] == len(namespace["sketches"])
    assert namespace["curves"].deletion_auc.shape == (len(namespace["sketches"]),)


def test_python_page_examples_run(run_doc, tmp_path):
    assert len(python_blocks("docs/python.md")) >= 2
    namespace = run_doc("docs/python.md")
    assert (tmp_path / "out" / "cat" / "report.html").is_file()
    assert namespace["expl"].scores.shape[0] == len(namespace["sketches"])


def test_readme_commands_run(tmp_path, monkeypatch, capsys):
    """The README's commands, with no data folder: the shipped sample and models are enough."""
    from strokelens.cli import main

    text = (ROOT / "README.md").read_text(encoding="utf-8")
    blocks = re.findall(r"```bash\n(.*?)```", text, flags=re.S)
    commands = [line for block in blocks for line in block.splitlines() if line.startswith("strokelens ")]
    assert len(commands) == 3
    monkeypatch.delenv("STROKELENS_HOME", raising=False)
    monkeypatch.chdir(tmp_path)
    for command in commands:
        argv = [os.path.expandvars(arg) for arg in shlex.split(command)[1:]]
        assert main(argv) == 0, command
    assert "pig" in capsys.readouterr().out
    assert (tmp_path / "sample" / "ATTRIBUTION.md").is_file()
    assert (tmp_path / "out" / "pig" / "report.html").is_file()
