"""Which columns an update changed: binrows.changed (C) against its Python twin
(row_diff.changed_images) on random images, truncated and garbled ones included, and the
Arrow comparison of finished values (row_diff.changed_bitmaps)."""

from __future__ import annotations

import struct
from itertools import pairwise
from typing import Any

import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from zeroetl.native import binrows
from zeroetl.sources.mysql import row_diff

# (code, width) of binrows.c's layouts: signed int, float, double, fixed bytes, prefixed bytes
COLUMN = st.sampled_from([(1, 1), (1, 4), (1, 8), (4, 4), (5, 8), (6, 3), (7, 1), (7, 2)])


def value(code: int, width: int) -> st.SearchStrategy[bytes | None]:
    if code == 7:
        body = st.binary(max_size=20).map(lambda b: len(b).to_bytes(width, "little") + b)
    else:
        body = st.binary(min_size=width, max_size=width)
    return st.none() | body


@st.composite
def event(draw: Any) -> tuple[bytes, int, bytes, bytes, bytes, list[list[bool]]]:
    cols = draw(st.lists(COLUMN, min_size=1, max_size=20))
    ncols = len(cols)
    layout = b"".join(bytes([c, w, 0, 0]) for c, w in cols)
    buf = bytearray(draw(st.binary(max_size=5)))  # the event's header bytes
    before, after, want = [], [], []
    for _ in range(draw(st.integers(0, 4))):
        first = [draw(value(c, w)) for c, w in cols]
        second = [
            v if draw(st.booleans()) else draw(value(c, w))
            for v, (c, w) in zip(first, cols, strict=True)
        ]
        for image, offsets in ((first, before), (second, after)):
            offsets.append(len(buf))
            nb = bytearray((ncols + 7) // 8)
            for i, v in enumerate(image):
                if v is None:
                    nb[i >> 3] |= 1 << (i & 7)
            buf += nb + b"".join(v for v in image if v is not None)
        want.append([a != b for a, b in zip(first, second, strict=True)])
    pack = lambda xs: struct.pack(f"<{len(xs)}q", *xs)  # noqa: E731
    return layout, ncols, bytes(buf), pack(before), pack(after), want


def bits(raw: bytes, ncols: int) -> list[list[bool]]:
    width = (ncols + 7) // 8
    rows = [raw[i : i + width] for i in range(0, len(raw), width)]
    return [[bool(r[j >> 3] >> (j & 7) & 1) for j in range(ncols)] for r in rows]


def both(*args: Any) -> tuple[str, Any]:
    out = []
    for f in (binrows.changed, row_diff.changed_images):
        try:
            out.append(("ok", f(*args)))
        except ValueError as e:
            out.append(("error", str(e)))
    assert out[0] == out[1], args
    return out[0]


@pytest.mark.skipif(binrows is None, reason="compiled decoder not built")
@settings(max_examples=300, deadline=None)
@given(ev=event(), cut=st.integers(0, 400), flip=st.integers(0, 400))
def test_compiled_and_python_agree(ev: Any, cut: int, flip: int) -> None:
    layout, ncols, buf, before, after, want = ev
    kind, got = both(layout, ncols, buf, before, after)
    assert kind == "ok" and bits(got, ncols) == want
    both(layout, ncols, buf[: min(cut, len(buf))], before, after)  # truncated
    if buf:
        garbled = bytearray(buf)
        garbled[flip % len(buf)] ^= 0xFF
        both(layout, ncols, bytes(garbled), before, after)
    both(layout, ncols, buf, before + b"\x00" * 8, after + b"\xff" * 8)  # a wild offset


def both_many(layout: bytes, ncols: int, segments: list[Any]) -> tuple[str, Any]:
    out = []
    for f in (binrows.changed_many, row_diff.changed_segments):
        try:
            out.append(("ok", f(layout, ncols, segments)))
        except ValueError as e:
            out.append(("error", str(e)))
    assert out[0] == out[1], segments
    return out[0]


@pytest.mark.skipif(binrows is None, reason="compiled decoder not built")
@settings(max_examples=200, deadline=None)
@given(
    ev=event(),
    cuts=st.lists(st.integers(0, 4), max_size=3),
    hurt=st.integers(0, 3),
    at=st.integers(0, 400),
    buffer=st.sampled_from([bytes, bytearray, memoryview]),
)
def test_many_segments_at_once_as_one_by_one(
    ev: Any, cuts: list[int], hurt: int, at: int, buffer: Any
) -> None:
    """changed_many over a batch's (buf, before, after) segments: the bitmaps of changed (and
    of the twin) one after the other, or the error the first failing segment raises."""
    layout, ncols, buf, before, after, want = ev
    rows = len(before) // 8
    edges = [0, *sorted(min(c, rows) for c in cuts), rows]
    segments: list[Any] = [
        (buffer(buf), before[8 * lo : 8 * hi], after[8 * lo : 8 * hi]) for lo, hi in pairwise(edges)
    ]
    kind, got = both_many(layout, ncols, segments)
    assert kind == "ok" and bits(got, ncols) == want
    k = at % len(segments)
    b, sb, sa = segments[k]
    if hurt == 0:  # cut short
        segments[k] = (bytes(buf[: at % (len(buf) + 1)]), sb, sa)
    elif hurt == 1 and buf:  # a byte garbled
        garbled = bytearray(buf)
        garbled[at % len(buf)] ^= 0xFF
        segments[k] = (bytes(garbled), sb, sa)
    elif hurt == 2:  # a wild offset
        segments[k] = (b, sb + b"\x00" * 8, sa + b"\xff" * 8)
    else:  # offsets that do not pair
        segments[k] = (b, sb + b"\x00" * 8, sa)
    both_many(layout, ncols, segments)


def test_bad_arguments_are_refused() -> None:
    if binrows is not None:
        with pytest.raises(ValueError):
            binrows.changed(b"\x01\x04\x00\x00", 2, b"", b"", b"")
        with pytest.raises(ValueError):
            binrows.changed(b"\x09\x04\x00\x00", 1, b"", b"", b"")
    with pytest.raises(ValueError):
        row_diff.changed_images(b"\x01\x04\x00\x00", 1, b"", b"\x00" * 8, b"")
    for many in (binrows.changed_many, row_diff.changed_segments) if binrows else ():
        with pytest.raises(ValueError):
            many(b"\x01\x04\x00\x00", 2, [])
    if binrows is not None:
        with pytest.raises(TypeError):
            binrows.changed_many(b"\x01\x04\x00\x00", 1, [(b"", b"")])


def test_finished_values_compare_exactly() -> None:
    before = [
        pa.array([1, 2, None, None]),
        pa.array([0.0, 1.0, None, 2.0]),
        pa.array(["a", "", None, "b"]),
    ]
    after = [
        pa.array([1, 3, None, 4]),
        pa.array([-0.0, 1.0, 3.0, 2.0]),
        pa.array(["a", None, "", "b"]),
    ]
    raw = row_diff.changed_bitmaps(before, after)
    assert [bits(r, 3)[0] for r in raw.to_pylist()] == [
        [False, True, False],
        [True, False, True],
        [False, True, True],
        [True, False, False],
    ]
