"""Video: the video input kind, reading clips with a recipe, supervoxel units, the video view and
its game, and the real Jester 3D ShuffleNet on real recordings (read from $STROKELENS_HOME)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

import strokelens
from strokelens import kinds
from strokelens.attribution.base import METHODS
from strokelens.errors import StrokelensError
from strokelens.io.video import ClipRef, VideoRecipe, clips_tensor, count_windows, read_windows, resample
from strokelens.methods import get_method
from strokelens.metrics import deletion_insertion
from strokelens.units.superpixels import SuperpixelUnits
from strokelens.units.supervoxels import SupervoxelUnits
from strokelens.views import ImageView, VideoView, view_for

av = pytest.importorskip("av")
ROOT = Path(__file__).resolve().parent.parent


class TinyVideoNet(torch.nn.Module):
    """A small 3D CNN on ``(N, 3, T, S, S)`` clips (random weights, seeded)."""

    def __init__(self, classes: int = 4) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.features = torch.nn.Sequential(
            torch.nn.Conv3d(3, 8, 3, padding=1), torch.nn.ReLU(), torch.nn.MaxPool3d((1, 2, 2))
        )
        self.head = torch.nn.Linear(8, classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x).mean((2, 3, 4)))


def write_video(path, frames: int = 20, width: int = 64, height: int = 48, fps: int = 10, codec="mpeg4"):
    """A small real video file made with PyAV: a bright square moving over a dark ground."""
    with av.open(str(path), "w") as out:
        stream = out.add_stream(codec, rate=fps)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        for i in range(frames):
            img = np.full((height, width, 3), 30, np.uint8)
            img[10:26, 2 * i % (width - 16) : 2 * i % (width - 16) + 16] = (250, 200, 40)
            for packet in stream.encode(av.VideoFrame.from_ndarray(img, format="rgb24")):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    return path


SMALL = VideoRecipe(fps=10.0, size=32, frames=8, step=1, stride=4)


@pytest.fixture(scope="module")
def tiny():
    return strokelens.wrap(TinyVideoNet(), input="video", classes=["a", "b", "c", "d"], recipe=SMALL)


@pytest.fixture
def small_video(tmp_path):
    return write_video(tmp_path / "moving.mp4")


def test_video_is_a_kind_with_its_files(small_video):
    assert kinds.parse("video") is kinds.VIDEO and kinds.VIDEO.files is kinds.VIDEO_FILES
    assert not kinds.VIDEO.sketches and kinds.VIDEO.classifies
    files = kinds.VideoFiles(SMALL)
    assert files.count(small_video) == count_windows(small_video, SMALL) == 4  # 20 frames, 8 long, every 4
    records = list(files.records(small_video, start=1, limit=2))
    assert records == [(1, ClipRef(str(small_video), 1)), (2, ClipRef(str(small_video), 2))]


def test_resampling_picks_the_nearest_source_frame():
    times = np.arange(10) / 15.0  # 15 fps, resampled to 12
    assert resample(times, 12.0).tolist() == [0, 1, 2, 4, 5, 6, 7, 9]  # ties go to the earlier frame
    assert resample(times, None).tolist() == list(range(10))
    broken = np.append(times, 1e10)  # one timestamp far ahead: refused, not millions of frames
    with pytest.raises(StrokelensError, match=r"clip\.mkv: 11 frames whose timestamps span 1e\+10 s"):
        resample(broken, 12.0, "clip.mkv")


def test_windows_are_read_in_one_pass_with_the_recipe(small_video):
    clips = read_windows(small_video, SMALL, [2, 0])
    assert [c.window for c in clips] == [2, 0] and clips[0].frames.shape == (8, 32, 32, 3)
    assert clips[0].start == pytest.approx(0.8)
    x = clips_tensor(clips)
    assert x.shape == (2, 3, 8, 32, 32) and float(x.min()) >= 0 and float(x.max()) <= 1
    # window 2 starts 8 frames after window 0: the square has moved right
    assert not np.array_equal(clips[0].frames[0], clips[1].frames[0])


def test_supervoxels_are_superpixels_in_space_and_time(tiny, small_video):
    view = view_for(tiny)
    assert isinstance(view, VideoView)
    units = view.make_units([ClipRef(str(small_video), 0), ClipRef(str(small_video), 3)], n_segments=12)
    assert isinstance(units, SupervoxelUnits) and isinstance(units, SuperpixelUnits)
    assert units.labels.shape == (2, 8, 32, 32) and units.kind == "supervoxel"
    assert units.unit_lengths().sum(1).tolist() == [8 * 32 * 32] * 2
    assert units.select([1]).ids == [units.ids[1]] and units.item(1)["start"] == pytest.approx(1.2)
    # labels span time: some supervoxel covers more than one frame
    lab = units.labels[0]
    assert any(len(torch.unique(torch.nonzero(lab == k)[:, 0])) > 1 for k in range(int(units.n_units[0])))
    given = SupervoxelUnits.from_clips(units.images, labels=np.zeros((2, 8, 32, 32), np.int64))
    assert given.n_units.tolist() == [1, 1]


@pytest.mark.parametrize("baseline", ["mean", "blur", "frozen", "constant"])
def test_the_game_blends_clip_and_baseline_by_presence(tiny, small_video, baseline):
    view = VideoView(tiny, baseline=baseline)
    units = view.make_units([str(small_video)], n_segments=10)
    game = view.game(units, target=0)
    x = view.images(units)
    assert torch.allclose(x, units.images)
    z = torch.ones(1, units.max_units)
    z[0, 0] = 0.0
    removed = view.images(units, z)
    base = view.baselines(units)
    inside = (units.labels == 0)[:, None].expand_as(x)
    assert torch.allclose(removed[inside], base[inside]) and torch.equal(removed[~inside], x[~inside])
    half = game(torch.full((1, 1, units.max_units), 0.5))
    assert torch.isfinite(half).all()


def test_methods_that_take_superpixels_take_supervoxels():
    names = {m.name for m in METHODS.values() if m.takes_units("superpixel")}
    assert {n for n in names if METHODS[n].takes_units("supervoxel")} == names
    assert {"gws", "swag", "gws-ig", "gws-smoothgrad", "lime-image", "occlusion", "kernelshap"} <= names


@pytest.mark.parametrize(
    ("name", "options"),
    [
        ("gws", {}),
        ("gws", {"pixel": "presence"}),
        ("gws", {"pixel": "gradcam"}),
        ("gws", {"pixel": "coalition", "samples": 3, "weighted": True}),
        ("gws", {"pixel": "ig-blur", "steps": 2}),
        ("gws", {"pixel": "ig-mean", "steps": 2}),
        ("gws", {"pixel": "guided-backprop"}),
        ("swag", {}),
        ("gws-ig", {"steps": 4}),
        ("gws-smoothgrad", {"samples": 2}),
        ("occlusion", {}),
        ("lime-image", {"n_samples": 20}),
        ("kernelshap", {"n_samples": 20}),
        ("shapley", {}),
    ],
)
def test_every_superpixel_method_explains_a_clip(tiny, small_video, name, options):
    view = VideoView(tiny)
    units = view.make_units([str(small_video)], n_segments=6)
    expl = get_method(name)(view).attribute(units, target=1, **options)
    assert expl.scores.shape == (1, units.max_units) and torch.isfinite(expl.scores).all()


def test_bad_files_are_refused_in_one_line(tmp_path, small_video):
    text = tmp_path / "notes.mp4"
    text.write_text("not a video\n")
    short = write_video(tmp_path / "short.mp4", frames=5)
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(small_video.read_bytes()[:600])
    for path in (text, short, cut, tmp_path / "missing.mp4"):
        with pytest.raises(StrokelensError) as err:
            read_windows(path, SMALL, [0])
        assert "\n" not in str(err.value) and path.name in str(err.value)
    with pytest.raises(StrokelensError, match="too short"):
        read_windows(short, SMALL)
    (tmp_path / "notes.txt").write_text("x")
    with pytest.raises(StrokelensError, match="not a video file"):
        kinds.VIDEO_FILES.check(tmp_path / "notes.txt")


def test_a_gigantic_resolution_is_refused_before_decoding(small_video, monkeypatch):
    import strokelens.io.video as video

    decoded = []
    monkeypatch.setattr(video, "_decoded", lambda *a: decoded.append(a) or iter(()))
    monkeypatch.setattr(video, "MAX_PIXELS", 64 * 48 - 1)
    for read in (lambda: count_windows(small_video, SMALL), lambda: read_windows(small_video, SMALL)):
        with pytest.raises(StrokelensError, match="64x48 pixels is too large"):
            read()
    monkeypatch.setattr(video, "MAX_PIXELS", 10**9)
    monkeypatch.setattr(video, "MAX_SIDE", 63)
    with pytest.raises(StrokelensError, match="at most 63 a side"):
        count_windows(small_video, SMALL)
    assert decoded == []


# --- the real Jester model on the real recordings ------------------------------------------------


@pytest.fixture(scope="module")
def jester(home):
    import sys

    sys.path.insert(0, str(__import__("pathlib").Path(__file__).parent))
    from jester_factory import RECIPE, class_names, network

    return strokelens.wrap(network(), input="video", classes=class_names(), recipe=RECIPE)


@pytest.fixture(scope="module")
def demo(home):
    return home / "data" / "jester-demo"


#: Windows (one a second) the README says read as the gesture their file names, and the least
#: probability measured for each.
READINGS = [
    ("swipe-down-right-left.mp4", 8, "Swiping_Down", 0.95),
    ("thumb-up-down-stop-two-fingers-up-down.mp4", 4, "Thumb_Up", 0.9),
    ("thumb-up-down-stop-two-fingers-up-down.mp4", 8, "Thumb_Down", 0.95),
    ("thumb-up-down-stop-two-fingers-up-down.mp4", 14, "Stop_Sign", 0.95),
    ("zoom-in-out-full-hand.mp4", 4, "Zooming_In_With_Full_Hand", 0.95),
    ("zoom-in-out-full-hand.mp4", 10, "Zooming_Out_With_Full_Hand", 0.9),
]


def test_jester_reads_the_gestures_the_files_name(jester, demo):
    view = view_for(jester)
    refs = [ClipRef(str(demo / f), w) for f, w, _, _ in READINGS]
    units = view.make_units(refs, n_segments=4)
    with torch.no_grad():
        probs = jester(units.images).softmax(1)
    for (f, w, name, least), p in zip(READINGS, probs, strict=True):
        assert jester.class_names[int(p.argmax())] == name, (f, w)
        assert float(p.max()) >= least, (f, w, float(p.max()))
    assert kinds.VIDEO_FILES.count(demo / "swipe-down-right-left.mp4") == 25


def test_the_video_gws_default_is_the_one_the_full_benchmark_chose():
    """``gws`` on clips uses what ``benchmarks/video.py``'s committed full run chose by its rule."""
    figures = json.loads((ROOT / "benchmarks" / "results" / "video.json").read_text())
    assert not figures["quick"] and figures["video_clips"] >= 30
    default = VideoView.gws_default
    assert (default.pixel, default.samples) == (figures["video_gws_pixel"], figures["video_gws_samples"])
    photos = json.loads((ROOT / "benchmarks" / "results" / "superpixels.json").read_text())
    assert ImageView.gws_default.pixel == photos["gws_pixel"]  # photos keep superpixels.json's choice


def test_jester_clip_explained_by_gws_and_occlusion_with_a_deletion_curve(jester, demo):
    view = VideoView(jester)
    units = view.make_units([ClipRef(str(demo / "swipe-down-right-left.mp4"), 8)], n_segments=24)
    gws = get_method("gws")(view).attribute(units, target="auto")
    occ = get_method("occlusion")(view).attribute(units, target="auto")
    assert gws.target_names == ["Swiping_Down"] and gws.evaluations == VideoView.gws_default.samples
    k = int(units.n_units[0])
    assert gws.scores.shape == occ.scores.shape == (1, units.max_units) and k >= 10
    assert float(gws.scores.abs().sum()) > 0 and float(occ.scores.abs().sum()) > 0
    curves = deletion_insertion(view.game(units, target="auto"), gws.scores)
    assert curves.deletion.shape == (1, k + 1) and 0 <= float(curves.deletion_auc[0]) <= 1
    assert float(curves.deletion[0, 0]) > 0.9 > float(curves.deletion[0, -1])


def test_docs_video_example_runs(run_doc):
    namespace = run_doc("docs/video.md", 1)
    expl = namespace["explanation"]
    assert expl.target_names == ["Swiping_Down"] and expl.scores.shape[0] == 1
