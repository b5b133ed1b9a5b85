"""The stream's TABLE_MAP cache stays bounded however many tables (or table ids) it sees, and
what it forgets is mapped again by the next transaction that needs it."""

from __future__ import annotations

import struct
from typing import Any

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


def _one_txn_stream(images: list[list[tuple[int, int]]], admit: object) -> object:
    """A MySqlChangeStream over a recorded binlog: one transaction of `shop.orders` with a
    WRITE_ROWS event per entry of `images` (its rows' (id, value) pairs)."""
    from tests.unit.test_binlog_events import fde_body, ok, rotate_body, stream_reader

    from zeroetl.model import Position
    from zeroetl.sources.mysql.source import MySqlChangeStream

    head = [
        ok(event(C.ROTATE_EVENT, rotate_body("binlog.000003"), 0, flags=C.LOG_EVENT_ARTIFICIAL_F)),
        ok(event(C.FORMAT_DESCRIPTION_EVENT, fde_body(), 126)),
    ]
    rows = [
        event(C.GTID_LOG_EVENT, mysql8_gtid_body(1), 200),
        event(C.QUERY_EVENT, query_body("shop", "BEGIN"), 280),
        event(C.TABLE_MAP_EVENT, _table_map(77, "shop"), 330),
        *(event(C.WRITE_ROWS_EVENT, _rows_v2(77, *im), 380 + k) for k, im in enumerate(images)),
        event(C.XID_EVENT, struct.pack("<Q", 1), 511),
    ]
    reader, _peer = stream_reader(b"".join(head) + b"".join(ok(e) for e in rows))
    raw = ChangeStream.from_reader(
        reader, Position("binlog.000003", 4), wanted=lambda t: t.schema == "shop"
    )
    return MySqlChangeStream(raw, Position("binlog.000003", 4), admit=admit, batch_rows=1000)  # type: ignore[arg-type]


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
    ("share", "max_bytes", "expected"),
    [
        (1, 1 << 30, [4, 4, 4, 0]),  # 12 rows: sealed each time 8 values were gathered
        # values the compiled decoder holds as event bytes count for a share: 8 rows a piece
        # (the Python decoder's values count in full whatever the share)
        (2, 1 << 30, [8, 4] if native.binrows is not None else [4, 4, 4, 0]),
        # and the row images' bytes bound it too (large BLOBs are few values): here 1 byte,
        # so every event is a piece
        (1000, 1, [2, 2, 2, 2, 2, 2, 0]),
    ],
)
def test_open_batch_is_bounded_by_values(
    monkeypatch: pytest.MonkeyPatch, share: int, max_bytes: int, expected: list[int]
) -> None:
    """Wide rows seal the open batch by the values gathered, not only by the changes: one
    source transaction of many rows arrives in pieces (applied, not yet committed)."""
    from zeroetl.model import ChangeBatch
    from zeroetl.sources.base import Commit
    from zeroetl.sources.mysql import source as source_mod

    monkeypatch.setattr(source_mod, "MAX_BATCH_VALUES", 8)  # 2 columns: 4 rows a piece
    monkeypatch.setattr(source_mod, "NATIVE_VALUE_SHARE", share)
    monkeypatch.setattr(source_mod, "MAX_BATCH_BYTES", max_bytes)
    stream: Any = _one_txn_stream([[(k, k), (k + 100, k)] for k in range(6)], lambda *a: True)
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


def test_admission_is_asked_for_every_rows_event(monkeypatch: pytest.MonkeyPatch) -> None:
    """The writer's per-event path: every rows event is put to `admit` with its row count,
    refused events are not gathered, admitted ones are, in order, until the commit."""
    from zeroetl.errors import SourceUnavailable
    from zeroetl.model import ChangeBatch, TableId
    from zeroetl.sources.base import Commit

    sizes = [1, 3, 2, 1]
    asked: list[tuple[TableId, int]] = []

    def admit(table: TableId, schema: object, n: int) -> bool:
        asked.append((table, n))
        return len(asked) != 2  # the second event is refused

    images = [[(10 * k + j, k) for j in range(n)] for k, n in enumerate(sizes)]
    stream: Any = _one_txn_stream(images, admit)
    try:
        ev = stream.next(2.0)
        while not isinstance(ev, Commit):  # the rotate's Idle first
            assert not isinstance(ev, ChangeBatch)
            ev = stream.next(2.0)
        batch = stream.seal()
        # The recording ends: the reader's error, then its end, again at every later call.
        with pytest.raises(SourceUnavailable):
            while True:
                stream.next(2.0)
        for _ in range(2):
            with pytest.raises(SourceUnavailable, match="binlog reader stopped"):
                stream.next(0.0)
        assert not stream.quiet()
    finally:
        stream.close()
    orders = TableId("shop", "orders")
    assert asked == [(orders, n) for n in sizes]
    assert batch.entries == 1 + 2 + 1
    gathered = batch.tables[orders]
    assert gathered.inserted == 4 and gathered.rows is not None
    assert gathered.rows.column("id").to_pylist() == [0, 20, 21, 30]
    assert gathered.rows.column("__seq").to_pylist() == [0, 1, 2, 3]


