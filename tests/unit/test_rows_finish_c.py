"""DECIMAL, DATETIME2, TIMESTAMP2 and DATE finished in C (binrows.build's DEC..DATE modes)
against their Python twins (values.py's finishers), value by value: valid values, zero dates,
impossible dates (February 30th, month 13), random bytes, and hostile DECIMAL digit groups."""

from __future__ import annotations

import datetime as dt
import random
import struct
from decimal import Decimal
from typing import Any

import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from zeroetl import native
from zeroetl.model import TableChanges, TableId
from zeroetl.sources.mysql import coltypes as T
from zeroetl.sources.mysql.changes import Batch
from zeroetl.sources.mysql.decimal import decimal_size
from zeroetl.sources.mysql.rows import RowsDecoder
from zeroetl.sources.mysql.rows_native import DATE, DATETIME, DEC, TIMESTAMP
from zeroetl.sources.mysql.tablemap import TableMap

pytestmark = pytest.mark.skipif(native.binrows is None, reason="_binrows not built")

DECIMALS = [(1, 0), (5, 2), (10, 0), (12, 2), (18, 4), (18, 18), (18, 0), (9, 9)]
COLUMNS: list[tuple[int, int]] = [
    (T.LONGLONG, 0),
    *[(T.NEWDECIMAL, p << 8 | s) for p, s in DECIMALS],
    *[(T.DATETIME2, fsp) for fsp in range(7)],
    *[(T.TIMESTAMP2, fsp) for fsp in range(7)],
    (T.DATE, 0),
]
MODES = {T.NEWDECIMAL: DEC, T.DATETIME2: DATETIME, T.TIMESTAMP2: TIMESTAMP, T.DATE: DATE}


def table_map(cols: list[tuple[int, int]] = COLUMNS) -> TableMap:
    n = len(cols)
    return TableMap(
        table_id=9, schema="db", table="finished", column_types=tuple(c[0] for c in cols),
        column_meta=tuple(c[1] for c in cols), nullable=(False,) + (True,) * (n - 1),
        column_names=tuple(f"c{i}" for i in range(n)), primary_key=(0,), unsigned=(False,) * n,
        collations=(None,) * n, enum_values=(None,) * n, geometry_types=(None,) * n,
    )  # fmt: skip


def decimal_bytes(value: int, p: int, s: int) -> bytes:
    """MySQL's packed DECIMAL(p, s) of value / 10**s (|value| < 10**p)."""
    digits = str(abs(value)).rjust(p, "0")
    ip, fp = digits[: p - s], digits[p - s :]
    dig2 = (0, 1, 1, 2, 2, 3, 3, 4, 4, 4)
    out = b""
    lead = len(ip) % 9
    if lead:
        out += int(ip[:lead]).to_bytes(dig2[lead], "big")
    out += b"".join(int(ip[k : k + 9]).to_bytes(4, "big") for k in range(lead, len(ip), 9))
    full = len(fp) - len(fp) % 9
    out += b"".join(int(fp[k : k + 9]).to_bytes(4, "big") for k in range(0, full, 9))
    if len(fp) % 9:
        out += int(fp[full:]).to_bytes(dig2[len(fp) % 9], "big")
    assert len(out) == decimal_size(p, s)
    b = bytearray(out)
    b[0] ^= 0x80
    return bytes(x ^ 0xFF for x in b) if value < 0 else bytes(b)


def frac_bytes(fsp: int) -> int:
    return (fsp + 1) // 2


def datetime2(y: int, mo: int, d: int, h: int, mi: int, s: int, frac: int, fsp: int) -> bytes:
    whole = (((y * 13 + mo) << 5 | d) << 17 | h << 12 | mi << 6 | s) + (1 << 39)
    fb = frac_bytes(fsp)
    return whole.to_bytes(5, "big") + frac.to_bytes(fb, "big")


def timestamp2(secs: int, frac: int, fsp: int) -> bytes:
    return secs.to_bytes(4, "big") + frac.to_bytes(frac_bytes(fsp), "big")


