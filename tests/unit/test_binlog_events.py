"""Event framing and control-event parsers on hand-built bytes (MySQL 8 formats included).

The stream tests push real protocol packets through a socketpair into `BinlogReader`.
"""

from __future__ import annotations

import socket
import struct
import threading
import zlib

import pytest

from zeroetl.errors import BinlogPurged, DecodeError, SourceUnavailable
from zeroetl.model import Position
from zeroetl.sources.mysql import constants as C
from zeroetl.sources.mysql.binlog import (
    BinlogReader,
    Event,
    parse_format_description,
    parse_mariadb_gtid,
    parse_mysql_gtid,
    parse_query,
    parse_rotate,
    parse_xid,
)
from zeroetl.sources.mysql.events import decompress_query, decompress_rows, packed_int

UUID = "3e11fa47-71ca-11e1-9e33-c80aa9429562"
SID = bytes.fromhex(UUID.replace("-", ""))


# --- byte builders ----------------------------------------------------------------------------


def event(
    typ: int,
    body: bytes,
    log_pos: int,
    *,
    crc: bool = True,
    ts: int = 1700000000,
    server_id: int = 7,
    flags: int = 0,
) -> bytes:
    size = 19 + len(body) + (4 if crc else 0)
    raw = struct.pack("<IBIIIH", ts, typ, server_id, size, log_pos, flags) + body
    return raw + struct.pack("<I", zlib.crc32(raw)) if crc else raw


def packets(payload: bytes, seq: int = 1) -> bytes:
    """One protocol payload as packets of at most 0xFFFFFF bytes (an exact multiple ends in 0)."""
    out = []
    while True:
        part, payload = payload[:0xFFFFFF], payload[0xFFFFFF:]
        out.append(struct.pack("<I", len(part))[:3] + bytes([seq & 0xFF]) + part)
        seq += 1
        if len(part) < 0xFFFFFF:
            return b"".join(out)


def ok(ev: bytes) -> bytes:
    return packets(b"\0" + ev)


def fde_body(alg: int = C.BINLOG_CHECKSUM_ALG_CRC32, version: str = "8.0.36") -> bytes:
    post = bytes(
        [
            56,
            13,
            0,
            8,
            0,
            18,
            0,
            4,
            4,
            4,
            4,
            18,
            0,
            0,
            95,
            0,
            4,
            26,
            8,
            0,
            0,
            0,
            8,
            8,
            8,
            2,
            0,
            0,
            0,
            10,
            10,
            10,
            42,
            42,
            0,
            18,
            52,
            0,
            10,
            40,
            0,
        ]
    )
    return (
        struct.pack("<H", 4)
        + version.encode().ljust(50, b"\0")
        + struct.pack("<I", 0)
        + bytes([19])
        + post
        + bytes([alg])
    )


def rotate_body(name: str, pos: int = 4) -> bytes:
    return struct.pack("<Q", pos) + name.encode()


def mysql8_gtid_body(gno: int, *, orig_differs: bool = True, tlen: int = 300) -> bytes:
    imm, orig = 1_700_000_000_123_456, 1_699_999_999_000_001
    body = bytes([0]) + SID + struct.pack("<q", gno) + bytes([2]) + struct.pack("<QQ", 11, 12)
    if orig_differs:
        body += (imm | 1 << 55).to_bytes(7, "little") + orig.to_bytes(7, "little")
    else:
        body += imm.to_bytes(7, "little")
    body += bytes([252]) + struct.pack("<H", tlen) if tlen >= 251 else bytes([tlen])
    body += struct.pack("<I", 80036 | 1 << 31) + struct.pack("<I", 80035)  # server versions
    return body


def query_body(schema: str, sql: str, *, thread_id: int = 9, error_code: int = 0) -> bytes:
    status = b"\x00\x00\x00\x00\x00"  # Q_FLAGS2_CODE + 4 bytes
    return (
        struct.pack("<IIBHH", thread_id, 0, len(schema), error_code, len(status))
        + status
        + schema.encode()
        + b"\0"
        + sql.encode()
    )


