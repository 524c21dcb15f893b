"""Superpixel units, the image view, gradient-weighted superpixels and the photo CLI functions, on
real ImageNet sample photos and the real Tiny Darknet."""

from __future__ import annotations

import copy
import json
from dataclasses import replace

import numpy as np
import pytest
import torch
from PIL import Image

from strokelens.errors import StrokelensError
from strokelens.evaluation import evaluate
from strokelens.explain import explain, save_explanations
from strokelens.io.photos import file_targets, load_photos
from strokelens.methods import get_method
from strokelens.models import darknet, load_model
from strokelens.photo import CropTransform
from strokelens.units import SuperpixelUnits
from strokelens.views import ImageView, view_for


@pytest.fixture(scope="module")
def photos(photo_paths):
    return load_photos(photo_paths)


@pytest.fixture(scope="module")
def units(photos):
    return SuperpixelUnits.from_photos(photos, size=224, n_segments=50)


def test_units_follow_the_units_interface(units, photos):
    assert units.kind == "superpixel"
    assert units.n_units.dtype == torch.long and len(units.n_units) == len(photos)
    assert int(units.n_units.min()) >= 30 and int(units.n_units.max()) <= 80
    assert units.unit_mask.shape == (len(photos), units.max_units)
    for i in range(len(photos)):
        k = int(units.n_units[i])
        # labels are 0..K-1 with every label used
        assert torch.equal(units.labels[i].unique(), torch.arange(k))
    areas = units.unit_lengths()
    assert torch.equal(areas.sum(1), torch.full((len(photos),), 224.0 * 224.0))
    assert bool((areas[units.unit_mask] > 0).all()) and bool((areas[~units.unit_mask] == 0).all())
    assert units.unit_parts() is None
    assert units.item(0) == {"id": photos[0].id, "source": photos[0].source}


def test_full_presence_reproduces_the_model_input_exactly(dark, photos, units):
    view = ImageView(dark)
    x = view.images(units)
    reference = torch.stack([darknet.preprocess(p.image) for p in photos])
    assert torch.equal(x, reference)
    game = view.game(units, "auto")
    with torch.no_grad():
        assert torch.equal(game.full_outputs, dark(reference))


@pytest.mark.parametrize("baseline", ["mean", "blur", "constant"])
def test_removing_one_superpixel_shows_exactly_the_baseline_there(dark, units, baseline):
    view = ImageView(dark, baseline=baseline, constant=(0.2, 0.4, 0.6))
    base = view.baselines(units)
    k = 7
    z = torch.ones(len(units), units.max_units)
    z[:, k] = 0
    x = view.images(units, z)
    inside = (units.labels == k)[:, None].expand_as(x)
    assert torch.equal(x[inside], base[inside])
    assert torch.equal(x[~inside], units.images[~inside])
    if baseline == "mean":  # lime_image's hide_color=None: the superpixel's mean colour
        img = units.images[0].permute(1, 2, 0).numpy()
        mean = img[units.labels[0].numpy() == k].mean(0)
        np.testing.assert_allclose(
            base[0, :, units.labels[0] == k].T.numpy(), np.tile(mean, (inside[0, 0].sum(), 1)), atol=1e-6
        )
    if baseline == "constant":
        assert torch.equal(base[0, :, 0, 0], torch.tensor([0.2, 0.4, 0.6]))
    # the blurred baseline is smooth: less total variation than the photo
    if baseline == "blur":
        tv = lambda a: (a[..., 1:, :] - a[..., :-1, :]).abs().mean()  # noqa: E731
        assert tv(base) < 0.5 * tv(units.images)


