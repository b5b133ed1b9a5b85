"""Read a text-protocol result set straight into Arrow binary columns, without a Python call per value.

pymysql builds a Python object for every value (~0.1x the `mariadb` CLI's speed, measured). Here pymysql
only authenticates and sends the query; we then read the row packets off its socket ourselves in
large reads, walk the packet headers in a tight loop (one step per row), and locate every value
with vectorised pyarrow compute: for column j, the length-encoded prefix at each row's cursor is
gathered at once for all rows, and the cursors advance by the value lengths. The values are then
gathered into one contiguous `binary` array per column (a list-view flatten), ready for casts.
That is the Python twin; where the C extension is built (zeroetl/native/textrows.c) one pass in
C walks the packets and another copies each value into its column (~10x less CPU, measured in
bench/snapshot_bench.py).

Protocol: https://mariadb.com/kb/en/result-set-packets/ (text protocol, no CLIENT_DEPRECATE_EOF,
which pymysql 1.2 does not negotiate).
"""

from __future__ import annotations

import functools
import struct
from dataclasses import dataclass

import pyarrow as pa
import pyarrow.compute as pc
import pymysql
from pymysql.constants import COMMAND

from zeroetl.errors import DecodeError
from zeroetl.native import textrows

MAX_PACKET = 0xFFFFFF
_READ_SIZE = 1 << 20
_PAD = 16  # slack after the data so 9-byte length prefixes can be gathered near the end


@dataclass
class RawResult:
    """The values of one result set, one `binary` array (nulls marked) per column."""

    names: list[str]
    columns: list[pa.Array]
    num_rows: int
    nbytes: int = 0  # bytes of the row packets read


def query_raw(conn: pymysql.connections.Connection, sql: str) -> RawResult:
    """Run `sql` on `conn` and return its result set as raw binary columns."""
    conn._execute_command(COMMAND.COM_QUERY, sql)
    first = conn._read_packet()  # raises the server's error, if any
    if first.is_ok_packet():
        return RawResult([], [], 0)
    ncols = first.read_length_encoded_integer()
    names: list[str] = []
    for _ in range(ncols):
        field = conn._read_packet(pymysql.protocol.FieldDescriptorPacket)
        names.append(field.name)
    conn._read_packet()  # EOF after the column definitions
    if textrows is None:
        buf, starts, ends = _read_rows(conn)
        return RawResult(names, _split_columns(buf, starts, ends, ncols), len(starts), len(buf))
    return _query_native(conn, names)


def _query_native(conn: pymysql.connections.Connection, names: list[str]) -> RawResult:
    """The compiled twin of `_read_rows` + `_split_columns` (zeroetl/native/textrows.c)."""
    assert textrows is not None
    rfile = conn._rfile
    buf = bytearray(_READ_SIZE)
    end = pos = 0
    starts = bytearray()  # int64 payload offsets, one per packet
    cont = spanned = False
    while True:
        pos, state, cont, seq, more = textrows.walk(buf, pos, end, cont, starts)
        spanned = spanned or more
        if state == 1:  # EOF: the result set is complete
            conn._next_seq_id = (seq + 1) % 256
            break
        if state == 2:
            ln = buf[pos] | (buf[pos + 1] << 8) | (buf[pos + 2] << 16)
            _raise_error(conn, bytes(buf[pos + 4 : pos + 4 + ln]))
        end = _read_more(conn, rfile, buf, end)
    n = len(starts) // 8
    if spanned:  # rows over 16 MiB: rebuild them from their packets (rare, slow path)
        joined, rows, row_ends = _join_split(buf, list(memoryview(starts).cast("q")))
        n = len(rows)
        row_starts = pa.array(rows, pa.int64()).buffers()[1]
        ends = pa.array(row_ends, pa.int64()).buffers()[1]
        parts = _native_split(joined, row_starts, ends, names)
        return RawResult(names, _columns(parts, n), n, len(joined) - _PAD)
    parts = _native_split(buf, starts, b"", names)
    return RawResult(names, _columns(parts, n), n, pos)


def _native_split(
    buf: bytes | bytearray, starts: object, ends: object, names: list[str]
) -> list[tuple[bytes | None, bytes, bytes, int]]:
    assert textrows is not None
    try:
        return textrows.split(buf, starts, ends, len(names))  # type: ignore[arg-type]
    except ValueError as exc:  # a malformed row from the server: never guessed around
        raise DecodeError(f"the source sent a malformed result set: {exc}") from None


