"""A grid picture of exactly what a model receives: each input tensor as a tile, its label and the
model's top class under it (green when they agree).

Raster inputs ``(B, C, H, W)`` show as grey (1 channel) or RGB tiles, enlarged by a whole factor
(nearest neighbour, so every model pixel is a block). Values already in [0, 1] show as they are; a
normalised input (``(image - mean) / std``) is mapped linearly from its minimum and maximum over the
grid. Vector inputs ``(points, stroke_ids)`` show as the model's own coordinates, one frame for the
whole grid, one line per stroke.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import torch
from PIL import Image, ImageDraw, ImageFont

from strokelens import kinds
from strokelens.kinds import InputKind

__all__ = ["COLUMNS", "input_grid", "tile_side"]

#: Tiles a row (fewer when there are fewer inputs).
COLUMNS = 8
#: Side an input is enlarged towards, in pixels (a whole multiple of the input side, at least 1x).
TILE = 112
#: Free pixels around a tile, and the height of the two caption lines under it.
MARGIN = 4
CAPTION = 26
_GOOD, _BAD, _TEXT = (0, 130, 0), (190, 0, 0), (40, 40, 40)


def tile_side(side: int) -> int:
    """The side in pixels that an input of ``side`` pixels takes in the grid."""
    return side * max(1, round(TILE / side))


def _raster_tiles(images: torch.Tensor) -> np.ndarray:
    """``(B, C, H, W)`` model inputs as ``(B, h, w, 3)`` uint8 tiles."""
    x = images.detach().float()
    lo, hi = float(x.min()), float(x.max())
    if lo < 0 or hi > 1:
        x = (x - lo) / max(hi - lo, 1e-12)
    x = x.clamp(0, 1).expand(-1, 3, -1, -1) if x.shape[1] == 1 else x[:, :3].clamp(0, 1)
    factor = tile_side(x.shape[-1]) // x.shape[-1]
    x = x.repeat_interleave(factor, 2).repeat_interleave(factor, 3)
    return (x.permute(0, 2, 3, 1) * 255).round().to(torch.uint8).numpy()


def _vector_tiles(points: torch.Tensor, stroke_ids: torch.Tensor) -> np.ndarray:
    """Prepared ``(B, N, 2)`` points and ``(B, N)`` stroke ids (-1: padding) drawn as tiles."""
    pts, sid = points.detach().float(), stroke_ids.detach()
    valid = sid >= 0
    side = TILE
    if not bool(valid.any()):
        return np.full((len(pts), side, side, 3), 255, np.uint8)
    lo, hi = pts[valid].amin(0), pts[valid].amax(0)
    scale = (side - 2 * MARGIN) / float((hi - lo).max().clamp_min(1e-12))
    pix = ((pts - lo) * scale + MARGIN).numpy()
    tiles = []
    for b in range(len(pts)):
        tile = Image.new("RGB", (side, side), "white")
        draw = ImageDraw.Draw(tile)
        ids = sid[b].numpy()
        for s in np.unique(ids[ids >= 0]):
            xy = [tuple(p) for p in pix[b][ids == s]]
            if len(xy) > 1:
                draw.line(xy, fill=(0, 0, 0), width=2)
            else:
                draw.point(xy, fill=(0, 0, 0))
        tiles.append(np.asarray(tile))
    return np.stack(tiles)


def input_grid(
    kind: InputKind,
    inputs: Sequence[torch.Tensor],
    labels: Sequence[str | None],
    predicted: Sequence[str],
    correct: Sequence[bool],
) -> Image.Image:
    """The grid picture of ``inputs`` (as `strokelens.recipe.model_inputs` returns them, for
    ``len(labels)`` items), captioned with each ``labels[i]`` and ``predicted[i]`` (green where
    ``correct[i]``)."""
    n = len(labels)
    if kind is kinds.VECTOR_SKETCH:
        tiles = _vector_tiles(inputs[0][:n], inputs[1][:n])
    else:
        tiles = _raster_tiles(inputs[0][:n])
    cols = max(1, min(COLUMNS, n))
    rows = max(1, math.ceil(n / cols))
    th, tw = tiles.shape[1:3] if n else (TILE, TILE)
    cell_w, cell_h = tw + 2 * MARGIN, th + 2 * MARGIN + CAPTION
    grid = Image.new("RGB", (cols * cell_w, rows * cell_h), (235, 235, 235))
    draw = ImageDraw.Draw(grid)
    font = ImageFont.load_default()
    chars = max(4, tw // 6)
    for i in range(n):
        x, y = (i % cols) * cell_w + MARGIN, (i // cols) * cell_h + MARGIN
        grid.paste(Image.fromarray(tiles[i]), (x, y))
        draw.text((x, y + th + 1), (labels[i] or "(no label)")[:chars], fill=_TEXT, font=font)
        mark, colour = ("= ", _GOOD) if correct[i] else ("> ", _BAD)
        draw.text((x, y + th + 13), mark + predicted[i][: chars - 2], fill=colour, font=font)
    return grid
