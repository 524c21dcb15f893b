"""Any model: `strokelens.wrap`, the configurable raster preset and ``--model PATH``, checked against
the shipped models on real SPG sketches."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import pytest
import torch
from torch import nn

import strokelens
from doc_examples import python_blocks
from strokelens.cli import main
from strokelens.datasets import load_spg
from strokelens.errors import StrokelensError
from strokelens.evaluation import evaluate
from strokelens.explain import explain
from strokelens.models.wrap import load_model_file
from strokelens.render import QuickDrawBitmap, RasterPreset
from strokelens.sketch import SketchBatch
from strokelens.views import preprocess, view_for

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def sketches(home):
    """Two SPG test sketches of each class (40), as the raster view explains them."""
    return load_spg("test", per_class=2, home=home)


@pytest.fixture(scope="module")
def doodlenet_file(doodlenet, tmp_path_factory) -> Path:
    """DoodleNet exported to TorchScript (traced: it is a plain CNN), and its class names."""
    folder = tmp_path_factory.mktemp("doodlenet_ts")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", torch.jit.TracerWarning)
        traced = torch.jit.trace(doodlenet, torch.rand(2, 1, 28, 28))
    traced.save(str(folder / "doodlenet.pt"))
    (folder / "classes.txt").write_text("\n".join(doodlenet.class_names) + "\n", encoding="utf-8")
    return folder / "doodlenet.pt"


@pytest.fixture(scope="module")
def stroke_transformer_file(stroke_transformer, home, tmp_path_factory) -> Path:
    """The stroke transformer exported to TorchScript by tracing (it cannot be scripted: its encoding
    is a dataclass); its preparation (normalised frame, 16 points a stroke) stays outside the file."""
    folder = tmp_path_factory.mktemp("stroke_transformer_ts")
    batch = SketchBatch.from_sketches(load_spg("test", per_class=1, home=home)[:8])
    points, stroke_ids = stroke_transformer.prepare(batch)
    presence = torch.ones(len(batch), int(stroke_ids.max()) + 1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        traced = torch.jit.trace(stroke_transformer, (points, stroke_ids, presence), check_trace=False)
    traced.save(str(folder / "stroke_transformer.pt"))
    (folder / "classes.txt").write_text("\n".join(stroke_transformer.class_names), encoding="utf-8")
    return folder / "stroke_transformer.pt"


def scores(view, inputs, method: str) -> torch.Tensor:
    """``method``'s scores for ``inputs``, in one batch (padded unit slots hold 0)."""
    run = explain(view, inputs, method, batch_size=len(inputs), curves=False)
    return run.explanations[0].scores


# ---------------------------------------------------------------------------------- the preset
def test_default_preset_is_the_quickdraw_bitmap(sketches):
    batch = SketchBatch.from_sketches([s.quickdraw_simplified() for s in sketches])
    assert torch.equal(RasterPreset()(batch), QuickDrawBitmap()(batch))


def test_preset_colours_normalisation_and_gradients(sketches):
    """Dark ink on white, 3 channels, normalised: the QuickDraw ink opacity mapped colour by colour,
    equal through the cached coverage, and differentiable in the presence weights."""
    mean, std = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)
    preset = RasterPreset(size=64, ink=(0.0, 0.1, 0.2), background=1.0, channels=3, mean=mean, std=std)
    plain = RasterPreset(size=64)
    batch = SketchBatch.from_sketches(sketches[:4])
    alpha = plain(batch)
    out = preset(batch)
    assert out.shape == (4, 3, 64, 64)
    for c in range(3):
        want = (1.0 + ([0.0, 0.1, 0.2][c] - 1.0) * alpha[:, 0] - mean[c]) / std[c]
        torch.testing.assert_close(out[:, c], want)
    z = torch.rand(4, batch.max_strokes, requires_grad=True)
    cov = preset.coverage(batch)
    composite = preset.composite(cov, z)
    torch.testing.assert_close(composite, preset(batch, unit_weight=z), atol=1e-5, rtol=1e-5)
    composite[:, 1].sum().backward()
    assert z.grad is not None and bool((z.grad.abs().sum(1) > 0).all())


def test_preset_padding_and_no_centring(sketches):
    batch = SketchBatch.from_sketches(sketches[:3])
    preset = RasterPreset(size=100, padding=10, centre=False, line_width=1)
    frame = preset.frame(batch)
    px = preset.to_pixels(batch.points, frame)
    lo = torch.where(batch.point_mask[..., None], px, 1e9).amin(1)
    hi = torch.where(batch.point_mask[..., None], px, -1e9).amax(1)
    torch.testing.assert_close(lo, torch.full_like(lo, 10.0))  # top-left, 10 pixels in
    torch.testing.assert_close((hi - lo).amax(1), torch.full((3,), 80.0))  # longer side spans 80


