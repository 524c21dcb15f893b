"""ONNX classifiers through onnxruntime (`load_onnx`): DoodleNet exported with ``torch.onnx`` gives the
torch DoodleNet's logits, accuracy and explanations on real drawings; gradient methods refuse it in
one line; layouts, a final Softmax, a fixed batch and bad files are handled."""

from __future__ import annotations

import json
import re
import sys
import types
from pathlib import Path

import numpy as np
import onnx
import pytest
import torch
from onnx import TensorProto, helper

import strokelens
from strokelens.datasets import load_qd345, load_spg, qd345_classes
from strokelens.errors import StrokelensError
from strokelens.explain import explain
from strokelens.explainers import Explainer, TrainConfig, train_explainer
from strokelens.methods import get_method
from strokelens.models.formats.onnx import load_onnx
from strokelens.render import QuickDrawBitmap
from strokelens.sketch import SketchBatch
from strokelens.views import view_for

pytestmark = pytest.mark.usefixtures("one_thread")

MODELS = Path(__file__).parent / "data" / "models"
DOODLENET = MODELS / "doodlenet.onnx"
REFUSAL = (
    "method 'sla' needs gradients, and this ONNX model (doodlenet.onnx) runs in onnxruntime without them; "
    "use a method without gradients (occlusion, lime, kernelshap, lime-image, shapley) or load it with "
    "convert=True (needs onnx2torch: pip install 'strokelens[onnx-convert]') for a differentiable "
    "PyTorch module"
)


@pytest.fixture(scope="module")
def onnx_doodlenet():
    return load_onnx(DOODLENET)


@pytest.fixture(scope="module")
def drawings(home):
    """Two real drawings of every quickdraw-345x25 class (688), as DoodleNet's 28x28 bitmaps."""
    sketches = load_qd345(qd345_classes(home), per_class=2, home=home)
    with torch.no_grad():
        images = QuickDrawBitmap()(SketchBatch.from_sketches(sketches))
    return sketches, images


@pytest.fixture(scope="module")
def few_strokes(home):
    """Six SPG test sketches of at most 7 strokes (exact Shapley: 2^K evaluations)."""
    sketches = [s for s in load_spg("test", per_class=3, home=home) if 2 <= len(s.strokes) <= 7]
    return sketches[::5][:6]


def test_the_file_carries_what_the_views_need(onnx_doodlenet, doodlenet):
    m = onnx_doodlenet
    assert m.input_shape == (1, 28, 28) and m.input_size == 28 and m.input_kind == "raster-sketch"
    assert m.class_names == list(doodlenet.class_names)  # from the file's metadata_props
    assert m.differentiable is False and not m.dropped_softmax and not m.graph.channels_last
    assert not list(m.parameters()) and m.sha256.shape == (32,)
    with pytest.raises(StrokelensError, match=r"takes \(B, 1, 28, 28\) images, got \(2, 3, 28, 28\)"):
        m(torch.rand(2, 3, 28, 28))


def test_logits_and_accuracy_equal_torch_doodlenet(onnx_doodlenet, doodlenet, drawings):
    sketches, images = drawings
    with torch.no_grad():
        ours, theirs = onnx_doodlenet(images), doodlenet(images)
    assert ours.shape == (len(sketches), 345)
    assert float((ours - theirs).abs().max()) < 1e-4
    y = torch.tensor([doodlenet.class_names.index(s.label) for s in sketches])
    acc = float((ours.argmax(1) == y).float().mean())
    assert acc == float((theirs.argmax(1) == y).float().mean())
    assert 0.6 < acc < 0.8, acc  # the shared README measured 68.5% on all 25 a class


