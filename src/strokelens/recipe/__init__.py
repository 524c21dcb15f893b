"""Is a model fed the way it was trained? `check_model` measures its accuracy on labelled drawings or
photos and keeps the inputs exactly as the model receives them (`input_grid` draws them);
`fit_recipe` searches the raster recipe (ink, line width, padding, size) a sketch model reads best.
Saved recipes live beside the model file (`strokelens.models.recipe_file`). See docs/check.md."""

from strokelens.recipe.check import (
    Accuracy,
    CheckResult,
    accuracy,
    check_model,
    class_targets,
    input_label,
    model_inputs,
    near_chance_threshold,
)
from strokelens.recipe.fit import FitResult, current_recipe, fit_recipe, spread
from strokelens.recipe.picture import input_grid

__all__ = [
    "Accuracy",
    "CheckResult",
    "FitResult",
    "accuracy",
    "check_model",
    "class_targets",
    "current_recipe",
    "fit_recipe",
    "input_grid",
    "input_label",
    "model_inputs",
    "near_chance_threshold",
    "spread",
]
