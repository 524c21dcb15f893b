"""The rows a job writes and their Parquet schemas: one row per drawing (explain) or per drawing and
method (evaluate), skipped rows included, each with the reason it was skipped."""

from __future__ import annotations

import io
from collections.abc import Sequence
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from strokelens.evaluation import figure_names

#: Columns every row has: where the drawing came from, whether it was done, and with what.
_COMMON_FIELDS = [
    pa.field("source", pa.string(), nullable=False),
    pa.field("index", pa.int64()),  # the drawing's place in its file; null: the file as a whole
    pa.field("id", pa.string()),
    pa.field("label", pa.string()),
    pa.field("status", pa.string(), nullable=False),  # "ok" or "skipped"
    pa.field("reason", pa.string()),
    pa.field("method", pa.string(), nullable=False),
    pa.field("units", pa.string()),
    pa.field("n_units", pa.int32()),
    pa.field("target", pa.int32()),
    pa.field("target_name", pa.string()),
]

#: Their names (what is not one of them in an evaluate row is a figure).
COMMON_COLUMNS = frozenset(f.name for f in _COMMON_FIELDS)

EXPLAIN_SCHEMA = pa.schema(
    [
        *_COMMON_FIELDS,
        pa.field("scores", pa.list_(pa.float32())),
        pa.field("evaluations", pa.float64()),
        pa.field("seconds", pa.float64()),
    ]
)


def evaluate_schema(per: str) -> pa.Schema:
    """Schema of evaluate rows: the figures `strokelens.evaluation` measures per ``sketch``/``image``."""
    return pa.schema([*_COMMON_FIELDS, *(pa.field(f, pa.float64()) for f in figure_names(per))])


#: Columns that measure time, which differ from run to run (left out when rows are compared).
TIMING_COLUMNS = ("seconds", "ms_per_sketch", "ms_per_image")


class Item:
    """One input of a shard: where it came from, and the drawing (a `Sketch`) or photo path."""

    __slots__ = ("index", "source", "value")

    def __init__(self, source: str, index: int | None, value: Any) -> None:
        self.source, self.index, self.value = source, index, value

    def ids(self) -> dict[str, Any]:
        """The identity columns of its rows (``id`` and ``label`` where the drawing has them)."""
        value = self.value
        return {"id": getattr(value, "key_id", None), "label": getattr(value, "label", None)}


def skipped_row(source: str, index: int | None, reason: str, method: str, **ids: Any) -> dict[str, Any]:
    """A row for a drawing that ``method`` could not take, and why."""
    return {"source": source, "index": index, "status": "skipped", "reason": reason, "method": method, **ids}


def table(rows: Sequence[dict[str, Any]], schema: pa.Schema) -> pa.Table:
    """Rows as an Arrow table of ``schema`` (missing fields are null; NaN figures stay NaN)."""
    columns = {f.name: [r.get(f.name) for r in rows] for f in schema}
    return pa.table(columns, schema=schema)


def parquet_bytes(tab: pa.Table) -> bytes:
    """A table as Parquet file bytes: the same rows always give the same bytes."""
    sink = io.BytesIO()
    pq.write_table(tab, sink, compression="zstd")
    return sink.getvalue()