def test_occlusion_and_shapley_equal_those_on_torch_doodlenet(onnx_doodlenet, doodlenet, few_strokes):
    for method in ("occlusion", "shapley"):
        ours = get_method(method)(view_for(onnx_doodlenet)).attribute(few_strokes)
        theirs = get_method(method)(view_for(doodlenet)).attribute(few_strokes)
        assert torch.equal(ours.target, theirs.target)
        assert ours.evaluations == theirs.evaluations
        scale = float(theirs.scores.abs().max())
        assert float((ours.scores - theirs.scores).abs().max()) < 1e-4 * scale, method


def test_sampling_methods_run_through_wrap_and_explain(onnx_doodlenet, doodlenet, few_strokes):
    wrapped = strokelens.wrap(onnx_doodlenet, input="raster-sketch")
    assert wrapped.class_names == list(doodlenet.class_names)
    for method in ("lime", "kernelshap"):
        run = explain(view_for(wrapped), few_strokes[:3], method, curves=False, options={"n_samples": 64})
        theirs = explain(
            view_for(doodlenet), few_strokes[:3], method, curves=False, options={"n_samples": 64}
        )
        got, want = run.explanations[0].scores, theirs.explanations[0].scores
        assert torch.allclose(got, want, atol=1e-3 * float(want.abs().max())), method


def test_gradient_methods_refuse_in_one_line_before_any_work(onnx_doodlenet, few_strokes):
    calls = []
    view, wrapped = view_for(onnx_doodlenet), view_for(strokelens.wrap(onnx_doodlenet))
    original = onnx_doodlenet.run
    onnx_doodlenet.run = lambda x: calls.append(x) or original(x)
    try:
        with pytest.raises(StrokelensError) as refused:
            get_method("sla")(view)
        with pytest.raises(StrokelensError, match="method 'ig' needs gradients"):
            explain(wrapped, few_strokes, "ig")
    finally:
        del onnx_doodlenet.run
    assert str(refused.value) == REFUSAL and "\n" not in REFUSAL
    assert not calls  # refused before the model ran
    x = torch.rand(2, 1, 28, 28, requires_grad=True)  # anything else asking for a gradient hears why
    with pytest.raises(StrokelensError, match=r"runs in onnxruntime without them; load it with convert"):
        onnx_doodlenet(x)[:, 0].sum().backward()


def test_fastshap_trains_on_forward_passes_and_wys_is_refused(onnx_doodlenet, home):
    view = view_for(onnx_doodlenet)
    train = view.prepare(load_spg("train", per_class=1, home=home)[:12])
    explainer = Explainer.create(view, "fastshap", "doodlenet.onnx", d_model=16, n_layers=1, d_ff=16)
    record = train_explainer(view, explainer, train, train[:4], TrainConfig(epochs=1, batch_size=12), False)
    assert record.epochs_run == 1 and np.isfinite(record.scores[0])
    wys = Explainer.create(view, "wys", "doodlenet.onnx", d_model=16, n_layers=1, d_ff=16)
    with pytest.raises(StrokelensError, match=r"^training a wys explainer needs gradients, and this ONNX"):
        train_explainer(view, wys, train, train[:4], TrainConfig(epochs=1), False)


# ----------------------------------------------------------------------------- graph variants
def keras_style(path: Path, fixed_batch: int | None = None) -> Path:
    """DoodleNet as Keras exports look: a channels-last input and a final Softmax (and, with
    ``fixed_batch``, a batch dimension of that size)."""
    model = onnx.load(str(DOODLENET))
    graph = model.graph
    old = graph.input[0]
    batch = fixed_batch if fixed_batch is not None else "N"
    nhwc = helper.make_tensor_value_info("input_1", TensorProto.FLOAT, [batch, 28, 28, 1])
    graph.node.insert(0, helper.make_node("Transpose", ["input_1"], [old.name], perm=[0, 3, 1, 2]))
    graph.node.append(helper.make_node("Softmax", [graph.output[0].name], ["probs"], axis=-1))
    graph.node.append(helper.make_node("Identity", ["probs"], ["dense_2"]))
    graph.input.remove(old)
    graph.input.insert(0, nhwc)
    out = helper.make_tensor_value_info("dense_2", TensorProto.FLOAT, [batch, 345])
    graph.output.pop()
    graph.output.append(out)
    del model.metadata_props[:]
    helper.set_model_props(model, {"names": repr(dict(enumerate(f"c{i}" for i in range(345))))})
    onnx.save(model, str(path))
    return path


