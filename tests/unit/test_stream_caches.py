"""The stream's TABLE_MAP cache stays bounded however many tables (or table ids) it sees, and
what it forgets is mapped again by the next transaction that needs it."""

from __future__ import annotations

import struct

import pytest
from tests.unit.test_binlog_events import event, mysql8_gtid_body, query_body
from tests.unit.test_binlog_faults import _rows_v2, _table_map

from zeroetl import native
from zeroetl.sources.mysql import constants as C
from zeroetl.sources.mysql import stream as stream_mod
from zeroetl.sources.mysql.stream import ChangeStream, CommitItem, RowsItem


def _txn(n: int, pos: int, table_id: int) -> list[bytes]:
    return [
        event(C.GTID_LOG_EVENT, mysql8_gtid_body(n), pos),
        event(C.QUERY_EVENT, query_body("shop", "BEGIN"), pos + 80),
        event(C.TABLE_MAP_EVENT, _table_map(table_id, "shop"), pos + 130),
        event(C.WRITE_ROWS_EVENT, _rows_v2(table_id, (n, n)), pos + 180),
        event(C.XID_EVENT, struct.pack("<Q", n), pos + 211),
    ]


def test_table_maps_are_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    from tests.unit import test_binlog_faults as tb

    monkeypatch.setattr(stream_mod, "MAX_MAPS", 8)
    seen: list[ChangeStream] = []
    real = ChangeStream.from_reader

    def keep(*a: object, **k: object) -> ChangeStream:
        s = real(*a, **k)  # type: ignore[arg-type]
        seen.append(s)
        return s

    monkeypatch.setattr(ChangeStream, "from_reader", keep)
    # 40 transactions, each under a table id of its own, then the first id again
    ids = [100 + k for k in range(40)] + [100]
    events = [e for k, tid in enumerate(ids) for e in _txn(k + 1, 200 + 300 * k, tid)]
    items = tb._stream(*events)
    rows = [i for i in items if isinstance(i, RowsItem)]
    assert [r.image.raw for r in rows] == [[k + 1, k + 1] for k in range(len(ids))]
    assert len([i for i in items if isinstance(i, CommitItem)]) == len(ids)
    assert len(seen[0]._maps) <= 8 + 1  # trimmed at each commit past the bound


@pytest.mark.parametrize(
    ("share", "expected"),
    [
        (1, [4, 4, 4, 0]),  # 12 rows: sealed each time 8 values were gathered
        # values the compiled decoder holds as event bytes count for a share: 8 rows a piece
        # (the Python decoder's values count in full whatever the share)
        (2, [8, 4] if native.binrows is not None else [4, 4, 4, 0]),
    ],
)
def test_open_batch_is_bounded_by_values(
    monkeypatch: pytest.MonkeyPatch, share: int, expected: list[int]
) -> None:
    """Wide rows seal the open batch by the values gathered, not only by the changes: one
    source transaction of many rows arrives in pieces (applied, not yet committed)."""
    from tests.unit.test_binlog_events import fde_body, ok, rotate_body, stream_reader

    from zeroetl.model import ChangeBatch, Position
    from zeroetl.sources.base import Commit
    from zeroetl.sources.mysql import source as source_mod
    from zeroetl.sources.mysql.source import MySqlChangeStream

    monkeypatch.setattr(source_mod, "MAX_BATCH_VALUES", 8)  # 2 columns: 4 rows a piece
    monkeypatch.setattr(source_mod, "NATIVE_VALUE_SHARE", share)
    head = [
        ok(event(C.ROTATE_EVENT, rotate_body("binlog.000003"), 0, flags=C.LOG_EVENT_ARTIFICIAL_F)),
        ok(event(C.FORMAT_DESCRIPTION_EVENT, fde_body(), 126)),
    ]
    rows = [
        event(C.GTID_LOG_EVENT, mysql8_gtid_body(1), 200),
        event(C.QUERY_EVENT, query_body("shop", "BEGIN"), 280),
        event(C.TABLE_MAP_EVENT, _table_map(77, "shop"), 330),
        *(event(C.WRITE_ROWS_EVENT, _rows_v2(77, (k, k), (k + 100, k)), 380 + k) for k in range(6)),
        event(C.XID_EVENT, struct.pack("<Q", 1), 511),
    ]
    reader, _peer = stream_reader(b"".join(head) + b"".join(ok(e) for e in rows))
    raw = ChangeStream.from_reader(
        reader, Position("binlog.000003", 4), wanted=lambda t: t.schema == "shop"
    )
    stream = MySqlChangeStream(
        raw, Position("binlog.000003", 4), admit=lambda *a: True, batch_rows=1000
    )
    pieces: list[int] = []
    try:
        while True:
            ev = stream.next(2.0)
            if isinstance(ev, ChangeBatch):
                pieces.append(ev.entries)
            elif isinstance(ev, Commit) or ev is None:
                break
        pieces.append(stream.seal().entries)
    finally:
        stream.close()
    assert pieces == expected
