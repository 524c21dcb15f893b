"""Captum both ways: a strokelens game as Captum's ``forward_func``, and superpixel units as the
``feature_mask`` and ``baselines`` of Captum's pixel-space methods.

Presence space (any view)::

    f = forward_func(game)                      # f(z, rows) -> (R,) scores
    p = presence_inputs(game)                   # ones (B, K), zeros (B, K), (rows,)
    IntegratedGradients(f).attribute(p.inputs, baselines=p.baselines,
                                     additional_forward_args=p.additional_forward_args)

Captum evaluates many rows per input (IG steps, ablations, LIME samples). For tensors it passes in
``additional_forward_args`` it builds those batches by repeating the whole batch
(``torch.cat([x] * n)``), the same step-major layout it uses for the inputs, so ``rows`` (the
index of the input each row belongs to) always lines up with ``z``. Without ``rows`` the game sees
``(B * n, K)`` rows for ``B`` inputs and raises `StrokelensError` rather than guessing.

Pixel space (`ImageView` photos)::

    px = pixel_inputs(view, units)              # images, feature_mask (B, 1, S, S), baselines
    FeatureAblation(view.model).attribute(px.inputs, baselines=px.baselines,
                                          feature_mask=px.feature_mask, target=targets)
    unit_scores(attributions, units)            # (B, 3, S, S) -> (B, K), one value per superpixel

Removing superpixel ``k`` in Captum (pixels of label ``k`` replaced by the baseline image) is then
exactly ``z_k = 0`` in the image view, so FeatureAblation there equals strokelens ``occlusion``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, NamedTuple

import torch

from strokelens.errors import StrokelensError
from strokelens.games import Game
from strokelens.units.superpixels import SuperpixelUnits

if TYPE_CHECKING:
    from strokelens.views.image import ImageView

__all__ = ["PixelInputs", "PresenceInputs", "forward_func", "pixel_inputs", "presence_inputs", "unit_scores"]


class PresenceInputs(NamedTuple):
    """What Captum's ``attribute`` needs to explain a game over presence (pass them by name)."""

    #: ``(B, K)`` ones: every unit present.
    inputs: torch.Tensor
    #: ``(B, K)`` zeros: every unit removed.
    baselines: torch.Tensor
    #: ``(rows,)`` with ``rows = arange(B)``, the input each row of ``inputs`` belongs to.
    additional_forward_args: tuple[torch.Tensor]


class PixelInputs(NamedTuple):
    """What Captum's pixel-space methods need to work on superpixels of an image view."""

    #: ``(B, 3, S, S)`` model-input images (all superpixels present).
    inputs: torch.Tensor
    #: ``(B, 1, S, S)`` long: the superpixel of every pixel, ``0..K_i - 1`` (broadcast over channels).
    feature_mask: torch.Tensor
    #: ``(B, 3, S, S)``: what a removed superpixel shows (the view's ``baseline``).
    baselines: torch.Tensor


def forward_func(game: Game) -> Callable[..., torch.Tensor]:
    """A Captum ``forward_func`` over presence: ``f(z, rows) -> (R,)`` scores of the game's target.

    ``z`` ``(R, K)`` presence rows, ``rows`` ``(R,)`` long, the input each row belongs to (pass it
    through ``additional_forward_args``). Differentiable, so gradient methods work; evaluations are
    counted on the game. Called without ``rows`` it is ``game(z)``, which takes only ``(B, K)``.
    """

    def f(z: torch.Tensor, rows: torch.Tensor | None = None) -> torch.Tensor:
        if not isinstance(z, torch.Tensor):
            raise StrokelensError(f"presence z must be a tensor, got {type(z).__name__}")
        z = z.to(game.dtype)
        if rows is None:
            return game(z)
        return game.value(z, rows)

    f.__doc__ = f"Scores of {type(game.view).__name__}'s game for presence z (R, K) of input items rows (R,)."
    return f


def presence_inputs(game: Game) -> PresenceInputs:
    """Full presence, the empty baseline and the ``rows`` argument for the game's ``B`` inputs."""
    full = game.full()
    rows = torch.arange(game.batch_size, device=game.device)
    return PresenceInputs(full, torch.zeros_like(full), (rows,))


def pixel_inputs(view: ImageView, units: SuperpixelUnits) -> PixelInputs:
    """The images, superpixel ``feature_mask`` and baseline images of ``units`` on ``view``'s device,
    for Captum's ``FeatureAblation``/``Lime``/``KernelShap``/``ShapleyValueSampling`` with
    ``forward_func=view.model``."""
    if not isinstance(units, SuperpixelUnits):
        raise StrokelensError(f"pixel_inputs takes SuperpixelUnits, got {type(units).__name__}")
    units = units.to(view.device)
    images = view.images(units)
    return PixelInputs(images, units.labels[:, None].long(), view.baselines(units))


def unit_scores(attributions: torch.Tensor, units: SuperpixelUnits) -> torch.Tensor:
    """Pixel attributions ``(B, C, S, S)`` (or ``(B, 1, S, S)``) averaged over each superpixel:
    ``(B, K)``, 0 on padded slots. With a superpixel ``feature_mask`` Captum's perturbation methods
    give one value per superpixel, so this reads it back."""
    labels = units.labels.to(attributions.device)
    b, k = len(labels), units.max_units
    if attributions.dim() != 4 or attributions.shape[0] != b or attributions.shape[-2:] != labels.shape[-2:]:
        raise StrokelensError(
            f"attributions must have shape ({b}, C, {labels.shape[-2]}, {labels.shape[-1]}), "
            f"got {tuple(attributions.shape)}"
        )
    c = attributions.shape[1]
    idx = (labels + k * torch.arange(b, device=labels.device)[:, None, None]).flatten()
    values = attributions.detach().permute(0, 2, 3, 1).reshape(-1, c).to(torch.float64)
    sums = torch.zeros(b * k, c, dtype=values.dtype, device=values.device).index_add_(0, idx, values)
    counts = torch.bincount(idx, minlength=b * k).clamp(min=1).to(values.dtype)
    return (sums.mean(1) / counts).view(b, k).to(attributions.dtype)
