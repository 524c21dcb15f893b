"""Distilling a teacher model into the stroke transformer: the tempered KL, the teacher's columns, the
teacher that reads augmented batches, and training with transfer drawings of classes the student lacks."""

from __future__ import annotations

import pytest
import torch

from strokelens.cli import main
from strokelens.datasets import load_qd345_spg, load_spg
from strokelens.errors import StrokelensError
from strokelens.models import load_model
from strokelens.models.stroke_transformer import StrokeTransformer, StrokeTransformerConfig
from strokelens.training.augment import AugmentConfig, augment
from strokelens.training.distill import (
    AugmentedTeacher,
    Distillation,
    FixedTeacherLogits,
    distillation_loss,
    teacher_logits,
)
from strokelens.training.sketch_data import prepare_sketches
from strokelens.training.stroke_transformer import train_stroke_transformer
from strokelens.views import view_for

CLASSES = ["airplane", "alarm clock", "butterfly", "face"]

pytestmark = pytest.mark.usefixtures("one_thread")


def test_distillation_loss_is_the_tempered_kl_and_zero_at_the_teacher():
    g = torch.Generator().manual_seed(0)
    student, teacher = torch.randn(5, 7, generator=g), torch.randn(5, 7, generator=g)
    t = 2.0
    p = (teacher / t).softmax(-1)
    by_hand = t**2 * (p * ((teacher / t).log_softmax(-1) - (student / t).log_softmax(-1))).sum(-1).mean()
    assert distillation_loss(student, teacher, t) == pytest.approx(float(by_hand), rel=1e-5)
    assert distillation_loss(teacher, teacher, t) == pytest.approx(0.0, abs=1e-6)
    assert Distillation(FixedTeacherLogits(teacher), weight=3.0).loss(
        student, torch.arange(5)
    ) == pytest.approx(3 * float(distillation_loss(student, teacher, 2.0)), rel=1e-5)
    with pytest.raises(StrokelensError, match="temperature"):
        Distillation(FixedTeacherLogits(teacher), temperature=0.0)
    with pytest.raises(StrokelensError, match="finite"):
        FixedTeacherLogits(torch.tensor([[0.0, float("nan")]]))
    with pytest.raises(StrokelensError, match="5 teacher logits for 6 sketches"):
        FixedTeacherLogits(teacher).check_rows(6)


def test_teacher_logits_are_the_teachers_own_columns(home):
    view = view_for(load_model("doodlenet", home=home))
    sk = load_spg("test", classes=CLASSES, per_class=2, home=home)
    logits = teacher_logits(view, sk, CLASSES, batch_size=3)  # batches of 3: the same as all at once
    full = view.game(view.units_for(view.prepare(sk), "stroke")).full_outputs
    cols = [view.class_names.index(c) for c in CLASSES]
    torch.testing.assert_close(logits, full[:, cols].float())
    assert (logits.argmax(1) == torch.tensor([CLASSES.index(s.label) for s in sk])).float().mean() >= 0.75
    with pytest.raises(StrokelensError, match="unknown class 'unicorn' for the teacher model"):
        teacher_logits(view, sk, [*CLASSES, "unicorn"])


