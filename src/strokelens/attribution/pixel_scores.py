"""Pixel scoring techniques and their per-superpixel aggregation, for gradient-weighted superpixels.

Hartley et al. score superpixels "through gradient based pixel scoring techniques": a pixel map
``(B, S, S)`` from the model's gradient w.r.t. its input image, pooled over each superpixel's pixels.
Every technique here works on the photo itself (all superpixels present) through the game's score
(logit, prob or log-prob of the target) and counts its model evaluations on the game:

- ``presence``: ``sum_c dF/dx * (x - base)`` with the view's own baseline; summed per superpixel it is
  the gradient w.r.t. presence at z = 1 (the original ``gws``). 1 evaluation.
- ``gradient``: ``sum_c dF/dx``. 1 evaluation.
- ``gradient-x-input``: ``sum_c dF/dx * x``. 1 evaluation.
- ``ig-black`` / ``ig-blur`` / ``ig-mean``: integrated gradients from a black image, the view's
  blurred photo or each superpixel's mean colour: ``sum_c (x - b) * mean_a dF/dx(b + a (x - b))``.
  ``steps`` evaluations.
- ``smoothgrad``: ``sum_c`` of the gradient averaged over ``samples`` copies of the photo with
  Gaussian noise of standard deviation ``sigma`` (seeded). ``samples`` evaluations.
- ``coalition``: ``sum_c dF/dx(x_z) * (x - base)`` averaged over ``samples`` random coalitions ``z``
  (seeded; `strokelens.attribution.coalitions`) drawn as lime_image draws them
  (``sampler="bernoulli"``: each superpixel on with probability 1/2) or as fractional presences
  (``"uniform"``: ``z_k ~ U(0, 1)``; also ``stratified``, ``antithetic``), optionally weighted by
  lime_image's kernel (cosine distance to all-on, width 0.25); summed per superpixel it is the
  expected gradient of the game over coalitions. ``samples`` evaluations.
- ``gradcam``: Grad-CAM on the last spatial activation, ``relu(sum_k mean(dF/dA_k) A_k)``, bilinearly
  upsampled to the input. 1 evaluation.
- ``guided-backprop``: ``sum_c`` of the gradient with negative gradients stopped at every ReLU /
  LeakyReLU module. 1 evaluation.

Aggregations per superpixel: ``sum``, ``mean``, ``abs-sum`` (sum of absolute values) and
``pos-mean`` (mean of the positive part); ``abs-mean`` (mean of absolute values) is SWAG's.
Everything is batched; no loop over pixels. The many-evaluation techniques (integrated gradients,
SmoothGrad, coalitions) make their model inputs a chunk of the view's rows at a time
(`summed_gradient`): memory is one chunk's, however many photos, steps or samples.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from strokelens.attribution.coalitions import draw_coalitions, lime_kernel
from strokelens.attribution.precision import FLOAT32, autocast
from strokelens.attribution.seeding import seeded_generator
from strokelens.errors import StrokelensError, check_choice
from strokelens.games import Game
from strokelens.units.superpixels import SuperpixelUnits, superpixel_means
from strokelens.views.baselines import gaussian_blur
from strokelens.views.image import ImageView


def _signed(v: torch.Tensor) -> torch.Tensor:
    return v


def _positive(v: torch.Tensor) -> torch.Tensor:
    return v.clamp(min=0)


@dataclass(frozen=True)
class Pooling:
    """How `aggregate` pools a unit's pixels: ``values`` of each pixel, then their sum or mean."""

    values: Callable[[torch.Tensor], torch.Tensor]
    mean: bool
    #: Whether it sums the signed pixel scores (so a presence gradient's pooled map is the unit's).
    signed_sum: bool = False


#: The ways to pool pixel scores into unit scores, by name.
AGGREGATES: dict[str, Pooling] = {
    "sum": Pooling(_signed, mean=False, signed_sum=True),
    "mean": Pooling(_signed, mean=True),
    "abs-sum": Pooling(torch.abs, mean=False),
    "pos-mean": Pooling(_positive, mean=True),
    "abs-mean": Pooling(torch.abs, mean=True),
}


def _image_game(game: Game) -> tuple[ImageView, SuperpixelUnits]:
    view, units = game.view, game.units
    if not isinstance(view, ImageView) or not isinstance(units, SuperpixelUnits):
        raise StrokelensError(f"pixel scores need an image view on superpixels, not {type(view).__name__}")
    return view, units


