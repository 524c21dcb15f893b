"""The `Units` protocol: what an explanation scores, for any input kind.

Every kind of unit (strokes, stroke pieces, superpixels) says how many units each input of a batch
has, which unit slots are real, who every input is, and how to move or subset the set. Methods, games
and metrics rely on this interface only; they never ask which kind of units they were given.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import Any, ClassVar

import torch


class Units(ABC):
    """Units of a batch of ``B`` inputs, up to ``K`` per input, padded.

    Subclasses hold ``n_units`` ``(B,)`` long and set ``kind`` (``"stroke"``, ``"piece"``,
    ``"superpixel"``): a label for records and reports, never a switch for code paths.
    """

    kind: str
    n_units: torch.Tensor
    #: The kinds this class produces (for option validation and help texts).
    KINDS: ClassVar[tuple[str, ...]] = ()

    @property
    def max_units(self) -> int:
        """``K``: the largest unit count in the batch."""
        return int(self.n_units.max())

    @property
    def unit_mask(self) -> torch.Tensor:
        """``(B, K)`` bool: which unit slots hold a real unit."""
        ar = torch.arange(self.max_units, device=self.n_units.device)
        return ar[None, :] < self.n_units[:, None]

    @property
    def device(self) -> torch.device:
        return self.n_units.device

    @property
    def dtype(self) -> torch.dtype:
        """Floating dtype presence vectors take for these units."""
        return torch.float32

    @classmethod
    def all_kinds(cls) -> tuple[str, ...]:
        """The kinds of this class and of every subclass (supervoxels are superpixels)."""
        subclasses = [cls]
        for sub in subclasses:
            subclasses.extend(sub.__subclasses__())
        return tuple(dict.fromkeys(k for sub in subclasses for k in sub.KINDS))

    def __len__(self) -> int:
        return len(self.n_units)

    @abstractmethod
    def item(self, i: int) -> dict[str, Any]:
        """Identity of input ``i`` for records: at least ``id`` and ``source``."""

    @abstractmethod
    def to(self, device: torch.device | str) -> Units:
        """The same units with tensors on ``device``."""

    @abstractmethod
    def select(self, rows: Sequence[int] | torch.Tensor) -> Units:
        """The units of inputs ``rows`` only, re-padded to their own largest count."""

    @abstractmethod
    def unit_lengths(self) -> torch.Tensor:
        """``(B, K)`` size of every unit (arc length, or area in pixels); 0 on padding."""

    def unit_parts(self) -> torch.Tensor | None:
        """``(B, K)`` semantic part label of every unit, ``-1`` where unknown; None without labels."""
        return None

    def part_names(self, i: int) -> list[str]:
        """Names of the part labels of input ``i`` (empty without labels)."""
        return []

    def label(self, i: int) -> str | None:
        """The label (class name) input ``i`` came with, if any."""
        return None

    def fingerprint(self, i: int) -> bytes:
        """Bytes that tell input ``i`` and its units apart from others, whatever batch it is in: what
        seeded methods seed each input's draws from. Default: its identity for records; units with
        content (strokes, pixels) use the content."""
        return repr(sorted(self.item(i).items())).encode()


def rows_list(rows: Sequence[int] | torch.Tensor) -> list[int]:
    """Row indices as a plain list (from a tensor, a range or a list)."""
    if isinstance(rows, torch.Tensor):
        return [int(r) for r in rows.reshape(-1).tolist()]
    return [int(r) for r in rows]
