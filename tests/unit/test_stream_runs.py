"""The writer takes a run of whole small transactions handed over together as one: the engine
sees the run's last commit only, with every row of the run gathered and none after it, so the
position it checkpoints is that of the last transaction applied. Items other than rows and
commits (DDL, faults, idle points, the reader's end) end a run: the commits around them come
through as before."""

from __future__ import annotations

import struct
from typing import Any

import pytest
from tests.unit.test_binlog_events import (
    event,
    fde_body,
    mysql8_gtid_body,
    ok,
    query_body,
    rotate_body,
    stream_reader,
)
from tests.unit.test_binlog_faults import _rows_v2, _table_map

from zeroetl.errors import SourceUnavailable
from zeroetl.model import ChangeBatch, Position, TableId
from zeroetl.sources.base import Commit, Idle, SchemaChange
from zeroetl.sources.mysql import constants as C
from zeroetl.sources.mysql.source import MySqlChangeStream, _run_end
from zeroetl.sources.mysql.stream import ChangeStream, CommitItem, DdlItem, RowsItem

ORDERS = TableId("shop", "orders")


def _txn(gno: int, pos: int, *rows: tuple[int, int]) -> list[bytes]:
    """One transaction of shop.orders inserting `rows`; its XID ends at pos + 211."""
    return [
        event(C.GTID_LOG_EVENT, mysql8_gtid_body(gno), pos),
        event(C.QUERY_EVENT, query_body("shop", "BEGIN"), pos + 80),
        event(C.TABLE_MAP_EVENT, _table_map(77, "shop"), pos + 130),
        event(C.WRITE_ROWS_EVENT, _rows_v2(77, *rows), pos + 180),
        event(C.XID_EVENT, struct.pack("<Q", gno), pos + 211),
    ]


def _ddl(gno: int, pos: int) -> list[bytes]:
    return [
        event(C.GTID_LOG_EVENT, mysql8_gtid_body(gno), pos),
        event(C.QUERY_EVENT, query_body("shop", "CREATE TABLE `x y` (a int)"), pos + 120),
    ]


def _stream(events: list[bytes]) -> Any:
    head = [
        ok(event(C.ROTATE_EVENT, rotate_body("binlog.000003"), 0, flags=C.LOG_EVENT_ARTIFICIAL_F)),
        ok(event(C.FORMAT_DESCRIPTION_EVENT, fde_body(), 126)),
    ]
    reader, _peer = stream_reader(b"".join(head) + b"".join(ok(e) for e in events))
    start = Position("binlog.000003", 4)
    raw = ChangeStream.from_reader(reader, start, wanted=lambda t: t.schema == "shop")
    return MySqlChangeStream(raw, start, admit=lambda t, s, n: True, batch_rows=1000)


def _events(stream: Any) -> list[object]:
    """Everything the engine is given until the recording's end, each Commit followed by
    the ids the batch holds at that moment."""
    out: list[object] = []
    with pytest.raises(SourceUnavailable):
        while True:
            ev = stream.next(2.0)
            if ev is None:
                continue
            assert not isinstance(ev, ChangeBatch)
            out.append(ev)
            if isinstance(ev, Commit):
                rows = stream.seal().tables.get(ORDERS)
                out.append([] if rows is None else rows.rows.column("id").to_pylist())
    return out


def test_a_run_of_transactions_is_one_commit_at_its_last_position() -> None:
    events = [*_txn(1, 200, (1, 1)), *_txn(2, 500, (2, 2), (3, 3)), *_txn(3, 800, (4, 4))]
    stream = _stream(events)
    try:
        seen = _events(stream)
    finally:
        stream.close()
    assert isinstance(seen[0], Idle)  # the rotate
    commits = [e for e in seen if isinstance(e, Commit)]
    assert len(commits) == 1
    assert commits[0].position.offset == 1011  # the last transaction's XID
    assert commits[0].position.gtid_set.endswith(":1-3")
    assert seen[-1] == [1, 2, 3, 4]


def test_other_items_end_a_run_and_the_commits_around_them_come() -> None:
    """A DDL between transactions: the commit before it, the DDL and its own commit on its
    own, then the run after it; each commit's batch holds exactly the rows before it."""
    events = [
        *_txn(1, 200, (1, 1)),
        *_txn(2, 500, (2, 2)),
        *_ddl(3, 800),
        *_txn(4, 1000, (3, 3)),
        *_txn(5, 1300, (4, 4)),
    ]
    stream = _stream(events)
    try:
        seen = _events(stream)
    finally:
        stream.close()
    kinds = [type(e).__name__ for e in seen if not isinstance(e, list)]
    assert kinds == ["Idle", "Commit", "SchemaChange", "Commit", "Commit"]
    commits = [e for e in seen if isinstance(e, Commit)]
    assert [c.position.offset for c in commits] == [711, 920, 1511]
    assert [c.position.gtid_set.rsplit(":", 1)[1] for c in commits] == ["1-2", "1-3", "1-5"]
    batches = [e for e in seen if isinstance(e, list)]
    assert batches == [[1, 2], [], [3, 4]]
    assert isinstance(seen[3], SchemaChange)


def test_run_end() -> None:
    rows = RowsItem.__new__(RowsItem)
    commit = CommitItem(Position("f", 1), 0.0)
    ddl = DdlItem("s", "create table t (a int)", 0)
    assert _run_end([], 0) == -1
    assert _run_end([rows, commit, rows, commit, rows], 0) == 3
    assert _run_end([rows, commit, ddl, rows, commit], 0) == 1
    assert _run_end([rows, commit, ddl, rows, commit], 2) == -1
    assert _run_end([rows, commit, ddl, rows, commit], 3) == 4
    assert _run_end([ddl, commit], 0) == -1
    assert _run_end([rows, rows], 0) == -1  # a hand-over that ends inside a transaction
    assert _run_end([commit, ValueError("x"), commit], 0) == 0