@pytest.mark.parametrize(
    "options, message",
    [
        ({"channels": 2}, "channels must be 1 or 3"),
        ({"size": 20, "padding": 10}, "leaves no room"),
        ({"channels": 3, "mean": (0.1, 0.2)}, "mean needs 1 or 3 values"),
        ({"std": 0}, "std must not be 0"),
        ({"ink": 0.5, "background": 0.5}, "same colour"),
    ],
)
def test_preset_refuses_bad_options(options, message):
    with pytest.raises(StrokelensError, match=message):
        RasterPreset(**options)


# ------------------------------------------------------------------------------- wrap, Python
def test_wrapped_torchscript_doodlenet_explains_like_doodlenet(doodlenet, doodlenet_file, sketches):
    model = strokelens.wrap(
        torch.jit.load(str(doodlenet_file)), input="raster-sketch", classes=doodlenet.class_names
    )
    assert model.input_kind == "raster-sketch" and model.class_names == doodlenet.class_names
    inputs = preprocess(sketches, doodlenet)
    shipped, ours = view_for(doodlenet), view_for(model)
    units = shipped.make_units(inputs)
    with torch.no_grad():
        torch.testing.assert_close(ours.images(units), shipped.images(units))
    for method in ("sla", "occlusion"):
        torch.testing.assert_close(
            scores(ours, inputs, method), scores(shipped, inputs, method), atol=1e-4, rtol=1e-4
        )
    assert torch.equal(ours.footprints(units), shipped.footprints(units))


def test_wrapped_vector_model_explains_like_the_stroke_transformer(stroke_transformer, home, sketches):
    """The vector path through ``package.module:factory`` (the stroke transformer cannot be
    TorchScripted: its encoding is a dataclass and its shapes depend on the data)."""
    model = load_model_file("strokelens.models.stroke_transformer:load", input="vector-sketch")
    assert model.class_names == stroke_transformer.class_names
    shipped, ours = view_for(stroke_transformer), view_for(model)
    for method in ("sla", "occlusion"):
        torch.testing.assert_close(
            scores(ours, sketches, method), scores(shipped, sketches, method), atol=1e-4, rtol=1e-4
        )


def test_torchscript_stroke_transformer_explains_like_the_shipped_one(
    stroke_transformer, stroke_transformer_file, sketches
):
    classes = stroke_transformer_file.parent / "classes.txt"
    model = load_model_file(
        str(stroke_transformer_file),
        input="vector-sketch",
        classes=classes.read_text().splitlines(),
        points_per_stroke=stroke_transformer.config.points_per_stroke,
    )
    shipped, ours = view_for(stroke_transformer), view_for(model)
    for method in ("sla", "occlusion"):
        torch.testing.assert_close(
            scores(ours, sketches, method), scores(shipped, sketches, method), atol=1e-4, rtol=1e-4
        )


def test_wrap_checks_the_model_on_a_probe_input(doodlenet):
    with pytest.raises(StrokelensError, match="345 outputs but 3 class names"):
        strokelens.wrap(doodlenet, classes=["a", "b", "c"])
    with pytest.raises(StrokelensError, match=r"fails on a raster-sketch input of shape \(1, 3, 28, 28\)"):
        strokelens.wrap(doodlenet, render={"channels": 3})
    with pytest.raises(StrokelensError, match="must return logits"):
        strokelens.wrap(nn.Flatten(0), input="image", input_size=8)
    with pytest.raises(StrokelensError, match="unknown input kind"):
        strokelens.wrap(doodlenet, input="audio")
    with pytest.raises(StrokelensError, match=r"not a torch\.nn\.Module"):
        strokelens.wrap(lambda x: x)


# --------------------------------------------------------------------------------- --model PATH
def run_cli(args: list[str], capsys) -> tuple[int, str, str]:
    code = main(args)
    out = capsys.readouterr()
    return code, out.out, out.err


def test_cli_predict_and_explain_with_a_torchscript_file(doodlenet_file, spg_dir, home, tmp_path, capsys):
    files = [str(spg_dir / "airplane.ndjson.gz"), "--limit", "4", "--home", str(home)]
    own = [
        "--model",
        str(doodlenet_file),
        "--input",
        "raster-sketch",
        "--classes",
        str(doodlenet_file.parent / "classes.txt"),
    ]
    code, shipped, _ = run_cli(["predict", *files, "--json"], capsys)
    assert code == 0
    code, ours, err = run_cli(["predict", *files, "--json", *own], capsys)
    assert code == 0, err
    for a, b in zip(shipped.splitlines(), ours.splitlines(), strict=True):
        ja, jb = json.loads(a), json.loads(b)
        assert [t["class"] for t in ja["top"]] == [t["class"] for t in jb["top"]]
        for ta, tb in zip(ja["top"], jb["top"], strict=True):
            assert tb["probability"] == pytest.approx(ta["probability"], abs=1e-5)
    for name, args in (("shipped", []), ("ours", own)):
        code, _, err = run_cli(
            ["explain", *files, "--method", "occlusion", "--out", str(tmp_path / name), *args], capsys
        )
        assert code == 0, err

    def read(name: str) -> list[dict]:
        return [json.loads(ln) for ln in (tmp_path / name / "explanations.jsonl").read_text().splitlines()]

    for a, b in zip(read("shipped"), read("ours"), strict=True):
        assert a["target"] == b["target"]
        assert b["scores"] == pytest.approx(a["scores"], abs=1e-4)


