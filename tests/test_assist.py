"""`strokelens.assist` on real drawings: edits and their ink, strokes lent by real drawings, and the
search's suggestions verified by reading them afresh, on a raster and a vector model."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from strokelens.assist import Donors, assist, class_drawings, combine, read, removal, translation
from strokelens.assist.edits import addition
from strokelens.datasets import load_sample
from strokelens.home import ENV_VAR
from strokelens.models import load_model
from strokelens.views import view_for

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def sample():
    return load_sample()


def test_edits_keep_and_count_ink(sample):
    sketch = next(s for s in sample if s.n_strokes >= 4)
    lengths = sketch.stroke_lengths
    gone = removal([1])
    assert gone.ink_kept(lengths) == pytest.approx(1 - lengths[1] / lengths.sum())
    edited = gone.apply(sketch)
    assert edited.n_strokes == sketch.n_strokes - 1 and np.array_equal(edited.strokes[1], sketch.strokes[2])
    shift = translation(sketch, 2, np.array([5.0, -3.0]))
    assert np.allclose(shift.apply(sketch).strokes[2], sketch.strokes[2] + [5, -3])
    lent = addition(sketch.strokes[0] + 10)
    assert lent.ink_kept(lengths) == 1.0 and lent.added_ink(lengths) == pytest.approx(
        lengths[0] / lengths.sum()
    )
    both = combine(gone, shift, lent)
    assert both.kind == "remove+move+add" and both.changes == 3 and both.touched == 3
    assert both.apply(sketch).n_strokes == sketch.n_strokes
    assert combine(removal([2]), shift) is None  # a stroke both removed and moved
    assert combine(both, removal([0])) is None  # four changes


def test_donors_come_from_the_shipped_sample_without_a_data_folder(monkeypatch):
    monkeypatch.delenv(ENV_VAR, raising=False)
    drawings = class_drawings("airplane", None)
    assert [s.key_id for s in drawings] == [s.key_id for s in load_sample(["airplane"])]
    assert class_drawings("zigzag", None) == []
    view = view_for(load_model("doodlenet"))
    donors = Donors(view)(list(view.class_names).index("airplane"))
    assert 1 <= len(donors) <= len(drawings)
    credits = [d.credit for d in donors]
    assert credits == sorted(credits, reverse=True) and credits[0] > 0
    assert all(np.abs(d.points).max() <= 0.5 + 1e-9 for d in donors)  # in their drawing's unit frame


@pytest.mark.parametrize("model", ["doodlenet", "stroke-transformer"])
def test_suggestions_are_verified_and_smallest_first(model, sample):
    view = view_for(load_model(model))
    names = list(view.class_names)
    known = [s for s in sample if s.label in names]
    probs = read(view, known)
    wrong = [
        (s, names.index(s.label))
        for s, p in zip(known, probs, strict=True)
        if names[int(p.argmax())] != s.label
    ]
    assert wrong, f"{model} reads every sample drawing right"
    sketches, targets = [s for s, _ in wrong[:3]], [t for _, t in wrong[:3]]
    found = assist(view, sketches, targets, Donors(view))
    for a, sketch, t in zip(found, sketches, targets, strict=True):
        assert a.target == t and len(a.scores) == sketch.n_strokes
        assert a.suggestions and a.candidates > len(a.suggestions)
        again = read(view, [s.sketch for s in a.suggestions])
        for s, p in zip(a.suggestions, again, strict=True):
            assert torch.allclose(s.probs, p, atol=1e-6)  # each suggestion is what the model reads
            assert s.works == (int(p.argmax()) == t)
            assert float(p[t]) > float(a.probs[t]) or s.works
        inks = [s.ink_kept for s in a.suggestions if s.works]
        assert inks == sorted(inks, reverse=True)
    assert any(s.works for a in found for s in a.suggestions[:1])


def test_screening_is_the_model_reading_where_the_frame_is_kept(sample):
    """Screened readings (`strokelens.assist.screen`) equal reading afresh where an edit keeps the
    drawing's frame, and stay near it where the frame moves (those are read afresh before offered)."""
    from strokelens.assist.screen import Frame, screen

    view = view_for(load_model("doodlenet"))
    sketch = next(s for s in sample if s.n_strokes >= 5)
    frames = [Frame.of(sketch, view.prepare([sketch])[0])]
    _, _, x1, _ = sketch.bbox()
    edits = [removal([k]) for k in range(sketch.n_strokes)]
    edits += [translation(sketch, 1, np.array([3.0, 2.0])), addition(sketch.strokes[0] * 0.5 + x1 / 4)]
    edits += [addition(sketch.strokes[2] + [x1, 0])]  # past the right edge: the frame moves
    jobs = [(0, e) for e in edits]
    probs, exact = screen(view, frames, jobs)
    again = read(view, [e.apply(sketch) for e in edits])
    assert exact.any() and not exact.all()
    assert torch.allclose(probs[exact], again[exact], atol=1e-6)
    assert (probs[~exact] - again[~exact]).abs().max() < 0.2  # a stand-in, read afresh before offered