def input_gradient(game: Game, images: torch.Tensor, rows: torch.Tensor) -> torch.Tensor:
    """``dF/dx`` of the game's score for model inputs ``images`` ``(R, 3, S, S)`` of items ``rows``,
    in chunks of the view's ``chunk`` rows (the model call's best size, `strokelens.views.ImageView`);
    counts ``R`` evaluations."""
    grads, chunk = [], game.view.chunk
    for i in range(0, len(images), chunk):
        x = images[i : i + chunk].detach().requires_grad_(True)
        value = game.scores_of(game.view.model(x), rows[i : i + chunk])
        (g,) = torch.autograd.grad(value.sum(), x)
        grads.append(g)
    game.count(len(images))
    return torch.cat(grads)


def summed_gradient(
    game: Game,
    like: torch.Tensor,
    rows: torch.Tensor,
    weights: torch.Tensor,
    inputs: Callable[[slice], torch.Tensor],
) -> torch.Tensor:
    """``sum_r weights[r] * dF/dx(inputs[r])`` per item ``rows[r]``, shaped ``like``: the inputs made
    (``inputs(slice)``: those rows' model inputs), differentiated and summed a chunk of the view's
    rows at a time, so memory is one chunk's whatever the rows (16 photos x 16 coalitions at 224
    pixels: 152 MB at the peak against 951 MB made all at once)."""
    total = torch.zeros_like(like)
    chunk = game.view.chunk
    for i in range(0, len(rows), chunk):
        part = slice(i, i + chunk)
        grads = input_gradient(game, inputs(part), rows[part])
        total.index_add_(0, rows[part], grads * weights[part].view(-1, *[1] * (like.dim() - 1)))
    return total


def _integrated(game: Game, x: torch.Tensor, base: torch.Tensor, steps: int) -> torch.Tensor:
    if steps < 1:
        raise StrokelensError(f"steps must be at least 1, got {steps}")
    rows = torch.arange(len(x), device=x.device).repeat_interleave(steps)
    alphas = ((torch.arange(steps, device=x.device, dtype=x.dtype) + 0.5) / steps).repeat(len(x))
    alphas = alphas.view(-1, *[1] * (x.dim() - 1))

    def path(part: slice) -> torch.Tensor:
        start = base[rows[part]]
        return start + alphas[part] * (x[rows[part]] - start)

    weights = torch.full((len(rows),), 1 / steps, device=x.device, dtype=x.dtype)
    return ((x - base) * summed_gradient(game, x, rows, weights, path)).sum(1)


def _coalition(
    game: Game, x: torch.Tensor, base: torch.Tensor, samples: int, sampler: str, weighted: bool, seed: int
) -> torch.Tensor:
    """``sum_c dF/dx(x_z) * (x - base)`` averaged (kernel-weighted if ``weighted``) over coalitions."""
    view, units = _image_game(game)
    z = draw_coalitions(game.n_units, samples, sampler, seed, game.max_units).to(x.device, x.dtype)
    b = len(x)
    w = lime_kernel(z, game.n_units) if weighted else torch.ones(b, samples, device=x.device, dtype=x.dtype)
    w = (w / w.sum(1, keepdim=True).clamp(min=1e-12)).flatten()
    rows = torch.arange(b, device=x.device).repeat_interleave(samples)
    z = z.flatten(0, 1)

    def composed(part: slice) -> torch.Tensor:
        with torch.no_grad():
            return view.compose(z[part], rows[part], units, base)

    # photos (B, 3, H, W) and clips (B, 3, T, H, W)
    return (summed_gradient(game, x, rows, w, composed) * (x - base)).sum(1)


def _gradcam(game: Game, x: torch.Tensor, rows: torch.Tensor) -> torch.Tensor:
    """Grad-CAM on the last activation with a spatial extent above 1x1, upsampled to ``x``; on clips
    ``(B, 3, T, H, W)`` the last ``(B, C, T', H', W')`` activation, upsampled in space and time."""
    model = game.view.model
    seen: list[torch.Tensor] = []

    def keep(_module: torch.nn.Module, _inputs: object, output: object) -> None:
        if isinstance(output, torch.Tensor) and output.dim() == x.dim() and min(output.shape[-2:]) > 1:
            seen.append(output)

    leaves = [m for m in model.modules() if not list(m.children())]
    handles = [m.register_forward_hook(keep) for m in leaves]
    try:
        value = game.scores_of(model(x), rows)
    finally:
        for h in handles:
            h.remove()
    game.count(len(x))
    if not seen:
        raise StrokelensError("gradcam needs a model with a spatial (B, C, H, W) activation")
    act = seen[-1]
    (grad,) = torch.autograd.grad(value.sum(), act)
    dims = tuple(range(2, act.dim()))
    cam = torch.relu((grad.mean(dims, keepdim=True) * act).sum(1, keepdim=True))
    mode = "trilinear" if act.dim() == 5 else "bilinear"
    return F.interpolate(cam, size=x.shape[2:], mode=mode, align_corners=False)[:, 0]