def test_cli_tfjs_folder_and_evaluate(spg_dir, home, capsys, tmp_path):
    """The shipped DoodleNet folder through --model PATH: size and channels from its model.json."""
    folder = home / "models" / "doodlenet"
    files = [str(spg_dir / "airplane.ndjson.gz"), "--limit", "3", "--home", str(home)]
    code, shipped, _ = run_cli(["predict", *files, "--json"], capsys)
    code, out, err = run_cli(
        ["predict", *files, "--json", "--model", str(folder), "--classes", str(folder / "class_names.txt")],
        capsys,
    )
    assert code == 0, err

    # class_names.txt spells classes with underscores (the shipped loader turns them into spaces)
    def top(text: str) -> list[list[str]]:
        return [[t["class"].replace("_", " ") for t in json.loads(ln)["top"]] for ln in text.splitlines()]

    assert top(out) == top(shipped)
    path = tmp_path / "eval.json"
    code, _, err = run_cli(
        ["evaluate", *files, "--model", str(folder), "--methods", "sla,random", "--json", str(path)], capsys
    )
    assert code == 0, err
    summary = json.loads(path.read_text())
    assert summary["sla"]["deletion_auc"] < summary["random"]["deletion_auc"]


def test_cli_vector_models_from_torchscript_and_a_factory(stroke_transformer_file, spg_dir, home, capsys):
    files = [str(spg_dir / "airplane.ndjson.gz"), "--limit", "2", "--home", str(home), "--json"]
    code, shipped, _ = run_cli(["predict", *files, "--model", "stroke-transformer"], capsys)
    ts = ["--model", str(stroke_transformer_file), "--input", "vector-sketch", "--points-per-stroke", "16"]
    code, ours, err = run_cli(
        ["predict", *files, *ts, "--classes", str(stroke_transformer_file.parent / "classes.txt")], capsys
    )
    assert code == 0, err
    for a, b in zip(shipped.splitlines(), ours.splitlines(), strict=True):
        ta, tb = json.loads(a)["top"], json.loads(b)["top"]
        assert [t["class"] for t in ta] == [t["class"] for t in tb]
        assert [t["probability"] for t in tb] == pytest.approx([t["probability"] for t in ta], abs=1e-5)
    code, ours, err = run_cli(
        [
            "predict",
            *files,
            "--model",
            "strokelens.models.stroke_transformer:load",
            "--input",
            "vector-sketch",
        ],
        capsys,
    )
    assert code == 0, err
    assert [json.loads(ln)["top"] for ln in ours.splitlines()] == [
        json.loads(ln)["top"] for ln in shipped.splitlines()
    ]


def test_cli_bad_models_exit_2_with_one_line(doodlenet_file, spg_dir, home, tmp_path, capsys):
    sketch = str(spg_dir / "airplane.ndjson.gz")
    three = tmp_path / "three.txt"
    three.write_text("a\nb\nc\n")
    junk = tmp_path / "junk.pt"
    junk.write_bytes(b"not a model")
    onnx = tmp_path / "model.onnx"
    onnx.write_bytes(b"x")
    ts = str(doodlenet_file)
    cases = [
        (
            ["--model", ts, "--input", "raster-sketch", "--classes", str(three)],
            "345 outputs but 3 class names",
        ),
        (
            ["--model", ts, "--input", "raster-sketch", "--size", "32"],
            "fails on a raster-sketch input of shape (1, 1, 32, 32)",
        ),
        (
            ["--model", ts, "--input", "raster-sketch", "--channels", "3"],
            "fails on a raster-sketch input of shape (1, 3, 28, 28)",
        ),
        (["--model", str(junk), "--input", "raster-sketch"], "not a model file strokelens reads"),
        (["--model", ts], "say what it takes with --input"),
        (["--model", str(onnx), "--input", "raster-sketch"], "starting b'x'"),
        (["--model", "no_such_pkg.mod:make", "--input", "raster-sketch"], "cannot import no_such_pkg.mod"),
        (["--model", "strokelens.models:nothing", "--input", "raster-sketch"], "has no nothing"),
        (["--model", str(tmp_path / "missing.pt"), "--input", "raster-sketch"], "no such file or folder"),
        (["--model", "doodlenet", "--size", "64"], "--size: for --model PATH"),
        (["--model", ts, "--input", "image", "--ink", "0"], "rendering options are for raster-sketch"),
        (["--model", ts, "--input", "raster-sketch", "--ink", "black"], "--ink takes a number"),
        (
            ["--model", ts, "--input", "raster-sketch", "--classes", str(tmp_path / "nope.txt")],
            "cannot read class names",
        ),
    ]
    for args, message in cases:
        code, _, err = run_cli(["predict", sketch, "--limit", "1", "--home", str(home), *args], capsys)
        assert code == 2, (args, err)
        assert len(err.strip().splitlines()) == 1 and message in err, (args, err)
    code, _, err = run_cli(
        [
            "explain",
            sketch,
            "--limit",
            "1",
            "--out",
            str(tmp_path / "o"),
            "--model",
            ts,
            "--input",
            "raster-sketch",
            "--size",
            "32",
        ],
        capsys,
    )
    assert code == 2 and len(err.strip().splitlines()) == 1 and "(1, 1, 32, 32)" in err


