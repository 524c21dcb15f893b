"""SVG sketches: read TU-Berlin-style files, write any sketch.

Reading. The file is parsed with ``defusedxml``: a document that declares entities (the
"billion laughs" expansion bomb) or refers to an external entity is refused with a `StrokelensError`;
a DOCTYPE naming the public SVG DTD, as TU-Berlin files have, is fine and never fetched. Every
``path`` (and ``polyline``/``polygon``/``line``) outside ``defs``-like containers becomes strokes, in
document order, one stroke per subpath (one per ``path`` in TU-Berlin files). Path commands
``M L H V C S Q T Z`` and their relative forms are supported; arcs (``A``) are replaced by a straight
line to their end point. Nested ``transform`` attributes (``matrix``, ``translate``, ``scale``,
``rotate``, ``skewX``, ``skewY``) are composed and applied, so points come out in the root ``svg``'s user
coordinates (its ``viewBox`` frame, kept in ``meta["viewBox"]``). Curves are flattened to polylines with
at most `FLATNESS` units of deviation, all segments of a file evaluated in one vectorised step.
Path data is parsed in `strokelens.io.svg_path` and transforms in `strokelens.io.svg_transform`
(`parse_path` and `parse_transform` are importable from here too).

Limits, checked before the work they bound: a file larger than `MAX_SVG_BYTES` is refused before it is
parsed (set ``strokelens.io.svg.MAX_SVG_BYTES`` to allow larger ones); path data is tokenised lazily
and its points counted on the way, so a drawing past the point limit (`strokelens.sketch.MAX_POINTS`)
or the stroke limit (`strokelens.sketch.MAX_STROKES`) is refused as soon as it gets there, without
reading the rest.

The class label is the root's ``<title>`` when present; for TU-Berlin's ``<class>/<number>.svg`` layout
it is the folder name.

Writing. `svg_text` / `write_svg` draw one sketch in its own coordinates: one ``path`` a stroke, round
caps and joins, optional per-stroke colours. A single-point stroke is written as ``M x y Z``, which
renders as a round dot and reads back as one point. Coordinates keep three decimals.
"""

from __future__ import annotations

import os
import re
import xml.etree.ElementTree as ET
from pathlib import Path
from xml.sax.saxutils import escape, quoteattr

import defusedxml
import defusedxml.ElementTree as DET
import numpy as np

from strokelens.colors import Colors, to_hex, to_rgb
from strokelens.errors import StrokelensError
from strokelens.io.svg_path import _NUM_RE, _Bad, _points_attr, _TooMany, parse_path
from strokelens.io.svg_transform import parse_transform
from strokelens.sketch import MAX_POINTS, MAX_STROKES, Sketch

PathLike = str | os.PathLike[str]

#: Largest deviation (in output units) between a flattened curve and the true Bezier curve.
FLATNESS = 0.25
#: A curve segment becomes at most this many line pieces.
MAX_PIECES = 64
#: Larger SVG files are refused before they are parsed. The 15 real TU-Berlin files measure 3,022 to
#: 21,250 bytes (152 KB together); `write_svg` writes about 16 bytes a point, so 8 MiB holds a drawing
#: at the point limit (`strokelens.sketch.MAX_POINTS`, 500,000) and is 400 times the largest real
#: file. To read larger files, set ``strokelens.io.svg.MAX_SVG_BYTES`` higher.
MAX_SVG_BYTES = 8 * 1024 * 1024

_SKIP = {"defs", "clipPath", "mask", "symbol", "marker", "pattern", "metadata", "title", "desc", "style"}
_SKIP |= {"script", "linearGradient", "radialGradient", "filter", "foreignObject"}


def _local(tag: object) -> str:
    return tag.rsplit("}", 1)[-1] if isinstance(tag, str) else ""


