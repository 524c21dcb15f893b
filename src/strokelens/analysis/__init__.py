"""What a stroke carries, after SketchXAI: how much a sketch model relies on shape, order and location.

- `disturb`: the three disturbances of a batch of sketches (`shuffle_order`, `straighten_shapes`,
  `randomise_locations`), seeded per drawing.
- `game`: the component game, a view whose units are the components (`ComponentView`), so the
  engine's Shapley values split a drawing's score among them.
- `components`: `analyse` (accuracy with each component disturbed on its own, and each component's
  Shapley share per drawing) and `component_accuracy`.
"""

from strokelens.analysis.components import (
    NOT_APPLICABLE,
    ComponentAnalysis,
    analyse,
    component_accuracy,
    drawing_labels,
)
from strokelens.analysis.disturb import (
    DEFAULT_SIGMA,
    randomise_locations,
    shuffle_order,
    straighten_shapes,
)
from strokelens.analysis.game import COMPONENTS, ComponentUnits, ComponentView, components_for

__all__ = [
    "COMPONENTS",
    "DEFAULT_SIGMA",
    "NOT_APPLICABLE",
    "ComponentAnalysis",
    "ComponentUnits",
    "ComponentView",
    "analyse",
    "component_accuracy",
    "components_for",
    "drawing_labels",
    "randomise_locations",
    "shuffle_order",
    "straighten_shapes",
]
