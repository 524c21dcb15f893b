"""The docs site (mkdocs.yml, docs/): every page is in the nav, the build needs no network, and every
Markdown file with Python examples has a test that runs them (`run_doc`, or `python_blocks` for a
page whose example needs a live server). `make docs` builds the site with --strict."""

from __future__ import annotations

import re
from pathlib import Path

from doc_examples import python_blocks

ROOT = Path(__file__).resolve().parents[1]
#: A test runs a page's examples when it names the page in one of these calls.
RUNS = re.compile(r"""(?:run_doc|python_blocks)\(\s*["']((?:docs/)?[\w/.-]+\.md)["']""")


def pages() -> list[str]:
    """Every Markdown file of the project with documentation: README.md and docs/**/*.md."""
    docs = sorted(p.relative_to(ROOT).as_posix() for p in (ROOT / "docs").rglob("*.md"))
    return ["README.md", *docs]


def pages_run_by_tests() -> set[str]:
    tests = (ROOT / "tests").glob("test_*.py")
    return {match for path in tests for match in RUNS.findall(path.read_text(encoding="utf-8"))}


def test_every_python_example_is_run_by_a_test():
    with_examples = [page for page in pages() if python_blocks(page)]
    assert "README.md" in with_examples and len(with_examples) >= 10
    missing = sorted(set(with_examples) - pages_run_by_tests())
    assert not missing, f"no test runs the Python examples of {missing}: add a run_doc test"


def test_every_docs_page_is_in_the_nav():
    config = (ROOT / "mkdocs.yml").read_text(encoding="utf-8")
    nav = set(re.findall(r":\s*([\w/.-]+\.md)\s*$", config.split("\nnav:", 1)[1], flags=re.M))
    docs = {page.removeprefix("docs/") for page in pages() if page != "README.md"}
    assert docs <= nav, f"not in mkdocs.yml's nav: {sorted(docs - nav)}"
    assert nav <= docs, f"in the nav but not in docs/: {sorted(nav - docs)}"


def test_the_site_builds_offline_and_strictly():
    config = (ROOT / "mkdocs.yml").read_text(encoding="utf-8")
    assert re.search(r"^strict: true$", config, flags=re.M)
    assert re.search(r"^\s+font: false\b", config, flags=re.M), "material would fetch Google Fonts"
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    assert re.search(r"^test: .*\bdocs\b", makefile, flags=re.M), "make test builds the docs"
    assert "mkdocs build --strict" in makefile


def test_readme_links_to_pages_that_are_in_the_site():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    linked = set(re.findall(r"\]\(docs/([\w/.-]+\.md)", readme))
    assert len(linked) >= 10
    missing = sorted(page for page in linked if not (ROOT / "docs" / page).is_file())
    assert not missing, f"the README links to docs pages that do not exist: {missing}"