def _flatten(
    subpaths: list[tuple[np.ndarray, np.ndarray, np.ndarray]], loc: str
) -> tuple[np.ndarray, np.ndarray]:
    """Apply each subpath's transform and flatten all cubic segments at once.

    Returns the points ``(n, 2)`` and the number of points of every subpath.
    """
    starts = np.array([s for s, _, _ in subpaths]).reshape(-1, 2)
    counts = np.array([len(seg) for _, seg, _ in subpaths], dtype=np.int64)
    mats = np.array([m for _, _, m in subpaths]).reshape(-1, 3, 3)
    segs = np.concatenate([seg for _, seg, _ in subpaths]).reshape(-1, 4, 2)
    seg_sub = np.repeat(np.arange(len(subpaths)), counts)
    with np.errstate(over="ignore", invalid="ignore"):
        starts = np.einsum("sij,sj->si", mats[:, :2, :2], starts) + mats[:, :2, 2]
        seg_m = mats[seg_sub]
        segs = np.einsum("kij,kpj->kpi", seg_m[:, :2, :2], segs) + seg_m[:, None, :2, 2]
        # Uniform subdivision of a cubic into n pieces deviates at most 3/4 * max|second difference| / n^2.
        dd = np.maximum(
            np.linalg.norm(segs[:, 0] - 2 * segs[:, 1] + segs[:, 2], axis=1),
            np.linalg.norm(segs[:, 1] - 2 * segs[:, 2] + segs[:, 3], axis=1),
        )
        pieces = np.ceil(np.sqrt(0.75 * np.nan_to_num(dd, nan=0.0, posinf=1e12) / FLATNESS))
    pieces = np.clip(pieces, 1, MAX_PIECES).astype(np.int64)
    # a start point, then `pieces` points for each of the subpath's segments
    n_points = 1 + np.bincount(seg_sub, weights=pieces, minlength=len(subpaths)).astype(np.int64)
    if int(n_points.sum()) > MAX_POINTS:
        raise StrokelensError(f"{loc}: more than the limit of {MAX_POINTS} points once curves are flattened")
    seg_id = np.repeat(np.arange(len(segs)), pieces)
    first = np.cumsum(pieces) - pieces
    t = ((np.arange(len(seg_id)) - first[seg_id] + 1) / pieces[seg_id])[:, None]
    u = 1.0 - t
    p = segs[seg_id]
    with np.errstate(over="ignore", invalid="ignore"):
        curve = u**3 * p[:, 0] + 3 * u * u * t * p[:, 1] + 3 * u * t * t * p[:, 2] + t**3 * p[:, 3]
    # Each subpath's start point, then the points of its segments: curve point j of subpath s lands at
    # j + s + 1, as s start points (and its own) come before it.
    out = np.empty((int(n_points.sum()), 2))
    out[np.cumsum(n_points) - n_points] = starts
    out[np.arange(len(curve)) + np.repeat(seg_sub, pieces) + 1] = curve
    return out, n_points