def _guided(game: Game, x: torch.Tensor, rows: torch.Tensor) -> torch.Tensor:
    """The gradient with negative gradients stopped at every ReLU / LeakyReLU module (run out of place
    meanwhile: a backward hook cannot watch an in-place activation)."""

    def clamp(_module: torch.nn.Module, grad_in: tuple, _grad_out: tuple) -> tuple:
        return tuple(None if g is None else g.clamp(min=0) for g in grad_in)

    acts = [m for m in game.view.model.modules() if isinstance(m, (torch.nn.ReLU, torch.nn.LeakyReLU))]
    if not acts:
        raise StrokelensError("guided-backprop needs a model with ReLU or LeakyReLU modules")
    in_place = [m for m in acts if m.inplace]
    for m in in_place:
        m.inplace = False
    handles = [m.register_full_backward_hook(clamp) for m in acts]
    try:
        return input_gradient(game, x, rows).sum(1)
    finally:
        for h in handles:
            h.remove()
        for m in in_place:
            m.inplace = True


@dataclass(frozen=True)
class PixelOptions:
    """The settings the many-evaluation techniques read (see the module docstring)."""

    steps: int = 16
    samples: int = 16
    sigma: float = 0.15
    seed: int = 0
    sampler: str = "uniform"
    weighted: bool = False


#: A technique's pixel map ``(B, S, S)``: (game, photos, their rows, baseline or None, options).
PixelMap = Callable[[Game, torch.Tensor, torch.Tensor, "torch.Tensor | None", PixelOptions], torch.Tensor]
#: What a technique weighs the gradient against: (view, units, photos) -> baseline or None.
Baseline = Callable[[ImageView, SuperpixelUnits, torch.Tensor], "torch.Tensor | None"]


def _no_baseline(_view: ImageView, _units: SuperpixelUnits, _x: torch.Tensor) -> None:
    return None


def _view_baseline(view: ImageView, units: SuperpixelUnits, _x: torch.Tensor) -> torch.Tensor:
    return view.baselines(units)


def _black(_view: ImageView, _units: SuperpixelUnits, x: torch.Tensor) -> torch.Tensor:
    return torch.zeros_like(x)


def _one(_steps: int, _samples: int) -> int:
    return 1


@dataclass(frozen=True)
class PixelTechnique:
    """A pixel scoring technique: its map, what it weighs the gradient against (computed outside
    autocast: a blur's convolution stays float32), its model evaluations a photo from ``(steps,
    samples)``, whether it draws coalitions (``samples``, ``sampler`` and ``weighted`` apply), and
    whether its map summed per superpixel is the presence gradient (which `presence_gradient`
    computes without the pixel map)."""

    name: str
    map: PixelMap
    baseline: Baseline = _no_baseline
    evaluations: Callable[[int, int], int] = _one
    draws_coalitions: bool = False
    summed_is_presence_gradient: bool = False


def _weighted_gradient(game: Game, x: torch.Tensor, rows: torch.Tensor, base, _o) -> torch.Tensor:
    return (input_gradient(game, x, rows) * (x - base)).sum(1)


def _integrated_map(
    game: Game, x: torch.Tensor, _rows: torch.Tensor, base, options: PixelOptions
) -> torch.Tensor:
    return _integrated(game, x, base, options.steps)


def _steps(steps: int, _samples: int) -> int:
    return steps


def _samples(_steps: int, samples: int) -> int:
    return samples


TECHNIQUES: dict[str, PixelTechnique] = {
    t.name: t
    for t in (
        PixelTechnique("presence", _weighted_gradient, _view_baseline, summed_is_presence_gradient=True),
        PixelTechnique("gradient", lambda g, x, rows, _b, _o: input_gradient(g, x, rows).sum(1)),
        PixelTechnique("gradient-x-input", _weighted_gradient, _black),
        PixelTechnique("ig-black", _integrated_map, _black, evaluations=_steps),
        PixelTechnique(
            "ig-blur",
            _integrated_map,
            lambda view, _u, x: gaussian_blur(x, view.blur_sigma),
            evaluations=_steps,
        ),
        PixelTechnique(
            "ig-mean",
            _integrated_map,
            lambda _v, units, _x: superpixel_means(units),
            evaluations=_steps,
        ),
        PixelTechnique(
            "smoothgrad",
            lambda g, x, rows, _b, o: _smoothgrad(g, x, rows, o.samples, o.sigma, o.seed),
            evaluations=_samples,
        ),
        PixelTechnique(
            "coalition",
            lambda g, x, _r, b, o: _coalition(g, x, b, o.samples, o.sampler, o.weighted, o.seed),
            _view_baseline,
            draws_coalitions=True,
            evaluations=_samples,
        ),
        PixelTechnique("gradcam", lambda g, x, rows, _b, _o: _gradcam(g, x, rows)),
        PixelTechnique("guided-backprop", lambda g, x, rows, _b, _o: _guided(g, x, rows)),
    )
}
PIXEL_SCORES = tuple(TECHNIQUES)