def stream_reader(
    data: bytes, *, checksum: bool = True, timeout: float = 5.0, close_after: bool = True
) -> tuple[BinlogReader, socket.socket]:
    ours, theirs = socket.socketpair()

    def send() -> None:
        theirs.sendall(data)
        if close_after:
            theirs.shutdown(socket.SHUT_WR)

    threading.Thread(target=send, daemon=True).start()
    reader = BinlogReader.from_socket(
        ours, Position("binlog.000003", 4), checksum=checksum, read_timeout_s=timeout
    )
    return reader, theirs


def read_all(reader: BinlogReader) -> tuple[list[Event], Exception | None]:
    events: list[Event] = []
    try:
        for ev in reader:
            events.append(ev)
    except Exception as exc:  # the stream always ends in an error here
        return events, exc
    return events, None


def mysql_stream(alg: int = C.BINLOG_CHECKSUM_ALG_CRC32) -> bytes:
    crc = alg == C.BINLOG_CHECKSUM_ALG_CRC32
    fde = event(C.FORMAT_DESCRIPTION_EVENT, fde_body(alg), 126, crc=True)
    if not crc:  # checksum-free binlog: the FDE still has a 4-byte slot, left zero
        fde = fde[:-4] + b"\0\0\0\0"
    return b"".join(
        [
            ok(
                event(
                    C.ROTATE_EVENT,
                    rotate_body("binlog.000003"),
                    0,
                    ts=0,
                    flags=C.LOG_EVENT_ARTIFICIAL_F,
                )
            ),
            ok(fde),
            ok(event(C.GTID_LOG_EVENT, mysql8_gtid_body(5), 200, crc=crc)),
            ok(event(C.QUERY_EVENT, query_body("shop", "BEGIN"), 280, crc=crc)),
            ok(event(C.XID_EVENT, struct.pack("<Q", 77), 311, crc=crc)),
        ]
    )


# --- parsers ---------------------------------------------------------------------------------


def test_mysql8_gtid_with_commit_timestamps() -> None:
    g = parse_mysql_gtid(memoryview(mysql8_gtid_body(42)))
    assert (g.uuid, g.gno, str(g)) == (UUID, 42, f"{UUID}:42")
    assert (g.last_committed, g.sequence_number) == (11, 12)
    assert g.immediate_commit_us == 1_700_000_000_123_456
    assert g.original_commit_us == 1_699_999_999_000_001
    assert g.transaction_length == 300


def test_mysql8_gtid_same_commit_timestamp_and_short_forms() -> None:
    g = parse_mysql_gtid(memoryview(mysql8_gtid_body(3, orig_differs=False, tlen=99)))
    assert g.original_commit_us == g.immediate_commit_us and g.transaction_length == 99
    # MySQL 5.7 (logical clock, no timestamps) and 5.6 (uuid and gno only)
    g57 = parse_mysql_gtid(memoryview(mysql8_gtid_body(4)[:42]))
    assert (g57.gno, g57.sequence_number, g57.immediate_commit_us) == (4, 12, 0)
    assert str(parse_mysql_gtid(memoryview(mysql8_gtid_body(5)[:25]))) == f"{UUID}:5"


def test_mysql_anonymous_and_tagged_gtids() -> None:
    anon = bytes([1]) + bytes(16) + struct.pack("<q", 0) + bytes([2]) + bytes(16)
    g = parse_mysql_gtid(memoryview(anon), event_type=C.ANONYMOUS_GTID_LOG_EVENT)
    assert g.uuid == "00000000-0000-0000-0000-000000000000" and g.gno == 0
    with pytest.raises(DecodeError, match="tagged GTID"):
        parse_mysql_gtid(memoryview(mysql8_gtid_body(1)), event_type=C.GTID_TAGGED_LOG_EVENT)
    with pytest.raises(DecodeError, match="too short"):
        parse_mysql_gtid(memoryview(bytes(10)))
    with pytest.raises(DecodeError, match="original_commit_timestamp"):
        parse_mysql_gtid(memoryview(mysql8_gtid_body(1)[:52]))


