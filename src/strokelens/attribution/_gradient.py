"""The one gradient helper the gradient methods share."""

from __future__ import annotations

import torch

from strokelens.games import Game


def presence_gradient(game: Game, z: torch.Tensor) -> torch.Tensor:
    """Gradient of the game's score w.r.t. presence ``z`` of shape ``(B, K)`` or ``(B, P, K)``."""
    z = z.detach().requires_grad_(True)
    (grad,) = torch.autograd.grad(game(z).sum(), z)
    return grad
