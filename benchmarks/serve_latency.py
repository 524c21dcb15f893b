"""`strokelens serve` under load: real SPG drawings from 8 concurrent clients over the loopback address.

Starts ``strokelens serve`` (DoodleNet, default settings) as its own process on a free loopback port,
then 8 client threads, each with its own keep-alive connection, send drawings of the SPG test split:
every drawing as a predict request and an explain request with the default method (the page's after-
every-stroke request), an assist request now and then, and, in between, each client sends a fixed set
of malformed requests once (bad JSON, wrong shapes, a blank and a one-dot canvas, too many strokes, a
body over the limit, unknown model, class and method). Bounded in count (``--requests`` predict +
explain requests in all) and in time (``--seconds``). Latency is the client's wall time per request.

Figures: ``serve_p50_ms`` / ``serve_p95_ms`` (predict + explain), per endpoint, ``serve_assist_p95_ms``,
``serve_requests``, ``serve_errors`` (good requests that did not get 200), ``serve_bad_requests_sent``
and ``serve_bad_requests_handled`` (those that got exactly their 4xx), whether the server still answered
at the end, and the 1-minute load average at the start: other work on the machine slows the server.

    python benchmarks/serve_latency.py --smoke                          # or --quick: about a minute
    python benchmarks/serve_latency.py --json benchmarks/results/serve_latency.json
"""

from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
import threading
import time

import httpx
import numpy as np
from rich.console import Console
from rich.table import Table

from _common import benchmark_parser, spg_classes_for, write_figures
from strokelens.datasets import load_spg
from strokelens.serve import schemas

#: Seconds the server may take to start (loading torch and the model on a busy machine is slow).
STARTUP_S = 300.0
#: Concurrent clients, as the issue asks (``--clients`` changes it, to see the single-client floor).
CLIENTS = 8
#: (name, request kwargs, path, the status it must get). Sent once by every client.
_LINE = [[0, 10], [0, 10]]
BAD_REQUESTS = [
    ("malformed JSON", {"content": b'{"strokes": [[[1, 2]'}, "/api/explain", 422),
    ("strokes not a list", {"json": {"strokes": "x"}}, "/api/explain", 422),
    ("xs and ys of two lengths", {"json": {"strokes": [[[1, 2, 3], [1, 2]]]}}, "/api/predict", 422),
    ("blank canvas", {"json": {"strokes": []}}, "/api/explain", 422),
    ("one dot", {"json": {"strokes": [[[5], [5]]]}}, "/api/explain", 422),
    ("NaN", {"content": b'{"strokes": [[[NaN, 2], [1, 2]]]}'}, "/api/predict", 422),
    ("too many strokes", {"json": {"strokes": [_LINE] * (schemas.MAX_STROKES + 1)}}, "/api/explain", 413),
    ("body over the limit", {"content": b" " * (schemas.MAX_BODY_BYTES + 1)}, "/api/predict", 413),
    ("unknown model", {"json": {"strokes": [_LINE], "model": "nope"}}, "/api/explain", 404),
    ("unknown class", {"json": {"strokes": [_LINE], "target": "zebrafish"}}, "/api/explain", 422),
    ("unknown method", {"json": {"strokes": [_LINE], "method": "magic"}}, "/api/explain", 422),
    ("assist without a target", {"json": {"strokes": [_LINE]}}, "/api/assist", 422),
]

#: The issue's targets: (figure, comparison, bound).
TARGETS = [
    ("serve_p95_ms", "<=", 100.0),
    ("serve_errors", "==", 0),
    ("serve_requests", ">=", 1000),
    ("serve_assist_p95_ms", "<=", 300.0),
]


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = benchmark_parser(
        __doc__,
        quick="200 requests, an assist a client, at most a minute",
        smoke="2 clients, 16 requests, one assist, 6 SPG drawings",
    )
    p.add_argument("--requests", type=int, default=None, help="predict + explain requests in all (1200)")
    p.add_argument("--assists", type=int, default=None, help="assist requests per client (5)")
    p.add_argument("--seconds", type=float, default=None, help="stop sending after this long (300)")
    p.add_argument("--clients", type=int, default=None, help=f"concurrent clients ({CLIENTS}; smoke 2)")
    p.add_argument("--home", default=None, help="data folder (default: $STROKELENS_HOME)")
    args = p.parse_args(argv)
    n = args.size.pick
    args.requests = args.requests or n(full=1200, quick=200, smoke=16)
    args.assists = args.assists if args.assists is not None else n(full=5, quick=1, smoke=1)
    args.seconds = args.seconds or n(full=300.0, quick=60.0, smoke=30.0)
    args.clients = args.clients or n(full=CLIENTS, quick=CLIENTS, smoke=2)
    return args


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(port: int, home: str | None) -> subprocess.Popen:
    cmd = [sys.executable, "-m", "strokelens.cli", "serve", "--host", "127.0.0.1", "--port", str(port)]
    if home:
        cmd += ["--home", home]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    deadline = time.monotonic() + STARTUP_S
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"the server exited with code {proc.returncode}:\n{proc.stdout.read()}")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/api/info", timeout=2).status_code == 200:
                return proc
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    proc.kill()
    raise SystemExit(f"the server did not answer within {STARTUP_S:g} s")


