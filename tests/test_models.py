"""DoodleNet and Tiny Darknet load from the packaged weights and classify real sketches and photos."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from PIL import Image

from strokelens.cli import main
from strokelens.datasets import load_qd345, qd345_classes
from strokelens.errors import StrokelensError
from strokelens.home import ENV_VAR
from strokelens.io.photos import match_imagenet_samples, normalise_name, open_image
from strokelens.models import darknet, doodlenet, load_model
from strokelens.render import QuickDrawBitmap, quickdraw_bitmap_reference
from strokelens.sketch import SketchBatch

LICENCE = "LICENSE-ml5-MIT.txt"


@pytest.fixture(scope="module")
def doodle(home):
    return doodlenet.load(home)


def test_doodlenet_contract(doodle, home):
    assert len(doodle.class_names) == 345 and len(set(doodle.class_names)) == 345
    assert doodle.input_kind == "raster-sketch" and doodle.input_size == 28 and not doodle.training
    # class names use QuickDraw's spelling, so sketch labels index them directly
    assert {"traffic light", "The Eiffel Tower"} <= set(doodle.class_names)
    assert set(qd345_classes(home)) <= set(doodle.class_names)
    out = doodle(torch.rand(3, 1, 28, 28))
    assert out.shape == (3, 345)
    assert not torch.allclose(out.sum(1), torch.ones(3))  # logits, not probabilities
    with pytest.raises(StrokelensError, match=r"\(B, 1, 28, 28\)"):
        doodle(torch.rand(3, 28, 28))


@pytest.fixture(scope="module")
def few_sketches(home):
    """The first sketch of 50 quickdraw-345x25 classes spread over the alphabet."""
    return load_qd345(qd345_classes(home)[::7], per_class=1, home=home)


def accuracy(logits: torch.Tensor, y: torch.Tensor) -> tuple[float, float]:
    top = logits.topk(5, dim=1).indices
    return (top[:, 0] == y).float().mean().item(), (top == y[:, None]).any(1).float().mean().item()


def test_doodlenet_classifies_real_sketches(doodle, few_sketches):
    x = torch.from_numpy(np.stack([quickdraw_bitmap_reference(s) for s in few_sketches]))[:, None]
    y = torch.tensor([doodle.class_names.index(s.label) for s in few_sketches])
    with torch.no_grad():
        top1, top5 = accuracy(doodle(x), y)
        inverted, _ = accuracy(doodle(1 - x), y)
    assert len(few_sketches) == 50
    assert top1 >= 0.6 and top5 >= 0.8, (top1, top5)
    assert inverted < 0.2  # black ink on white is not what it was trained on: accuracy collapses


def test_doodlenet_through_the_differentiable_preset(doodle, few_sketches):
    batch = SketchBatch.from_sketches(few_sketches)
    y = torch.tensor([doodle.class_names.index(s.label) for s in few_sketches])
    weight = torch.ones(len(batch), batch.max_strokes, requires_grad=True)
    logits = doodle(QuickDrawBitmap()(batch, weight))
    top1, top5 = accuracy(logits.detach(), y)
    assert top1 >= 0.6 and top5 >= 0.8, (top1, top5)
    logits.gather(1, y[:, None]).sum().backward()  # the class score is differentiable in each stroke
    assert weight.grad is not None and weight.grad.abs().sum(1).min() > 0


def test_darknet_contract(dark):
    assert len(dark.class_names) == 1000 and dark.input_kind == "image" and dark.input_size == 224
    assert dark(torch.rand(2, 3, 224, 224)).shape == (2, 1000)


def test_imagenet_sample_names_match(dark, home):
    photos = sorted((home / "data" / "imagenet-samples").glob("*.JPEG"))
    pairs = match_imagenet_samples(photos, dark.class_names)
    assert len(photos) == 1000 and len(pairs) == 994
    named = {p.name: dark.class_names[i] for p, i in pairs}
    assert named["n01440764_tench.JPEG"] == "tench"
    assert normalise_name("Jack-o'-lantern") == "jack o lantern"
    unmatched = {p.name for p in photos} - set(named)
    ambiguous = {"crane.jpeg", "cardigan.jpeg", "maillot.jpeg"}  # two classes share each name
    assert len(unmatched) == 6 and all(n.lower().split("_", 1)[1] in ambiguous for n in unmatched)


def test_darknet_classifies_real_photos(dark, home):
    photos = sorted((home / "data" / "imagenet-samples").glob("*.JPEG"))
    pairs = match_imagenet_samples(photos, dark.class_names)[::50]  # 20 photos, all kinds
    x = torch.stack([darknet.preprocess(open_image(p)) for p, _ in pairs])
    y = torch.tensor([i for _, i in pairs])
    with torch.no_grad():
        top = dark(x).topk(5, dim=1).indices
    assert (top[:, 0] == y).float().mean().item() >= 0.5
    assert (top == y[:, None]).any(1).float().mean().item() >= 0.7


def test_preprocess_centre_crops_and_scales():
    img = Image.new("RGB", (300, 200), (255, 0, 0))
    img.paste((0, 0, 255), (0, 0, 50, 200))  # a blue band on the left is cropped away
    x = darknet.preprocess(img)
    assert x.shape == (3, 224, 224) and x.dtype == torch.float32
    assert torch.allclose(x[0], torch.ones(224, 224)) and x[2].max() == 0


def test_bad_photo_is_refused(tmp_path):
    bad = tmp_path / "x.jpg"
    bad.write_bytes(b"not a jpeg")
    with pytest.raises(StrokelensError, match=r"x\.jpg: not a readable image"):
        open_image(bad)


def test_registry_loads_by_name(home):
    model = load_model("doodlenet", home=home)
    assert not model.training and model.class_names[0] == "flashlight"
    assert load_model("darknet-tiny", home=home).class_names[0] == "kit fox"
    with pytest.raises(StrokelensError, match="unknown model"):
        load_model("alexnet", home=home)


def test_packaged_models_load_without_a_data_folder(monkeypatch):
    monkeypatch.delenv(ENV_VAR, raising=False)
    assert load_model("doodlenet").class_names[0] == "flashlight"
    assert load_model("darknet-tiny").class_names[0] == "kit fox"


@pytest.mark.parametrize("module", [doodlenet, darknet])
def test_packaged_models_are_the_published_files(module, home):
    """The wheel's copies are byte for byte the files in the data folder's ``models/`` (ml5's release),
    with their MIT licence beside them."""
    shared = home / "models" / module.MODEL_DIR.name
    if not shared.is_dir():
        pytest.skip(f"{shared} is absent")
    names = sorted(p.name for p in shared.iterdir())
    assert names == sorted(p.name for p in module.MODEL_DIR.iterdir() if p.name != LICENCE)
    for name in names:
        assert (module.MODEL_DIR / name).read_bytes() == (shared / name).read_bytes(), name
    assert (module.MODEL_DIR / LICENCE).read_bytes() == (home / "models" / LICENCE).read_bytes()


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_models_run_on_cuda(doodle, dark):
    assert doodle.to("cuda")(torch.rand(2, 1, 28, 28, device="cuda")).device.type == "cuda"
    assert dark.to("cuda")(torch.rand(2, 3, 224, 224, device="cuda")).device.type == "cuda"


# ------------------------------------------------------------------------------------ predict CLI


def test_predict_sketches_json(home, capsys):
    path = home / "data" / "quickdraw-345x25" / "The Eiffel Tower.ndjson"
    assert main(["predict", str(path), "--limit", "4", "--top", "3", "--json", "--home", str(home)]) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [r["index"] for r in rows] == [0, 1, 2, 3] and all(r["model"] == "doodlenet" for r in rows)
    assert all(len(r["top"]) == 3 and r["top"][0]["probability"] >= r["top"][1]["probability"] for r in rows)
    assert sum(r["top"][0]["class"] == "The Eiffel Tower" for r in rows) >= 3


def test_predict_photo_table(home, capsys):
    photo = home / "data" / "imagenet-samples" / "n01443537_goldfish.JPEG"
    assert main(["predict", str(photo), "--top", "2", "--home", str(home)]) == 0  # darknet-tiny by default
    out = capsys.readouterr().out
    assert "n01443537_goldfish.JPEG" in out and "goldfish" in out.split("goldfish.JPEG", 1)[1]


def test_predict_bad_file_exits_2_with_one_line(home, tmp_path, capsys):
    bad = tmp_path / "drawing.txt"
    bad.write_text("hello")
    assert main(["predict", str(bad), "--home", str(home)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("strokelens: error:") and "drawing.txt" in err[0]
    broken = tmp_path / "photo.jpg"
    broken.write_bytes(b"\xff\xd8 not really")
    assert main(["predict", str(broken), "--home", str(home)]) == 2
    assert "photo.jpg: not a readable image" in capsys.readouterr().err
