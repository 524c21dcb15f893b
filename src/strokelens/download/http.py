"""Resumable HTTP downloads with the standard library (`urllib`), checked for size and MD5.

A file is written to ``NAME.part`` beside its destination and renamed to ``NAME`` only when complete
and verified. A ``.part`` left by an earlier run is resumed with an HTTP ``Range`` request; a server
that answers ``200`` instead of ``206`` sends the whole file, which then replaces the ``.part``. A
destination that already exists is skipped without touching the network.

Checks: the bytes received against ``Content-Length`` (or ``Content-Range``'s total) and against the
size a ``HEAD`` request announced; a short file is an error that keeps the ``.part`` for the next run.
When the server sends Google Cloud Storage's ``x-goog-hash: md5=...`` (the whole object's MD5, also on
range requests), the finished file's MD5 must match; a mismatch removes the ``.part`` (resuming it
could not fix it). CRC32C, which the same header carries, is not checked (the standard library has
no CRC32C). ``timeout`` bounds the connection and every read.
"""

from __future__ import annotations

import base64
import email.message
import hashlib
import http.client
import os
import re
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from strokelens.errors import StrokelensError

#: Seconds allowed for connecting and for each read.
TIMEOUT = 30.0
#: Bytes read at a time.
CHUNK = 1 << 20
USER_AGENT = "strokelens (https://github.com/googlecreativelab/quickdraw-dataset data download)"

#: ``on_progress(done, total)``: bytes of the file on disk so far, and its size when known.
ProgressFn = Callable[[int, "int | None"], None]


@dataclass(frozen=True)
class Remote:
    """A file on a server: its URL, size and MD5 (base64, as ``x-goog-hash`` gives it) when known."""

    url: str
    size: int | None = None
    md5: str | None = None


@dataclass(frozen=True)
class Fetched:
    """One file a download produced: where, from where, ``downloaded``/``resumed``/``skipped``, bytes."""

    path: Path
    url: str
    status: str
    size: int


class _Interrupted(Exception):
    """The transfer stopped early; the ``.part`` holds what arrived, written from offset ``start``."""

    def __init__(self, message: str, start: int = 0) -> None:
        super().__init__(message)
        self.start = start


def host_of(url: str) -> str:
    """The ``host[:port]`` of ``url``."""
    return urllib.parse.urlsplit(url).netloc or url


def _open(url: str, timeout: float, hint: str, method: str = "GET", headers: dict | None = None):
    """Send one request; connection failures become `StrokelensError` ending in ``hint``."""
    request = urllib.request.Request(
        url,
        method=method,
        headers={"User-Agent": USER_AGENT, "Accept-Encoding": "identity", **(headers or {})},
    )
    try:
        return urllib.request.urlopen(request, timeout=timeout)
    except urllib.error.HTTPError:
        raise
    except urllib.error.URLError as exc:
        reason = exc.reason.strerror if isinstance(exc.reason, OSError) else exc.reason
        raise StrokelensError(f"cannot reach {host_of(url)}: {reason or exc}; {hint}") from exc
    except (OSError, http.client.HTTPException) as exc:  # timeouts, resets, malformed replies
        raise StrokelensError(f"cannot reach {host_of(url)}: {exc or type(exc).__name__}; {hint}") from exc


def _http_error(url: str, exc: urllib.error.HTTPError) -> StrokelensError:
    what = "not found" if exc.code == 404 else f"refused ({exc.reason})"
    return StrokelensError(f"{url}: {what}, HTTP {exc.code}")


def goog_md5(headers: email.message.Message) -> str | None:
    """The MD5 in ``x-goog-hash`` headers (``crc32c=...,md5=...``, one header or several), or None."""
    for value in headers.get_all("x-goog-hash") or []:
        match = re.search(r"(?:^|[\s,])md5=([A-Za-z0-9+/]+={0,2})", value)
        if match:
            return match.group(1)
    return None


def _length(headers: email.message.Message) -> int | None:
    value = headers.get("Content-Length")
    return int(value) if value and value.strip().isdigit() else None


def head(url: str, timeout: float = TIMEOUT, hint: str = "check your connection") -> Remote:
    """Ask the server for ``url``'s size and MD5 (``HEAD``); a server refusing HEAD gives neither."""
    try:
        with _open(url, timeout, hint, method="HEAD") as response:
            return Remote(url, _length(response.headers), goog_md5(response.headers))
    except urllib.error.HTTPError as exc:
        if exc.code in (405, 501):
            return Remote(url)
        raise _http_error(url, exc) from exc


def part_path(dest: Path) -> Path:
    """Where ``dest`` is written until it is complete: ``NAME.part`` beside it."""
    return dest.with_name(dest.name + ".part")