def _columns(parts: list[tuple[bytes | None, bytes, bytes, int]], n: int) -> list[pa.Array]:
    return [
        pa.Array.from_buffers(
            pa.binary(),
            n,
            [None if bits is None else pa.py_buffer(bits), pa.py_buffer(offs), pa.py_buffer(data)],
            null_count=nulls,
        )
        for bits, offs, data, nulls in parts
    ]


def _read_more(
    conn: pymysql.connections.Connection, rfile: object, buf: bytearray, end: int
) -> int:
    """Append what the socket has (at least one byte, blocking) to `buf` after `end`."""
    # read1, not readinto1: read1 returns what pymysql's reader already buffered without
    # blocking on the socket for more (readinto1 may block after copying buffered bytes).
    data = rfile.read1(max(_READ_SIZE, len(buf) - end))  # type: ignore[attr-defined]
    n = len(data)
    if not n:
        conn._force_close()
        raise pymysql.err.OperationalError(2013, "Lost connection to server during query")
    if end + n > len(buf):
        buf.extend(bytes(max(end + n - len(buf), len(buf))))
    buf[end : end + n] = data
    return end + n


def _read_rows(conn: pymysql.connections.Connection) -> tuple[bytearray, list[int], list[int]]:
    """Read row packets up to the closing EOF; return the bytes and each row's payload [start, end).

    The Python twin of `_query_native`'s loop (runs where the C extension was not built)."""
    rfile = conn._rfile
    buf = bytearray(_READ_SIZE)
    end = 0  # bytes of `buf` filled
    pos = 0  # next packet header
    starts: list[int] = []
    ends: list[int] = []
    split = False  # some row spans packets
    cont = False  # the next packet continues the current row
    while True:
        # Walk every complete packet we have. One iteration per row: keep it tight.
        while pos + 4 <= end:
            ln = buf[pos] | (buf[pos + 1] << 8) | (buf[pos + 2] << 16)
            nxt = pos + 4 + ln
            if nxt > end:
                break
            if not cont:  # a continuation packet's first byte means nothing
                head = buf[pos + 4] if ln else 0
                if head == 0xFE and ln < 9:  # EOF: the result set is complete
                    conn._next_seq_id = (buf[pos + 3] + 1) % 256
                    if split:
                        return _join_split(buf, starts)
                    del buf[pos:]
                    buf.extend(bytes(_PAD))
                    return buf, starts, ends
                if head == 0xFF:  # never a valid first byte of a row
                    _raise_error(conn, bytes(buf[pos + 4 : nxt]))
            cont = ln == MAX_PACKET  # a row over 16 MiB continues in the next packet(s)
            split = split or cont
            starts.append(pos + 4)
            ends.append(nxt)
            pos = nxt
        end = _read_more(conn, rfile, buf, end)


def _join_split(buf: bytearray, packets: list[int]) -> tuple[bytearray, list[int], list[int]]:
    """Rebuild payloads when some row spans several packets (rows over 16 MiB: rare, slow path)."""
    out = bytearray()
    starts: list[int] = []
    continuing = False
    for p in packets:
        ln = buf[p - 4] | (buf[p - 3] << 8) | (buf[p - 2] << 16)
        if not continuing:
            starts.append(len(out))
        out += buf[p : p + ln]
        continuing = ln == MAX_PACKET
    ends = [*starts[1:], len(out)]
    out.extend(bytes(_PAD))
    return out, starts, ends


def _raise_error(conn: pymysql.connections.Connection, payload: bytes) -> None:
    code = struct.unpack_from("<H", payload, 1)[0]
    msg = payload[3:]
    if msg[:1] == b"#":
        msg = msg[6:]
    conn._next_seq_id = 0
    pymysql.err.raise_mysql_exception(b"\xff" + struct.pack("<H", code) + b"#HY000" + msg)


