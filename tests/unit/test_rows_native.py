"""The compiled row walker (zeroetl.native._binrows) against the generated Python walk.

Both decode the same rows events of a table holding every column type the decoder reads; what
each hands the finishers (after the per-column conversions) must be equal value by value, on
random row images, on truncated events and on garbled bytes (where both must raise DecodeError,
never crash). tests/integration/test_rows_decoder.py runs the same comparison on a real server's
events, Arrow included.
"""

from __future__ import annotations

import datetime as dt
import random
import struct
from typing import Any

import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from zeroetl import native
from zeroetl.errors import DecodeError, TableFailed
from zeroetl.model import TableId
from zeroetl.sources.mysql import coltypes as T
from zeroetl.sources.mysql import row_diff
from zeroetl.sources.mysql.changes import Batch
from zeroetl.sources.mysql.rows import RowsDecoder
from zeroetl.sources.mysql.rows_native import DATE, DATETIME
from zeroetl.sources.mysql.tablemap import TableMap

pytestmark = pytest.mark.skipif(native.binrows is None, reason="_binrows not built")

UTF8 = 45  # utf8mb4_general_ci
LATIN1 = 8
# (type, meta, unsigned, collation, members)
COLUMNS: list[tuple[int, int, bool, int | None, tuple[str, ...] | None]] = [
    (T.LONG, 0, False, None, None),
    *[(t, 0, u, None, None) for t in (T.TINY, T.SHORT, T.INT24, T.LONG, T.LONGLONG)
      for u in (False, True)],
    (T.FLOAT, 4, False, None, None), (T.DOUBLE, 8, False, None, None),
    (T.YEAR, 0, False, None, None),
    (T.ENUM, 1, False, UTF8, ("a", "b", "été")), (T.ENUM, 2, False, UTF8, ("x",) * 300),
    (T.SET, 1, False, UTF8, ("x", "y", "z")), (T.SET, 8, False, UTF8, tuple("abcdefgh")),
    *[(T.NEWDECIMAL, p << 8 | s, False, None, None)
      for p, s in ((1, 0), (5, 2), (10, 0), (10, 2), (18, 4), (18, 18), (19, 0), (38, 10), (65, 30))],
    *[(t, fsp, False, None, None) for t in (T.DATETIME2, T.TIMESTAMP2, T.TIME2)
      for fsp in range(7)],
    (T.DATE, 0, False, None, None), (T.TIMESTAMP, 0, False, None, None),
    (T.DATETIME, 0, False, None, None), (T.TIME, 0, False, None, None),
    (T.BIT, 0 << 8 | 1, False, None, None), (T.BIT, 1 << 8 | 2, False, None, None),
    (T.BIT, 8 << 8 | 0, False, None, None),
    (T.VARCHAR, 20, False, UTF8, None), (T.VARCHAR, 300, False, UTF8, None),
    (T.VARCHAR, 40, False, LATIN1, None), (T.VARCHAR, 40, False, T.BINARY_COLLATION, None),
    (T.STRING, 10, False, UTF8, None), (T.STRING, 400, False, UTF8, None),
    (T.STRING, 8, False, T.BINARY_COLLATION, None),
    *[(T.BLOB, m, False, c, None) for m in (1, 2, 3, 4) for c in (UTF8, T.BINARY_COLLATION)],
    (T.JSON, 4, False, None, None), (T.GEOMETRY, 4, False, None, None),
]  # fmt: skip
N = len(COLUMNS)


def table_map(cols: list[Any] = COLUMNS) -> TableMap:
    n = len(cols)
    return TableMap(
        table_id=7, schema="db", table="every_type",
        column_types=tuple(c[0] for c in cols), column_meta=tuple(c[1] for c in cols),
        nullable=(False,) + (True,) * (n - 1), column_names=tuple(f"c{i}" for i in range(n)),
        primary_key=(0,), unsigned=tuple(c[2] for c in cols),
        collations=tuple(c[3] for c in cols), enum_values=tuple(c[4] for c in cols),
        geometry_types=(None,) * n,
    )  # fmt: skip


