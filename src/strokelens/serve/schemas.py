"""The JSON API's request and response shapes, and the limits every request is held to.

Strokes travel as in QuickDraw ndjson: a drawing is a list of strokes, a stroke ``[xs, ys]`` (an
optional third array, times, is accepted and ignored), in any coordinates (the canvas's pixels).
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

#: Request bodies larger than this get 413 (the file upload has its own limit).
MAX_BODY_BYTES = 1 << 20
#: An uploaded sketch file larger than this gets 413.
MAX_UPLOAD_BYTES = 8 << 20
#: A drawing with more strokes than this gets 413 (well under `strokelens.sketch.MAX_STROKES`).
MAX_STROKES = 256
#: A drawing with more points than this gets 413.
MAX_POINTS = 20_000
#: An uploaded file gives at most this many drawings to pick from.
MAX_LOAD_DRAWINGS = 500
#: The most classes a reply lists.
MAX_TOP = 20

Strokes = list[list[list[float]]]


class _Request(BaseModel):
    model_config = ConfigDict(extra="forbid")


class DrawingRequest(_Request):
    """A drawing, the model to read it (default: the server's first) and how many classes to list."""

    strokes: Strokes = Field(description="[[xs, ys], ...] one entry a stroke")
    model: str | None = None
    top: int = Field(5, ge=1, le=MAX_TOP)


class ExplainRequest(DrawingRequest):
    """Explain the drawing for ``target`` (``"auto"``: the predicted class) with ``method``."""

    method: str | None = None
    target: str | int = "auto"
    units: Literal["stroke", "piece"] | None = None


class AssistRequest(DrawingRequest):
    """Which strokes argue against ``target``, and a ghost correction toward it."""

    target: str | int
    iterations: int | None = Field(None, ge=1, le=200)


class ExportRequest(_Request):
    """A drawing to save as QuickDraw ndjson or SVG."""

    strokes: Strokes
    format: Literal["ndjson", "svg"]
    label: str | None = Field(None, max_length=200)


class ClassProbability(BaseModel):
    name: str = Field(alias="class")
    probability: float


class Prediction(BaseModel):
    model: str
    top: list[ClassProbability]
    strokes: int
    points: int


class Explanation(Prediction):
    method: str
    units: Literal["stroke", "piece"]
    target: str
    target_probability: float
    scores: list[float]
    #: The stroke each unit lies on.
    unit_stroke: list[int]
    #: Piece units only: each piece as a polyline ``[[x, y], ...]`` in the request's coordinates.
    unit_points: list[list[list[float]]] | None = None
    milliseconds: float


class MovePoint(BaseModel):
    x: float
    y: float
    stroke: int
    score: float


class Assist(Prediction):
    target: str
    target_probability: float
    #: Per stroke, the learned explainer's score for the target (negative: argues against it).
    scores: list[float]
    against: list[int]
    #: The strokes moved by stroke location inversion toward the target, ``[[xs, ys], ...]``.
    ghost: Strokes
    #: Per stroke, how far the ghost moved it ``[dx, dy]`` (request coordinates).
    shifts: list[list[float]]
    #: The target's probability for the ghost drawing, read afresh by the predict path.
    ghost_probability: float
    ghost_top: list[ClassProbability]
    success: bool
    #: The points P-SLA says move the target's score most (raster models only; else empty).
    move_points: list[MovePoint]
    iterations: int
    milliseconds: float


class LoadedDrawing(BaseModel):
    strokes: Strokes
    label: str | None
    key_id: str | None


class Loaded(BaseModel):
    drawings: list[LoadedDrawing]
    total_read: int
    truncated: bool


class Error(BaseModel):
    """Every error reply: ``{"error": message, "status": code}``."""

    error: str
    status: int
