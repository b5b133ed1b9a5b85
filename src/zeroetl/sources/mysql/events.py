"""Binlog event values and the small parsers for control events (no I/O here).

`Event` is what `BinlogReader` yields: the 19-byte common header unpacked, and the body as a
memoryview with the checksum already stripped. The parsers below read the few fixed layouts the
engine needs (QUERY, ROTATE, XID, GTIDs, FORMAT_DESCRIPTION) and undo MariaDB's event
compression (`log_bin_compress=ON`), so later stages only ever see the plain event types.
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Callable
from dataclasses import dataclass, fields

from zeroetl.errors import DecodeError
from zeroetl.sources.mysql import constants as C

HEADER = struct.Struct("<IBIIIH")  # timestamp, type, server_id, event_size, log_pos, flags
_U16 = struct.Struct("<H").unpack_from
_U32 = struct.Struct("<I").unpack_from
_U64 = struct.Struct("<Q").unpack_from
_QUERY_POST = struct.Struct("<IIBHH")  # thread_id, exec_time, db_len, error_code, status_len
_MARIA_GTID = struct.Struct("<QIB")  # seq_no, domain_id, flags2
_MYSQL_GTID = struct.Struct("<B16sq")  # flags, sid, gno


@dataclass(frozen=True, slots=True)
class Event:
    """One binlog event. `body` is everything after the common header, checksum stripped.

    Row-event bodies are views into the reader's receive buffer (no copy); other bodies own
    their bytes. Either way the view stays valid for as long as it is referenced.
    `end_pos` is 0 for events the server makes up (the first ROTATE; on MySQL also the
    FORMAT_DESCRIPTION sent when streaming starts mid-file).
    """

    type: int
    timestamp: int
    server_id: int
    file: str
    end_pos: int
    body: memoryview
    flags: int


def _event_factory() -> Callable[[int, int, int, str, int, memoryview, int], Event]:
    """Build Events through the slot descriptors: the frozen dataclass __init__ goes through
    object.__setattr__ per field and costs ~0.4 us more per event, which shows at 500k events/s."""
    new = object.__new__
    s_type, s_ts, s_sid, s_file, s_end, s_body, s_flags = (
        Event.__dict__[f.name].__set__ for f in fields(Event)
    )

    def make(
        typ: int, ts: int, sid: int, file: str, end: int, body: memoryview, flags: int
    ) -> Event:
        ev = new(Event)
        s_type(ev, typ)
        s_ts(ev, ts)
        s_sid(ev, sid)
        s_file(ev, file)
        s_end(ev, end)
        s_body(ev, body)
        s_flags(ev, flags)
        return ev

    return make


make_event = _event_factory()


@dataclass(frozen=True, slots=True)
class QueryEvent:
    schema: str
    sql: str
    thread_id: int
    error_code: int


@dataclass(frozen=True, slots=True)
class MariaGtid:
    domain: int
    server_id: int
    seq: int
    flags: int
    standalone: bool  # no XID/COMMIT follows: the group is the single statement (DDL)

    def __str__(self) -> str:
        return f"{self.domain}-{self.server_id}-{self.seq}"


@dataclass(frozen=True, slots=True)
class MysqlGtid:
    uuid: str
    gno: int
    # Logical clock and commit timestamps (MySQL 5.7+/8.0+); 0 when the event is older.
    last_committed: int = 0
    sequence_number: int = 0
    immediate_commit_us: int = 0
    original_commit_us: int = 0
    transaction_length: int = 0

    def __str__(self) -> str:
        return f"{self.uuid}:{self.gno}"


@dataclass(frozen=True, slots=True)
class FormatDescription:
    binlog_version: int
    server_version: str
    header_len: int
    post_header_len: bytes  # index by (event type - 1)
    checksum_alg: int

    def post_len(self, event_type: int, default: int) -> int:
        i = event_type - 1
        return self.post_header_len[i] if 0 <= i < len(self.post_header_len) else default


def _short(body: memoryview, need: int, what: str) -> None:
    if len(body) < need:
        raise DecodeError(f"{what} event body too short ({len(body)} bytes, need {need})")


def packed_int(buf: memoryview, off: int) -> tuple[int, int]:
    """Length-encoded integer at `off` -> (value, offset after it)."""
    first = buf[off]
    if first < 251:
        return first, off + 1
    if first == 252:
        return _U16(buf, off + 1)[0], off + 3
    if first == 253:
        return buf[off + 1] | buf[off + 2] << 8 | buf[off + 3] << 16, off + 4
    if first == 254:
        return _U64(buf, off + 1)[0], off + 9
    raise DecodeError(f"invalid length-encoded integer prefix 0x{first:02x}")


def parse_format_description(body: memoryview) -> FormatDescription:
    """FORMAT_DESCRIPTION body (checksum still attached: its layout always carries one)."""
    _short(body, 2 + 50 + 4 + 1 + 5, "FORMAT_DESCRIPTION")
    version = bytes(body[2:52]).split(b"\0", 1)[0].decode("ascii", "replace")
    header_len = body[56]
    # Checksum-aware servers (MySQL 5.6.1+, MariaDB 5.3+) always end the FDE with the algorithm
    # byte and a 4-byte checksum slot, whatever binlog_checksum says.
    alg = body[-5]
    return FormatDescription(
        binlog_version=_U16(body, 0)[0],
        server_version=version,
        header_len=header_len,
        post_header_len=bytes(body[57:-5]),
        checksum_alg=alg,
    )


def parse_query(body: memoryview, post_len: int = 13) -> QueryEvent:
    """QUERY body; also EXECUTE_LOAD_QUERY (LOAD DATA in statement format), whose post-header
    is 13 bytes longer (file id, offsets, duplicate handling): pass its `post_len` (26)."""
    _short(body, max(post_len, 13), "QUERY")
    thread_id, _exec_time, db_len, error_code, status_len = _QUERY_POST.unpack_from(body, 0)
    db_at = post_len + status_len
    sql_at = db_at + db_len + 1  # schema name is NUL-terminated
    if sql_at > len(body):
        raise DecodeError("QUERY event body truncated before the statement text")
    return QueryEvent(
        schema=bytes(body[db_at : db_at + db_len]).decode("utf-8", "replace"),
        sql=bytes(body[sql_at:]).decode("utf-8", "replace"),
        thread_id=thread_id,
        error_code=error_code,
    )


def parse_incident(body: memoryview) -> tuple[int, str]:
    """INCIDENT_EVENT: (incident number, message); 1 is LOST_EVENTS."""
    _short(body, 2, "INCIDENT")
    number = _U16(body, 0)[0]
    if len(body) < 3:
        return number, ""
    size = body[2]
    return number, bytes(body[3 : 3 + size]).decode("utf-8", "replace")


def parse_rotate(body: memoryview) -> tuple[str, int]:
    _short(body, 9, "ROTATE")
    return bytes(body[8:]).decode("utf-8", "replace"), _U64(body, 0)[0]


def parse_xid(body: memoryview) -> int:
    _short(body, 8, "XID")
    return int(_U64(body, 0)[0])


def parse_mariadb_gtid(body: memoryview, server_id: int) -> MariaGtid:
    """MariaDB GTID_EVENT (162); the server id of the GTID is the event header's."""
    _short(body, 13, "MariaDB GTID")
    seq, domain, flags = _MARIA_GTID.unpack_from(body, 0)
    return MariaGtid(domain, server_id, seq, flags, bool(flags & C.FL_STANDALONE))


