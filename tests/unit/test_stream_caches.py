"""The stream's TABLE_MAP cache stays bounded however many tables (or table ids) it sees, and
what it forgets is mapped again by the next transaction that needs it."""

from __future__ import annotations

import struct

import pytest
from tests.unit.test_binlog_events import event, mysql8_gtid_body, query_body
from tests.unit.test_binlog_faults import _rows_v2, _table_map

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
