"""Binlog faults from hand-built MySQL 8 streams: what the stream reports for changes it cannot
apply (no MySQL 8 server here; MariaDB's shapes are covered by tests/integration).

Each stream is real protocol bytes pushed through a socketpair into BinlogReader, read by a
ChangeStream that wants the tables of `shop` only.
"""

from __future__ import annotations

import struct

from tests.unit.test_binlog_events import (
    event,
    fde_body,
    mysql8_gtid_body,
    ok,
    query_body,
    rotate_body,
    stream_reader,
)
from tests.unit.test_tablemap import _body, _field, _names, _packed

from zeroetl.errors import SourceUnavailable
from zeroetl.model import Position, TableId
from zeroetl.sources.mysql import coltypes as T
from zeroetl.sources.mysql import constants as C
from zeroetl.sources.mysql.faults import (
    COMPRESSION,
    INCIDENT_FAULT,
    PARTIAL_JSON,
    ROW_IMAGE,
    ROW_METADATA,
    STATEMENTS,
    FaultItem,
)
from zeroetl.sources.mysql.stream import ChangeStream, CommitItem, DdlItem, Item, RowsItem

ORDERS = TableId("shop", "orders")


def _table_map(table_id: int, schema: str, *, names: bool = True) -> bytes:
    """TABLE_MAP of `<schema>.t`: (id INT NOT NULL, qty INT NOT NULL), key id."""
    optional = _field(1, b"\x00")  # signedness
    if names:
        optional += _names("id", "qty") + _field(8, _packed(0))
    body = bytes(_body([T.LONG, T.LONG], b"", 0, optional, table_id=table_id))
    name = bytes([len(schema)]) + schema.encode() + b"\0" + bytes([6]) + b"orders\0"
    return body.replace(b"\x02db\x00\x01t\x00", name)


def _rows_v2(table_id: int, *rows: tuple[int, int], present: tuple[int, ...] = (3,)) -> bytes:
    """v2 rows body: table id, flags, extra-data length (2: nothing), 2 columns, bitmaps, rows."""
    head = table_id.to_bytes(6, "little") + struct.pack("<HH", 1, 2) + bytes([2])
    images = b"".join(b"\x00" + struct.pack("<ii", *r) for r in rows)
    return head + bytes(present) + images


def _execute_load_query(schema: str, sql: str) -> bytes:
    status = b"\x00\x00\x00\x00\x00"
    return (
        struct.pack("<IIBHH", 9, 0, len(schema), 0, len(status))
        + struct.pack("<IIIB", 1, 0, 0, 0)  # file id, start/end of the file name, duplicates
        + status
        + schema.encode()
        + b"\0"
        + sql.encode()
    )


def _stream(*events: bytes) -> list[Item]:
    head = [
        ok(event(C.ROTATE_EVENT, rotate_body("binlog.000003"), 0, flags=C.LOG_EVENT_ARTIFICIAL_F)),
        ok(event(C.FORMAT_DESCRIPTION_EVENT, fde_body(), 126)),
    ]
    reader, _peer = stream_reader(b"".join(head) + b"".join(ok(e) for e in events))
    stream = ChangeStream.from_reader(
        reader, Position("binlog.000003", 4), wanted=lambda t: t.schema == "shop"
    )
    items: list[Item] = []
    try:
        for item in stream.items():
            items.append(item)
    except SourceUnavailable:  # the peer closed: the end of the recording
        pass
    return items


def _faults(items: list[Item]) -> list[FaultItem]:
    return [i for i in items if isinstance(i, FaultItem)]


MINIMAL_UPDATE = (
    _rows_v2(77, present=(1, 3))
    + b"\x00"
    + struct.pack("<i", 1)
    + b"\x00"
    + struct.pack("<ii", 1, 11)
)


def test_full_row_events_flow_and_reduced_images_are_faults() -> None:
    items = _stream(
        event(C.GTID_LOG_EVENT, mysql8_gtid_body(5), 200),
        event(C.QUERY_EVENT, query_body("shop", "BEGIN"), 280),
        event(C.TABLE_MAP_EVENT, _table_map(77, "shop"), 330),
        event(C.WRITE_ROWS_EVENT, _rows_v2(77, (1, 10), (2, 20)), 380),
        # binlog_row_image=MINIMAL: the before image holds the key only
        event(C.UPDATE_ROWS_EVENT, MINIMAL_UPDATE, 430),
        event(C.PARTIAL_UPDATE_ROWS_EVENT, _rows_v2(77, (1, 10), (1, 12), present=(3, 3)), 480),
        event(C.XID_EVENT, struct.pack("<Q", 1), 511),
    )
    rows = [i for i in items if isinstance(i, RowsItem)]
    assert len(rows) == 1 and rows[0].table == ORDERS and rows[0].image.num_rows == 2
    image, partial = _faults(items)
    assert image.kind is ROW_IMAGE and image.tables == (ORDERS,)
    assert "partial row image for shop.orders (columns qty missing)" in image.what
    assert "binlog.000003:430" in image.what
    assert "SET GLOBAL binlog_row_image='FULL'" in image.reason
    assert partial.kind is PARTIAL_JSON and partial.tables == (ORDERS,)
    assert partial.kind.setting == "binlog_row_value_options"
    assert "SET GLOBAL binlog_row_value_options=''" in partial.reason
    assert isinstance(items[-1], CommitItem) and items[-1].position.offset == 511