def decoders(monkeypatch: pytest.MonkeyPatch, tmap: TableMap) -> tuple[RowsDecoder, RowsDecoder]:
    c = RowsDecoder(tmap)
    with monkeypatch.context() as m:
        m.setattr(native, "binrows", None)
        py = RowsDecoder(tmap)
    assert c.native is not None and py.native is None
    return c, py


def _width(dec: RowsDecoder, i: int) -> int:
    assert dec.native is not None
    lay = dec.native.layout[4 * i : 4 * i + 4]
    return 4 if lay[0] == 4 else 8 if lay[0] == 5 else lay[1]


def value_bytes(dec: RowsDecoder, i: int, rnd: random.Random) -> bytes:
    assert dec.native is not None
    lay = dec.native.layout[4 * i : 4 * i + 4]
    if lay[0] == 7:  # length-prefixed
        data = rnd.randbytes(rnd.choice((0, 1, 5, 20, 300)) % (256 ** lay[1]))
        return len(data).to_bytes(lay[1], "little") + data
    return rnd.randbytes(_width(dec, i))


def row_image(dec: RowsDecoder, rnd: random.Random, null_share: float) -> bytes:
    nulls = [i > 0 and rnd.random() < null_share for i in range(dec.ncols)]
    bitmap = sum(1 << i for i, n in enumerate(nulls) if n)
    # The unused high bits are set by servers: the walkers must ignore them.
    bitmap |= ~((1 << dec.ncols) - 1) & ((1 << (8 * dec._nbl)) - 1)
    out = bitmap.to_bytes(dec._nbl, "little")
    for i, n in enumerate(nulls):
        if not n:
            out += value_bytes(dec, i, rnd)
    return out


def event(dec: RowsDecoder, images: list[bytes], v2: bool = True, update: bool = False) -> bytes:
    head = (7).to_bytes(6, "little") + b"\x01\x00"
    if v2:
        head += b"\x02\x00"
    present = ((1 << dec.ncols) - 1).to_bytes(dec._nbl, "little")
    assert dec.ncols < 251
    return head + bytes([dec.ncols]) + present * (2 if update else 1) + b"".join(images)


def finisher_input(dec: RowsDecoder, raw: list[Any]) -> list[list[Any]]:
    nc = dec.ncols
    cols = [raw[k::nc] for k in range(nc)]
    return [conv(col) if conv else col for col, conv in zip(cols, dec._conv, strict=True)]


def same(a: list[list[Any]], b: list[list[Any]]) -> bool:
    # repr: floats compare by their text (NaN equals NaN, -0.0 differs from 0.0)
    return repr(a) == repr(b)


def outcome(dec: RowsDecoder, etype: int, body: bytes) -> Any:
    try:
        img = dec.decode(etype, memoryview(body))
    except DecodeError as e:
        return ("DecodeError", type(e).__name__)
    except IndexError as e:  # a header cut short: both paths read it in Python (as before)
        return ("IndexError", str(e))
    return (img.kind, img.num_rows, repr(finisher_input(dec, img.raw)))


def arrow_same(a: list[pa.Array], b: list[pa.Array]) -> None:
    assert [x.type for x in a] == [y.type for y in b]
    for x, y in zip(a, b, strict=True):
        if pa.types.is_timestamp(x.type):  # as numbers: some lie past Python's datetime
            x, y = x.cast(pa.int64()), y.cast(pa.int64())
        assert (x.null_count, repr(x.to_pylist())) == (y.null_count, repr(y.to_pylist()))


# Columns built into Arrow in C (FIXED and VAR), plus a few finished in Python (LIST).
BUILT = [c for c in COLUMNS if c[0] in (T.TINY, T.SHORT, T.INT24, T.LONG, T.LONGLONG, T.FLOAT,
         T.DOUBLE, T.VARCHAR, T.STRING, T.BLOB, T.SET, T.YEAR, T.BIT, T.DATE,
         T.DATETIME2)]  # fmt: skip