def parse_mysql_gtid(body: memoryview, *, event_type: int = C.GTID_LOG_EVENT) -> MysqlGtid:
    """MySQL GTID_LOG_EVENT (33) or ANONYMOUS_GTID_LOG_EVENT (34).

    Fields after uuid/gno are read when present (5.7 logical clock, 8.0 commit timestamps and
    transaction length) and ignored past that (server versions, commit group ticket).
    """
    if event_type == C.GTID_TAGGED_LOG_EVENT:
        raise DecodeError(
            "tagged GTID event (MySQL 8.3+) is not supported",
            hint="use untagged GTIDs (SET gtid_next without a tag) on the source",
        )
    _short(body, 25, "MySQL GTID")
    _flags, sid, gno = _MYSQL_GTID.unpack_from(body, 0)
    h = sid.hex()
    uuid = f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"
    n = len(body)
    last = seq = imm = orig = tlen = 0
    # lt_type(1) = 2 (logical timestamps), last_committed(8), sequence_number(8)
    if n >= 42 and body[25] == 2:
        last, seq = _U64(body, 26)[0], _U64(body, 34)[0]
        off = 42
        # immediate_commit_timestamp: 7 bytes, top bit says original_commit_timestamp follows
        if n >= off + 7:
            imm = int.from_bytes(body[off : off + 7], "little")
            off += 7
            if imm & (1 << 55):
                imm &= (1 << 55) - 1
                if n < off + 7:
                    raise DecodeError("MySQL GTID event truncated in original_commit_timestamp")
                orig = int.from_bytes(body[off : off + 7], "little")
                off += 7
            else:
                orig = imm
            if n > off:
                tlen, off = packed_int(body, off)
    return MysqlGtid(uuid, gno, last, seq, imm, orig, tlen)