def test_partial_json_of_an_unwanted_table_is_ignored() -> None:
    items = _stream(
        event(C.TABLE_MAP_EVENT, _table_map(90, "other"), 330),
        event(C.PARTIAL_UPDATE_ROWS_EVENT, _rows_v2(90, (1, 1), (1, 2)), 380),
    )
    assert _faults(items) == []


def test_compressed_transaction_is_a_fault_for_every_table_and_a_commit() -> None:
    payload = bytes([1, 1, 0, 2, 1, 100, 0]) + b"\x28\xb5\x2f\xfd" + b"zstd frame"  # TLV + data
    items = _stream(
        event(C.GTID_LOG_EVENT, mysql8_gtid_body(6), 200),
        event(C.TRANSACTION_PAYLOAD_EVENT, payload, 300),
        event(C.GTID_LOG_EVENT, mysql8_gtid_body(7), 360),
    )
    (fault,) = _faults(items)
    assert fault.kind is COMPRESSION and fault.tables is None
    assert "compressed transaction at binlog.000003:300" in fault.what
    assert "SET GLOBAL binlog_transaction_compression=OFF" in fault.reason
    commits = [i for i in items if isinstance(i, CommitItem)]
    assert [c.position.offset for c in commits] == [300]
    assert commits[0].position.gtid_set.endswith(":6")  # the payload's transaction is done


LOAD = "LOAD DATA INFILE '/tmp/SQL_LOAD-1' INTO TABLE `orders` (id, qty)"


def test_statements_on_wanted_tables_are_faults() -> None:
    items = _stream(
        event(C.GTID_LOG_EVENT, mysql8_gtid_body(8), 200),
        event(C.QUERY_EVENT, query_body("shop", "BEGIN"), 260),
        event(C.QUERY_EVENT, query_body("shop", "UPDATE orders SET qty = qty + 1"), 330),
        event(C.QUERY_EVENT, query_body("shop", "DELETE FROM other.t WHERE id = 1"), 400),
        event(C.QUERY_EVENT, query_body("shop", "SELECT shop.f(1)"), 450),
        event(C.QUERY_EVENT, query_body("x", "CREATE TABLE shop.n (id INT)"), 520),
        event(C.XID_EVENT, struct.pack("<Q", 2), 551),
        event(C.EXECUTE_LOAD_QUERY_EVENT, _execute_load_query("shop", LOAD), 640),
    )
    update, select, load = _faults(items)
    assert update.kind is STATEMENTS and update.tables == (ORDERS,)
    assert update.what.startswith("the source wrote UPDATE on shop.orders as a statement")
    assert "binlog_format must be ROW" in update.reason and "reconnect" in update.reason
    assert select.tables is None and "SELECT shop.f(1)" in select.what  # any table
    assert load.tables == (ORDERS,) and "LOAD DATA" in load.what
    ddl = [i for i in items if isinstance(i, DdlItem)]
    assert [d.sql for d in ddl] == ["CREATE TABLE shop.n (id INT)"]  # DML is never DDL
    assert [c.position.offset for c in items if isinstance(c, CommitItem)] == [551, 640]


def test_table_map_without_names_is_a_fault_only_for_wanted_tables() -> None:
    items = _stream(
        event(C.TABLE_MAP_EVENT, _table_map(80, "other", names=False), 330),
        event(C.WRITE_ROWS_EVENT, _rows_v2(80, (1, 1)), 380),
        event(C.TABLE_MAP_EVENT, _table_map(81, "shop", names=False), 430),
        event(C.WRITE_ROWS_EVENT, _rows_v2(81, (1, 1)), 480),
        event(C.XID_EVENT, struct.pack("<Q", 3), 511),
        event(C.TABLE_MAP_EVENT, _table_map(81, "shop"), 560),  # metadata is back
        event(C.WRITE_ROWS_EVENT, _rows_v2(81, (2, 2)), 610),
    )
    (fault,) = _faults(items)
    assert fault.kind is ROW_METADATA and fault.tables == (ORDERS,)
    assert "TABLE_MAP without column names for shop.orders" in fault.what
    assert "SET GLOBAL binlog_row_metadata='FULL'" in fault.reason
    rows = [i for i in items if isinstance(i, RowsItem)]
    assert [r.image.raw[:2] for r in rows] == [[2, 2]]  # only once the names are back


def test_incident_is_a_fault_for_every_table() -> None:
    body = struct.pack("<H", 1) + bytes([11]) + b"LOST_EVENTS"
    (fault,) = _faults(_stream(event(C.INCIDENT_EVENT, body, 300)))
    assert fault.kind is INCIDENT_FAULT and fault.tables is None
    assert "incident at binlog.000003:300 (LOST_EVENTS)" in fault.what
