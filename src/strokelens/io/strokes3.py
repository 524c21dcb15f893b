"""sketch-rnn stroke-3 ``.npz`` files, read without unpickling.

The sketch-rnn data sets (``<class>.npz``) hold three keys, ``train``, ``valid`` and ``test``; each is a
NumPy *object* array whose items are ``(n, 3)`` int16 arrays of ``(dx, dy, pen_lift)`` rows. NumPy stores
object arrays as a pickle stream, and loading one with ``np.load(allow_pickle=True)`` can run arbitrary
code. strokelens never does that. Instead:

* numeric members are loaded with NumPy's own ``.npy`` reader and ``allow_pickle=False``;
* an object member's pickle stream is *parsed*, not executed: `pickletools.genops` splits it into
  opcodes and a small interpreter here rebuilds only NumPy arrays of numeric dtypes (and the object array
  holding them). The only names it accepts are NumPy's array reconstructor, ``numpy.ndarray``,
  ``numpy.dtype`` and ``_codecs.encode`` (Python 2 byte strings); any other global, opcode or dtype is
  refused with a `StrokelensError`. Nothing is imported and no callable from the file is ever invoked.

`write_strokes3` writes the same layout (object arrays of ``(n, 3)`` rows; int16 when every offset is a
whole number that fits, float64 otherwise), so the files load in sketch-rnn code as well as here. A
sketch's ``meta["split"]`` (``train``/``val``/``test``) picks its key, ``train`` by default. Stroke-3
keeps geometry only: labels, key ids, times and part labels are not stored; on reading, the label is the
file's stem (``cat.npz`` -> ``cat``) and ``meta["split"]`` the key.
"""

from __future__ import annotations

import io
import math
import os
import pickletools
import zipfile
import zlib
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import BinaryIO

import numpy as np

from strokelens.errors import StrokelensError
from strokelens.sketch import MAX_POINTS, MAX_STROKES, Sketch

PathLike = str | os.PathLike[str]

#: The keys of a sketch-rnn file, in reading order, and the split each one holds.
SPLIT_KEYS = {"train": "train", "valid": "val", "test": "test"}
#: A member that expands to more bytes than this is refused before it is read (against zip bombs).
#: Measured by writing the real data with `write_strokes3`: the 8,600 simplified QuickDraw sketches
#: take 300 bytes a sketch (2.6 MB), the 16,000 SPG sketches in raw coordinates 1,315 bytes a sketch
#: (21.0 MB). A sketch-rnn class file holds 70,000 training sketches: about 21 MB simplified, 92 MB
#: even at SPG's raw density; a sketch at the point limit (500,000 rows of int16) is 3 MB. 256 MiB
#: leaves room for all of these. To read larger members, set
#: ``strokelens.io.strokes3.MAX_MEMBER_BYTES`` higher.
MAX_MEMBER_BYTES = 256 * 1024 * 1024

_ALLOWED_GLOBALS = {
    ("numpy.core.multiarray", "_reconstruct"): "reconstruct",
    ("numpy._core.multiarray", "_reconstruct"): "reconstruct",
    ("numpy", "ndarray"): "ndarray",
    ("numpy", "dtype"): "dtype",
    ("_codecs", "encode"): "encode",
}


class _Refused(Exception):
    """Raised inside the pickle interpreter; turned into a `StrokelensError` with the location."""


class _Global:
    __slots__ = ("kind",)

    def __init__(self, kind: str) -> None:
        self.kind = kind


class _ArrayStub:
    """An array announced by ``_reconstruct`` and filled in by ``BUILD``."""

    __slots__ = ("value",)

    def __init__(self) -> None:
        self.value: np.ndarray | None = None


class _DtypeStub:
    __slots__ = ("code", "value")

    def __init__(self, code: str) -> None:
        self.code = code
        self.value: np.dtype | None = None


_MARK = object()


def _resolve(obj):
    if isinstance(obj, _ArrayStub | _DtypeStub):
        if obj.value is None:
            raise _Refused("incomplete array or dtype")
        return obj.value
    return obj


