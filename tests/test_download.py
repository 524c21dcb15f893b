"""`strokelens data download quickdraw` and `strokelens.download`, against a local HTTP server on
127.0.0.1 laid out as the public bucket is (``quickdraw_dataset/full/simplified/cat.ndjson``, ...) and
serving real QuickDraw drawings from the data folder; the tests never touch the network."""

from __future__ import annotations

import base64
import hashlib
import io
import json
import os
import re
import socket
import struct
import subprocess
import sys
import threading
import time
import urllib.parse
from dataclasses import dataclass, field
from datetime import datetime
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pytest

from strokelens.cli import main
from strokelens.download import (
    BASE_URL,
    FORMATS,
    URL_ENV_VAR,
    check_classes,
    download_quickdraw,
    quickdraw_classes,
    quickdraw_url,
)
from strokelens.download.http import goog_md5
from strokelens.errors import StrokelensError
from strokelens.home import ENV_VAR
from strokelens.io import read_quickdraw
from strokelens.io.strokes3 import read_strokes3, write_strokes3
from strokelens.render.reference import quickdraw_bitmap_reference

CLASSES = ["cat", "The Eiffel Tower"]
PER_CLASS = 6


@dataclass
class Bucket:
    """What the test server serves and how it misbehaves."""

    files: dict[str, bytes] = field(default_factory=dict)
    log: list[tuple[str, str, str | None]] = field(default_factory=list)
    drop_after: int | None = None  # the next GET sends this many body bytes, then hangs up
    stall: float = 0.0  # ... or, with drop_after, stops sending for this many seconds first
    ignore_range: bool = False  # answer 200 with the whole file to a Range request
    extra_length: int = 0  # Content-Length this much larger than the body
    md5: bool = False  # send x-goog-hash with the body's MD5
    wrong_md5: bool = False
    no_head: bool = False  # refuse HEAD (405): sizes are learnt from the GET alone

    def gets(self) -> list[tuple[str, str | None]]:
        return [(path, rng) for method, path, rng in self.log if method == "GET"]


class Handler(BaseHTTPRequestHandler):
    def log_message(self, *args) -> None:  # quiet
        pass

    def do_HEAD(self) -> None:
        if self.server.bucket.no_head:
            self.send_error(405)
            return
        self.answer()

    def do_GET(self) -> None:
        self.answer()

    def answer(self) -> None:
        bucket: Bucket = self.server.bucket
        rng = self.headers.get("Range")
        bucket.log.append((self.command, self.path, rng))
        data = bucket.files.get(urllib.parse.unquote(self.path))
        if data is None:
            self.send_error(404)
            return
        start = 0
        if rng and self.command == "GET" and not bucket.ignore_range:
            start = int(re.fullmatch(r"bytes=(\d+)-", rng).group(1))
            if start >= len(data):
                self.send_response(416)
                self.send_header("Content-Range", f"bytes */{len(data)}")
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
        else:
            self.send_response(200)
        body = data[start:]
        self.send_header("Content-Length", str(len(body) + bucket.extra_length))
        if bucket.md5 or bucket.wrong_md5:
            digest = hashlib.md5(data[1:] if bucket.wrong_md5 else data).digest()
            self.send_header("x-goog-hash", f"crc32c=AAAAAA==,md5={base64.b64encode(digest).decode()}")
        self.end_headers()
        if self.command == "HEAD":
            return
        if bucket.drop_after is not None:
            self.wfile.write(body[: bucket.drop_after])
            body, bucket.drop_after = b"", None
            time.sleep(bucket.stall)
        self.wfile.write(body)


@pytest.fixture
def bucket():
    """A local server: yields ``(Bucket, base URL)``; the base URL ends in ``/quickdraw_dataset``."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.bucket = Bucket()
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield server.bucket, f"http://127.0.0.1:{server.server_address[1]}/quickdraw_dataset"
    server.shutdown()
    server.server_close()


@pytest.fixture(autouse=True)
def _base_url(bucket, monkeypatch):
    """Every test's downloads go to its local server, also those that do not pass a base URL."""
    monkeypatch.setenv(URL_ENV_VAR, bucket[1])