def test_training_distils_a_teacher_with_drawings_of_other_classes(home):
    """Transfer drawings of classes the student lacks join training with the teacher's targets alone."""
    train = load_spg("train", classes=CLASSES, per_class=4, home=home)
    transfer = [s for s in load_qd345_spg("train", home=home) if s.label not in CLASSES][:6]
    assert transfer  # other SPG classes' drawings: labels the student does not have
    teacher = view_for(load_model("doodlenet", home=home))
    cfg = StrokeTransformerConfig(n_classes=4, d_model=16, n_layers=1, n_heads=2, d_ff=32, lstm_hidden=8)
    kwargs = dict(epochs=1, seed=0, out_dir=None, progress=False, batch_size=8)
    record = train_stroke_transformer(
        cfg, train, train[::3], teacher=teacher, transfer=transfer, distill_weight=2.0, **kwargs
    ).record.to_dict()
    assert record["n_train"] == len(train) + len(transfer) and record["skipped_steps"] == 0
    assert record["distillation"] == {
        "teacher_classes": 345,
        "weight": 2.0,
        "temperature": 2.0,
        "n_transfer": len(transfer),
        "teacher_sees": "each sketch as it is",
    }
    with pytest.raises(StrokelensError, match="need a teacher"):
        train_stroke_transformer(cfg, train, train[::3], transfer=transfer, **kwargs)
    assert main(["train", "stroke-transformer", "--teacher", "nosuch", "--out", "x"]) == 2
    assert main(["train", "stroke-transformer", "--temperature", "3", "--out", "x"]) == 2
    assert main(["train", "stroke-transformer", "--teacher-sees", "augmented", "--out", "x"]) == 2


def test_augmented_teacher_draws_the_batch_the_student_sees(home):
    """The teacher reads prepared (and augmented) points upright and in frame: it names real SPG
    drawings from them about as well as from the sketches; a dropped stroke is not drawn."""
    view = view_for(load_model("doodlenet", home=home))
    sk = load_spg("test", classes=CLASSES, per_class=4, home=home)
    student = StrokeTransformer(StrokeTransformerConfig(n_classes=4), CLASSES)
    data = prepare_sketches(student, sk)
    pts, sid, labels = data.batch(torch.arange(len(sk)))
    teacher = AugmentedTeacher(view, CLASSES)
    logits = teacher.read(pts, sid, None)
    assert logits.shape == (len(sk), 4)
    assert (logits.argmax(1) == labels).float().mean() >= 0.75  # upside down or off-frame reads ~chance
    torch.testing.assert_close(teacher.read(pts, sid, torch.ones(len(sk), int(sid.max()) + 1)), logits)
    gone = torch.ones(len(sk), int(sid.max()) + 1)
    gone[:, 0] = 0  # every sketch's first stroke dropped
    assert not torch.allclose(teacher.read(pts, sid, gone), logits)
    g = torch.Generator().manual_seed(0)
    aug, presence = augment(pts, sid, g, AugmentConfig(), data.points_per_stroke)
    assert (teacher.read(aug, sid, presence).argmax(1) == labels).float().mean() >= 0.5
    with pytest.raises(StrokelensError, match="must draw them"):
        AugmentedTeacher(view_for(load_model("stroke-transformer", home=home)), CLASSES)
    with pytest.raises(StrokelensError, match="unknown class 'unicorn' for the teacher model"):
        AugmentedTeacher(view, [*CLASSES, "unicorn"])


def test_training_with_a_teacher_that_sees_augmented_batches(home):
    train = load_spg("train", classes=CLASSES, per_class=4, home=home)
    teacher = view_for(load_model("doodlenet", home=home))
    cfg = StrokeTransformerConfig(n_classes=4, d_model=16, n_layers=1, n_heads=2, d_ff=32, lstm_hidden=8)
    kwargs = dict(epochs=1, seed=0, out_dir=None, progress=False, batch_size=8)
    record = train_stroke_transformer(
        cfg, train, train[::3], teacher=teacher, teacher_sees_augmented=True, **kwargs
    ).record.to_dict()
    assert record["distillation"]["teacher_sees"] == "augmented batches"
    assert record["skipped_steps"] == 0 and all(torch.isfinite(torch.tensor(record["train_loss"])))
    with pytest.raises(StrokelensError, match="needs a teacher"):
        train_stroke_transformer(cfg, train, train[::3], teacher_sees_augmented=True, **kwargs)
    augmented = Distillation(AugmentedTeacher(teacher, CLASSES))
    with pytest.raises(StrokelensError, match="needs the batch's points"):
        augmented.loss(torch.zeros(2, 4), torch.arange(2))