def client(
    i: int,
    base: str,
    drawings: list[list],
    targets: list[str],
    quota: list[int],
    assists: int,
    deadline: float,
    lock: threading.Lock,
    out: dict[str, list],
) -> None:
    """One client: predict + explain each drawing in turn, an assist every few, the bad set spread in."""
    bad_at = {3 + 2 * k: b for k, b in enumerate(BAD_REQUESTS)}  # after these drawings
    assist_every = 6
    with httpx.Client(base_url=base, timeout=60) as http:
        n = 0
        while time.monotonic() < deadline:
            with lock:
                if quota[0] <= 0:
                    break
                quota[0] -= 2
            strokes = drawings[(i * 7919 + n) % len(drawings)]
            for path in ("/api/predict", "/api/explain"):
                t0 = time.perf_counter()
                try:
                    ok = http.post(path, json={"strokes": strokes}).status_code == 200
                except httpx.HTTPError:
                    ok = False
                out[path].append((time.perf_counter() - t0) * 1000)
                if not ok:
                    out["errors"].append(path)
            if n % assist_every == assist_every - 1 and len(out[f"assist{i}"]) < assists:
                body = {"strokes": strokes, "target": targets[(i + n) % len(targets)]}
                t0 = time.perf_counter()
                try:
                    ok = http.post("/api/assist", json=body).status_code == 200
                except httpx.HTTPError:
                    ok = False
                out[f"assist{i}"].append((time.perf_counter() - t0) * 1000)
                if not ok:
                    out["errors"].append("/api/assist")
            if n in bad_at:
                name, kwargs, path, status = bad_at.pop(n)
                headers = {"content-type": "application/json"} if "content" in kwargs else None
                try:
                    got = http.post(path, headers=headers, **kwargs).status_code
                except httpx.HTTPError:
                    got = -1
                out["bad"].append((name, got == status))
            n += 1
        for name, kwargs, path, status in bad_at.values():  # the rest of the set, if stopped early
            headers = {"content-type": "application/json"} if "content" in kwargs else None
            got = http.post(path, headers=headers, **kwargs).status_code
            out["bad"].append((name, got == status))


def pct(values: list[float], q: float) -> float:
    return round(float(np.percentile(values, q)), 2) if values else float("nan")


def check_targets(figures: dict) -> list[tuple[str, str, str]]:
    rows = []
    ops = {"<=": lambda a, b: a <= b, ">=": lambda a, b: a >= b, "==": lambda a, b: a == b}
    for name, op, bound in TARGETS:
        ok = ops[op](figures[name], bound)
        figures[f"target_{name}_met"] = bool(ok)
        rows.append((name, f"{figures[name]:.4g} (target {op} {bound:g})", "met" if ok else "NOT MET"))
    handled = figures["serve_bad_requests_handled"] == figures["serve_bad_requests_sent"]
    figures["target_serve_bad_requests_met"] = bool(handled)
    rows.append(
        (
            "serve_bad_requests_handled",
            f"{figures['serve_bad_requests_handled']} of {figures['serve_bad_requests_sent']}",
            "met" if handled else "NOT MET",
        )
    )
    return rows