def test_an_admission_that_raises_takes_its_event_only(monkeypatch: pytest.MonkeyPatch) -> None:
    """An exception from `admit` (e.g. the warehouse failed) ends that call: the event it was
    asked about is taken, and a later call goes on with the next one, gathering nothing twice."""
    from zeroetl.model import TableId
    from zeroetl.sources.base import Commit

    calls = 0

    def admit(table: TableId, schema: object, n: int) -> bool:
        nonlocal calls
        calls += 1
        if calls == 2:
            raise RuntimeError("the warehouse is gone")
        return True

    stream: Any = _one_txn_stream([[(k, k)] for k in range(4)], admit)
    raised = 0
    try:
        while True:
            try:
                ev = stream.next(2.0)
            except RuntimeError:
                raised += 1
                continue
            if isinstance(ev, Commit):
                break
        batch = stream.seal()
    finally:
        stream.close()
    rows_ = batch.tables[TableId("shop", "orders")].rows
    assert raised == 1 and calls == 4
    assert rows_ is not None and rows_.column("id").to_pylist() == [0, 2, 3]


def _paced_items(chunks: list[bytes], monkeypatch: pytest.MonkeyPatch) -> tuple[list, list[int]]:
    """The items of a recorded stream sent a chunk at a time (each its own receive, so its own
    framing call), and the types of the events the framer returned."""
    import contextlib
    import socket
    import threading
    import time

    from tests.unit.test_binlog_events import fde_body, ok, rotate_body

    from zeroetl.errors import SourceUnavailable
    from zeroetl.model import Position
    from zeroetl.sources.mysql import framing
    from zeroetl.sources.mysql.binlog import BinlogReader

    returned: list[int] = []
    real = framing.frame

    def spy(*args: Any) -> Any:
        out = real(*args)
        returned.extend(e.type for e in out[0])
        return out

    monkeypatch.setattr(framing, "frame", spy)
    head = ok(
        event(C.ROTATE_EVENT, rotate_body("binlog.000003"), 0, flags=C.LOG_EVENT_ARTIFICIAL_F)
    )
    head += ok(event(C.FORMAT_DESCRIPTION_EVENT, fde_body(), 126))
    ours, theirs = socket.socketpair()

    def send() -> None:
        for chunk in [head, *chunks]:
            theirs.sendall(chunk)
            time.sleep(0.05)  # read (and framed) before the next chunk is sent
        theirs.shutdown(socket.SHUT_WR)

    threading.Thread(target=send, daemon=True).start()
    reader = BinlogReader.from_socket(ours, Position("binlog.000003", 4), checksum=True)
    stream = ChangeStream.from_reader(
        reader, Position("binlog.000003", 4), wanted=lambda t: t.schema == "shop"
    )
    items: list = []
    with contextlib.suppress(SourceUnavailable):  # the peer closed: the end of the recording
        for item in stream.items():
            items.append(item)
    theirs.close()
    return items, returned


@pytest.mark.parametrize("known", [True, False])
def test_unchanged_table_maps_are_left_out_changed_ones_come_through(
    monkeypatch: pytest.MonkeyPatch, known: bool
) -> None:
    """A TABLE_MAP the stream already decodes by is not even framed into an Event; one that
    differs (here the same table id remapped to another table) comes through, and so does
    every TABLE_MAP after it in the same receive: the items are those of the full stream."""
    from tests.unit.test_binlog_events import ok

    if not known:
        monkeypatch.setattr(stream_mod, "KNOWN_MAPS", 0)
    x = _table_map(77, "shop")
    y = x.replace(b"orders", b"orderz")

    def txn(n: int, tmap: bytes) -> bytes:
        pos = 300 * n
        evs = _txn(n, pos, 77)
        evs[2] = event(C.TABLE_MAP_EVENT, tmap, pos + 130)
        return b"".join(ok(e) for e in evs)

    chunks = [txn(1, x), txn(2, x), txn(3, y) + txn(4, x), txn(5, x)]
    items, returned = _paced_items(chunks, monkeypatch)
    rows = [i for i in items if isinstance(i, RowsItem)]
    assert [(r.table.table, r.image.raw) for r in rows] == [
        ("orders", [1, 1]),
        ("orders", [2, 2]),
        ("orderz", [3, 3]),
        ("orders", [4, 4]),
        ("orders", [5, 5]),
    ]
    commits = [i.position.offset for i in items if isinstance(i, CommitItem)]
    assert commits == [300 * n + 211 for n in range(1, 6)]
    # framed: txn 1's map (new), txn 3's and 4's (a changed one, and the one after it)
    assert returned.count(C.TABLE_MAP_EVENT) == (3 if known else 5)


def test_a_failed_table_gets_its_next_table_map(monkeypatch: pytest.MonkeyPatch) -> None:
    """A table whose rows fail to decode leaves the known maps: its next TABLE_MAP comes
    through, so that a resync's forget_failure takes effect at it."""
    from tests.unit.test_binlog_events import ok

    from zeroetl.sources.mysql.stream import TableErrorItem

    def txn(n: int, rows: bytes) -> bytes:
        pos = 300 * n
        evs = _txn(n, pos, 77)
        evs[3] = event(C.WRITE_ROWS_EVENT, rows, pos + 180)
        return b"".join(ok(e) for e in evs)

    broken = _rows_v2(77, (9, 9))[:-3]  # its row image cut short
    chunks = [txn(1, _rows_v2(77, (1, 1))), txn(2, broken), txn(3, _rows_v2(77, (3, 3)))]
    items, returned = _paced_items(chunks, monkeypatch)
    kept = [i for i in items if isinstance(i, RowsItem | TableErrorItem)]
    assert [type(i) for i in kept] == [RowsItem, TableErrorItem]
    assert returned.count(C.TABLE_MAP_EVENT) == 2  # txn 1's, and txn 3's after the failure
