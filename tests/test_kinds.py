"""Input kinds are objects (`strokelens.kinds`): no module but kinds.py compares a kind as a string,
and the kinds do what the commands and jobs used to switch on."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from strokelens import kinds
from strokelens.errors import StrokelensError

ROOT = Path(__file__).resolve().parents[1]
#: The names input kinds went by (model input kinds, kinds of files, words).
KIND_STRINGS = {"image", "sketch", "raster-sketch", "vector-sketch", "raster-generator", "photo"}


def _is_kind_string(node: ast.AST) -> bool:
    return isinstance(node, ast.Constant) and node.value in KIND_STRINGS


def _mentions_kind(node: ast.AST) -> bool:
    """A kind string, or a tuple, list or set literal holding one."""
    if isinstance(node, (ast.Tuple, ast.List, ast.Set)):
        return any(_is_kind_string(e) for e in node.elts)
    return _is_kind_string(node)


def kind_comparisons(source: str) -> list[int]:
    """Lines of ``source`` that compare something to an input kind's name: ``==``, ``!=``, ``in``,
    ``not in`` (a literal collection of names included) or a ``match`` case."""
    lines = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Compare):
            ops = (ast.Eq, ast.NotEq, ast.In, ast.NotIn, ast.Is, ast.IsNot)
            if any(isinstance(op, ops) for op in node.ops) and any(
                _mentions_kind(n) for n in (node.left, *node.comparators)
            ):
                lines.append(node.lineno)
        elif isinstance(node, ast.MatchValue) and _is_kind_string(node.value):
            lines.append(node.lineno)
    return sorted(lines)


def _modules() -> list[Path]:
    return sorted([*(ROOT / "src" / "strokelens").rglob("*.py"), *(ROOT / "benchmarks").rglob("*.py")])


def test_no_module_but_kinds_compares_an_input_kind_as_a_string():
    found = []
    for path in _modules():
        rel = path.relative_to(ROOT).as_posix()
        if rel == "src/strokelens/kinds.py":
            continue
        found += [f"{rel}:{line}" for line in kind_comparisons(path.read_text(encoding="utf-8"))]
    assert not found, "compare input kinds as objects (strokelens.kinds), not names: " + ", ".join(found)


@pytest.mark.parametrize(
    "code",
    [
        'kind == "image"',
        '"sketch" != view.item_name',
        'x in ("raster-sketch", "vector-sketch")',
        'x not in ["photo"]',
        'match kind:\n    case "vector-sketch":\n        pass',
    ],
)
def test_the_scan_sees_every_way_of_comparing(code):
    assert kind_comparisons(code) == [1] or kind_comparisons(code) == [2]


def test_the_scan_leaves_other_uses_of_the_words_alone():
    code = 'fields = {"image": "a.png"}\nmodel.input_kind = "image"\nf("sketch")\nx == "stroke"'
    assert kind_comparisons(code) == []


def test_parse_and_of():
    assert kinds.parse("raster-sketch") is kinds.RASTER_SKETCH
    assert kinds.parse(kinds.IMAGE) is kinds.IMAGE
    assert kinds.parse("video") is kinds.VIDEO
    with pytest.raises(StrokelensError, match="raster-sketch, vector-sketch, image"):
        kinds.parse("audio")
    with pytest.raises(StrokelensError, match="expected one of raster-sketch"):
        kinds.parse("raster-generator", among=kinds.CLASSIFIER_KINDS)

    class Model:
        input_kind = "vector-sketch"

    assert kinds.of(Model()) is kinds.VECTOR_SKETCH
    with pytest.raises(StrokelensError, match=r"set model\.input_kind"):
        kinds.of(object())
    assert kinds.files_named("image") is kinds.PHOTO_FILES
    assert kinds.files_named(kinds.SKETCH_FILES) is kinds.SKETCH_FILES
    with pytest.raises(StrokelensError, match="sketch, image"):
        kinds.files_named("photo")


def test_kinds_stay_one_instance_through_pickle_and_copy():
    import copy
    import pickle

    for obj in (*kinds.KINDS.values(), kinds.SKETCH_FILES, kinds.PHOTO_FILES):
        assert pickle.loads(pickle.dumps(obj)) is obj and copy.deepcopy(obj) is obj
    assert repr(kinds.VECTOR_SKETCH) == "kinds.VECTOR_SKETCH"


def test_kinds_say_their_files_and_words():
    assert kinds.RASTER_SKETCH.files is kinds.VECTOR_SKETCH.files is kinds.SKETCH_FILES
    assert kinds.IMAGE.files is kinds.PHOTO_FILES and not kinds.IMAGE.sketches
    assert (kinds.RASTER_SKETCH.item, kinds.IMAGE.item) == ("sketch", "image")  # ms_per_sketch ...
    assert (kinds.SKETCH_FILES.plural, kinds.PHOTO_FILES.plural) == ("drawings", "photos")
    assert (kinds.SKETCH_FILES.word, kinds.PHOTO_FILES.word) == ("sketch", "photo")
    assert kinds.SKETCH_FILES.batch_size("explain") == 32 and kinds.PHOTO_FILES.batch_size("evaluate") == 4
    assert kinds.SKETCH_FILES.default_units == "stroke" and kinds.PHOTO_FILES.default_units is None
    assert not kinds.RASTER_GENERATOR.classifies and kinds.RASTER_GENERATOR not in kinds.CLASSIFIER_KINDS


def test_sketch_files_read_count_and_check(spg_dir, tmp_path):
    ant = spg_dir / "ant.ndjson.gz"
    files = kinds.SKETCH_FILES
    assert files.check(ant) == ant and files.count(ant) > 3
    assert len(files.read([ant, ant], limit=2)) == 4  # --limit counts per file
    records = list(files.records(ant, 1, 2))
    assert [i for i, _ in records] == [1, 2]
    (tmp_path / "x.txt").write_text("")
    with pytest.raises(StrokelensError, match="unsupported sketch file type"):
        files.check(tmp_path / "x.txt")
    with pytest.raises(StrokelensError, match="sketches have labels"):
        files.check_target("file")
    files.check_target("auto")
    assert files.unit_options(None, 50) == {}


def test_photo_files_read_count_and_check(tmp_path):
    photos = [tmp_path / f"n0{i}_cat.jpg" for i in range(3)]
    for p in photos:
        p.write_bytes(b"")
    files = kinds.PHOTO_FILES
    assert files.matches(photos[0]) and not files.matches(tmp_path / "a.ndjson")
    assert files.count(photos[0]) == 1 and list(files.records(photos[0])) == [(0, str(photos[0]))]
    assert files.read(photos, limit=2) == photos[:2]  # --limit counts in all
    assert files.select(photos, 2) == photos[:2] and kinds.SKETCH_FILES.select(photos, 2) == photos
    with pytest.raises(StrokelensError, match="no such file"):
        files.check(tmp_path / "missing.jpg")
    files.check_target("file")
    assert files.unit_options(None, 12) == {"n_segments": 12}
    with pytest.raises(StrokelensError, match="--units is for sketches"):
        files.unit_options("stroke", 12)


def test_views_own_their_kind(doodlenet):
    from strokelens.views import EmbeddingView, ImageView, VectorSketchView, view_for

    view = view_for(doodlenet)
    assert view.kind is kinds.RASTER_SKETCH and view.kind.name == "raster-sketch"
    assert EmbeddingView(view).kind is kinds.RASTER_SKETCH
    assert VectorSketchView.kind is kinds.VECTOR_SKETCH and ImageView.kind is kinds.IMAGE
    assert ImageView.kind.item == "image"
