"""`strokelens explain CLIP.mp4 --model jester_factory:factory --input video`: the real Jester model
on a real recording through the CLI (the batch runner, Parquet rows, strip, GIF and report), and bad
video files refused in one line with exit 2."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from strokelens.cli import main

pytest.importorskip("av")

TESTS = Path(__file__).parent


@pytest.fixture
def cli(monkeypatch, home, capsys):
    """``run(args) -> (code, stdout, stderr)`` with the Jester factory importable."""
    monkeypatch.syspath_prepend(str(TESTS))

    def run(args: list[str]) -> tuple[int, str, str]:
        code = main([*args, "--model", "jester_factory:factory", "--input", "video"])
        out, err = capsys.readouterr()
        return code, out, err

    return run


def test_explain_a_recording_writes_strip_gif_rows_and_report(cli, home, tmp_path):
    clip = home / "data" / "jester-demo" / "swipe-down-right-left.mp4"
    out = tmp_path / "out"
    code, _, err = cli(
        ["explain", str(clip), "--method", "gws", "--segments", "20", "--limit", "1", "--out", str(out)]
    )
    assert code == 0, err
    records = [json.loads(line) for line in (out / "explanations.jsonl").read_text().splitlines()]
    assert len(records) == 1
    r = records[0]
    assert r["units"] == "supervoxel" and r["method"] == "gws" and r["source"] == str(clip)
    assert (out / r["image"]).read_bytes()[:4] == b"\x89PNG" and (out / r["animation"]).read_bytes()[
        :3
    ] == b"GIF"
    assert len(r["scores"]) >= 10
    html = (out / "report.html").read_text()
    assert "data:image/gif;base64" in html and "data:image/png;base64" in html and "supervoxel" in html
    rows = pq.read_table(out / "shards").to_pylist()
    assert len(rows) == 1 and rows[0]["source"] == str(clip) and rows[0]["index"] == 0
    assert r["id"] == "swipe-down-right-left#0"


def _text(path: Path, home: Path) -> Path:
    path.write_text("not a video\n")
    return path


def _cut(path: Path, home: Path) -> Path:
    path.write_bytes((home / "data" / "jester-demo" / "zoom-in-out-full-hand.mp4").read_bytes()[:300_000])
    return path


def _short(path: Path, home: Path) -> Path:
    from test_video import write_video

    return write_video(path, frames=10, width=96, height=64)


@pytest.mark.parametrize(
    ("make", "says"),
    [(_text, "not a readable video"), (_cut, "cut.mp4"), (_short, "too short for one clip")],
)
def test_bad_video_files_exit_2_in_one_line(cli, home, tmp_path, make, says):
    path = make(tmp_path / f"{make.__name__[1:]}.mp4", home)
    code, out, err = cli(["explain", str(path), "--method", "gws", "--out", str(tmp_path / "out")])
    assert code == 2 and len(err.strip().splitlines()) == 1, err
    assert says in out + err


def test_a_gigantic_resolution_exits_2_before_decoding(cli, home, tmp_path, monkeypatch):
    import strokelens.io.video as video

    monkeypatch.setattr(video, "MAX_PIXELS", 800 * 800)  # the recordings are 814x824
    clip = home / "data" / "jester-demo" / "finger-zoom-in-out.mp4"
    code, out, err = cli(["explain", str(clip), "--method", "gws", "--out", str(tmp_path / "out")])
    assert code == 2 and len(err.strip().splitlines()) == 1
    assert "814x824 pixels is too large" in out + err