BUILT.append((T.VARCHAR, 20, False, 255, None))  # utf8mb4_0900_ai_ci
BUILT.append((T.VARCHAR, 20, False, 54, None))  # utf16: finished in Python


@given(seed=st.integers(0, 2**32), rows=st.integers(1, 12), nulls=st.sampled_from([0, 0.3, 1]))
@settings(max_examples=40, deadline=None)
def test_batches_build_the_same_arrow(seed: int, rows: int, nulls: float) -> None:
    mp = pytest.MonkeyPatch()
    tmap = table_map(BUILT)
    c, py = decoders(mp, tmap)
    rnd = random.Random(seed)
    schema = c.table_schema
    tid = TableId("db", "every_type")
    batches = (Batch(), Batch())
    for etype, images in ((30, 1), (31, 2), (32, 1), (31, 2)):
        imgs = [row_image(c, rnd, nulls) for _ in range(rows * images)]
        if images == 2 and rnd.random() < 0.5:  # some updates keep their key
            imgs[1::2] = [imgs[k][: c._nbl] + imgs[k - 1][c._nbl : c._nbl + 4] + imgs[k][c._nbl + 4 :]
                          if not imgs[k - 1][0] & 1 and not imgs[k][0] & 1 else imgs[k]
                          for k in range(1, len(imgs), 2)]  # fmt: skip
        body = event(c, imgs, True, images == 2)
        for dec, batch in zip((c, py), batches, strict=True):
            img = dec.decode(etype, memoryview(body))
            arrow_same(
                [*(img.after or img.before).columns],
                [*(py.decode(etype, memoryview(body)).after or img.before).columns],
            )
            batch.add(tid, schema, img)
    a, b = (batch.seal().tables[tid] for batch in batches)
    assert not a.failure and not b.failure
    assert a.rows is not None and b.rows is not None
    assert a.rows.column_names == b.rows.column_names
    arrow_same(a.rows.columns, b.rows.columns)
    assert (a.inserted, a.updated, a.deleted, a.nbytes, a.zero_dates) == (
        b.inserted,
        b.updated,
        b.deleted,
        b.nbytes,
        b.zero_dates,
    )


def _date(y: int, m: int, d: int) -> bytes:
    return (y << 9 | m << 5 | d).to_bytes(3, "little")


def _datetime2(y: int, mo: int, d: int, h: int, mi: int, s: int, frac: int, fb: int) -> bytes:
    whole = ((y * 13 + mo) << 5 | d) << 17 | h << 12 | mi << 6 | s
    return ((whole + (1 << 39)) << (8 * fb) | frac).to_bytes(5 + fb, "big")