def _binary(lines: list[str]) -> bytes:
    """Drawings packed as the bucket's ``full/binary`` files are (the dataset's binary_file_parser)."""
    out = io.BytesIO()
    for line in lines:
        rec = json.loads(line)
        stamp = datetime.strptime(rec["timestamp"][:19], "%Y-%m-%d %H:%M:%S").timestamp()
        head = (int(rec["key_id"]), rec["countrycode"].encode(), rec["recognized"], int(stamp))
        out.write(struct.pack("<Q2sbIH", *head, len(rec["drawing"])))
        for xs, ys in rec["drawing"]:
            out.write(struct.pack(f"<H{len(xs)}B{len(ys)}B", len(xs), *xs, *ys))
    return out.getvalue()


@pytest.fixture(scope="module")
def real(qd345_dir, tmp_path_factory) -> dict[str, dict[str, bytes]]:
    """format -> class -> the bytes of a small file of real QuickDraw drawings in that format."""
    tmp = tmp_path_factory.mktemp("real")
    files: dict[str, dict[str, bytes]] = {f: {} for f in FORMATS}
    for name in CLASSES:
        lines = (qd345_dir / f"{name}.ndjson").read_text(encoding="utf-8").splitlines()[:PER_CLASS]
        ndjson = ("\n".join(lines) + "\n").encode()
        files["simplified"][name] = files["raw"][name] = ndjson
        files["binary"][name] = _binary(lines)
        (tmp / "src.ndjson").write_bytes(ndjson)
        sketches = list(read_quickdraw(tmp / "src.ndjson"))
        bitmaps = np.stack([quickdraw_bitmap_reference(s).reshape(-1) for s in sketches])
        buffer = io.BytesIO()
        np.save(buffer, np.round(bitmaps * 255).astype(np.uint8))
        files["bitmap"][name] = buffer.getvalue()
        write_strokes3(sketches, tmp / "s.npz")
        files["sketchrnn"][name] = (tmp / "s.npz").read_bytes()
    return files


def serve(bucket: Bucket, real: dict, fmt: str = "simplified", names=CLASSES) -> dict[str, bytes]:
    """Put class files of ``fmt`` on the server; returns local file name -> bytes."""
    folder, ext = FORMATS[fmt]
    for name in names:
        bucket.files[f"/quickdraw_dataset/{folder}/{name}{ext}"] = real[fmt][name]
    return {f"{name}{ext}": real[fmt][name] for name in names}


def cli(capsys, *args: str) -> tuple[int, str, str]:
    code = main(["data", "download", "quickdraw", *args])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_urls_follow_the_public_bucket_layout(monkeypatch):
    monkeypatch.delenv(URL_ENV_VAR)
    root = "https://storage.googleapis.com/quickdraw_dataset"
    assert root == BASE_URL
    assert quickdraw_url("cat") == f"{root}/full/simplified/cat.ndjson"
    assert quickdraw_url("cat", "raw") == f"{root}/full/raw/cat.ndjson"
    assert quickdraw_url("cat", "binary") == f"{root}/full/binary/cat.bin"
    assert quickdraw_url("cat", "bitmap") == f"{root}/full/numpy_bitmap/cat.npy"
    assert quickdraw_url("cat", "sketchrnn") == f"{root}/sketchrnn/cat.npz"
    eiffel = quickdraw_url("The Eiffel Tower", base="http://mirror/qd/")
    assert eiffel == "http://mirror/qd/full/simplified/The%20Eiffel%20Tower.ndjson"


def test_x_goog_hash_in_one_header_or_two():
    one, two = Message(), Message()
    one["x-goog-hash"] = "crc32c=n03x6A==,md5=Ojk9c3dhfxgoKVVHYwFbHQ=="
    two["x-goog-hash"] = "crc32c=n03x6A=="
    two["x-goog-hash"] = "md5=Ojk9c3dhfxgoKVVHYwFbHQ=="
    assert goog_md5(one) == goog_md5(two) == "Ojk9c3dhfxgoKVVHYwFbHQ=="
    assert goog_md5(Message()) is None