def date3(y: int, mo: int, d: int) -> bytes:
    return (d | mo << 5 | y << 9).to_bytes(3, "little")


def value(t: int, meta: int, rnd: random.Random) -> bytes:
    """A valid value mostly; else a zero date, an impossible date or random bytes."""
    pick = rnd.random()
    if t == T.NEWDECIMAL:
        p, s = meta >> 8, meta & 0xFF
        return decimal_bytes(rnd.randrange(-(10**p) + 1, 10**p), p, s)
    if t == T.DATE:
        if pick < 0.1:
            return date3(0, 0, 0)
        if pick < 0.2:
            return date3(rnd.randrange(0, 10000), rnd.choice((2, 13, 0)), rnd.choice((30, 0, 31)))
        if pick < 0.25:
            return rnd.randbytes(3)
        return date3(rnd.randrange(1, 10000), rnd.randrange(1, 13), rnd.randrange(1, 29))
    fb = frac_bytes(meta)
    frac = rnd.randrange(0, 256**fb)
    if t == T.TIMESTAMP2:
        if pick < 0.15:
            return timestamp2(0, 0, meta)  # the zero timestamp
        return timestamp2(rnd.randrange(0, 2**32), frac, meta)
    if pick < 0.1:
        return datetime2(0, 0, 0, 0, 0, 0, 0, meta)
    if pick < 0.2:
        return datetime2(2023, 2, 29, 1, 2, 3, frac, meta)  # not a leap year
    if pick < 0.3:
        return rnd.randbytes(5 + fb)  # anything, negative packed values included
    y, mo, d = rnd.randrange(1, 10000), rnd.randrange(1, 13), rnd.randrange(1, 29)
    return datetime2(y, mo, d, rnd.randrange(24), rnd.randrange(64), rnd.randrange(64), frac, meta)