def test_dates_are_built_in_c_as_in_python(monkeypatch: pytest.MonkeyPatch) -> None:
    """DATE and DATETIME2 columns are converted in C (binrows.build's DATE / DATETIME modes): the
    same Arrow values and zero-date counts as values.py's finishers, on real dates, zero dates,
    dates Python refuses (Feb 29 of 1900, month 13, year 10000), unchecked hours and minutes,
    values below the DATETIME2 origin and random bytes."""
    for fsp in range(7):
        fb = (fsp + 1) // 2
        cols = [(T.LONG, 0, False, None, None), (T.DATE, 0, False, None, None),
                (T.DATETIME2, fsp, False, None, None)]  # fmt: skip
        c, py = decoders(monkeypatch, table_map(cols))
        assert c.native is not None and list(c.native.modes[1:]) == [DATE, DATETIME]
        frac = (0, 99, 9999, 999999)[fb]  # .99, .9999, .999999
        dates = [(2020, 1, 1), (0, 0, 0), (1900, 2, 29), (2000, 2, 29), (1, 1, 1), (9999, 12, 31),
                 (10000, 1, 1), (2021, 13, 1), (2021, 4, 31), (1970, 1, 0)]  # fmt: skip
        rows = [_date(*d) + _datetime2(*d, 23, 59, 59, frac, fb) for d in dates]
        rows += [_date(2024, 5, 6) + _datetime2(2024, 5, 6, 31, 63, 63, 0, fb)]  # unchecked
        rows += [_date(2024, 5, 6) + _datetime2(2024, 5, 6, 1, 2, 3, 256**fb - 1, fb)]  # fraction
        rows += [_date(2024, 5, 6) + (5).to_bytes(5 + fb, "big")]  # below the origin
        rnd = random.Random(fsp)
        rows += [rnd.randbytes(3) + rnd.randbytes(5 + fb) for _ in range(200)]
        images = [b"\x00" + struct.pack("<i", k) + r for k, r in enumerate(rows)]
        images.append(b"\x06" + struct.pack("<i", len(images)))  # both NULL
        sealed = []
        for dec in (c, py):
            batch = Batch()
            batch.add(
                TableId("db", "t"), dec.table_schema, dec.decode(30, memoryview(event(dec, images)))
            )
            sealed.append(batch.seal().tables[TableId("db", "t")])
        a, b = sealed
        assert a.rows is not None and b.rows is not None
        arrow_same(a.rows.columns, b.rows.columns)
        assert a.zero_dates == b.zero_dates > 200 // 2
        got = a.rows.column("c2").slice(0, 2).to_pylist()  # (9999-12-31 + frac: past Python)
        assert str(got[0])[:19] == "2020-01-01 23:59:59" and got[1] is None
        assert a.rows.column("c1").to_pylist()[:4] == [
            dt.date(2020, 1, 1),
            None,
            None,
            dt.date(2000, 2, 29),
        ]


@given(seed=st.integers(0, 2**32), rows=st.integers(0, 12), nulls=st.sampled_from([0, 0.3, 1]))
@settings(max_examples=40, deadline=None)
def test_random_rows_match(seed: int, rows: int, nulls: float) -> None:
    mp = pytest.MonkeyPatch()
    c, py = decoders(mp, table_map())
    rnd = random.Random(seed)
    for etype, images in ((30, 1), (31, 2), (32, 1), (23, 1), (24, 2)):
        body = event(c, [row_image(c, rnd, nulls) for _ in range(rows * images)], etype >= 30,
                     images == 2)  # fmt: skip
        a, b = c.decode(etype, memoryview(body)), py.decode(etype, memoryview(body))
        assert (a.kind, a.num_rows, a.nbytes) == (b.kind, b.num_rows, b.nbytes)
        assert same(finisher_input(c, a.raw), finisher_input(py, b.raw))


def test_known_values(monkeypatch: pytest.MonkeyPatch) -> None:
    cols = [(T.LONG, 0, False, None, None), (T.INT24, 0, False, None, None),
            (T.INT24, 0, True, None, None), (T.NEWDECIMAL, 10 << 8 | 2, False, None, None),
            (T.FLOAT, 4, False, None, None), (T.VARCHAR, 300, False, UTF8, None)]  # fmt: skip
    c, py = decoders(monkeypatch, table_map(cols))
    dec_neg = bytes(b ^ 0xFF for b in bytes([0x80, 0, 0x30, 0x39, 0x07]))  # -12345.07
    row = (
        b"\x00" + struct.pack("<i", -5) + b"\xff\xff\xff" + b"\xff\xff\xff" + dec_neg
        + struct.pack("<f", 1.5) + b"\x03\x00abc"
    )  # fmt: skip
    for dec in (c, py):
        img = dec.decode(30, memoryview(event(dec, [row])))
        assert finisher_input(dec, img.raw) == [[-5], [-1], [16777215], [-1234507], [1.5], [b"abc"]]


def test_truncated_events_fail_alike(monkeypatch: pytest.MonkeyPatch) -> None:
    c, py = decoders(monkeypatch, table_map())
    rnd = random.Random(1)
    for etype, images in ((30, 1), (31, 2)):
        body = event(c, [row_image(c, rnd, 0.2) for _ in range(3 * images)], True, images == 2)
        for cut in range(len(body)):
            a, b = outcome(c, etype, body[:cut]), outcome(py, etype, body[:cut])
            assert a == b, cut