def test_the_data_folders_classes_are_among_the_345(qd345_dir):
    stems = {p.stem for p in qd345_dir.glob("*.ndjson")}
    assert len(stems) == 344 and stems <= set(quickdraw_classes())


def test_class_names_are_quickdraws_345():
    names = quickdraw_classes()
    assert len(names) == len(set(names)) == 345
    assert {"The Eiffel Tower", "t-shirt", "zigzag", "cat"} <= set(names)
    assert check_classes(["Cat", "the_eiffel_tower", "cat"]) == ["cat", "The Eiffel Tower"]
    assert check_classes(["all"]) == list(names)
    with pytest.raises(StrokelensError, match="'dog'"):
        check_classes(["dgo"])


@pytest.mark.parametrize("fmt", list(FORMATS))
def test_downloads_two_classes_in_each_format(bucket, real, fmt, tmp_path, capsys):
    server, _ = bucket
    expected = serve(server, real, fmt)
    code, out, err = cli(capsys, "--classes", ",".join(CLASSES), "--format", fmt, "--out", str(tmp_path))
    assert code == 0, err
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir()} == expected
    folder = FORMATS[fmt][0]
    assert sorted(p for p, _ in server.gets()) == sorted(
        f"/quickdraw_dataset/{folder}/{urllib.parse.quote(n)}" for n in expected
    )
    assert "2 fetched, 0 already there" in out
    server.log.clear()  # a second run finds the files and asks nothing
    code, out, _ = cli(capsys, "--classes", ",".join(CLASSES), "--format", fmt, "--out", str(tmp_path))
    assert code == 0 and server.log == [] and "0 fetched, 2 already there" in out


def test_downloads_read_with_strokelens_readers(bucket, real, tmp_path, qd345_dir):
    server, _ = bucket
    for fmt in ("simplified", "sketchrnn", "bitmap"):
        serve(server, real, fmt, ["cat"])
        download_quickdraw(["cat"], tmp_path / fmt, format=fmt, progress=True)
    source = list(read_quickdraw(qd345_dir / "cat.ndjson", limit=PER_CLASS))
    got = list(read_quickdraw(tmp_path / "simplified" / "cat.ndjson"))
    assert [s.key_id for s in got] == [s.key_id for s in source]
    assert [s.label for s in got] == ["cat"] * PER_CLASS
    assert np.array_equal(got[0].points(), source[0].points())
    assert len(list(read_strokes3(tmp_path / "sketchrnn" / "cat.npz"))) == PER_CLASS
    assert np.load(tmp_path / "bitmap" / "cat.npy").shape == (PER_CLASS, 784)


def test_dropped_connection_resumes_with_a_range_request(bucket, real, tmp_path):
    server, _ = bucket
    data = serve(server, real, names=["cat"])["cat.ndjson"]
    half = len(data) // 2
    server.drop_after = half
    with pytest.raises(StrokelensError, match=r"closed after .* bytes.*cat\.ndjson\.part is kept"):
        download_quickdraw(["cat"], tmp_path, retries=0)
    assert not (tmp_path / "cat.ndjson").exists()
    assert (tmp_path / "cat.ndjson.part").read_bytes() == data[:half]
    server.log.clear()
    (result,) = download_quickdraw(["cat"], tmp_path)
    assert result.status == "resumed" and result.size == len(data)
    assert server.gets() == [("/quickdraw_dataset/full/simplified/cat.ndjson", f"bytes={half}-")]
    assert (tmp_path / "cat.ndjson").read_bytes() == data
    assert not (tmp_path / "cat.ndjson.part").exists()


