"""The reference LIME for images: the ``lime`` package's `LimeImageExplainer`, run on the game's own
superpixels and baseline, so its weights are comparable unit for unit with every other method."""

from __future__ import annotations

import contextlib
import io

import numpy as np
import torch

from strokelens.attribution.base import register
from strokelens.attribution.cost import per_option
from strokelens.attribution.families import PerturbationAttribution
from strokelens.attribution.precision import FLOAT32, autocast, resolve_precision
from strokelens.errors import StrokelensError
from strokelens.games import Game
from strokelens.units.superpixels import SuperpixelUnits
from strokelens.views.image import ImageView


@register
class LimeImage(PerturbationAttribution):
    """``lime_image.LimeImageExplainer(random_state=seed).explain_instance`` with ``num_samples``
    perturbations, the units' label map as ``segmentation_fn`` and the view's baseline as
    ``hide_color`` (``None``, i.e. each superpixel's mean colour, for the ``mean`` baseline; the
    constant for ``constant``; ``blur`` has no lime equivalent). ``classifier_fn`` returns the
    game's score for every class (``prob``: softmax, lime's usual input). One input at a time, as
    lime works; its Python masking loop is part of its cost. ``precision``: the model calls'
    arithmetic, as for ``gws`` (`strokelens.attribution.precision`; default ``float32``, lime's
    own; ``bfloat16`` or ``fast`` run them under autocast and score their outputs in float32).
    Needs the ``lime`` package."""

    name = "lime-image"
    uses_seed = True
    units_type = SuperpixelUnits
    callable_targets = False
    cost = per_option("n_samples")
    listing = 52

    def scores(
        self,
        game: Game,
        *,
        seed: int = 0,
        n_samples: int = 1000,
        batch_size: int = 16,
        kernel_width: float = 0.25,
        precision: str = FLOAT32,
    ):
        try:
            from lime.lime_image import LimeImageExplainer
        except ImportError:  # pragma: no cover - lime is a dev dependency
            raise StrokelensError(
                "the lime-image method needs the 'lime' package (pip install lime)"
            ) from None
        view, units = game.view, game.units
        if not isinstance(view, ImageView):
            raise StrokelensError(f"lime-image needs an image view, not {type(view).__name__}")
        hide_color = view.hide_color()
        if game.target is None:
            raise StrokelensError("lime-image needs class targets, not a callable")
        precision = resolve_precision(precision, game.device)
        out = torch.zeros(game.batch_size, game.max_units, device=game.device)
        for i in range(game.batch_size):
            image = units.images[i].movedim(0, -1).detach().cpu().numpy().astype(np.float64)
            segments = units.labels[i].cpu().numpy()
            label = int(game.target[i])
            explainer = LimeImageExplainer(kernel_width=kernel_width, random_state=seed)
            with contextlib.redirect_stderr(io.StringIO()):  # lime's tqdm bar
                exp = explainer.explain_instance(
                    image,
                    lambda batch: _classify(game, view, batch, precision),
                    labels=(label,),
                    hide_color=hide_color,
                    top_labels=None,
                    num_features=int(game.n_units[i]),
                    num_samples=n_samples,
                    batch_size=batch_size,
                    segmentation_fn=lambda _img, s=segments: s,
                    random_seed=seed,
                )
            for k, w in exp.local_exp[label]:
                out[i, int(k)] = float(w)
        return out, {"n_samples": n_samples, "precision": precision}


def _classify(game: Game, view: ImageView, batch: np.ndarray, precision: str) -> np.ndarray:
    """lime's ``classifier_fn``: ``(N, H, W, 3)`` images (or ``(N, T, H, W, 3)`` clips) -> the game's
    score of every class ``(N, C)``, the model called in ``precision`` (a resolved one)."""
    x = torch.from_numpy(batch).to(game.device, torch.float32).movedim(-1, 1)
    with torch.no_grad():
        with autocast(precision, game.device):
            logits = view.forward(x)
        outputs = game.transform(logits)  # in float32 whatever the model calls' precision
    game.count(len(x))
    return outputs.double().cpu().numpy()
