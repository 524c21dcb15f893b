"""The arithmetic precision of a gradient method's model calls: float32, or bfloat16 through autocast.

``gws`` averages gradients over random coalitions; their sampling noise is far larger than bfloat16's
rounding (Tiny Darknet at 12 stratified coalitions: scores in the two precisions agree at median
Spearman 0.97 on 8 photos; on 24 train photos both agree with lime_image at 0.72), and on hardware
that computes bfloat16 natively the gradients cost ~1.6x less (docs/variants.md). ``fast`` is bfloat16
there and float32 elsewhere (emulated bfloat16 is slower than float32); ``bfloat16`` asks for it
anywhere.
"""

from __future__ import annotations

import contextlib
import warnings
from contextlib import AbstractContextManager

import torch

from strokelens.errors import StrokelensError

FLOAT32, BFLOAT16, FAST = "float32", "bfloat16", "fast"
PRECISIONS = (FLOAT32, BFLOAT16, FAST)
#: Devices that torch can autocast to bfloat16.
AUTOCAST_DEVICES = ("cpu", "cuda")


def native_bfloat16(device: torch.device) -> bool:
    """Whether ``device`` computes bfloat16 in hardware: a CPU with AVX512-BF16 or AMX-BF16, or a CUDA
    GPU that supports it without emulation."""
    if device.type == "cuda":
        return torch.cuda.is_bf16_supported(including_emulation=False)
    if device.type == "cpu":
        capabilities = torch.cpu.get_capabilities()
        return bool(capabilities.get("avx512_bf16") or capabilities.get("amx_bf16"))
    return False


def resolve_precision(precision: str, device: torch.device) -> str:
    """``float32`` or ``bfloat16``: ``precision`` with ``fast`` decided for ``device``; refuses an
    unknown name, or bfloat16 on a device torch cannot autocast, and warns where it is emulated."""
    if precision not in PRECISIONS:
        raise StrokelensError(f"unknown precision {precision!r}; expected one of {', '.join(PRECISIONS)}")
    if precision == FAST:
        return BFLOAT16 if native_bfloat16(device) else FLOAT32
    if precision == BFLOAT16:
        if device.type not in AUTOCAST_DEVICES:
            raise StrokelensError(f"precision bfloat16 needs a CPU or CUDA device, not {device.type}")
        if not native_bfloat16(device):
            warnings.warn(
                f"this {device.type} has no native bfloat16: it is emulated, slower than float32 "
                "(precision='fast' picks float32 here)",
                UserWarning,
                stacklevel=3,
            )
    return precision


def autocast(precision: str, device: torch.device) -> AbstractContextManager:
    """Model calls inside run in ``precision`` (a resolved one: `FLOAT32` or `BFLOAT16`); the game
    scores their outputs in float32 (`strokelens.games.Game.transform`)."""
    if precision == FLOAT32:
        return contextlib.nullcontext()
    return torch.autocast(device.type, dtype=torch.bfloat16)