def read_svg(path: PathLike, limit: int | None = None) -> list[Sketch]:
    """Read one SVG file as a one-sketch list (``limit`` is accepted for a uniform reader signature)."""
    del limit
    path = Path(path)
    try:
        size = path.stat().st_size
    except OSError as exc:
        raise StrokelensError(f"cannot open {path}: {exc.strerror or exc}") from None
    if size > MAX_SVG_BYTES:
        raise StrokelensError(
            f"{path}: {size} bytes exceeds the SVG file size limit of {MAX_SVG_BYTES} bytes "
            "(raise it by setting strokelens.io.svg.MAX_SVG_BYTES)"
        )
    if size == 0:
        raise StrokelensError(f"{path}: empty file, no drawing")
    try:
        with open(path, "rb") as fh:
            data = fh.read(MAX_SVG_BYTES + 1)
    except OSError as exc:
        raise StrokelensError(f"cannot open {path}: {exc.strerror or exc}") from None
    if len(data) > MAX_SVG_BYTES:  # grew after the size check
        raise StrokelensError(
            f"{path}: larger than the SVG file size limit of {MAX_SVG_BYTES} bytes "
            "(raise it by setting strokelens.io.svg.MAX_SVG_BYTES)"
        )
    try:
        # One feed of the whole file: expat (before 2.6) re-scans an unfinished token at every chunk,
        # so parsing a long attribute chunk by chunk, as ``parse(path)`` does, takes quadratic time.
        root = DET.fromstring(data, forbid_dtd=False, forbid_entities=True, forbid_external=True)
    except defusedxml.EntitiesForbidden as exc:
        if exc.sysid or exc.pubid:
            raise StrokelensError(
                f"{path}: refused: the SVG declares the external entity {exc.name!r} "
                f"({exc.sysid or exc.pubid}); external entities are not allowed"
            ) from None
        raise StrokelensError(
            f"{path}: refused: the SVG declares the XML entity {exc.name!r} (entity expansion is not allowed)"
        ) from None
    except defusedxml.ExternalReferenceForbidden as exc:
        raise StrokelensError(
            f"{path}: refused: the SVG refers to an external entity ({exc.sysid})"
        ) from None
    except defusedxml.DefusedXmlException as exc:
        raise StrokelensError(f"{path}: refused unsafe XML ({exc})") from None
    except ET.ParseError as exc:
        line = exc.position[0] if exc.position else "?"
        raise StrokelensError(f"{path}, line {line}: not well-formed XML ({exc})") from None
    except (OSError, UnicodeError, ValueError, LookupError) as exc:  # LookupError: an unknown encoding
        raise StrokelensError(f"{path}: unreadable ({exc})") from None
    return [_sketch_from_root(root, path)]


def _sketch_from_root(root: ET.Element, path: Path) -> Sketch:
    if _local(root.tag) != "svg":
        raise StrokelensError(f"{path}: not an SVG file (root element <{_local(root.tag)}>)")
    subpaths: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
    stack: list[tuple[ET.Element, np.ndarray]] = [(root, np.eye(3))]
    n_elements = 0
    n_points = 0  # the fewest points the subpaths so far flatten to: budget left for the next element
    while stack:
        el, parent = stack.pop()
        tag = _local(el.tag)
        if tag in _SKIP or el.get("display") == "none":
            continue
        n_elements += 1
        desc = f"<{tag}> #{n_elements}" + (f" (id {el.get('id')!r})" if el.get("id") else "")
        try:
            m = parent @ parse_transform(el.get("transform")) if el is not root else parent
            room = MAX_POINTS - n_points
            if tag == "path":
                found = parse_path(el.get("d") or "", room, MAX_STROKES - len(subpaths))
            elif tag in ("polyline", "polygon"):
                found = _points_attr(el.get("points") or "", tag == "polygon", room)
            elif tag == "line":
                coords = " ".join(el.get(k, "0") for k in ("x1", "y1", "x2", "y2"))
                found = _points_attr(coords, False, room)
            else:
                found = []
        except _TooMany as exc:
            limit = MAX_POINTS if exc.what == "points" else MAX_STROKES
            raise StrokelensError(
                f"{path}, {desc}: the drawing has more than the limit of {limit} {exc.what} "
                "(refused while reading this element; the rest of the file was not read)"
            ) from None
        except (_Bad, ValueError, OverflowError) as exc:
            raise StrokelensError(f"{path}, {desc}: {exc}") from None
        subpaths.extend((start, segs, m) for start, segs in found)
        n_points += sum(1 + len(segs) for _, segs in found)
        if len(subpaths) > MAX_STROKES:
            raise StrokelensError(f"{path}: more than the limit of {MAX_STROKES} strokes")
        if len(el):
            stack.extend((child, m) for child in reversed(list(el)))
    if not subpaths:
        raise StrokelensError(f"{path}: drawing has no strokes (no path elements)")
    points, counts = _flatten(subpaths, str(path))
    strokes = np.split(points, np.cumsum(counts)[:-1])
    meta: dict = {}
    if root.get("viewBox"):
        meta["viewBox"] = [float(v) for v in _NUM_RE.findall(root.get("viewBox", ""))]
    return Sketch(strokes=strokes, label=_label(root, path), source=str(path), meta=meta)