def test_mariadb_gtid() -> None:
    body = struct.pack("<QIB", 1234, 5, C.FL_STANDALONE | C.FL_DDL) + bytes(6)
    g = parse_mariadb_gtid(memoryview(body), 3)
    assert (str(g), g.standalone, g.flags) == ("5-3-1234", True, C.FL_STANDALONE | C.FL_DDL)
    body = struct.pack("<QIB", 9, 0, C.FL_GROUP_COMMIT_ID | C.FL_TRANSACTIONAL) + bytes(8)
    assert not parse_mariadb_gtid(memoryview(body), 1).standalone


def test_query_rotate_xid() -> None:
    q = parse_query(memoryview(query_body("shop", "ALTER TABLE t ADD c INT -- é", error_code=3)))
    assert (q.schema, q.sql, q.thread_id, q.error_code) == (
        "shop",
        "ALTER TABLE t ADD c INT -- é",
        9,
        3,
    )
    assert parse_rotate(memoryview(rotate_body("binlog.000010", 4))) == ("binlog.000010", 4)
    assert parse_xid(memoryview(struct.pack("<Q", 2**63 + 5))) == 2**63 + 5
    with pytest.raises(DecodeError):
        parse_query(memoryview(query_body("s", "x")[:14]))


def test_format_description() -> None:
    fde = parse_format_description(memoryview(fde_body() + b"CRC!"))
    assert (fde.binlog_version, fde.server_version, fde.header_len) == (4, "8.0.36", 19)
    assert fde.checksum_alg == C.BINLOG_CHECKSUM_ALG_CRC32
    assert fde.post_len(C.WRITE_ROWS_EVENT, 0) == 10 and fde.post_len(C.QUERY_EVENT, 0) == 13
    assert fde.post_len(200, 8) == 8


def test_packed_int() -> None:
    buf = memoryview(bytes([250, 252, 1, 2, 253, 1, 2, 3, 254]) + struct.pack("<Q", 2**40))
    assert packed_int(buf, 0) == (250, 1)
    assert packed_int(buf, 1) == (0x0201, 4)
    assert packed_int(buf, 4) == (0x030201, 8)
    assert packed_int(buf, 8) == (2**40, 17)


def compressed(data: bytes) -> bytes:
    n = len(data)
    lenlen = 1 if n < 256 else 2 if n < 65536 else 3
    return bytes([0x80 | lenlen]) + n.to_bytes(lenlen, "big") + zlib.compress(data)


def test_mariadb_compressed_query_and_rows() -> None:
    plain = query_body("db", "INSERT INTO t VALUES " + "(1,'x')," * 50 + "(2,'y')")
    head = len(plain) - len("INSERT INTO t VALUES " + "(1,'x')," * 50 + "(2,'y')")
    packed = memoryview(plain[:head] + compressed(plain[head:]))
    assert bytes(decompress_query(packed)) == plain

    rows = b"\x00" + b"\x01\x00\x00\x00" * 100  # images: null bitmap + INT, 100 times
    cols = bytes([1, 0x01])  # 1 column, bitmap
    v1 = struct.pack("<Q", 77)[:6] + struct.pack("<H", 1) + cols
    typ, body = decompress_rows(
        C.WRITE_ROWS_COMPRESSED_EVENT_V1, memoryview(v1 + compressed(rows)), 8
    )
    assert (typ, bytes(body)) == (C.WRITE_ROWS_EVENT_V1, v1 + rows)
    # v2 layout: the extra-data block is dropped, the result has the v1 layout
    upd = bytes([1, 0x01, 0x01])
    v2 = struct.pack("<Q", 77)[:6] + struct.pack("<H", 1) + struct.pack("<H", 4) + b"ex" + upd
    typ, body = decompress_rows(
        C.UPDATE_ROWS_COMPRESSED_EVENT, memoryview(v2 + compressed(rows)), 10
    )
    assert typ == C.UPDATE_ROWS_EVENT_V1
    assert bytes(body) == struct.pack("<Q", 77)[:6] + struct.pack("<H", 1) + upd + rows
    with pytest.raises(DecodeError, match="compressed-record header"):
        decompress_rows(C.DELETE_ROWS_COMPRESSED_EVENT_V1, memoryview(v1 + b"\x10abc"), 8)