def test_garbled_events_fail_alike(monkeypatch: pytest.MonkeyPatch) -> None:
    c, py = decoders(monkeypatch, table_map())
    rnd = random.Random(2)
    body = event(c, [row_image(c, rnd, 0.2) for _ in range(4)])
    head = len(event(c, []))
    failed = 0
    for _ in range(400):
        garbled = bytearray(body)
        for _ in range(rnd.randint(1, 4)):
            garbled[rnd.randrange(head, len(body))] = rnd.randrange(256)
        if rnd.random() < 0.3:
            garbled += rnd.randbytes(rnd.randint(1, 30))
        a, b = outcome(c, 30, bytes(garbled)), outcome(py, 30, bytes(garbled))
        assert a == b
        failed += a[0] == "DecodeError"
    assert failed > 20  # the garbling did reach the error paths


def test_error_names_the_table(monkeypatch: pytest.MonkeyPatch) -> None:
    c, _ = decoders(monkeypatch, table_map())
    body = event(c, [row_image(c, random.Random(3), 0)])
    with pytest.raises(DecodeError, match=r"db\.every_type: row image 1: the value of column"):
        c.decode(30, memoryview(body[:-1]))


def test_out_of_range_layouts_use_the_python_walk() -> None:
    wide_bit = table_map([(T.LONG, 0, False, None, None), (T.BIT, 9 << 8 | 0, False, None, None)])
    assert RowsDecoder(wide_bit).native is None
    with pytest.raises(ValueError, match="bad layout"):
        native.binrows.walk(b"\x07\x05\x00\x00", 1, b"\x00", 0)  # type: ignore[union-attr]


def test_enum_out_of_range_fails_the_table(monkeypatch: pytest.MonkeyPatch) -> None:
    cols = [(T.LONG, 0, False, None, None), (T.ENUM, 1, False, UTF8, ("a", "b"))]
    for dec in decoders(monkeypatch, table_map(cols)):
        ok = dec.decode(30, memoryview(event(dec, [b"\x00" + bytes(4) + b"\x02"])))
        assert ok.after is not None and ok.after.column(1).to_pylist() == ["b"]
        bad = dec.decode(30, memoryview(event(dec, [b"\x00" + bytes(4) + b"\x03"])))
        with pytest.raises(TableFailed, match=r"db\.every_type: ENUM value 3 out of range"):
            _ = bad.after


def test_build_checks_every_image_it_is_given() -> None:
    # build() trusts nothing of what index() gave: offsets anywhere in random bytes must give
    # columns or ValueError, never a read outside the buffer.
    dec = RowsDecoder(table_map())
    assert dec.native is not None
    mod: Any = native.binrows
    rnd = random.Random(4)
    built = 0
    for _ in range(300):
        buf = rnd.randbytes(rnd.randint(0, 200))
        starts = b"".join(
            rnd.randint(-2, len(buf) + 2).to_bytes(8, "little", signed=True)
            for _ in range(rnd.randint(0, 3))
        )
        try:
            mod.build(dec.native.layout, dec.native.modes, dec.ncols, [(buf, starts)])
            built += 1
        except ValueError:
            pass
    assert built  # the empty segments at least


def test_a_compiled_image_has_every_slot_set(monkeypatch: pytest.MonkeyPatch) -> None:
    """`decode` makes the compiled decoder's images without RowsImage.__init__: every slot is
    set (a slot added later and left out would raise AttributeError only when first read)."""
    from zeroetl.sources.mysql.rows import RowsImage

    c, _ = decoders(monkeypatch, table_map())
    rnd = random.Random(5)
    for etype, update in ((30, False), (31, True), (32, False)):
        body = event(c, [row_image(c, rnd, 0.2) for _ in range(4)], True, update)
        img = c.decode(etype, memoryview(body))
        assert type(img) is RowsImage and img.num_rows == (2 if update else 4)
        for name in RowsImage.__slots__:
            getattr(img, name)
        assert img.kind == {30: "insert", 31: "update", 32: "delete"}[etype]
        assert img.nbytes == len(body) and (img.after_starts is not None) == update