def test_channels_last_input_and_final_softmax(tmp_path, doodlenet):
    model = load_onnx(keras_style(tmp_path / "keras.onnx"))
    assert model.graph.channels_last and model.dropped_softmax and model.input_shape == (1, 28, 28)
    assert model.class_names[:2] == ["c0", "c1"]  # a Python-literal dict, as Ultralytics writes
    x = torch.rand(5, 1, 28, 28)
    with torch.no_grad():
        assert float((model(x) - doodlenet(x)).abs().max()) < 1e-4


def test_a_fixed_batch_is_cut_into_chunks(tmp_path, doodlenet):
    model = load_onnx(keras_style(tmp_path / "one.onnx", fixed_batch=2))
    assert model.graph.batch == 2
    x = torch.rand(5, 1, 28, 28)
    with torch.no_grad():
        assert float((model(x) - doodlenet(x)).abs().max()) < 1e-4


def test_probabilities_read_as_log_probabilities(tmp_path, doodlenet):
    model = onnx.load(str(DOODLENET))
    graph = model.graph
    graph.initializer.append(helper.make_tensor("one", TensorProto.FLOAT, [], [1.0]))
    graph.node.append(helper.make_node("Softmax", [graph.output[0].name], ["p"]))
    graph.node.append(helper.make_node("Mul", ["p", "one"], ["scores"]))  # hides the Softmax
    graph.output.pop()
    graph.output.append(helper.make_tensor_value_info("scores", TensorProto.FLOAT, ["N", 345]))
    onnx.save(model, str(tmp_path / "p.onnx"))
    x = torch.rand(3, 1, 28, 28)
    plain = load_onnx(tmp_path / "p.onnx")
    logged = load_onnx(tmp_path / "p.onnx", probabilities=True)
    with torch.no_grad():
        want = doodlenet(x).softmax(1)
        assert not plain.dropped_softmax and torch.allclose(plain(x), want, atol=1e-6)
        assert torch.allclose(logged(x).softmax(1), want, atol=1e-6)


# ----------------------------------------------------------------------------- bad files
def tiny_graph(
    node: onnx.NodeProto, extra: list | None = None, domains: dict | None = None
) -> onnx.ModelProto:
    """A one-node graph ``x (N, 1, 28, 28) -> y`` around ``node``."""
    graph = helper.make_graph(
        [node],
        "tiny",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 1, 28, 28])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)],
        initializer=extra or [],
    )
    opsets = [helper.make_opsetid("", 17)] + [helper.make_opsetid(d, v) for d, v in (domains or {}).items()]
    return helper.make_model(graph, opset_imports=opsets)


