"""The README's Python examples run as written, on the real data."""

from __future__ import annotations

from doc_examples import python_blocks


def test_python_examples_run(run_doc, tmp_path):
    assert len(python_blocks("README.md")) >= 2
    namespace = run_doc("README.md")
    assert (tmp_path / "out" / "cat" / "report.html").is_file()
    assert namespace["expl"].scores.shape[0] == len(namespace["sketches"])