def main() -> None:
    args = parse_args()
    console = Console(width=120)
    total, assists, seconds = args.requests, args.assists, args.seconds
    home = args.home or os.environ.get("STROKELENS_HOME")
    load_start = os.getloadavg()[0]
    per_class = args.size.pick(full=10, quick=3, smoke=3)
    sketches = load_spg("test", spg_classes_for(args.size, home), per_class=per_class, home=home)
    drawings = [[np.round(s.T, 2).tolist() for s in sk.strokes] for sk in sketches]
    targets = sorted({sk.label for sk in sketches})

    port = free_port()
    t_start = time.perf_counter()
    proc = start_server(port, home)
    base = f"http://127.0.0.1:{port}"
    console.print(
        f"server up on {base} in {time.perf_counter() - t_start:.1f} s; load average {load_start:.2f}"
    )
    try:
        # the first request of each kind pays one-off costs; the first assist toward a class also reads
        # the real drawings whose strokes it may lend (once a class, for as long as the server runs)
        with httpx.Client(base_url=base, timeout=120) as warm:
            for path in ("/api/predict", "/api/explain"):
                warm.post(path, json={"strokes": drawings[0]})
            for target in targets:
                warm.post("/api/assist", json={"strokes": drawings[0], "target": target})
        out: dict[str, list] = {"/api/predict": [], "/api/explain": [], "errors": [], "bad": []}
        out.update({f"assist{i}": [] for i in range(args.clients)})
        quota, lock = [total], threading.Lock()
        deadline = time.monotonic() + seconds
        t0 = time.perf_counter()
        threads = [
            threading.Thread(
                target=client, args=(i, base, drawings, targets, quota, assists, deadline, lock, out)
            )
            for i in range(args.clients)
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        wall = time.perf_counter() - t0
        alive = httpx.get(f"{base}/api/info", timeout=10).status_code == 200
        ok_after = (
            httpx.post(f"{base}/api/explain", json={"strokes": drawings[1]}, timeout=30).status_code == 200
        )
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()

    fast = out["/api/predict"] + out["/api/explain"]
    assist = [v for i in range(args.clients) for v in out[f"assist{i}"]]
    figures: dict = {
        "quick": not args.size.is_full,
        "serve_clients": args.clients,
        "serve_drawings": len(drawings),
        "serve_requests": len(fast),
        "serve_p50_ms": pct(fast, 50),
        "serve_p95_ms": pct(fast, 95),
        "serve_predict_p95_ms": pct(out["/api/predict"], 95),
        "serve_explain_p50_ms": pct(out["/api/explain"], 50),
        "serve_explain_p95_ms": pct(out["/api/explain"], 95),
        "serve_assist_requests": len(assist),
        "serve_assist_p50_ms": pct(assist, 50),
        "serve_assist_p95_ms": pct(assist, 95),
        "serve_errors": len(out["errors"]),
        "serve_bad_requests_sent": len(out["bad"]),
        "serve_bad_requests_handled": sum(ok for _, ok in out["bad"]),
        "serve_alive_after": bool(alive and ok_after),
        "serve_throughput_rps": round((len(fast) + len(assist) + len(out["bad"])) / wall, 1),
        "serve_wall_seconds": round(wall, 1),
        "load_average_1m_at_start": round(load_start, 2),
        "cpu_count": os.cpu_count(),
    }
    table = Table(title=f"strokelens serve, DoodleNet, {args.clients} concurrent clients over loopback")
    for col in ("requests", "count", "p50 ms", "p95 ms"):
        table.add_column(col, justify="left" if col == "requests" else "right")
    for name, values in (
        ("predict", out["/api/predict"]),
        ("explain (fastshap)", out["/api/explain"]),
        ("predict + explain", fast),
        ("assist", assist),
    ):
        table.add_row(name, str(len(values)), f"{pct(values, 50):.1f}", f"{pct(values, 95):.1f}")
    console.print(table)
    console.print(
        f"errors {figures['serve_errors']}; bad requests answered with their 4xx: "
        f"{figures['serve_bad_requests_handled']} of {figures['serve_bad_requests_sent']}; "
        f"server alive after: {figures['serve_alive_after']}; {wall:.1f} s; "
        f"load average at start {load_start:.2f} on {os.cpu_count()} CPUs"
    )
    wrong = sorted({name for name, ok in out["bad"] if not ok})
    if wrong:
        console.print(f"bad requests without their 4xx: {', '.join(wrong)}")
    targets_table = Table(title="Targets of issue 13")
    for col in ("figure", "measured", "status"):
        targets_table.add_column(col)
    for row in check_targets(figures):
        targets_table.add_row(*row)
    console.print(targets_table)
    write_figures(args.json, dict(sorted(figures.items())))


if __name__ == "__main__":
    main()