def _label(root: ET.Element, path: Path) -> str | None:
    for child in root:
        if _local(child.tag) == "title" and (child.text or "").strip():
            return (child.text or "").strip()
    if path.stem.isdigit() and path.parent.name:
        return path.parent.name
    return None


_XML_INVALID = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff\ud800-\udfff]")


def _xml_text(text: str) -> str:
    """Text escaped for XML, with characters XML 1.0 cannot hold removed."""
    return escape(_XML_INVALID.sub("", text))


def _fmt(values: np.ndarray) -> list[str]:
    out = []
    for v in np.round(values, 3).ravel().tolist():
        s = f"{v:.3f}".rstrip("0").rstrip(".")
        out.append("0" if s in ("-0", "") else s)
    return out


def svg_text(
    sketch: Sketch,
    stroke_colors: Colors | None = None,
    width: float | None = None,
    background: str | None = None,
) -> str:
    """The sketch as SVG text in its own coordinates: one ``path`` a stroke, round caps and joins.

    ``stroke_colors``: one colour a stroke (hex string, name or RGB tuple); black by default.
    ``width``: line width in sketch units, by default 1/128 of the longer side (at least 1).
    """
    xmin, ymin, xmax, ymax = sketch.bbox()
    extent = max(xmax - xmin, ymax - ymin)
    w = float(width) if width is not None else max(1.0, extent / 128.0)
    pad = w
    colors = None
    if stroke_colors is not None:
        rgb = to_rgb(stroke_colors)
        if len(rgb) != sketch.n_strokes:
            raise StrokelensError(f"{len(rgb)} stroke colours for {sketch.n_strokes} strokes")
        colors = to_hex(rgb)
    vb = _fmt(np.array([xmin - pad, ymin - pad, xmax - xmin + 2 * pad, ymax - ymin + 2 * pad]))
    lines = [
        '<?xml version="1.0" encoding="utf-8"?>',
        f'<svg xmlns="http://www.w3.org/2000/svg" version="1.1" viewBox="{" ".join(vb)}">',
    ]
    if sketch.label:
        lines.append(f"<title>{_xml_text(sketch.label)}</title>")
    if background:
        lines.append(
            f'<rect x="{vb[0]}" y="{vb[1]}" width="{vb[2]}" height="{vb[3]}" '
            f'fill="{to_hex(to_rgb([background]))[0]}"/>'
        )
    lines.append(
        f'<g fill="none" stroke="black" stroke-linecap="round" stroke-linejoin="round" '
        f'stroke-width="{_fmt(np.array([w]))[0]}">'
    )
    for k, stroke in enumerate(sketch.strokes):
        xy = _fmt(stroke)
        if len(stroke) == 1:
            d = f"M{xy[0]} {xy[1]}Z"
        else:
            pairs = [f"{x} {y}" for x, y in zip(xy[::2], xy[1::2], strict=True)]
            d = "M" + pairs[0] + " L" + " ".join(pairs[1:])
        color = f" stroke={quoteattr(colors[k])}" if colors else ""
        lines.append(f'<path d="{d}"{color}/>')
    lines.append("</g>")
    lines.append("</svg>")
    return "\n".join(lines) + "\n"


def write_svg(
    sketch: Sketch,
    path: PathLike,
    stroke_colors: Colors | None = None,
    width: float | None = None,
) -> None:
    """Write one sketch as an SVG file (see `svg_text`)."""
    Path(path).write_text(svg_text(sketch, stroke_colors=stroke_colors, width=width), encoding="utf-8")