def _image_outcome(make: Any, dec: RowsDecoder, etype: int, body: Any) -> Any:
    from zeroetl.sources.mysql.rows import _V2, IMAGE_DESCRIPTORS, IMAGE_SLOTS

    nat = dec.native
    assert nat is not None
    kind = {30: "insert", 31: "update", 32: "delete"}[etype]
    images = 2 if kind == "update" else 1
    try:
        img = make(
            IMAGE_DESCRIPTORS, kind, dec, nat.layout, nat.ncols, body, etype in _V2, images, nat.pk
        )
    except ValueError as e:
        return ("ValueError", str(e))
    if img is None:
        return None
    assert img.buf is body and img.decoder is dec
    return tuple(repr(getattr(img, name)) for name in IMAGE_SLOTS if name not in ("buf", "decoder"))


def test_image_in_c_as_its_twin(monkeypatch: pytest.MonkeyPatch) -> None:
    """binrows.image (one rows event indexed and made into a RowsImage in C) against its
    Python twin: the same slots on random events of every kind, and the same None or
    ValueError on every truncation and on garbled bytes."""
    from zeroetl.sources.mysql.rows_native import image_py

    c, _ = decoders(monkeypatch, table_map())
    assert native.binrows is not None and c._image is native.binrows.image
    rnd = random.Random(11)
    checked = refused = 0
    for etype, update in ((30, False), (31, True), (32, False)):
        body = event(c, [row_image(c, rnd, 0.2) for _ in range(6)], True, update)
        for cut in range(len(body) + 1):
            view = memoryview(body[:cut])
            a = _image_outcome(native.binrows.image, c, etype, view)
            b = _image_outcome(image_py, c, etype, view)
            assert a == b, (etype, cut)
            checked += a is not None and a[0] != "ValueError"
            refused += a is not None and a[0] == "ValueError"
        for _ in range(150):
            garbled = bytearray(body)
            for _ in range(rnd.randint(1, 4)):
                garbled[rnd.randrange(len(body))] = rnd.randrange(256)
            view = memoryview(bytes(garbled))
            assert _image_outcome(native.binrows.image, c, etype, view) == _image_outcome(
                image_py, c, etype, view
            )
    assert checked > 10 and refused > 10
    # an update of an odd number of images: both refuse it alike
    odd = event(c, [row_image(c, rnd, 0.0) for _ in range(3)], True, True)
    assert _image_outcome(native.binrows.image, c, 31, memoryview(odd)) == (
        "ValueError",
        "an update without its after image",
    )
    assert _image_outcome(image_py, c, 31, memoryview(odd)) == _image_outcome(
        native.binrows.image, c, 31, memoryview(odd)
    )


def test_image_refuses_other_descriptors() -> None:
    from zeroetl.sources.mysql.rows import IMAGE_DESCRIPTORS
    from zeroetl.sources.mysql.stream import RowsItem

    assert native.binrows is not None
    args = ("insert", None, b"\x00" * 4, 1, b"", True, 1, b"")
    for bad in (
        (),
        IMAGE_DESCRIPTORS[:-1],
        (1,) * 12,
        (*IMAGE_DESCRIPTORS[:-1], RowsDecoder.__dict__["decode"]),
        (*IMAGE_DESCRIPTORS[:-1], RowsItem.__dict__["table"]),  # a slot of another class
    ):
        with pytest.raises(TypeError):
            native.binrows.image(bad, *args)