def _make_dtype(stub: _DtypeStub, state) -> np.dtype:
    if not isinstance(state, tuple) or len(state) < 2 or state[1] not in ("<", ">", "|", "="):
        raise _Refused("unexpected dtype state")
    try:
        dt = np.dtype(stub.code)
    except TypeError:
        raise _Refused(f"unknown dtype {stub.code!r}") from None
    if dt.kind not in "biufO" or dt.fields is not None or dt.subdtype is not None:
        raise _Refused(f"dtype {stub.code!r} is not a plain numeric type")
    return dt.newbyteorder(state[1]) if state[1] in "<>" else dt


def _make_array(state) -> np.ndarray:
    if not isinstance(state, tuple) or len(state) not in (4, 5):
        raise _Refused("unexpected array state")
    shape, dtype, fortran, data = state[-4:]
    dtype = _resolve(dtype)
    if not isinstance(shape, tuple) or not all(isinstance(d, int) and d >= 0 for d in shape):
        raise _Refused("bad array shape")
    if not isinstance(dtype, np.dtype):
        raise _Refused("array without a dtype")
    count = math.prod(shape)
    order = "F" if fortran else "C"
    if dtype.kind == "O":
        if not isinstance(data, list) or len(data) != count:
            raise _Refused("object array items do not match its shape")
        out = np.empty(count, dtype=object)
        for i, item in enumerate(data):
            item = _resolve(item)
            if not isinstance(item, np.ndarray) or item.dtype.kind == "O":
                raise _Refused("object array holds something other than a numeric array")
            out[i] = item
        return out.reshape(shape, order=order)
    if isinstance(data, str):  # Python 2 str, decoded as latin-1 by the pickle layer
        data = data.encode("latin-1")
    if not isinstance(data, bytes | bytearray) or len(data) != count * dtype.itemsize:
        raise _Refused("array data does not match its shape and dtype")
    # A read-only view of the bytes the stream gave: the data is held once, not copied again.
    return np.frombuffer(data, dtype=dtype).reshape(shape, order=order)


def _pop_mark(stack: list) -> list:
    for k in range(len(stack) - 1, -1, -1):
        if stack[k] is _MARK:
            items = stack[k + 1 :]
            del stack[k:]
            return items
    raise _Refused("MARK missing")


