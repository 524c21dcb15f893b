"""`JobFolder`: a job's output folder and its state on disk.

    DIR/manifest.json        the spec, the input files, the planned shards, which are done, finished
    DIR/shards/shard-NNNNN.parquet   the rows, one file per shard
    DIR/summary.json         written when every shard is done

Every file is written to a temporary name, flushed to disk and renamed, so a job killed at any
moment (``kill -9`` included) leaves whole files or none. A shard file on disk is done: on resume the
shards are taken from the folder, not from the manifest's list, which may lag one shard behind.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

from strokelens.errors import StrokelensError
from strokelens.jobs.plan import Shard
from strokelens.jobs.spec import JobSpec

FORMAT = "strokelens-job/1"
MANIFEST = "manifest.json"
SUMMARY = "summary.json"


def write_atomic(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` whole or not at all: a temporary file, fsync, rename."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(tmp, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


def file_stamps(files: list[str]) -> list[dict[str, Any]]:
    """Each input file's path, size and modification time, to notice a file changed under a job."""
    out = []
    for f in files:
        st = os.stat(f)
        out.append({"path": f, "size": st.st_size, "mtime_ns": st.st_mtime_ns})
    return out


class JobFolder:
    """The folder of one job (see the module docstring)."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self.shards_dir = self.path / "shards"

    @property
    def manifest_path(self) -> Path:
        return self.path / MANIFEST

    def exists(self) -> bool:
        return self.manifest_path.is_file()

    def manifest(self) -> dict[str, Any]:
        try:
            data = json.loads(self.manifest_path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise StrokelensError(f"{self.manifest_path}: unreadable job manifest ({exc})") from None
        if not isinstance(data, dict) or data.get("format") != FORMAT:
            raise StrokelensError(f"{self.manifest_path}: not a strokelens job manifest ({FORMAT})")
        return data

    def write_manifest(self, data: dict[str, Any]) -> None:
        data = {**data, "format": FORMAT, "updated": time.strftime("%Y-%m-%dT%H:%M:%S")}
        write_atomic(self.manifest_path, json.dumps(data, indent=1).encode())

    def start(self, spec: JobSpec, files: list[str], shards: list[Shard], resume: bool) -> dict[str, Any]:
        """The manifest to work under: a new one, or (``resume``) the existing one after checking that
        it describes the same job. A folder that holds a job is never overwritten without ``resume``."""
        stamps = file_stamps(files)
        if self.exists():
            old = self.manifest()
            if not resume:
                state = "a finished" if old.get("finished") else "an unfinished"
                raise StrokelensError(
                    f"{self.path} holds {state} {old.get('command')} job; pass --resume to "
                    f"{'check' if old.get('finished') else 'continue'} it, or choose another --out"
                )
            self._check_same(old, spec, stamps, shards)
            self._clean_temporary()
            return old
        if self.path.exists() and any(self.path.iterdir()):
            raise StrokelensError(
                f"{self.path} is not empty and holds no strokelens job; choose an empty or new --out"
            )
        try:
            self.shards_dir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StrokelensError(f"cannot make the job folder {self.path}: {exc.strerror or exc}") from None
        manifest = {
            "command": spec.command,
            "spec": spec.to_json(),
            "files": stamps,
            "shards": [s.to_json() for s in shards],
            "rows": sum(s.rows for s in shards),
            "done": [],
            "finished": False,
            "started": time.strftime("%Y-%m-%dT%H:%M:%S"),
        }
        self.write_manifest(manifest)
        return manifest

    def _check_same(
        self, old: dict[str, Any], spec: JobSpec, stamps: list[dict[str, Any]], shards: list[Shard]
    ) -> None:
        where = f"{self.path}: --resume"
        diff = JobSpec.from_json(old["spec"]).differences(spec)
        if diff:
            raise StrokelensError(f"{where} with different options than the job there ({'; '.join(diff)})")
        if [s["path"] for s in old["files"]] != [s["path"] for s in stamps]:
            raise StrokelensError(f"{where} with different input files than the job there")
        for was, now in zip(old["files"], stamps, strict=True):
            if was != now:
                raise StrokelensError(f"{where}: {now['path']} changed since the job started")
        if old["shards"] != [s.to_json() for s in shards]:
            raise StrokelensError(f"{where}: the inputs now make other shards than the job planned")
        self.shards_dir.mkdir(parents=True, exist_ok=True)

    def _clean_temporary(self) -> None:
        for tmp in [*self.path.glob(".*.tmp"), *self.shards_dir.glob(".*.tmp")]:
            tmp.unlink(missing_ok=True)

    def done_shards(self, shards: list[Shard], rows_per_input: int = 1) -> set[int]:
        """The shards whose files are on disk, whole, with the planned number of rows."""
        import pyarrow.parquet as pq

        done = set()
        for shard in shards:
            path = self.shards_dir / shard.name
            if not path.is_file():
                continue
            try:
                rows = pq.read_metadata(path).num_rows
            except (OSError, ValueError):
                rows = -1
            if rows == shard.rows * rows_per_input:
                done.add(shard.id)
            else:  # cannot happen with atomic renames; redo it rather than trust it
                path.unlink()
        return done

    def write_shard(self, shard: Shard, data: bytes) -> None:
        write_atomic(self.shards_dir / shard.name, data)

    def write_summary(self, summary: dict[str, Any]) -> None:
        write_atomic(self.path / SUMMARY, json.dumps(summary, indent=1).encode())

    def read_rows(self):
        """Every row of the job, in shard order, as one Arrow table."""
        import pyarrow as pa
        import pyarrow.parquet as pq

        shards = [Shard.from_json(s) for s in self.manifest()["shards"]]
        tables = [
            pq.read_table(self.shards_dir / s.name) for s in shards if (self.shards_dir / s.name).is_file()
        ]
        if not tables:
            raise StrokelensError(f"{self.path}: no finished shards yet")
        return pa.concat_tables(tables)