def technique(name: str) -> PixelTechnique:
    """The pixel technique called ``name`` (one of `PIXEL_SCORES`); refuses any other."""
    check_choice("pixel score", name, PIXEL_SCORES)
    return TECHNIQUES[name]


def pixel_scores(
    game: Game,
    pixel: str,
    steps: int = 16,
    samples: int = 16,
    sigma: float = 0.15,
    seed: int = 0,
    sampler: str = "uniform",
    weighted: bool = False,
    precision: str = FLOAT32,
) -> torch.Tensor:
    """The ``(B, S, S)`` pixel map of technique ``pixel`` (see the module docstring) for the game's
    photos, all superpixels present; the model calls in ``precision`` (a resolved one,
    `strokelens.attribution.precision`), the baselines and the pooling in the photos' own."""
    chosen = technique(pixel)
    view, units = _image_game(game)
    x = units.images.to(game.device)
    rows = torch.arange(len(x), device=game.device)
    base = chosen.baseline(view, units, x)
    options = PixelOptions(steps, samples, sigma, seed, sampler, weighted)
    with autocast(precision, game.device):
        pixels = chosen.map(game, x, rows, base, options)
    return pixels.to(x.dtype)  # Grad-CAM's activations come out of autocast in bfloat16


def _smoothgrad(
    game: Game, x: torch.Tensor, rows: torch.Tensor, samples: int, sigma: float, seed: int
) -> torch.Tensor:
    """``sum_c`` of the gradient averaged over ``samples`` noisy copies of each photo, copy ``s`` of a
    photo seeded by the photo and ``s`` (`strokelens.attribution.seeding`): the same whatever the
    batch or chunk."""
    if samples < 1 or sigma < 0:
        raise StrokelensError(f"smoothgrad needs samples >= 1 and sigma >= 0, got {samples}, {sigma}")
    copies = rows.repeat_interleave(samples)
    copy_of = torch.arange(samples).repeat(len(rows))
    prints = {p: game.units.fingerprint(p) for p in rows.tolist()}  # once a photo, not once a copy

    def noisy(part: slice) -> torch.Tensor:
        r, s = copies[part].tolist(), copy_of[part].tolist()
        gens = [seeded_generator(prints[p], seed, c) for p, c in zip(r, s, strict=True)]
        noise = torch.stack([torch.randn(x.shape[1:], generator=g) for g in gens])
        return x[copies[part]] + sigma * noise.to(x.device, x.dtype)

    weights = torch.full((len(copies),), 1 / samples, device=x.device, dtype=x.dtype)
    return summed_gradient(game, x, copies, weights, noisy).sum(1)


def aggregate(pixels: torch.Tensor, labels: torch.Tensor, n_units: int, how: str) -> torch.Tensor:
    """Pool a ``(B, S, S)`` pixel map over label maps ``(B, S, S)`` (values 0..n_units-1) into
    ``(B, n_units)``: ``sum``, ``mean``, ``abs-sum``, ``pos-mean`` (mean of ``max(v, 0)``) or ``abs-mean``."""
    check_choice("aggregate", how, AGGREGATES)
    if pixels.shape != labels.shape:
        raise StrokelensError(f"pixel map {tuple(pixels.shape)} and labels {tuple(labels.shape)} differ")
    b = len(labels)
    pooling = AGGREGATES[how]
    values = pooling.values(pixels)
    flat = (labels.flatten(1) + n_units * torch.arange(b, device=labels.device)[:, None]).flatten()
    total = torch.zeros(b * n_units, device=pixels.device, dtype=pixels.dtype)
    total.index_add_(0, flat, values.flatten().to(pixels.dtype))
    total = total.view(b, n_units)
    if pooling.mean:
        counts = torch.bincount(flat, minlength=b * n_units).view(b, n_units).to(pixels.dtype)
        total = total / counts.clamp(min=1)
    return total