def parse_array_pickle(data: bytes | BinaryIO) -> np.ndarray:
    """Rebuild a NumPy array (numeric, or an object array of numeric arrays) from its pickle bytes.

    ``data``: the pickle's bytes, or a binary stream read up to the pickle's end. The stream is parsed
    opcode by opcode; nothing is imported or called. Numeric arrays come back read-only, as views of
    the bytes read. Raises ``ValueError`` for anything outside that narrow language.
    """
    stack: list = []
    memo: dict[int, object] = {}
    stream = io.BytesIO(data) if isinstance(data, bytes | bytearray | memoryview) else data
    try:
        for op, arg, _pos in pickletools.genops(stream):
            name = op.name
            if name == "MEMOIZE":
                memo[len(memo)] = stack[-1]
            elif name in ("BINGET", "LONG_BINGET", "GET"):
                stack.append(memo[int(arg)])
            elif name in ("BINPUT", "LONG_BINPUT", "PUT"):
                memo[int(arg)] = stack[-1]
            elif name in ("PROTO", "FRAME"):
                continue
            elif name == "STOP":
                if len(stack) != 1:
                    raise _Refused("stack not empty at STOP")
                result = _resolve(stack[0])
                if not isinstance(result, np.ndarray):
                    raise _Refused("the pickle does not hold an array")
                return result
            elif name == "MARK":
                stack.append(_MARK)
            elif name in ("BININT", "BININT1", "BININT2", "LONG1", "INT", "LONG"):
                stack.append(int(arg))
            elif name in ("BINUNICODE", "SHORT_BINUNICODE", "BINUNICODE8", "UNICODE"):
                stack.append(str(arg))
            elif name in ("BINBYTES", "SHORT_BINBYTES", "BINBYTES8", "BINSTRING", "SHORT_BINSTRING"):
                stack.append(arg)
            elif name == "NONE":
                stack.append(None)
            elif name in ("NEWTRUE", "NEWFALSE"):
                stack.append(name == "NEWTRUE")
            elif name == "EMPTY_TUPLE":
                stack.append(())
            elif name in ("TUPLE1", "TUPLE2", "TUPLE3"):
                n = int(name[-1])
                if len(stack) < n:
                    raise _Refused("stack underflow")
                items = tuple(stack[-n:])
                del stack[-n:]
                stack.append(items)
            elif name == "TUPLE":
                stack.append(tuple(_pop_mark(stack)))
            elif name == "EMPTY_LIST":
                stack.append([])
            elif name == "LIST":
                stack.append(_pop_mark(stack))
            elif name == "APPEND":
                item = stack.pop()
                if not isinstance(stack[-1], list):
                    raise _Refused("APPEND to a non-list")
                stack[-1].append(item)
            elif name == "APPENDS":
                items = _pop_mark(stack)
                if not isinstance(stack[-1], list):
                    raise _Refused("APPENDS to a non-list")
                stack[-1].extend(items)
            elif name in ("GLOBAL", "STACK_GLOBAL"):
                if name == "GLOBAL":
                    module, _, attr = str(arg).partition(" ")
                else:
                    attr, module = stack.pop(), stack.pop()
                kind = _ALLOWED_GLOBALS.get((module, attr))
                if kind is None:
                    raise _Refused(f"refusing the pickled global {module}.{attr}")
                stack.append(_Global(kind))
            elif name == "REDUCE":
                args, func = stack.pop(), stack.pop()
                if not isinstance(func, _Global) or not isinstance(args, tuple):
                    raise _Refused("REDUCE of something other than an allowed global")
                if func.kind == "reconstruct":
                    stack.append(_ArrayStub())
                elif func.kind == "dtype" and args and isinstance(args[0], str):
                    stack.append(_DtypeStub(args[0]))
                elif func.kind == "encode" and len(args) == 2 and isinstance(args[0], str):
                    stack.append(args[0].encode("latin-1"))
                else:
                    raise _Refused(f"unexpected call of {func.kind}")
            elif name == "BUILD":
                state, obj = stack.pop(), stack.pop()
                if isinstance(obj, _DtypeStub):
                    obj.value = _make_dtype(obj, state)
                elif isinstance(obj, _ArrayStub):
                    obj.value = _make_array(state)
                else:
                    raise _Refused("BUILD of something other than an array or dtype")
                stack.append(obj)
            else:
                raise _Refused(f"pickle opcode {name} is not allowed")
    except _Refused as exc:
        raise ValueError(str(exc)) from None
    except (IndexError, KeyError, TypeError, UnicodeError) as exc:
        raise ValueError(f"malformed pickle ({type(exc).__name__})") from None
    raise ValueError("pickle stream ends without STOP")


def _read_member(zf: zipfile.ZipFile, info: zipfile.ZipInfo) -> np.ndarray:
    """Load one ``.npy`` member, streamed from the zip: numeric arrays by NumPy, object arrays through
    `parse_array_pickle`. Sizes are checked before anything is allocated, and the data is read once,
    straight into its arrays (the zip's stream stops at the member's declared size)."""
    if info.file_size > MAX_MEMBER_BYTES:
        raise ValueError(
            f"expands to {info.file_size} bytes, over the npz member size limit of {MAX_MEMBER_BYTES} "
            "bytes (raise it by setting strokelens.io.strokes3.MAX_MEMBER_BYTES)"
        )
    with zf.open(info) as fh:
        version = np.lib.format.read_magic(fh)
        if version == (1, 0):
            shape, _fortran, dtype = np.lib.format.read_array_header_1_0(fh)
        else:
            shape, _fortran, dtype = np.lib.format.read_array_header_2_0(fh)
        if dtype.hasobject:
            arr = parse_array_pickle(fh)
            if arr.shape != tuple(shape):
                raise ValueError(f"pickled array has shape {arr.shape}, header says {tuple(shape)}")
            return arr
        header = fh.tell()
    nbytes = math.prod(shape) * dtype.itemsize
    if header + nbytes != info.file_size:
        raise ValueError(
            f"header says shape {tuple(shape)} of {dtype} ({nbytes} bytes), the member holds "
            f"{info.file_size - header}"
        )
    with zf.open(info) as fh:  # NumPy reads the header again, then the data in chunks into the array
        return np.lib.format.read_array(fh, allow_pickle=False)