def test_presence_gws_equals_a_finite_difference_and_pooled_gradient_times_input(dark, units):
    model = copy.deepcopy(dark).double()
    view = ImageView(model)
    one = replace(units.select([0]), images=units.images[:1].double())
    expl = get_method("gws")(view).attribute(one, target="auto", pixel="presence", aggregate="sum")
    assert expl.evaluations == 1
    game = view.game(one, expl.target)
    rows = torch.arange(1)
    eps = 1e-4
    for k in (5, int(one.n_units[0]) - 1):
        up, down = torch.ones(1, one.max_units), torch.ones(1, one.max_units)
        up[0, k], down[0, k] = 1 + eps, 1 - eps
        with torch.no_grad():
            fd = float(game.value(up, rows) - game.value(down, rows)) / (2 * eps)
        assert expl.scores[0, k].item() == pytest.approx(fd, rel=1e-3, abs=1e-5)
    # the same as gradient x (input - baseline) summed over each superpixel's pixels
    x = one.images.clone().requires_grad_(True)
    (grad,) = torch.autograd.grad(model(x)[0, int(expl.target[0])], x)
    gxi = (grad * (one.images - view.baselines(one))).sum(1)[0]
    pooled = torch.zeros(one.max_units, dtype=gxi.dtype).index_add_(0, one.labels[0].flatten(), gxi.flatten())
    np.testing.assert_allclose(expl.scores[0].numpy(), pooled.float().numpy(), rtol=1e-4, atol=1e-6)


def test_gws_on_real_photos_is_batched_like_one_photo_at_a_time(dark, photo_paths, units):
    """One batched backward pass scores every photo; padding never leaks between photos."""
    view = ImageView(dark)
    targets = file_targets(load_photos(photo_paths), dark.class_names)
    assert [dark.class_names[t] for t in targets] == ["tench", "tabby", "parachute"]
    expl = get_method("gws")(view).attribute(units, target=targets, score="prob")
    assert expl.evaluations == get_method("gws").evaluations(8)
    assert expl.scores.shape == (len(units), units.max_units)
    assert expl.target_names == ["tench", "tabby", "parachute"]
    assert torch.isfinite(expl.scores).all() and bool((expl.scores[~units.unit_mask] == 0).all())
    i = int(units.n_units.argmin())  # the photo with the most padding
    alone = get_method("gws")(view).attribute(units.select([i]), target=targets[i], score="prob")
    k = int(units.n_units[i])
    torch.testing.assert_close(alone.scores[0, :k], expl.scores[i, :k], rtol=1e-4, atol=1e-7)
    for name, opts in (("gws-ig", {"steps": 2}), ("gws-smoothgrad", {"samples": 2})):
        other = get_method(name)(view).attribute(units.select([i]), target=targets[i], **opts)
        assert torch.isfinite(other.scores).all() and other.evaluations == 2


def test_lime_image_sees_the_same_images_as_the_view(dark, photos):
    view = ImageView(dark)
    one = SuperpixelUnits.from_photos(photos[1:2], n_segments=15)
    seen = []
    forward = view.forward

    def spy(x):
        seen.append(x.detach().clone())
        return forward(x)

    view.forward = spy
    expl = get_method("lime-image")(view).attribute(one, target="auto", score="prob", n_samples=12, seed=3)
    assert expl.evaluations == 12 and expl.seed == 3
    images = torch.cat(seen)
    # recover each sample's presence vector and rebuild it through the view
    lab = one.labels[0]
    z = torch.stack(
        [
            torch.stack(
                [(img[:, lab == k] == one.images[0][:, lab == k]).all() for k in range(one.max_units)]
            )
            for img in images
        ]
    ).float()
    assert bool((z[0] == 1).all()) and 0 < z[1:].mean() < 1
    np.testing.assert_allclose(images.numpy(), view.images(one.select([0] * len(z)), z).numpy(), atol=1e-5)
    again = get_method("lime-image")(ImageView(dark)).attribute(
        one, target="auto", score="prob", n_samples=12, seed=3
    )
    assert torch.equal(expl.scores, again.scores)


