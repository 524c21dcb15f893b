"""How ``coalition`` (a pixel technique of `strokelens.attribution.pixel_scores`) draws random
coalitions of superpixels, and lime_image's kernel that can weigh them. Seeded, batched, and drawn
unit by unit so that a photo's draws do not depend on the batch it is in."""

from __future__ import annotations

from collections.abc import Callable

import torch

from strokelens.errors import StrokelensError, check_choice


def _bernoulli(k: int, samples: int, gen: torch.Generator) -> torch.Tensor:
    return (torch.rand((k, samples), generator=gen).T < 0.5).float()


def _uniform(k: int, samples: int, gen: torch.Generator) -> torch.Tensor:
    return torch.rand((k, samples), generator=gen).T


def _stratified(k: int, samples: int, gen: torch.Generator) -> torch.Tensor:
    draws = torch.rand((k, 2, samples), generator=gen)  # unit by unit: (offset, order key) x samples
    return ((draws[:, 1].argsort(dim=1) + draws[:, 0]) / samples).T


def _antithetic(k: int, samples: int, gen: torch.Generator) -> torch.Tensor:
    half = torch.rand((k, (samples + 1) // 2), generator=gen)
    return torch.cat([half, 1 - half], dim=1)[:, :samples].T


#: How ``coalition`` draws presences ``(samples, K)``, unit by unit: lime_image's fair coin per
#: superpixel, fractional presences ``U(0, 1)``, the same stratified per unit (a Latin hypercube: each
#: unit's ``samples`` presences fall one in each of ``samples`` equal strata, in a random order of its
#: own), or uniform draws each with its mirror ``1 - z`` (antithetic pairs; an odd last draw unpaired).
SAMPLERS: dict[str, Callable[[int, int, torch.Generator], torch.Tensor]] = {
    "bernoulli": _bernoulli,
    "uniform": _uniform,
    "stratified": _stratified,
    "antithetic": _antithetic,
}


#: lime_image's default kernel width (on the cosine distance to all superpixels present).
LIME_KERNEL_WIDTH = 0.25


def draw_coalitions(
    n_units: torch.Tensor, samples: int, sampler: str, seed: int, max_units: int | None = None
) -> torch.Tensor:
    """Presences ``(B, samples, K)`` for ``coalition``, seeded; padding units (past ``n_units``) are 0.

    Every photo gets the same draws (as lime_image with one ``random_state``), drawn unit by unit so
    that unit ``k``'s draws do not depend on the batch: a photo scores the same alone or batched."""
    check_choice("sampler", sampler, SAMPLERS)
    if samples < 1:
        raise StrokelensError(f"coalition needs samples >= 1, got {samples}")
    k = int(n_units.max()) if max_units is None else max_units
    gen = torch.Generator(device="cpu").manual_seed(seed)
    z = SAMPLERS[sampler](k, samples, gen)
    valid = torch.arange(k)[None, None, :] < n_units.cpu()[:, None, None]
    return torch.where(valid, z[None], torch.zeros(()))


def lime_kernel(z: torch.Tensor, n_units: torch.Tensor, width: float = LIME_KERNEL_WIDTH) -> torch.Tensor:
    """lime_image's sample weights ``sqrt(exp(-d^2 / width^2))`` for presences ``z`` ``(B, P, K)``, ``d``
    the cosine distance to all ``n_units`` present."""
    on = z.sum(-1)
    norm = (z.pow(2).sum(-1) * n_units.to(z)[:, None]).sqrt()
    d = 1 - on / norm.clamp(min=1e-12)
    return torch.exp(-(d**2) / width**2).sqrt()