def _items(arr: np.ndarray) -> list[np.ndarray]:
    """The sketches of one key: an object array of ``(n, 3)`` arrays, or one numeric ``(n, 3)`` array."""
    if arr.dtype == object:
        return list(arr.reshape(-1))
    return [arr]


def read_strokes3(path: PathLike, limit: int | None = None) -> Iterator[Sketch]:
    """Read a sketch-rnn stroke-3 ``.npz`` (keys ``train``, ``valid``, ``test``), never unpickling.

    Yields sketches in key order; ``meta["split"]`` says which key, ``label`` is the file stem.
    A truncated or corrupt file raises `StrokelensError` naming the file and the key.
    """
    path = Path(path)
    label = path.name.split(".")[0]
    seen = 0
    try:
        zf = zipfile.ZipFile(path)
    except FileNotFoundError:
        raise StrokelensError(f"no such file: {path}") from None
    except (zipfile.BadZipFile, OSError, EOFError, ValueError) as exc:
        raise StrokelensError(f"{path}: not a readable .npz file (truncated or corrupt: {exc})") from None
    with zf:
        members = {info.filename.removesuffix(".npy"): info for info in zf.infolist()}
        keys = [k for k in SPLIT_KEYS if k in members]
        if not keys:
            found = ", ".join(sorted(members)) or "nothing"
            raise StrokelensError(f"{path}: no train/valid/test arrays (found {found})")
        for key in keys:
            try:
                arr = _read_member(zf, members[key])
            except (zipfile.BadZipFile, OSError, EOFError, ValueError, zlib.error) as exc:
                raise StrokelensError(f"{path}, key {key!r}: truncated or corrupt ({exc})") from None
            except (RuntimeError, NotImplementedError) as exc:  # encrypted, or a compression zip lacks
                raise StrokelensError(f"{path}, key {key!r}: cannot be read ({exc})") from None
            for i, item in enumerate(_items(arr)):
                loc = f"{path}, key {key!r}, record {i}"
                data = np.asarray(item)
                if data.ndim != 2 or data.shape[1] != 3 or data.dtype.kind not in "biuf":
                    raise StrokelensError(f"{loc}: expected numeric stroke-3 rows (n, 3), got {data.shape}")
                if len(data) == 0:
                    raise StrokelensError(f"{loc}: drawing has no strokes")
                if len(data) > MAX_POINTS:
                    raise StrokelensError(f"{loc}: {len(data)} points exceeds the limit of {MAX_POINTS}")
                lifts = int(np.count_nonzero(data[:-1, 2] > 0.5)) + 1
                if lifts > MAX_STROKES:
                    raise StrokelensError(f"{loc}: {lifts} strokes exceeds the limit of {MAX_STROKES}")
                yield Sketch.from_stroke3(data, label=label, source=loc, meta={"split": SPLIT_KEYS[key]})
                seen += 1
                if limit is not None and seen >= limit:
                    return
    if seen == 0:
        raise StrokelensError(f"{path}: empty file, no drawings")


def _object_array(rows: list[np.ndarray]) -> np.ndarray:
    out = np.empty(len(rows), dtype=object)
    for i, r in enumerate(rows):
        out[i] = r
    return out


def write_strokes3(sketches: Iterable[Sketch], path: PathLike) -> None:
    """Write sketches as a sketch-rnn stroke-3 ``.npz`` (compressed; keys ``train``, ``valid``, ``test``).

    Each sketch goes to the key of its ``meta["split"]`` (``train``, ``val``/``valid``, ``test``;
    ``train`` when absent). Offsets are stored as int16 when all are whole numbers within int16, as
    float64 otherwise.
    """
    to_key = {"train": "train", "val": "valid", "valid": "valid", "test": "test"}
    rows: dict[str, list[np.ndarray]] = {k: [] for k in SPLIT_KEYS}
    for s in sketches:
        s3 = s.to_stroke3()
        whole = np.array_equal(s3, np.round(s3)) and np.abs(s3).max() <= np.iinfo(np.int16).max
        rows[to_key.get(str(s.meta.get("split", "train")), "train")].append(
            s3.astype(np.int16) if whole else s3
        )
    # Writing a pickle is safe; it is loading one that is not. Object arrays need it.
    np.savez_compressed(Path(path), **{k: _object_array(v) for k, v in rows.items()}, allow_pickle=True)