def _split_columns(
    buf: bytearray, starts: list[int], ends: list[int], ncols: int
) -> list[pa.Array]:
    """Locate every value of every row, column by column, vectorised over the rows.

    A row whose values do not end exactly at its end is malformed: refused, never guessed."""
    n = len(starts)
    data = pa.py_buffer(buf)
    u8 = pa.Array.from_buffers(pa.uint8(), len(buf), [None, data])
    pos = pa.array(starts, pa.int64())
    row_end = pa.array(ends, pa.int64())
    cols: list[pa.Array] = []
    for _ in range(ncols):
        first = pc.take(u8, pos).cast(pa.int64())
        if pc.all(pc.less(first, 251)).as_py():  # the common case: every value under 251 bytes
            start = pc.add(pos, 1)
            length = first
            valid = None
        else:
            start, length, valid = _long_prefixes(u8, pos, first)
        # A length must be >= 0 (an 8-byte one can overflow to < 0) and stay inside its row:
        # the gather below trusts these offsets, and pyarrow does not check them.
        past = pc.or_(pc.less(length, 0), pc.greater(pc.add(start, length), row_end))
        if n and pc.any(past).as_py():
            raise DecodeError("the source sent a malformed result set: a value runs past its row")
        cols.append(_gather(data, start, length, valid, n))
        pos = pc.add(start, length)
    if n and not pc.all(pc.equal(pos, row_end)).as_py():
        raise DecodeError("the source sent a malformed result set: bytes after a row's last column")
    return cols


def _long_prefixes(
    u8: pa.Array, pos: pa.Array, first: pa.Array
) -> tuple[pa.Array, pa.Array, pa.Array | None]:
    """Length-encoded prefixes of any size: 0xFB NULL, 0xFC/0xFD/0xFE 2/3/8-byte lengths."""

    def byte(k: int) -> pa.Array:
        return pc.take(u8, pc.add(pos, k)).cast(pa.int64())

    b1, b2, b3 = byte(1), byte(2), byte(3)
    l2 = pc.add(b1, pc.shift_left(b2, 8))
    l3 = pc.add(l2, pc.shift_left(b3, 16))
    l8 = l3
    for k in range(4, 9):
        l8 = pc.add(l8, pc.shift_left(byte(k), 8 * (k - 1)))
    is_null = pc.equal(first, 0xFB)
    small = pc.less(first, 251)
    length = pc.case_when(
        pc.make_struct(small, is_null, pc.equal(first, 0xFC), pc.equal(first, 0xFD)),
        first,
        0,
        l2,
        l3,
        l8,
    )
    skip = pc.case_when(
        pc.make_struct(small, is_null, pc.equal(first, 0xFC), pc.equal(first, 0xFD)),
        1,
        1,
        3,
        4,
        9,
    )
    valid = pc.invert(is_null) if pc.any(is_null).as_py() else None
    return pc.add(pos, skip), length, valid


def _gather(
    data: pa.Buffer, start: pa.Array, length: pa.Array, valid: pa.Array | None, n: int
) -> pa.Array:
    """One contiguous binary array from (start, length) slices of the row buffer.

    The slices lie in increasing order in the buffer, so the offsets [s0, e0, s1, e1, ...] are
    monotone and describe a zero-copy binary array whose even elements are our values and odd
    elements the bytes between them; `take` of the even elements compacts them (memcpy per value;
    a list-view flatten measured ~25x slower).
    """
    if n == 0:
        return pa.array([], pa.binary())
    wide = data.size >= 2**31 - 1
    itype = pa.int64() if wide else pa.int32()
    start = start.cast(itype)
    end = pc.add(start, length.cast(itype))
    inter, evens = _interleave(n)
    offsets = pc.take(pa.concat_arrays([start, end]), inter)
    spread = pa.Array.from_buffers(
        pa.large_binary() if wide else pa.binary(), 2 * n - 1, [None, offsets.buffers()[1], data]
    )
    values = pc.take(spread, evens)
    if wide:
        values = values.cast(pa.binary())
    if valid is None:
        return values
    bitmap = pc.copy(valid).buffers()[1] if valid.offset else valid.buffers()[1]
    null_count = n - pc.sum(valid.cast(pa.int64())).as_py()
    return pa.Array.from_buffers(
        pa.binary(), n, [bitmap, *values.buffers()[1:]], null_count=null_count, offset=values.offset
    )


@functools.lru_cache(maxsize=4)
def _interleave(n: int) -> tuple[pa.Array, pa.Array]:
    """Index arrays for _gather, cached: chunks mostly have the same row count."""
    inter = pa.array([x for i in range(n) for x in (i, n + i)], pa.int64())
    evens = pa.array(range(0, 2 * n, 2), pa.int64())
    return inter, evens
