"""The rows of the figure tables: for each benchmark's result file, what its rows say and which of its
figures they show (`ROWS`, used by ``benchmarks/figures.py``), gathered from one module a topic."""

from __future__ import annotations

from _figure_cells import Figures, Row, number
from _rows_explainers import EXPLAINER_ROWS
from _rows_models import MODEL_ROWS
from _rows_superpixels import SUPERPIXEL_ROWS
from _rows_uses import USE_ROWS

__all__ = ["ROWS", "Figures", "Row", "number"]

#: file stem -> rows of (what, figure from that file's figures), in the figure table's order.
ROWS: dict[str, list[Row]] = {**MODEL_ROWS, **SUPERPIXEL_ROWS, **EXPLAINER_ROWS, **USE_ROWS}