# ------------------------------------------------------------------ a 224x224 RGB dark-on-white model
RGB = {"size": 224, "ink": 0.0, "background": 1.0, "channels": 3, "line_width": 6.0,
       "mean": (0.485, 0.456, 0.406), "std": (0.229, 0.224, 0.225)}  # fmt: skip
RGB_CLASSES = ["airplane", "cactus", "crab", "face"]


class TinyCNN(nn.Module):
    """A small classifier of 224x224 RGB images: pooled to 56x56, three strided convolutions."""

    def __init__(self, n_classes: int) -> None:
        super().__init__()
        self.net = nn.Sequential(
            nn.AvgPool2d(4), nn.Conv2d(3, 16, 5, stride=2, padding=2), nn.ReLU(),
            nn.Conv2d(16, 32, 3, stride=2, padding=1), nn.ReLU(),
            nn.Conv2d(32, 32, 3, stride=2, padding=1), nn.ReLU(), nn.Flatten(), nn.Linear(32 * 49, n_classes),
        )  # fmt: skip

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


@pytest.fixture(scope="module")
def rgb_model(home):
    """TinyCNN trained for seconds on 320 SPG train sketches drawn dark on white at 224x224, through
    the preset it is then explained with; returned wrapped, with its test accuracy."""
    torch.manual_seed(0)
    train = load_spg("train", classes=RGB_CLASSES, per_class=80, home=home)
    test = load_spg("test", classes=RGB_CLASSES, per_class=10, home=home)
    preset = RasterPreset(**RGB)
    draw = lambda s: preset(SketchBatch.from_sketches([x.quickdraw_simplified() for x in s]))  # noqa: E731
    with torch.no_grad():
        x, xt = draw(train), draw(test)
    y = torch.tensor([RGB_CLASSES.index(s.label) for s in train])
    yt = torch.tensor([RGB_CLASSES.index(s.label) for s in test])
    net = TinyCNN(len(RGB_CLASSES))
    opt = torch.optim.Adam(net.parameters(), lr=3e-3)
    for _ in range(15):
        for idx in torch.randperm(len(x)).split(32):
            opt.zero_grad()
            nn.functional.cross_entropy(net(x[idx]), y[idx]).backward()
            opt.step()
    net.eval()
    with torch.no_grad():
        accuracy = float((net(xt).argmax(1) == yt).float().mean())
    return strokelens.wrap(net, input="raster-sketch", classes=RGB_CLASSES, render=RGB), test, accuracy


def test_rgb_model_is_explained_sensibly(rgb_model):
    """SLA through the 224x224 dark-on-white preset removes the drawing's evidence faster than random
    orders (deletion AUC), on held-out sketches; the model itself learned (chance is 0.25)."""
    model, test, accuracy = rgb_model
    assert accuracy > 0.7
    view = view_for(model)
    assert view.renderer is model.raster_preset
    units = view.make_units(view.prepare(test[:2]))
    assert view.images(units).shape == (2, 3, 224, 224)
    reports = evaluate(
        view, view.prepare(test), ["sla", "random"], batch_size=8, target="auto", max_reference_units=0
    )
    sla, rnd = reports["sla"].summary(), reports["random"].summary()
    assert sla["deletion_auc"] < rnd["deletion_auc"]
    assert sla["insertion_auc"] > rnd["insertion_auc"]


# ------------------------------------------------------------------------------------ the docs
def test_docs_example_runs(run_doc):
    assert python_blocks("docs/models.md")
    namespace = run_doc("docs/models.md")
    assert namespace["model"].input_kind == "raster-sketch"
    assert namespace["expl"].scores.shape[0] == len(namespace["sketches"])