def test_a_build_without_image_decodes_through_the_twin(monkeypatch: pytest.MonkeyPatch) -> None:
    """An older _binrows (index, no image) still decodes: RowsDecoder falls back to the twin,
    with the same images."""
    import types

    from zeroetl.sources.mysql.rows_native import image_py

    real = native.binrows
    assert real is not None
    older = types.SimpleNamespace(
        **{k: getattr(real, k) for k in ("walk", "index", "build", "changed")}
    )
    c = RowsDecoder(table_map())
    monkeypatch.setattr(native, "binrows", older)
    twin = RowsDecoder(table_map())
    assert twin._image is image_py and c._image is real.image
    monkeypatch.setattr(native, "binrows", real)
    rnd = random.Random(8)
    for etype, update in ((30, False), (31, True)):
        body = memoryview(event(c, [row_image(c, rnd, 0.3) for _ in range(4)], True, update))
        a, b = c.decode(etype, body), twin.decode(etype, body)
        assert (a.kind, a.num_rows, a.starts, a.after_starts, a.moved) == (
            b.kind,
            b.num_rows,
            b.starts,
            b.after_starts,
            b.moved,
        )
        assert same(finisher_input(c, a.raw), finisher_input(twin, b.raw))


def _py_columns(py: RowsDecoder, images: list[bytes]) -> list[pa.Array]:
    """The Python walk and finishers of these row images, in this order."""
    img = py.decode(30, memoryview(event(py, images)))
    assert img.after is not None
    return list(img.after.columns)


@given(
    seed=st.integers(0, 2**32),
    rows=st.integers(1, 40),
    nulls=st.sampled_from([0, 0.05, 0.3]),
    long=st.booleans(),
)
@settings(max_examples=60, deadline=None)
def test_build_fills_in_one_pass_as_the_python_finishers(
    seed: int, rows: int, nulls: float, long: bool
) -> None:
    """binrows.build fills every column in one pass (data growing as it goes, a validity made
    at a column's first NULL): on row images in any order, given twice, split over segments
    that share their buffer, and on buffers cut short, it gives what the Python walk and
    finishers give the same images, or ValueError exactly where an image runs past its
    buffer (row_diff._spans: the bounds every walk checks)."""
    mp = pytest.MonkeyPatch()
    c, py = decoders(mp, table_map(BUILT))
    assert c.native is not None
    rnd = random.Random(seed)
    if long:  # strings longer than the 8 bytes a row the data starts with: it must grow
        mp.setattr(rnd, "choice", lambda seq: 300 if 300 in seq else random.choice(seq))
    images = [row_image(c, rnd, nulls) for _ in range(rows)]
    buf = b"".join(images)
    at = [sum(map(len, images[:k])) for k in range(rows)]
    order = [rnd.randrange(rows) for _ in range(rnd.randint(1, 2 * rows))]  # repeats too
    cut = len(buf) if rnd.random() < 0.6 else rnd.randrange(len(buf) + 1)
    data = rnd.choice([bytes, bytearray, memoryview])(buf[:cut])
    segments, k = [], 0
    while k < len(order):
        step = rnd.randint(1, len(order) - k)
        starts = b"".join(at[i].to_bytes(8, "little") for i in order[k : k + step])
        segments.append((data, starts))
        k += step
    mv = memoryview(buf[:cut])
    fits = True
    for i in order:
        try:
            row_diff._spans(c.native.layout, c.ncols, mv, at[i], 0)
        except ValueError:
            fits = False
    nat, mod = c.native, native.binrows
    assert mod is not None
    if not fits:
        with pytest.raises(DecodeError):
            nat.finish(segments)
        said = []
        for two_pass in (False, True):  # the two-pass fill (images over 2 GiB) alike
            with pytest.raises(ValueError) as exc:
                mod.build(nat.layout, nat.modes, nat.ncols, segments, two_pass)
            said.append(str(exc.value))
        assert said[0] == said[1]
        return
    one, two = (mod.build(nat.layout, nat.modes, nat.ncols, segments, t) for t in (False, True))
    assert one == two
    arrays, _zeros = nat.finish(segments)
    arrow_same(arrays, _py_columns(py, [images[i] for i in order]))
