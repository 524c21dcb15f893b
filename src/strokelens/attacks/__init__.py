"""Adversarial stroke attacks driven by explanations (the SLA paper's first downstream use).

- `removal_attack`: remove whole strokes in the order an attribution method ranks them until the
  model's prediction changes (untargeted) or becomes a goal class (targeted).
- `geometry_attack`: move points, not strokes: projected gradient steps on the coordinates of the
  pieces P-SLA ranks highest (or random pieces, or every point), each point's displacement bounded by
  ``eps`` times the sketch's bounding-box diagonal.
- `classify`: how any model reads drawings (for transfer between models).

Every attack is batched: one model pass scores all candidates of all sketches of a batch.
"""

from strokelens.attacks.geometry import SELECTIONS, GeometryResult, geometry_attack
from strokelens.attacks.orderings import pool_to_strokes, stroke_scores
from strokelens.attacks.removal import RemovalResult, removal_attack
from strokelens.attacks.transfer import classify, transfer_fooled

__all__ = [
    "SELECTIONS",
    "GeometryResult",
    "RemovalResult",
    "classify",
    "geometry_attack",
    "pool_to_strokes",
    "removal_attack",
    "stroke_scores",
    "transfer_fooled",
]