def test_a_drop_is_resumed_within_one_run(bucket, real, tmp_path):
    server, _ = bucket
    data = serve(server, real, names=["cat"])["cat.ndjson"]
    server.drop_after = 100
    (result,) = download_quickdraw(["cat"], tmp_path)
    assert [rng for _, rng in server.gets()] == [None, "bytes=100-"]
    assert (tmp_path / "cat.ndjson").read_bytes() == data and result.status == "downloaded"


def test_a_stalled_transfer_times_out_and_resumes(bucket, real, tmp_path):
    server, _ = bucket
    data = serve(server, real, names=["cat"])["cat.ndjson"]
    server.drop_after, server.stall = 200, 1.0
    download_quickdraw(["cat"], tmp_path, timeout=0.2)
    assert [rng for _, rng in server.gets()] == [None, "bytes=200-"]
    assert (tmp_path / "cat.ndjson").read_bytes() == data


def test_an_unwritable_folder_is_an_error(bucket, real, tmp_path):
    serve(bucket[0], real, names=["cat"])
    (tmp_path / "file").write_text("")
    with pytest.raises(StrokelensError, match="cannot create the folder"):
        download_quickdraw(["cat"], tmp_path / "file" / "out")


def test_a_partial_file_left_earlier_is_resumed(bucket, real, tmp_path):
    server, _ = bucket
    data = serve(server, real, names=["cat"])["cat.ndjson"]
    (tmp_path / "cat.ndjson.part").write_bytes(data[:300])
    (result,) = download_quickdraw(["cat"], tmp_path)
    assert result.status == "resumed"
    assert [rng for _, rng in server.gets()] == ["bytes=300-"]
    assert (tmp_path / "cat.ndjson").read_bytes() == data


def test_a_server_answering_200_to_a_range_restarts_the_file(bucket, real, tmp_path):
    server, _ = bucket
    data = serve(server, real, names=["cat"])["cat.ndjson"]
    (tmp_path / "cat.ndjson.part").write_bytes(b"x" * 300)  # not the file's bytes: must be replaced
    server.ignore_range = True
    (result,) = download_quickdraw(["cat"], tmp_path)
    assert result.status == "downloaded"
    assert [rng for _, rng in server.gets()] == ["bytes=300-"]
    assert (tmp_path / "cat.ndjson").read_bytes() == data


def test_a_complete_part_is_only_renamed(bucket, real, tmp_path):
    server, _ = bucket
    data = serve(server, real, names=["cat"])["cat.ndjson"]
    (tmp_path / "cat.ndjson.part").write_bytes(data)
    download_quickdraw(["cat"], tmp_path)
    assert server.gets() == [] and (tmp_path / "cat.ndjson").read_bytes() == data


def test_a_server_refusing_head_still_works(bucket, real, tmp_path):
    server, _ = bucket
    data = serve(server, real, names=["cat"])["cat.ndjson"]
    server.no_head = True
    download_quickdraw(["cat"], tmp_path / "a", progress=True)  # bars without a known total
    assert (tmp_path / "a" / "cat.ndjson").read_bytes() == data
    (tmp_path / "b").mkdir()
    (tmp_path / "b" / "cat.ndjson.part").write_bytes(data)  # complete, but the size is unknown
    server.log.clear()
    download_quickdraw(["cat"], tmp_path / "b")
    assert [rng for _, rng in server.gets()] == [f"bytes={len(data)}-", None]  # 416, then afresh
    assert (tmp_path / "b" / "cat.ndjson").read_bytes() == data


def test_size_mismatch_is_an_error_that_keeps_the_part(bucket, real, tmp_path, capsys):
    server, _ = bucket
    data = serve(server, real, names=["cat"])["cat.ndjson"]
    server.extra_length = 10  # announces 10 bytes more than it sends
    code, _, err = cli(capsys, "--classes", "cat", "--out", str(tmp_path))
    assert code == 2 and len(err.strip().splitlines()) == 1
    assert f"closed after {len(data):,} of {len(data) + 10:,} bytes" in err and "run again" in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cat.ndjson.part"]


