"""Units: the things an explanation scores, one `Units` protocol for every input kind.

- `SketchUnits` (``stroke`` or ``piece``): strokes, or stroke pieces of equal arc length.
- `SuperpixelUnits` (``superpixel``): SLIC superpixels of photos, or any label map.
- `SupervoxelUnits` (``supervoxel``): space-time SLIC superpixels of video clips, a kind of superpixel.
"""

from strokelens.units.base import Units
from strokelens.units.strokes import UNIT_KINDS, SketchUnits, make_units, piece_units, stroke_units
from strokelens.units.superpixels import SuperpixelUnits, relabel, slic_labels, superpixel_means
from strokelens.units.supervoxels import SupervoxelUnits, slic_volume

__all__ = [
    "UNIT_KINDS",
    "SketchUnits",
    "SuperpixelUnits",
    "SupervoxelUnits",
    "Units",
    "make_units",
    "piece_units",
    "relabel",
    "slic_labels",
    "slic_volume",
    "stroke_units",
    "superpixel_means",
]
