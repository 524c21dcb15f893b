"""Which rows go in which shard. A job's inputs are cut into consecutive segments of files, packed
into shards of at most ``shard_size`` rows, in file order; the plan depends only on the files, the
limit and the shard size, so a resumed job (or a Ray worker) finds the same shards again."""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from strokelens.errors import StrokelensError
from strokelens.kinds import InputFiles, files_named


@dataclass(frozen=True)
class Segment:
    """Records ``start .. start + count - 1`` of ``source``; ``problem``: why the whole file cannot
    be read (then the segment is one skipped row)."""

    source: str
    start: int
    count: int
    problem: str | None = None


@dataclass(frozen=True)
class Shard:
    """Shard ``id``: its segments, in order, and how many inputs (drawings, photos) they hold."""

    id: int
    segments: tuple[Segment, ...]

    @property
    def rows(self) -> int:
        return sum(s.count for s in self.segments)

    @property
    def name(self) -> str:
        return f"shard-{self.id:05d}.parquet"

    def to_json(self) -> dict:
        return {"id": self.id, "segments": [s.__dict__ for s in self.segments]}

    @classmethod
    def from_json(cls, data: dict) -> Shard:
        return cls(data["id"], tuple(Segment(**s) for s in data["segments"]))


def file_segments(
    files: Sequence[str | os.PathLike[str]], kind: str | InputFiles, limit: int | None
) -> list[Segment]:
    """One segment per file: all its inputs (at most ``limit`` a file, or ``limit`` in all where the
    kind of files says so: photos). A file that cannot be counted is one problem segment; a missing
    file or an unsupported type is an error before any work."""
    reader = files_named(kind)
    out = []
    for path in reader.select(check_files(files, reader), limit):
        try:
            n = reader.count(path)
        except StrokelensError as exc:
            out.append(Segment(str(path), 0, 1, problem=str(exc)))
            continue
        n = min(n, limit) if limit and reader.limit_per_file else n
        if n:
            out.append(Segment(str(path), 0, n))
        else:
            out.append(Segment(str(path), 0, 1, problem=f"{path}: empty file, no {reader.plural}"))
    return out


def check_files(files: Sequence[str | os.PathLike[str]], kind: str | InputFiles) -> list[Path]:
    """The files as paths; none, a missing one, a folder or a type ``kind`` cannot read is an error."""
    return files_named(kind).check_all(files)


def plan_shards(segments: Sequence[Segment], shard_size: int) -> list[Shard]:
    """Pack ``segments`` into shards of at most ``shard_size`` rows, splitting long files."""
    shards: list[Shard] = []
    current: list[Segment] = []
    room = shard_size
    for seg in segments:
        start, left = seg.start, seg.count
        while left:
            take = min(left, room)
            current.append(Segment(seg.source, start, take, seg.problem))
            start, left, room = start + take, left - take, room - take
            if room == 0:
                shards.append(Shard(len(shards), tuple(current)))
                current, room = [], shard_size
    if current:
        shards.append(Shard(len(shards), tuple(current)))
    return shards
