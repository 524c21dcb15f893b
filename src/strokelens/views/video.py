"""The video view: a video model sees removed supervoxels replaced by a baseline.

``x * M(z) + base * (1 - M(z))`` with ``M(z) = z[label volume]`` gathered per voxel of the clip
``(B, 3, T, S, S)``; ``base`` is each supervoxel's mean colour (what LIME shows for a hidden unit), a
blurred copy of every frame, the clip's first frame held still (``frozen``: motion removed, the
scene kept) or a constant colour. It is the image view with one more axis, so every superpixel
method (gradient-weighted superpixels, occlusion, LIME, Kernel SHAP, exact Shapley) runs unchanged.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any, ClassVar

import numpy as np
import torch

from strokelens import kinds
from strokelens.errors import StrokelensError
from strokelens.io.video import Clip, ClipRef, VideoRecipe, clips_tensor, read_windows
from strokelens.units.supervoxels import SupervoxelUnits
from strokelens.views.baselines import VIDEO_BASELINES
from strokelens.views.image import GwsDefault, ImageView


class VideoView(ImageView):
    """A video model (``input_kind == "video"``, clips ``(B, 3, T, S, S)`` in [0, 1]) seen through
    supervoxel presence. ``baseline``: ``"mean"`` (each supervoxel's mean colour), ``"blur"``
    (Gaussian, ``blur_sigma`` pixels, frame by frame), ``"frozen"`` (the clip's first frame at every
    time) or ``"constant"``. Clips are read with the model's ``video_recipe`` (default
    `VideoRecipe`). ``chunk``: clips per model call."""

    units_type = SupervoxelUnits
    kind = kinds.VIDEO
    baseline_names: ClassVar[tuple[str, ...]] = VIDEO_BASELINES
    max_rows = 64
    #: Grad-CAM does not carry over to this 3D network (its last spatial map has no time left):
    #: presence gradients averaged over 4 random coalitions track LIME on clips.
    gws_default: ClassVar[GwsDefault] = GwsDefault("coalition", "sum", 4)

    def __init__(
        self,
        model: torch.nn.Module,
        baseline: str = "mean",
        constant: float | Sequence[float] = 0.5,
        blur_sigma: float = 4.0,
        chunk: int = 8,
    ) -> None:
        super().__init__(model, baseline, constant, blur_sigma, chunk)
        self.recipe: VideoRecipe = getattr(model, "video_recipe", None) or VideoRecipe()

    def bind(self, units: SupervoxelUnits) -> dict[str, Any]:  # type: ignore[override]
        return {"units": units, "base": self.baselines(units)}

    def compose(  # type: ignore[override]
        self, z: torch.Tensor, rows: torch.Tensor, units: SupervoxelUnits, base: torch.Tensor
    ) -> torch.Tensor:
        """Model inputs ``(R, 3, T, S, S)`` for presence ``z`` ``(R, K)`` of clips ``rows``."""
        x, b = units.images[rows], base[rows]
        lab = units.labels[rows]
        m = torch.gather(z.to(x.dtype), 1, lab.flatten(1)).view(len(rows), 1, *lab.shape[1:])
        return x * m + b * (1 - m)

    def read(self, inputs: Sequence[Any]) -> list[Clip]:
        """Clips for ``inputs``: `Clip` objects pass through, `ClipRef` windows (and paths, their
        first window) are decoded with the model's recipe, one pass per file."""
        refs = [ClipRef(str(p), 0) if isinstance(p, (str, os.PathLike)) else p for p in inputs]
        by_file: dict[str, list[int]] = {}
        for r in refs:
            if isinstance(r, ClipRef):
                by_file.setdefault(r.path, []).append(r.window)
            elif not isinstance(r, Clip):
                raise StrokelensError(
                    f"a video view takes clips (strokelens.io.video), got {type(r).__name__}"
                )
        decoded = {
            (c.source, c.window): c
            for path, windows in by_file.items()
            for c in read_windows(path, self.recipe, sorted(set(windows)))
        }
        return [decoded[(r.path, r.window)] if isinstance(r, ClipRef) else r for r in refs]

    def make_units(  # type: ignore[override]
        self,
        inputs: Sequence[Any],
        n_segments: int = 50,
        compactness: float = 10.0,
        labels: Sequence[np.ndarray] | None = None,
    ) -> SupervoxelUnits:
        """Space-time SLIC supervoxels (or the given label volumes) of clips: `Clip` objects,
        `ClipRef` windows or video paths (read here with the model's recipe)."""
        clips = self.read(inputs)
        if not clips:
            raise StrokelensError("no clips given")
        shape = (self.recipe.frames, self.recipe.size, self.recipe.size)
        bad = next((c for c in clips if c.frames.shape[:3] != shape), None)
        if bad is not None:
            raise StrokelensError(
                f"{bad.id}: the model takes clips of {shape} frames, got {bad.frames.shape[:3]}"
            )
        return SupervoxelUnits.from_clips(
            clips_tensor(clips),
            n_segments,
            compactness,
            labels=labels,
            ids=[c.id for c in clips],
            sources=[c.source for c in clips],
            starts=[c.start for c in clips],
            device=self.device,
        )