def image(tmap: TableMap, key: int, rnd: random.Random, nulls: float) -> bytes:
    n = len(tmap.column_types)
    null = [i > 0 and rnd.random() < nulls for i in range(n)]
    out = sum(1 << i for i, x in enumerate(null) if x).to_bytes((n + 7) // 8, "little")
    out += struct.pack("<q", key)
    for i in range(1, n):
        if not null[i]:
            out += value(tmap.column_types[i], tmap.column_meta[i], rnd)
    return out


def event(tmap: TableMap, images: list[bytes], update: bool) -> memoryview:
    n = len(tmap.column_types)
    head = (9).to_bytes(6, "little") + b"\x01\x00\x02\x00" + bytes([n])
    present = ((1 << n) - 1).to_bytes((n + 7) // 8, "little")
    return memoryview(head + present * (2 if update else 1) + b"".join(images))


def sealed(monkeypatch: pytest.MonkeyPatch, tmap: TableMap, events: list[Any]) -> list[Any]:
    """The sealed changes of `events` with the compiled decoder, then the Python one."""
    out = []
    for mod in (native.binrows, None):
        with monkeypatch.context() as m:
            m.setattr(native, "binrows", mod)
            dec = RowsDecoder(tmap)
            assert (dec.native is not None) == (mod is not None)
            batch = Batch()
            tid = TableId("db", "finished")
            for etype, body in events:
                batch.add(tid, dec.table_schema, dec.decode(etype, body))
            out.append(batch.seal().tables[tid])
    return out


def same(a: TableChanges, b: TableChanges) -> None:
    assert not a.failure and not b.failure
    assert a.rows is not None and b.rows is not None
    assert a.rows.schema == b.rows.schema
    for x, y in zip(a.rows.columns, b.rows.columns, strict=True):
        assert (x.null_count, x.to_pylist()) == (y.null_count, y.to_pylist())
    assert a.zero_dates == b.zero_dates


def test_these_columns_are_finished_in_c(monkeypatch: pytest.MonkeyPatch) -> None:
    dec = RowsDecoder(table_map())
    assert dec.native is not None
    assert list(dec.native.modes[1:]) == [MODES[t] for t, _ in COLUMNS[1:]]


@given(seed=st.integers(0, 2**32), rows=st.integers(1, 30), nulls=st.sampled_from([0, 0.3, 1]))
@settings(max_examples=60, deadline=None)
def test_c_and_python_finish_alike(seed: int, rows: int, nulls: float) -> None:
    mp = pytest.MonkeyPatch()
    tmap = table_map()
    rnd = random.Random(seed)
    inserts = [image(tmap, k, rnd, nulls) for k in range(rows)]
    updates = [image(tmap, k // 2, rnd, nulls) for k in range(2 * rows)]
    events = [(30, event(tmap, inserts, False)), (31, event(tmap, updates, True))]
    a, b = sealed(mp, tmap, events)
    same(a, b)


def test_known_values(monkeypatch: pytest.MonkeyPatch) -> None:
    cols = [(T.LONGLONG, 0), (T.NEWDECIMAL, 12 << 8 | 2), (T.DATETIME2, 6), (T.TIMESTAMP2, 3),
            (T.DATE, 0)]  # fmt: skip
    tmap = table_map(cols)

    def row(key: int, *vals: bytes) -> bytes:
        return b"\x00" + struct.pack("<q", key) + b"".join(vals)

    rows = [
        row(1, decimal_bytes(-123456789012, 12, 2), datetime2(2015, 1, 15, 23, 24, 25, 123, 6),
            timestamp2(1_700_000_000, 5, 3), date3(2024, 2, 29)),
        row(2, decimal_bytes(0, 12, 2), datetime2(0, 0, 0, 0, 0, 0, 0, 6), timestamp2(0, 0, 3),
            date3(2023, 2, 29)),
        row(3, decimal_bytes(999999999999, 12, 2), datetime2(9999, 12, 31, 23, 59, 59, 999999, 6),
            timestamp2(1, 999, 3), date3(1, 1, 1)),
    ]  # fmt: skip
    a, b = sealed(monkeypatch, tmap, [(30, event(tmap, rows, False))])
    same(a, b)
    assert a.rows is not None
    utc = dt.UTC
    assert a.rows.column("c1").to_pylist() == [
        Decimal("-1234567890.12"), Decimal("0.00"), Decimal("9999999999.99")
    ]  # fmt: skip
    assert a.rows.column("c2").to_pylist() == [
        dt.datetime(2015, 1, 15, 23, 24, 25, 123), None, dt.datetime(9999, 12, 31, 23, 59, 59, 999999)
    ]  # fmt: skip
    assert a.rows.column("c3").to_pylist() == [
        dt.datetime(2023, 11, 14, 22, 13, 20, 500, tzinfo=utc), None,
        dt.datetime(1970, 1, 1, 0, 0, 1, 99900, tzinfo=utc),
    ]  # fmt: skip
    assert a.rows.column("c4").to_pylist() == [dt.date(2024, 2, 29), None, dt.date(1, 1, 1)]
    assert a.zero_dates == 3  # 0000-00-00 00:00:00, the zero timestamp, 2023-02-29
    assert a.rows.column("c3").type == pa.timestamp("us", tz="UTC")


@pytest.mark.parametrize("p,s", [(5, 2), (18, 0), (18, 18), (12, 2)])
def test_hostile_decimal_digits_fail_the_table_alike(
    monkeypatch: pytest.MonkeyPatch, p: int, s: int
) -> None:
    """Digit groups of 0xFF..: more digits than the precision. Both paths fail the table
    with the same reason (not an Arrow error out of the writer)."""
    tmap = table_map([(T.LONGLONG, 0), (T.NEWDECIMAL, p << 8 | s)])
    size = decimal_size(p, s)
    bad = b"\x00" + struct.pack("<q", 1) + b"\xff" * size
    good = b"\x00" + struct.pack("<q", 2) + decimal_bytes(5, p, s)
    a, b = sealed(monkeypatch, tmap, [(30, event(tmap, [good, bad], False))])
    assert a.failure is not None and a.failure == b.failure
    assert "DECIMAL value out of range in column 'c1'" in a.failure
