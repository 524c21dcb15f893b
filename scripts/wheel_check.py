"""Check the wheel as a new user meets it: build it, install it in a fresh venv, run it with no data folder.

    python3 scripts/wheel_check.py [--keep DIR]

Builds the wheel (``pip wheel --no-deps``), checks its metadata (the ``ray`` extra, the packaged models,
sample and licences) and that ``strokelens[ray]`` resolves (``pip install --dry-run``), creates a fresh
venv (with no pip of its own when this Python has one: ``pip --python`` installs into it), installs
``torch==2.13.0`` first (the CPU build; an open range pulls a CUDA build of several GB) and then the
wheel with its dependencies from the registry (``--no-compile``: Python compiles what it imports).
From an empty folder with STROKELENS_HOME unset it runs ``strokelens demo``, ``predict`` and
``explain`` on a drawing of the packaged sample, and ``strokelens serve`` on a free loopback port
(``/``, ``/api/sample``, ``/api/predict``). Prints the wheel's size and the wall time; exits 1 on the
first failure. Standard library only.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TORCH = "torch==2.13.0"
#: Files the wheel must carry (the embedded default), relative to site-packages.
PACKAGED = [
    "strokelens/models/weights/doodlenet/model.json",
    "strokelens/models/weights/doodlenet/group1-shard1of1.bin",
    "strokelens/models/weights/doodlenet/class_names.txt",
    "strokelens/models/weights/doodlenet/LICENSE-ml5-MIT.txt",
    "strokelens/models/weights/darknet-tiny/model.json",
    "strokelens/models/weights/darknet-tiny/group31-shard1of1",
    "strokelens/models/weights/darknet-tiny/class_names.txt",
    "strokelens/models/weights/darknet-tiny/LICENSE-ml5-MIT.txt",
    "strokelens/samples/quickdraw-spg/pig.ndjson.gz",
    "strokelens/samples/quickdraw-spg/parts/pig.txt",
    "strokelens/samples/quickdraw-spg/ATTRIBUTION.md",
    "strokelens/serve/static/index.html",
]


def step(what: str, cmd: list[str], cwd: Path, env: dict[str, str], timeout: float = 900) -> str:
    """Run ``cmd``; print what it checks and how long it took; stop the check when it fails."""
    start = time.monotonic()
    proc = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    print(f"  {what}: {time.monotonic() - start:.1f} s", flush=True)
    if proc.returncode != 0:
        sys.exit(f"wheel check failed: {what}\n$ {' '.join(cmd)}\n{proc.stdout[-3000:]}{proc.stderr[-3000:]}")
    return proc.stdout


def check_metadata(wheel: Path) -> None:
    """The wheel carries the models, the sample and their licences, and declares the ``ray`` extra."""
    with zipfile.ZipFile(wheel) as zf:
        names = set(zf.namelist())
        meta = next(n for n in names if n.endswith(".dist-info/METADATA"))
        metadata = zf.read(meta).decode("utf-8")
    missing = [p for p in PACKAGED if p not in names]
    if missing:
        sys.exit(f"wheel check failed: the wheel lacks {missing}")
    if "Provides-Extra: ray" not in metadata or "extra == 'ray'" not in metadata.replace('"', "'"):
        sys.exit("wheel check failed: the wheel's metadata has no ray extra")
    if any(n.startswith(("tests/", "benchmarks/")) or "/__pycache__/" in n for n in names):
        sys.exit("wheel check failed: the wheel carries tests, benchmarks or byte code")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def get(url: str, body: dict | None = None) -> bytes:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=60) as reply:
        return reply.read()


def check_serve(strokelens: Path, cwd: Path, env: dict[str, str]) -> None:
    """Start ``strokelens serve`` on a free loopback port, fetch the page and two API calls, stop it."""
    start = time.monotonic()
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    server = subprocess.Popen(
        [str(strokelens), "serve", "--port", str(port)],
        cwd=cwd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        while True:
            try:
                page = get(f"{base}/").decode()
                break
            except OSError:
                if server.poll() is not None or time.monotonic() - start > 120:
                    sys.exit(f"wheel check failed: strokelens serve did not start\n{server.stdout.read()}")
                time.sleep(0.25)
        if "strokelens" not in page:
            sys.exit("wheel check failed: / is not the strokelens page")
        pigs = json.loads(get(f"{base}/api/sample?label=pig"))["drawings"]
        reply = json.loads(get(f"{base}/api/predict", {"strokes": pigs[0]["strokes"]}))
        if not reply.get("top"):
            sys.exit(f"wheel check failed: /api/predict replied {reply}")
    finally:
        server.terminate()
        server.wait(30)
    print(f"  strokelens serve: /, /api/sample, /api/predict: {time.monotonic() - start:.1f} s", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--keep", type=Path, default=None, help="work here and keep it (default: a temp dir)")
    args = parser.parse_args()
    start = time.monotonic()
    work = args.keep or Path(tempfile.mkdtemp(prefix="strokelens-wheel-"))
    work.mkdir(parents=True, exist_ok=True)
    try:
        env = {
            k: v for k, v in os.environ.items() if k not in ("STROKELENS_HOME", "PYTHONPATH", "VIRTUAL_ENV")
        }
        venv = work / "venv"
        shutil.rmtree(venv, ignore_errors=True)
        print(f"wheel check in {work}", flush=True)
        bin_ = venv / "bin"
        if importlib.util.find_spec("pip") is not None:  # this pip installs into the venv: no pip there
            step("fresh venv", [sys.executable, "-m", "venv", "--without-pip", str(venv)], work, env)
            pip = [sys.executable, "-m", "pip", "--python", str(bin_ / "python")]
        else:
            step("fresh venv", [sys.executable, "-m", "venv", str(venv)], work, env)
            pip = [str(bin_ / "python"), "-m", "pip"]
        dist = work / "dist"
        shutil.rmtree(dist, ignore_errors=True)
        step("pip wheel --no-deps", [*pip, "wheel", "-q", "--no-deps", "-w", str(dist), str(ROOT)], work, env)
        wheel = next(dist.glob("strokelens-*.whl"))
        size = wheel.stat().st_size / 1e6
        check_metadata(wheel)
        step(f"pip install {TORCH}", [*pip, "install", "-q", "--no-compile", TORCH], work, env)
        step("pip install the wheel", [*pip, "install", "-q", "--no-compile", str(wheel)], work, env)
        ray = f"strokelens[ray] @ {wheel.as_uri()}"
        step("strokelens[ray] resolves (dry run)", [*pip, "install", "-q", "--dry-run", ray], work, env)
        empty = work / "empty"
        shutil.rmtree(empty, ignore_errors=True)
        empty.mkdir()
        sl = str(bin_ / "strokelens")
        step("strokelens demo --n 3", [sl, "demo", "--out", "demo", "--n", "3"], empty, env)
        if not (empty / "demo" / "report.html").is_file():
            sys.exit("wheel check failed: strokelens demo wrote no report.html")
        sketch = str(
            next(venv.glob("lib/python*/site-packages/strokelens/samples/quickdraw-spg/pig.ndjson.gz"))
        )
        out = step("strokelens predict", [sl, "predict", sketch, "--limit", "2", "--json"], empty, env)
        if "pig" not in out:
            sys.exit(f"wheel check failed: predict did not read the pigs as pigs:\n{out[:2000]}")
        step("strokelens explain", [sl, "explain", sketch, "--limit", "2", "--out", "explained"], empty, env)
        if not (empty / "explained" / "report.html").is_file():
            sys.exit("wheel check failed: strokelens explain wrote no report.html")
        check_serve(bin_ / "strokelens", empty, env)
        passed = f"wheel check passed: {wheel.name} {size:.1f} MB"
    finally:
        if args.keep is None:  # removing a venv with torch takes this disk 40 s: let it go on behind
            quiet = {"stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL, "stdin": subprocess.DEVNULL}
            subprocess.Popen(["rm", "-rf", str(work)], start_new_session=True, **quiet)
    print(f"{passed}; {time.monotonic() - start:.0f} s wall (the venv is removed in the background)")


if __name__ == "__main__":
    main()
