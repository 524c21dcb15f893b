"""Running Captum's perturbation methods on a game's binary presence vector, one input at a time
(each input gets its own surrogate model, as LIME and Kernel SHAP define it)."""

from __future__ import annotations

from typing import Any

import torch

from strokelens.games import Game


def captum_on_game(game: Game, make: Any, seed: int, n_samples: int, **kwargs: Any) -> torch.Tensor:
    """Scores ``(B, K)`` from ``make(forward_func).attribute(ones(1, K_i), baselines=0, ...)``.

    Perturbations of one input are evaluated in one batched call; Captum's sampling is seeded
    through a forked RNG so results repeat and the caller's RNG state is untouched. An input with
    one unit gets ``v(1) - v(0)``, its exact Shapley value (and the only linear fit), without Captum,
    whose Kernel SHAP cannot sample coalitions of a single feature.
    """
    out = torch.zeros(game.batch_size, game.max_units, device=game.device)
    for i in range(game.batch_size):
        k = int(game.n_units[i])
        if k == 1:
            z = torch.ones(2, game.max_units, device=game.device, dtype=game.dtype)
            z[1, 0] = 0.0
            with torch.no_grad():
                v = game.value(z, torch.full((2,), i, device=game.device, dtype=torch.long))
            out[i, 0] = (v[0] - v[1]).to(out.dtype)
            continue
        rows_of = lambda n, i=i: torch.full((n,), i, device=game.device, dtype=torch.long)  # noqa: E731

        def forward(z: torch.Tensor, k: int = k, rows_of=rows_of) -> torch.Tensor:
            full = torch.ones(len(z), game.max_units, device=game.device, dtype=z.dtype)
            full[:, :k] = z
            return game.value(full, rows_of(len(z)))

        devices = [game.device.index] if game.device.type == "cuda" else []
        with torch.no_grad(), torch.random.fork_rng(devices=devices):
            torch.manual_seed(seed)
            attr = make(forward).attribute(
                torch.ones(1, k, device=game.device, dtype=game.dtype),
                baselines=0.0,
                n_samples=n_samples,
                perturbations_per_eval=n_samples,
                **kwargs,
            )
        out[i, :k] = attr[0].to(out.dtype)
    return out
