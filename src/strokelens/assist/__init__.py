"""Assisted drawing: the smallest verified edits that make a model read the class the drawer meant.

- `assist`: candidate edits (strokes removed, pieces moved, one real stroke added, and combinations
  of at most three changes), each read afresh through the model's own preparation, ranked by size.
- `Donors`: for a class, the strokes of real drawings of it that the model credits most.
- `read`: class probabilities of drawings read afresh, in one batch.
"""

from strokelens.assist.donors import Donor, Donors, class_drawings
from strokelens.assist.edits import MAX_CHANGES, Edit, Move, combine, removal, translation
from strokelens.assist.reading import probabilities_of_prepared, read
from strokelens.assist.search import Assistance, Suggestion, assist

__all__ = [
    "MAX_CHANGES",
    "Assistance",
    "Donor",
    "Donors",
    "Edit",
    "Move",
    "Suggestion",
    "assist",
    "class_drawings",
    "combine",
    "probabilities_of_prepared",
    "read",
    "removal",
    "translation",
]
