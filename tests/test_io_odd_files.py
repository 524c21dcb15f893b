"""Odd files a bug hunt found (npz, SVG, uploads): each is a StrokelensError naming the file, or read
without leaking where it was unpacked."""

from __future__ import annotations

import io
import zipfile

import numpy as np
import pytest

from strokelens import StrokelensError
from strokelens.io import read_sketches, read_uploaded

SVG = '<svg xmlns="http://www.w3.org/2000/svg"><path d="M0 0 L10 10 L20 0"/></svg>'


def npz_bytes() -> bytes:
    sketch = np.array([[0, 0, 0], [5, 5, 0], [5, 0, 1]], dtype=np.int16)
    out = io.BytesIO()
    np.savez(out, train=np.array([sketch, sketch], dtype=object), allow_pickle=True)
    return out.getvalue()


def test_an_encrypted_npz_member_is_refused_with_the_file(tmp_path):
    data = bytearray(npz_bytes())
    with zipfile.ZipFile(io.BytesIO(bytes(data))) as zf:
        info = zf.infolist()[0]
    for offset in (info.header_offset + 6, data.rfind(b"PK\x01\x02") + 8):  # local and central flag bits
        data[offset] |= 1
    path = tmp_path / "enc.npz"
    path.write_bytes(bytes(data))
    with pytest.raises(StrokelensError, match=r"enc\.npz, key 'train': cannot be read"):
        list(read_sketches(path))


def test_an_svg_in_an_unknown_encoding_is_refused_with_the_file(tmp_path):
    path = tmp_path / "odd.svg"
    path.write_text('<?xml version="1.0" encoding="bogus"?>' + SVG)
    with pytest.raises(StrokelensError, match=r"odd\.svg: unreadable"):
        list(read_sketches(path))


def test_an_upload_keeps_nothing_of_the_folder_it_was_unpacked_in():
    (sketch,) = read_uploaded(SVG.encode(), "123.svg")
    assert sketch.label is None and sketch.source == "123.svg"


@pytest.mark.parametrize(
    ("element", "word"),
    [
        ('<polyline points="10,10 foo 20,20"/>', "'foo'"),
        ('<polyline points="10px,10px 20px,20px"/>', "'px"),
        ('<line x1="1cm" y1="0" x2="5in" y2="3"/>', "'cm"),
        ('<line x1="10%" y1="0" x2="5" y2="3"/>', "'%'"),
        ('<path d="M0 0 L10 10" transform="rotate(90deg)"/>', "'deg'"),
        ('<path d="M0 0 L10 10" transform="translate(10 foo 20)"/>', "'foo'"),
    ],
)
def test_svg_numbers_with_units_or_words_are_refused_not_skipped(tmp_path, element, word):
    path = tmp_path / "units.svg"
    path.write_text(f'<svg xmlns="http://www.w3.org/2000/svg">{element}</svg>')
    with pytest.raises(StrokelensError, match=f"units.svg.*{word}.*not a number"):
        list(read_sketches(path))


def test_svg_number_lists_without_separators_are_still_read(tmp_path):
    path = tmp_path / "tight.svg"
    path.write_text('<svg xmlns="http://www.w3.org/2000/svg"><polyline points="0,0 10-5 1.5.5"/></svg>')
    (sketch,) = read_sketches(path)
    assert sketch.strokes[0][[0, -1]].tolist() == [[0.0, 0.0], [1.5, 0.5]]