def test_user_label_maps(photos):
    photo = photos[0]
    w, h = photo.size
    quadrants = (np.arange(h)[:, None] >= h // 2) * 2 + (np.arange(w)[None, :] >= w // 2)
    units = SuperpixelUnits.from_photos([photo], labels=[quadrants * 10 + 3])
    assert int(units.n_units[0]) == 4  # relabelled 3, 13, 23, 33 -> 0..3
    t = units.transforms[0]
    assert t.box == CropTransform.centre(w, h, 224).box
    back = units.original_labels(0)
    assert back.shape == (h, w)
    inside = back >= 0
    assert (~inside).sum() == w * h - t.side * t.side
    # mapped back, the labels agree with the user's map (up to resampling at quadrant borders)
    assert (back[inside] == quadrants[inside]).mean() > 0.99
    grid = np.repeat(np.arange(224) // 56, 224).reshape(224, 224)  # already at the model's size
    assert int(SuperpixelUnits.from_photos([photo], labels=[grid]).n_units[0]) == 4
    with pytest.raises(StrokelensError, match="integer"):
        SuperpixelUnits.from_photos([photo], labels=[grid.astype(float)])
    with pytest.raises(StrokelensError, match="shape"):
        SuperpixelUnits.from_photos([photo], labels=[grid[:100]])
    with pytest.raises(StrokelensError, match="baseline"):
        ImageView(torch.nn.Linear(1, 1), baseline="noise")


def test_bad_files_are_refused(tmp_path):
    text = tmp_path / "notes.jpg"
    text.write_text("not a photo")
    with pytest.raises(StrokelensError, match=r"notes\.jpg"):
        load_photos([text])
    with pytest.raises(StrokelensError, match=r"missing\.png"):
        load_photos([tmp_path / "missing.png"])
    empty = tmp_path / "empty.png"
    empty.write_bytes(b"")
    with pytest.raises(StrokelensError, match=r"empty\.png"):
        load_photos([empty])


def test_any_photo_size_maps_back_onto_the_original(tmp_path, dark):
    wide = tmp_path / "wide.png"
    Image.fromarray((np.random.default_rng(0).random((90, 300, 3)) * 255).astype(np.uint8)).save(wide)
    units = SuperpixelUnits.from_photos(load_photos([wide]), size=224, n_segments=20)
    assert units.images.shape == (1, 3, 224, 224)
    assert units.transforms[0].box == (105, 0, 195, 90)
    assert (units.original_labels(0)[:, :105] == -1).all()


def test_explain_photos_writes_records_overlays_and_report(tmp_path, home, photo_paths):
    """The library call behind `strokelens explain` on photos (one function for sketches and photos)."""
    view = view_for(load_model("darknet-tiny", home=home))
    targets = file_targets(photo_paths[:2], view.class_names)
    run = explain(view, photo_paths[:2], "gws", target=targets, unit_options={"n_segments": 12}, batch_size=2)
    records = save_explanations(run, tmp_path / "out", "gws on darknet-tiny")
    lines = (tmp_path / "out" / "explanations.jsonl").read_text().splitlines()
    assert len(lines) == 2
    rec = json.loads(lines[0])
    assert rec == records[0]
    assert rec["units"] == "superpixel" and rec["method"] == "gws" and rec["target"] == "tench"
    assert rec["source"] == str(photo_paths[0]) and len(rec["scores"]) >= 5
    overlay = Image.open(tmp_path / "out" / rec["image"])
    assert overlay.size == Image.open(photo_paths[0]).size  # drawn on the original photo
    labels = np.asarray(Image.open(tmp_path / "out" / rec["label_map"]))
    assert labels.max() == len(rec["scores"])
    report = (tmp_path / "out" / "report.html").read_text()
    assert report.count("data:image/png;base64") >= 4 and "deletion" in report


def test_evaluate_photos_writes_figures(tmp_path, home, photo_paths):
    """The library call behind `strokelens evaluate` on photos."""
    view = view_for(load_model("darknet-tiny", home=home))
    reports = evaluate(
        view, photo_paths[:2], ["gws", "occlusion"], unit_options={"n_segments": 6}, batch_size=2
    )
    summary = {name: rep.summary() for name, rep in reports.items()}
    (tmp_path / "e.json").write_text(json.dumps(summary))
    saved = json.loads((tmp_path / "e.json").read_text())
    assert set(saved) == {"gws", "occlusion"}
    for figures in saved.values():
        assert 0 <= figures["deletion_auc"] <= 1 and 0 <= figures["insertion_auc"] <= 1
        assert -1 <= figures["spearman_vs_shapley"] <= 1  # 5 superpixels: exact Shapley reference
    assert summary["gws"]["evaluations_per_image"] == get_method("gws").evaluations(6)
    with pytest.raises(StrokelensError, match="Sketch objects"):  # a sketch model is given photos
        evaluate(view_for(load_model("doodlenet", home=home)), [photo_paths[0]], ["gws"])


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")
def test_gws_runs_on_cuda(dark, units):
    view = ImageView(copy.deepcopy(dark).cuda())
    cpu = get_method("gws")(ImageView(dark)).attribute(units, target="auto")
    gpu = get_method("gws")(view).attribute(units, target="auto")
    torch.testing.assert_close(gpu.scores, cpu.scores, rtol=1e-3, atol=1e-4)


def test_model_calls_take_small_chunks_on_cpu_and_any_chunk_gives_the_same_scores(dark, units):
    from strokelens.views.image import CPU_CHUNK

    assert ImageView(dark).chunk == CPU_CHUNK and ImageView(dark, chunk=32).chunk == 32
    with pytest.raises(StrokelensError, match="chunk must be at least 1"):
        ImageView(dark, chunk=0)
    target = torch.arange(len(units)) + 1
    scores = [
        get_method("gws")(ImageView(dark, chunk=c)).attribute(units, target=target, samples=6).scores
        for c in (1, CPU_CHUNK, 64)
    ]
    # float32 rounding only: Tiny Darknet's own float32 scores differ from its float64 ones by ~0.7% of
    # the largest score (sums of many pixels' gradients, of both signs)
    atol = 5e-3 * float(scores[1].abs().max())
    torch.testing.assert_close(scores[0], scores[1], rtol=0, atol=atol)
    torch.testing.assert_close(scores[1], scores[2], rtol=0, atol=atol)


def test_baselines_are_objects_that_know_their_fill_and_their_lime_twin():
    from strokelens.views.baselines import (
        IMAGE_BASELINES,
        VIDEO_BASELINES,
        BlurBaseline,
        ConstantBaseline,
        FrozenBaseline,
        MeanBaseline,
        make_baseline,
    )

    assert isinstance(make_baseline("mean", IMAGE_BASELINES), MeanBaseline)
    assert make_baseline("blur", IMAGE_BASELINES, blur_sigma=3) == BlurBaseline(3.0)
    rgb = make_baseline("constant", IMAGE_BASELINES, constant=[0.1, 0.2, 0.3])
    assert rgb.hide_color() == (0.1, 0.2, 0.3)
    assert ConstantBaseline(0.5).hide_color() == 0.5 and MeanBaseline().hide_color() is None
    with pytest.raises(StrokelensError, match="unknown baseline 'frozen'; expected one of mean, blur, const"):
        make_baseline("frozen", IMAGE_BASELINES)
    assert isinstance(make_baseline("frozen", VIDEO_BASELINES), FrozenBaseline)
    with pytest.raises(StrokelensError, match="cannot show a blurred baseline"):
        BlurBaseline(2.0).hide_color()
    with pytest.raises(StrokelensError, match="cannot show a frozen-frame baseline"):
        FrozenBaseline().hide_color()
    with pytest.raises(StrokelensError, match="one value or an RGB triple"):
        ConstantBaseline((0.1, 0.2))
    for grey in (np.float32(0.25), torch.tensor(0.25), [0.25]):  # any number-like, as the view took before
        assert make_baseline("constant", IMAGE_BASELINES, constant=grey) == ConstantBaseline(0.25)
    with pytest.raises(StrokelensError, match="one value or an RGB triple, got 'grey'"):
        make_baseline("constant", IMAGE_BASELINES, constant="grey")
    for bad in (None, [0.1, None, 0.3], float("nan"), 255, -1.0, (0.1, 1.5, 0.3)):
        with pytest.raises(StrokelensError, match="constant must be in \\[0, 1\\] as the pixels are"):
            ConstantBaseline(bad)
    with pytest.raises(StrokelensError, match="blur_sigma must be positive"):
        BlurBaseline(0.0)
    clip = torch.rand(2, 3, 4, 8, 8)
    units = type("Clip", (), {"images": clip})()
    filled = ConstantBaseline((0.1, 0.2, 0.3)).fill(units)  # an RGB constant over every frame of a clip
    assert filled.shape == clip.shape and torch.allclose(filled[:, 1], torch.full((2, 4, 8, 8), 0.2))
    assert torch.equal(FrozenBaseline().fill(units)[:, :, 3], clip[:, :, 0])