def test_md5_from_x_goog_hash_is_checked(bucket, real, tmp_path):
    server, _ = bucket
    data = serve(server, real, names=["cat"])["cat.ndjson"]
    server.md5 = True
    download_quickdraw(["cat"], tmp_path / "good")
    assert (tmp_path / "good" / "cat.ndjson").read_bytes() == data
    server.md5, server.wrong_md5 = False, True
    with pytest.raises(StrokelensError, match=r"MD5 .* differs"):
        download_quickdraw(["cat"], tmp_path / "bad")
    assert list((tmp_path / "bad").iterdir()) == []  # a corrupt .part cannot be resumed: removed


def test_unknown_class_is_one_line_exit_2(tmp_path, capsys):
    code, out, err = cli(capsys, "--classes", "cat,dgo", "--out", str(tmp_path / "out"))
    assert code == 2 and out == ""
    assert err.strip().splitlines() == [
        "strokelens: error: 'dgo' is not one of QuickDraw's 345 classes; did you mean 'dragon', 'dog'?"
    ]
    assert not (tmp_path / "out").exists()


def test_unreachable_server_is_one_line_exit_2(tmp_path, capsys):
    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    base = f"http://127.0.0.1:{port}/quickdraw_dataset"
    code, _, err = cli(capsys, "--classes", "cat", "--out", str(tmp_path / "out"), "--base-url", base)
    assert code == 2
    (line,) = err.strip().splitlines()
    assert line.startswith(f"strokelens: error: cannot reach 127.0.0.1:{port}: ")
    assert "check your connection" in line and "--base-url" in line
    assert not (tmp_path / "out").exists() or not any(
        p.suffix != ".part" for p in (tmp_path / "out").iterdir()
    )


def test_a_class_missing_on_the_server_says_not_found(bucket, tmp_path, capsys):
    code, _, err = cli(capsys, "--classes", "cat", "--out", str(tmp_path))
    assert code == 2 and "cat.ndjson: not found, HTTP 404" in err and len(err.splitlines()) == 1


def test_classes_file_and_default_folder_under_home(bucket, real, tmp_path, capsys, monkeypatch):
    server, _ = bucket
    expected = serve(server, real)
    (tmp_path / "classes.txt").write_text("# two classes\ncat\nThe Eiffel Tower  # spaces kept\n")
    monkeypatch.setenv(ENV_VAR, str(tmp_path))
    code, _, err = cli(capsys, "--classes-file", str(tmp_path / "classes.txt"), "--no-progress")
    assert code == 0, err
    folder = tmp_path / "data" / "quickdraw-simplified"
    assert {p.name: p.read_bytes() for p in folder.iterdir()} == expected


def test_no_classes_is_a_usage_error(capsys):
    code, _, err = cli(capsys)
    assert code == 2 and "--classes" in err


def test_docs_python_example_runs_against_the_local_server(bucket, real, run_doc, capsys):
    serve(bucket[0], real)  # run_doc works in a temporary folder; $STROKELENS_QUICKDRAW_URL is set
    namespace = run_doc("docs/data.md", 1)
    assert [f.status for f in namespace["files"]] == ["downloaded", "downloaded"]
    assert len(namespace["cats"]) == 5 and namespace["cats"][0].label == "cat"
    assert "full/numpy_bitmap/The%20Eiffel%20Tower.npy" in capsys.readouterr().out


def test_the_command_does_not_import_torch(tmp_path):
    probe = (
        "import sys; from strokelens.cli import main; "
        "code = main(['data', 'download', 'quickdraw', '--classes', 'dgo']); "
        "print(code, 'torch' in sys.modules)"
    )
    src = str(Path(__file__).resolve().parents[1] / "src")
    env = {**os.environ, "PYTHONPATH": src}
    run = [sys.executable, "-c", probe]
    proc = subprocess.run(run, capture_output=True, text=True, env=env, cwd=tmp_path)
    assert proc.stdout.split() == ["2", "False"], proc.stderr
