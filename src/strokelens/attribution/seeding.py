"""Seeded draws that do not depend on the batch: each input's generator is seeded from the method's
``seed`` and the input's own content (`Units.fingerprint`), so an input explained alone, beside
others, first or last, with any batch size, gets the same draws, and two inputs get different ones."""

from __future__ import annotations

import hashlib

import torch

from strokelens.units.base import Units


def fingerprint_seed(fingerprint: bytes, seed: int, *salt: int) -> int:
    """A 63-bit seed for the input of ``fingerprint`` (`Units.fingerprint`) under ``seed`` and
    ``salt`` (e.g. a copy number)."""
    h = hashlib.blake2b(digest_size=8)
    h.update(repr((int(seed), *map(int, salt))).encode())
    h.update(fingerprint)
    return int.from_bytes(h.digest(), "little") & (2**63 - 1)


def seeded_generator(fingerprint: bytes, seed: int, *salt: int) -> torch.Generator:
    """A CPU generator seeded by `fingerprint_seed`."""
    return torch.Generator(device="cpu").manual_seed(fingerprint_seed(fingerprint, seed, *salt))


def input_generator(units: Units, i: int, seed: int, *salt: int) -> torch.Generator:
    """A CPU generator for input ``i`` of ``units`` (see `fingerprint_seed`)."""
    return seeded_generator(units.fingerprint(i), seed, *salt)


def per_input(units: Units, seed: int, draw) -> torch.Tensor:
    """``(B, ..., K)``: ``draw(generator, n_units)`` ``(..., n_units)`` for every input, each from its
    own generator, zero-padded to the batch's ``K`` on the last dimension (on the units' device)."""
    k = units.max_units
    rows = []
    for i, n in enumerate(units.n_units.tolist()):
        got = draw(input_generator(units, i, seed), int(n))
        rows.append(torch.nn.functional.pad(got, (0, k - int(n))))
    return torch.stack(rows).to(units.device)
