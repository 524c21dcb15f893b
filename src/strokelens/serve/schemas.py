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
    # strict: "10" is not a coordinate, true is not a class or a count (an int is still a float)
    model_config = ConfigDict(extra="forbid", strict=True)


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
    """Verified edits that make the model read ``target``; ``iterations`` > 0 also tries the ghost
    (stroke location inversion) for that many steps."""

    target: str | int
    iterations: int | None = Field(None, ge=0, le=200)


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


class MovedStroke(BaseModel):
    """A moved stroke and where its moved part went: the mean of its moved points before and after."""

    stroke: int
    start: list[float]
    end: list[float]


class Suggestion(BaseModel):
    """A verified edit: the whole edited drawing read afresh, how big the edit is and what it changed."""

    #: ``remove``, ``move``, ``add``, ``ghost`` or changes joined by ``+`` (``remove+add``).
    kind: str
    #: The whole edited drawing ``[[xs, ys], ...]`` (request coordinates): kept strokes, then added.
    strokes: Strokes
    #: The share of the drawer's ink (arc length) left unchanged.
    ink_kept: float
    #: The share of ink changed plus the share added (suggestions that work come smallest first).
    size: float
    #: The target's probability for the edited drawing, and its top classes.
    probability: float
    top: list[ClassProbability]
    #: Whether the edited drawing is read as the target.
    success: bool
    changes: int
    strokes_touched: int
    #: Indices (in the request's drawing) of the strokes removed, moved; the strokes added.
    removed: list[int]
    moved: list[MovedStroke]
    added: Strokes


class Assist(Prediction):
    target: str
    target_probability: float
    #: Per stroke, its targeted occlusion score: how much it raises the target's log-probability
    #: over the best other class's (negative: argues against the target).
    scores: list[float]
    against: list[int]
    #: Verified edits: the smallest read as the target first, then ones that only raise its probability.
    suggestions: list[Suggestion]
    #: Whether any suggestion is read as the target.
    success: bool
    #: Edits read to find them.
    candidates: int
    #: Ghost inversion steps (0: no ghost tried).
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