def test_bad_files_are_one_line_errors_naming_file_and_format(tmp_path):
    data = DOODLENET.read_bytes()
    cases = {}
    (tmp_path / "cut.onnx").write_bytes(data[: len(data) // 3])
    cases["cut.onnx"] = "not a readable ONNX model, truncated or damaged"
    (tmp_path / "empty.onnx").write_bytes(b"")
    cases["empty.onnx"] = "the file holds no ONNX graph"
    (tmp_path / "text.onnx").write_text("this is not a model\n" * 10)
    cases["text.onnx"] = r"not a readable ONNX model|the file holds no ONNX graph"
    custom = tiny_graph(
        helper.make_node("Mystery", ["x"], ["y"], domain="com.example.ops"), None, {"com.example.ops": 1}
    )
    onnx.save(custom, str(tmp_path / "custom.onnx"))
    cases["custom.onnx"] = r"onnxruntime cannot run this ONNX model: .*Mystery"
    huge = TensorProto(name="w", dims=[200_000, 200_000], data_type=TensorProto.FLOAT)  # claims 160 GB
    onnx.save(tiny_graph(helper.make_node("Add", ["x", "w"], ["y"]), [huge]), str(tmp_path / "huge.onnx"))
    cases["huge.onnx"] = r"its tensors declare 160,000,000,000 bytes, over the 2,147,483,648-byte limit"
    two = tiny_graph(helper.make_node("Relu", ["x"], ["y"]))
    two.graph.input.append(helper.make_tensor_value_info("z", TensorProto.FLOAT, [1]))
    onnx.save(two, str(tmp_path / "two.onnx"))
    cases["two.onnx"] = "the graph takes 2 inputs"
    for name, message in cases.items():
        with pytest.raises(
            StrokelensError, match=rf"^{re.escape(str(tmp_path / name))} \(ONNX\): ({message})"
        ) as err:
            load_onnx(tmp_path / name)
        assert "\n" not in str(err.value), name
    with pytest.raises(StrokelensError, match=r"2,210,\d+ bytes, over the 1,000,000-byte limit for ONNX"):
        load_onnx(DOODLENET, max_bytes=1_000_000)
    with pytest.raises(StrokelensError, match=r"nothing.onnx \(ONNX\): no such file"):
        load_onnx(tmp_path / "nothing.onnx")


def test_external_data_outside_the_model_folder_is_refused(tmp_path):
    w = TensorProto(name="w", dims=[1], data_type=TensorProto.FLOAT)
    w.data_location = TensorProto.EXTERNAL
    w.external_data.add(key="location", value="../../etc/passwd")
    onnx.save(tiny_graph(helper.make_node("Add", ["x", "w"], ["y"]), [w]), str(tmp_path / "ext.onnx"))
    with pytest.raises(
        StrokelensError, match=r"external data '../../etc/passwd' lies outside the model's folder"
    ):
        load_onnx(tmp_path / "ext.onnx")


# ----------------------------------------------------------------------------- converter
@pytest.fixture
def onnx2torch_importable(monkeypatch):
    """onnx2torch, when installed. It imports torchvision for its detection operators only; where the
    installed torchvision cannot load (PyPI's CUDA build beside a CPU torch), a stand-in lets it import
    (DoodleNet uses none of those operators)."""
    pytest.importorskip("onnx", reason="needs onnx")
    try:
        import onnx2torch  # noqa: F401
    except ModuleNotFoundError as exc:
        if exc.name != "torchvision":
            pytest.skip("onnx2torch is not installed (pip install 'strokelens[onnx-convert]')")
        vision = types.ModuleType("torchvision")
        vision.ops = types.ModuleType("torchvision.ops")
        for name in ("nms", "batched_nms", "roi_align", "roi_pool"):
            setattr(vision.ops, name, None)
        monkeypatch.setitem(sys.modules, "torchvision", vision)
        monkeypatch.setitem(sys.modules, "torchvision.ops", vision.ops)
    except ImportError:
        pytest.skip("onnx2torch is not installed (pip install 'strokelens[onnx-convert]')")


def test_converted_model_gives_gradients_equal_to_torch(onnx2torch_importable, doodlenet, few_strokes):
    model = load_onnx(DOODLENET, convert=True)
    assert model.differentiable and model.conversion_gap < 1e-4
    ours = get_method("sla")(view_for(model)).attribute(few_strokes)
    theirs = get_method("sla")(view_for(doodlenet)).attribute(few_strokes)
    assert torch.allclose(ours.scores, theirs.scores, atol=1e-4 * float(theirs.scores.abs().max()))
    public = load_onnx(MODELS / "quickdraw15" / "quickdraw_model_15_classes.onnx", convert=True)
    assert public.conversion_gap < 1e-4  # tf2onnx's Keras graph (opset 13) converts as well
    x = torch.rand(2, 1, 28, 28, requires_grad=True)
    public(x)[:, 0].sum().backward()
    assert x.grad is not None and float(x.grad.abs().sum()) > 0


def test_the_metadata_class_list_is_json(onnx_doodlenet):
    props = {p.key: p.value for p in onnx.load(str(DOODLENET), load_external_data=False).metadata_props}
    assert json.loads(props["class_names"]) == onnx_doodlenet.class_names


def test_docs_example_runs(run_doc):
    namespace = run_doc("docs/onnx.md", 1)
    assert namespace["run"].explanations[0].scores.shape[0] == 4
    assert "method 'sla' needs gradients" in str(namespace["refusal"])


# ----------------------------------------------------------------------------- a public model
QUICKDRAW15 = MODELS / "quickdraw15"


def test_a_public_keras_onnx_model_reads_real_drawings_at_its_reported_accuracy(home):
    """kemalbayikk/quickdraw's 15-class Keras CNN as its repository publishes it (tf2onnx: channels
    last, final Softmax); it reports 94.5% on its own test split."""
    from strokelens.models.files import read_class_names

    model = load_onnx(QUICKDRAW15 / "quickdraw_model_15_classes.onnx")
    assert model.graph.channels_last and model.dropped_softmax and model.class_names is None
    classes = read_class_names(QUICKDRAW15 / "classes.txt", 15)
    wrapped = strokelens.wrap(model, input="raster-sketch", classes=classes)
    sketches = load_qd345(classes, home=home)
    with torch.no_grad():
        images = QuickDrawBitmap()(SketchBatch.from_sketches(sketches))
        logits = wrapped(images)
        inverted = wrapped(1 - images)
    y = torch.tensor([classes.index(s.label) for s in sketches])
    top1 = float((logits.argmax(1) == y).float().mean())
    assert len(sketches) == 375 and top1 > 0.9, top1  # 95.5% measured
    assert float((inverted.argmax(1) == y).float().mean()) < 0.5  # the wrong ink is seen as wrong
    expl = get_method("occlusion")(view_for(wrapped)).attribute(sketches[:4])
    assert expl.scores.shape[0] == 4 and expl.target_names[0] in classes
    with pytest.raises(StrokelensError, match=r"quickdraw_model_15_classes.onnx\) runs in onnxruntime"):
        get_method("psla")(view_for(wrapped))


def test_a_photo_model_exported_to_onnx_explains_photos_as_torch_does(dark, photo_paths, tmp_path):
    """Tiny Darknet through torch.onnx: a 3-channel graph is an image model for the image view."""
    from strokelens.io.photos import load_photos

    torch.onnx.export(
        dark,
        (torch.rand(2, 3, 224, 224),),
        str(tmp_path / "dark.onnx"),
        dynamo=True,
        dynamic_shapes=({0: torch.export.Dim("batch")},),
        verbose=False,
    )
    model = load_onnx(tmp_path / "dark.onnx")
    assert (model.input_kind, model.input_size, model.input_shape) == ("image", 224, (3, 224, 224))
    model.class_names = list(dark.class_names)  # ImageNet repeats two names: wrap() would refuse them
    photos = load_photos(photo_paths[:2])
    ours, theirs = view_for(model), view_for(dark)
    got = get_method("occlusion")(ours).attribute(ours.units_for(photos, n_segments=12))
    want = get_method("occlusion")(theirs).attribute(theirs.units_for(photos, n_segments=12))
    assert got.target_names == want.target_names
    assert torch.allclose(got.scores, want.scores, atol=1e-4 * float(want.scores.abs().max()))


def test_a_copy_or_pickle_rebuilds_the_session(onnx_doodlenet):
    import copy
    import pickle

    x = torch.rand(3, 1, 28, 28)
    with torch.no_grad():
        want = onnx_doodlenet(x)
        for other in (copy.deepcopy(onnx_doodlenet), pickle.loads(pickle.dumps(onnx_doodlenet))):
            assert other.session is not onnx_doodlenet.session and torch.equal(other(x), want)