# --- MariaDB compressed events (log_bin_compress=ON) -----------------------------------------


def _uncompress(buf: memoryview, what: str) -> bytes:
    """MariaDB compressed record: 1 header byte (0x80 | alg << 4 | lenlen), big-endian length."""
    head = buf[0]
    lenlen = head & 0x07
    if head & 0xF0 != 0x80 or not 1 <= lenlen <= 4:  # bit 7 set, algorithm 0 (zlib)
        raise DecodeError(f"{what}: unknown compressed-record header 0x{head:02x}")
    size = int.from_bytes(buf[1 : 1 + lenlen], "big")
    try:
        out = zlib.decompress(buf[1 + lenlen :], bufsize=max(size, 1))
    except zlib.error as exc:
        raise DecodeError(f"{what}: cannot decompress: {exc}") from None
    if len(out) != size:
        raise DecodeError(f"{what}: decompressed {len(out)} bytes, header said {size}")
    return out


def decompress_query(body: memoryview, post_len: int = 13) -> memoryview:
    """QUERY_COMPRESSED body -> QUERY body (only the statement text is compressed)."""
    _short(body, post_len, "QUERY_COMPRESSED")
    db_len, status_len = body[8], _U16(body, 11)[0]
    at = post_len + status_len + db_len + 1
    if at >= len(body):
        raise DecodeError("QUERY_COMPRESSED event body truncated")
    return memoryview(bytes(body[:at]) + _uncompress(body[at:], "QUERY_COMPRESSED"))


def decompress_rows(event_type: int, body: memoryview, post_len: int) -> tuple[int, memoryview]:
    """*_ROWS_COMPRESSED(_V1) body -> (v1 event type, v1 rows body).

    Only the row images are compressed; table id, flags, column count and bitmaps are not.
    The v2 layout's extra-data block is dropped so every result has the v1 layout.
    """
    if C.WRITE_ROWS_COMPRESSED_EVENT_V1 <= event_type <= C.DELETE_ROWS_COMPRESSED_EVENT_V1:
        plain = event_type - C.WRITE_ROWS_COMPRESSED_EVENT_V1 + C.WRITE_ROWS_EVENT_V1
        head = bytes(body[:post_len])
        off = post_len
    else:
        plain = event_type - C.WRITE_ROWS_COMPRESSED_EVENT + C.WRITE_ROWS_EVENT_V1
        fixed = post_len - 2 if post_len >= 10 else post_len  # v2 post-header ends in extra_len
        extra = _U16(body, fixed)[0] if post_len >= 10 else 0
        head = bytes(body[:fixed])
        off = fixed + extra
    start = off
    ncols, off = packed_int(body, off)
    off += (ncols + 7) // 8
    if plain == C.UPDATE_ROWS_EVENT_V1:
        off += (ncols + 7) // 8
    if off >= len(body):
        raise DecodeError("compressed rows event body truncated before the row images")
    rows = _uncompress(body[off:], "compressed rows event")
    return plain, memoryview(head + bytes(body[start:off]) + rows)