def _size(path: Path) -> int:
    return path.stat().st_size if path.exists() else 0


def _transfer(remote: Remote, part: Path, timeout: float, hint: str, on_progress: ProgressFn) -> int:
    """One request for the rest of ``part``; returns the offset it wrote from (0: the file afresh).
    Raises `_Interrupted` when the body ends early."""
    offset = _size(part)
    if remote.size is not None and offset >= remote.size:
        if offset == remote.size:
            return offset
        offset = 0  # longer than the file: start again
    headers = {"Range": f"bytes={offset}-"} if offset else {}
    try:
        response = _open(remote.url, timeout, hint, headers=headers)
    except urllib.error.HTTPError as exc:
        if exc.code == 416 and offset:  # the range starts past the end: start again
            part.unlink()
            raise _Interrupted("the server refused to resume") from exc
        raise _http_error(remote.url, exc) from exc
    with response:
        length = _length(response.headers)
        if offset and response.status == 206:
            match = re.match(r"bytes (\d+)-\d+/(\d+|\*)", response.headers.get("Content-Range", ""))
            if not match or int(match.group(1)) != offset:
                part.unlink()
                raise _Interrupted("the server resumed at the wrong place")
            total = int(match.group(2)) if match.group(2) != "*" else remote.size
        else:  # a full answer (200), also to a Range request: replace the .part
            offset, total = 0, length if length is not None else remote.size
        if total is None and length is not None:
            total = offset + length
        done = offset
        on_progress(done, total)
        try:
            fh = open(part, "ab" if offset else "wb")  # noqa: SIM115 (closed below)
        except OSError as exc:
            raise StrokelensError(f"cannot write {part}: {exc.strerror or exc}") from exc
        with fh:
            try:
                while chunk := response.read1(CHUNK):  # what has arrived: kept on a stall
                    fh.write(chunk)
                    done += len(chunk)
                    on_progress(done, total)
            except (OSError, http.client.HTTPException) as exc:
                raise _Interrupted(f"the transfer stopped after {done:,} bytes: {exc}", offset) from exc
    if total is not None and done < total:
        raise _Interrupted(f"the connection closed after {done:,} of {total:,} bytes", offset)
    return offset


def _md5_base64(path: Path) -> str:
    digest = hashlib.md5(usedforsecurity=False)
    with open(path, "rb") as fh:
        while block := fh.read(CHUNK):
            digest.update(block)
    return base64.b64encode(digest.digest()).decode("ascii")


def _verify(remote: Remote, part: Path, dest: Path) -> None:
    size = _size(part)
    if remote.size is not None and size != remote.size:
        raise StrokelensError(
            f"{dest.name}: received {size:,} bytes, the server announced {remote.size:,}; "
            f"{part} is kept: run again to resume"
        )
    if remote.md5 is not None and (got := _md5_base64(part)) != remote.md5:
        part.unlink()
        raise StrokelensError(
            f"{dest.name}: MD5 {got} of the received bytes differs from the server's {remote.md5}; "
            "the partial file was removed: run again to download it afresh"
        )


def fetch_file(
    remote: Remote | str,
    dest: str | os.PathLike[str],
    *,
    timeout: float = TIMEOUT,
    retries: int = 2,
    hint: str = "check your connection",
    on_progress: ProgressFn | None = None,
) -> Fetched:
    """Download ``remote`` to ``dest`` through ``dest.part``, resuming a ``.part`` left earlier.

    An existing ``dest`` is skipped. A transfer that stops early is resumed up to ``retries`` more
    times; then `StrokelensError` says so and the ``.part`` stays for the next run. ``hint`` ends the
    error raised when the server cannot be reached.
    """
    remote = Remote(remote) if isinstance(remote, str) else remote
    dest = Path(dest)
    if dest.exists():
        return Fetched(dest, remote.url, "skipped", _size(dest))
    part = part_path(dest)
    kept_from_before = _size(part) > 0  # bytes of an earlier run, kept while every request resumes
    report = on_progress or (lambda done, total: None)
    for attempt in range(retries + 1):
        try:
            kept_from_before &= _transfer(remote, part, timeout, hint, report) > 0
            break
        except _Interrupted as exc:
            kept_from_before &= exc.start > 0
            if attempt == retries:
                kept = f"{part} is kept: run again to resume" if part.exists() else "run again"
                raise StrokelensError(f"{dest.name} from {remote.url}: {exc}; {kept}") from None
    _verify(remote, part, dest)
    os.replace(part, dest)
    status = "resumed" if kept_from_before else "downloaded"
    return Fetched(dest, remote.url, status, _size(dest))