# --- framing over a socket -----------------------------------------------------------------


@pytest.mark.parametrize("alg", [C.BINLOG_CHECKSUM_ALG_CRC32, C.BINLOG_CHECKSUM_ALG_OFF])
def test_stream_framing(alg: int) -> None:
    reader, _peer = stream_reader(mysql_stream(alg), checksum=True)
    events, err = read_all(reader)
    assert isinstance(err, SourceUnavailable)  # the peer closed: connection lost
    assert [e.type for e in events] == [
        C.ROTATE_EVENT,
        C.FORMAT_DESCRIPTION_EVENT,
        C.GTID_LOG_EVENT,
        C.QUERY_EVENT,
        C.XID_EVENT,
    ]
    assert {e.file for e in events} == {"binlog.000003"}
    assert [e.end_pos for e in events] == [0, 126, 200, 280, 311]
    assert parse_rotate(events[0].body) == ("binlog.000003", 4)
    assert len(events[1].body) == len(fde_body())  # checksum (or its empty slot) stripped
    assert str(parse_mysql_gtid(events[2].body)) == f"{UUID}:5"
    assert parse_query(events[3].body).sql == "BEGIN"
    assert parse_xid(events[4].body) == 77
    assert events[4].server_id == 7 and events[4].timestamp == 1700000000


def test_checksum_mismatch_names_file_and_position() -> None:
    data = bytearray(mysql_stream())
    data[-10] ^= 0xFF  # inside the XID body
    reader, _peer = stream_reader(bytes(data))
    events, err = read_all(reader)
    assert len(events) == 4
    assert isinstance(err, DecodeError)
    assert "checksum mismatch" in str(err) and "binlog.000003:311" in str(err)


def test_real_rotate_switches_file() -> None:
    data = (
        mysql_stream()
        + ok(event(C.ROTATE_EVENT, rotate_body("binlog.000004"), 354))
        + ok(event(C.FORMAT_DESCRIPTION_EVENT, fde_body(), 126))
        + ok(event(C.XID_EVENT, struct.pack("<Q", 78), 157))
    )
    events, _ = read_all(stream_reader(data)[0])
    tail = [(e.type, e.file, e.end_pos) for e in events[-3:]]
    assert tail == [
        (C.ROTATE_EVENT, "binlog.000003", 354),
        (C.FORMAT_DESCRIPTION_EVENT, "binlog.000004", 126),
        (C.XID_EVENT, "binlog.000004", 157),
    ]


def test_event_split_over_several_packets() -> None:
    big = bytes(range(256)) * (0x1000000 // 256 + 10)  # > 16 MiB: three packets
    data = (
        mysql_stream()
        + ok(event(C.WRITE_ROWS_EVENT, big, 9999))
        + ok(event(C.XID_EVENT, struct.pack("<Q", 1), 10030))
    )
    events, _ = read_all(stream_reader(data, timeout=30)[0])
    assert [e.type for e in events[-2:]] == [C.WRITE_ROWS_EVENT, C.XID_EVENT]
    assert bytes(events[-2].body) == big


def test_server_errors_map_to_error_tree() -> None:
    purged = packets(
        b"\xff"
        + struct.pack("<H", 1236)
        + b"#HY000"
        + b"Could not find first log file name in binary log index file"
    )
    events, err = read_all(stream_reader(purged)[0])
    assert events == [] and isinstance(err, BinlogPurged)
    assert "binlog.000003:4" in str(err) and "resync" in str(err)
    shutdown = packets(b"\xff" + struct.pack("<H", 1053) + b"#08S01Server shutdown in progress")
    assert isinstance(read_all(stream_reader(shutdown)[0])[1], SourceUnavailable)
    eof = packets(b"\xfe\x00\x00\x02\x00")
    assert isinstance(read_all(stream_reader(eof)[0])[1], SourceUnavailable)


def test_read_timeout_is_source_unavailable() -> None:
    reader, _peer = stream_reader(mysql_stream(), timeout=0.3, close_after=False)
    events, err = read_all(reader)
    assert len(events) == 5 and isinstance(err, SourceUnavailable)
    assert "no binlog event or heartbeat" in str(err)
