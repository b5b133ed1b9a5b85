"""Binlog replication client: COM_BINLOG_DUMP on a pymysql-authenticated socket.

pymysql does the handshake and authentication; after that we own the socket. Packets are read
with `recv_into` into large fresh buffers and every event is cut out as a memoryview, so a row
event is never copied between the kernel and the decoder. A buffer is never reused: views
handed out stay valid, and the buffer is freed when the last event referring to it goes.
"""

from __future__ import annotations

import contextlib
import re
import select
import socket
import ssl
import struct
import zlib
from collections.abc import Callable, Iterator
from typing import Any

import pymysql

from zeroetl.errors import BinlogPurged, DecodeError, SourceNotReady, SourceUnavailable
from zeroetl.model import Position
from zeroetl.sources.mysql import constants as C
from zeroetl.sources.mysql import framing
from zeroetl.sources.mysql.connection import SourceParams, scrub
from zeroetl.sources.mysql.events import (
    HEADER,
    Event,
    FormatDescription,
    MariaGtid,
    MysqlGtid,
    QueryEvent,
    decompress_query,
    decompress_rows,
    make_event,
    parse_format_description,
    parse_mariadb_gtid,
    parse_mysql_gtid,
    parse_query,
    parse_rotate,
    parse_xid,
)

__all__ = [
    "BinlogReader",
    "Event",
    "FormatDescription",
    "MariaGtid",
    "MysqlGtid",
    "QueryEvent",
    "binlog_files",
    "parse_format_description",
    "parse_mariadb_gtid",
    "parse_mysql_gtid",
    "parse_query",
    "parse_rotate",
    "parse_xid",
    "server_binlog_position",
]

CHUNK = 512 * 1024  # receive buffer size; an event larger than this gets a buffer of its own
MAX_PACKET = 0xFFFFFF
_U32 = struct.Struct("<I").unpack_from
_ERR_PACKET = struct.Struct("<H")
_DUMP = struct.Struct("<BIHI")  # command, position, flags, server_id (file name follows)
_ZERO_COPY = C.ROWS_EVENTS
_COMPRESSED = frozenset(range(C.QUERY_COMPRESSED_EVENT, C.DELETE_ROWS_COMPRESSED_EVENT_V1 + 1))
_CONTROL = _COMPRESSED | {C.FORMAT_DESCRIPTION_EVENT, C.ROTATE_EVENT}
_KINDS = framing.kinds_table(_CONTROL, _ZERO_COPY)
_PURGED = re.compile(r"could not (find first|open) log file|purged|no such file", re.I)
_ACCESS_DENIED = {1045, 1142, 1227}
# The dump thread gives up on a replica that has not read for `net_write_timeout` seconds
# (default 60). We stop reading while a long warehouse commit runs (the reader's queue is
# bounded), so the dump session gets a day: our own slowness never costs the connection, while
# a dead replica is still found by TCP (unacknowledged data is retransmitted for ~15 minutes).
DUMP_WRITE_TIMEOUT_S = 86_400


def _version(text: str) -> tuple[int, ...]:
    m = re.match(r"(\d+)\.(\d+)\.(\d+)", text)
    return tuple(int(x) for x in m.groups()) if m else (0, 0, 0)


def flavor_of(conn: pymysql.connections.Connection) -> str:
    return "mariadb" if "mariadb" in conn.get_server_info().lower() else "mysql"


class BinlogReader:
    """Streams events from `start` (a file/offset) until closed; see `__iter__`."""

    _conn: pymysql.connections.Connection | None
    _sock: socket.socket | None
    # Called on the reading thread before a read that would block (nothing unread is left);
    # `waiting` is true from then until data arrives (pump.py: the stream is drained).
    on_wait: Callable[[], None] | None = None
    waiting: bool = False
    # {table id: TABLE_MAP body} of the maps the consumer holds and skips when unchanged: such
    # TABLE_MAPs are left out of the batches (see framing.frame). Set by ChangeStream.
    known_maps: dict[int, bytes] | None = None
    _fde: FormatDescription | None

    def __init__(
        self,
        params: SourceParams,
        start: Position,
        *,
        server_id: int,
        heartbeat_s: float = 1.0,
        read_timeout_s: float = 30.0,
        annotate: bool = True,
    ) -> None:
        """`annotate=False`: MariaDB leaves out its ANNOTATE_ROWS events (the SQL text of each
        row-changing statement) instead of sending them; readers that never look at them save
        a third of the events of a small transaction (GTID, then ANNOTATE, TABLE_MAP, rows per
        statement, XID). The positions of the other events are unchanged."""
        self._init(params, start, server_id, heartbeat_s, read_timeout_s)
        self._annotate = annotate
        self._conn = params.connect()
        self._flavor = flavor_of(self._conn)
        self._checksum = self._prepare()

    def _init(
        self, params: SourceParams, start: Position, server_id: int, hb: float, timeout: float
    ) -> None:
        if not start.file:
            raise ValueError("BinlogReader needs a start position with a file name")
        if 0 < timeout <= hb:
            raise ValueError("read_timeout_s must be longer than heartbeat_s")
        self._params = params
        self._start = start
        self._server_id = server_id
        self._heartbeat_s = hb
        self._read_timeout_s = timeout
        self._file = start.file
        self._pos = max(start.offset, 4)
        self._fde = None
        self._sock = None
        self._conn = None
        self._flavor = "mysql"
        self._checksum = False
        self._started = False
        self._annotate = True

    @classmethod
    def from_socket(
        cls,
        sock: socket.socket,
        start: Position,
        *,
        checksum: bool,
        flavor: str = "mysql",
        read_timeout_s: float = 30.0,
    ) -> BinlogReader:
        """Read a dump stream that is already flowing on `sock` (recorded streams, tests).

        `checksum` says whether events before the first FORMAT_DESCRIPTION carry a CRC32.
        """
        self = cls.__new__(cls)
        self._init(SourceParams("stream", 0, ""), start, 0, 0.0, read_timeout_s)
        self._flavor = flavor
        self._checksum = checksum
        sock.settimeout(read_timeout_s)
        self._sock = sock
        return self

    @property
    def flavor(self) -> str:
        return self._flavor

    @property
    def format_description(self) -> FormatDescription | None:
        """The FORMAT_DESCRIPTION of the file being read (None before the first one)."""
        return self._fde

    def _prepare(self) -> bool:
        """Session settings the dump thread reads; returns whether the server adds CRC32s."""
        ns = int(self._heartbeat_s * 1_000_000_000)
        sets = [
            "SET @master_binlog_checksum = @@global.binlog_checksum",
            f"SET @master_heartbeat_period = {ns}",
            f"SET SESSION net_write_timeout = {DUMP_WRITE_TIMEOUT_S}",
        ]
        if self._flavor == "mariadb":
            sets.append(f"SET @mariadb_slave_capability = {C.MARIA_SLAVE_CAPABILITY_GTID}")
        else:  # MySQL 8.0.26+ reads the new names first
            sets += [
                "SET @source_binlog_checksum = @@global.binlog_checksum",
                f"SET @source_heartbeat_period = {ns}",
            ]
        conn = self._conn
        assert conn is not None
        try:
            with conn.cursor() as cur:
                for sql in sets:
                    cur.execute(sql)
                cur.execute("SELECT @@global.binlog_checksum")
                row = cur.fetchone()
        except pymysql.err.MySQLError as exc:
            self.close()
            raise self._server_error(exc.args[0], str(exc.args[-1])) from None
        return bool(row and str(row[0]).upper() == "CRC32")

    def _send_dump(self) -> None:
        # Without the flag MariaDB skips ANNOTATE_ROWS events: a replica announcing the GTID
        # capability (see _prepare) tolerates the gap in positions.
        wants = self._annotate and self._flavor == "mariadb"
        flags = C.BINLOG_SEND_ANNOTATE_ROWS_EVENT if wants else 0
        payload = _DUMP.pack(C.COM_BINLOG_DUMP, self._pos, flags, self._server_id)
        payload += self._file.encode()
        sock = self._conn._sock if self._conn else None  # pymysql's socket, ours from now on
        if sock is None:
            raise SourceUnavailable(f"connection to {self._params} is closed")
        sock.settimeout(self._read_timeout_s)
        try:
            sock.sendall(struct.pack("<I", len(payload))[:3] + b"\0" + payload)
        except OSError as exc:
            raise self._lost(exc) from None
        self._sock = sock

    def close(self) -> None:
        sock, self._sock = self._sock, None
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)  # wakes a recv blocked in another thread
        conn = self._conn
        if conn is not None and conn.open:
            conn._force_close()  # COM_QUIT is not allowed mid-dump

    def __enter__(self) -> BinlogReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- errors ------------------------------------------------------------------------------

    def _where(self) -> str:
        return f"{self._file}:{self._pos}"

    def _lost(self, exc: BaseException | None) -> SourceUnavailable:
        if isinstance(exc, TimeoutError):
            return SourceUnavailable(
                f"no binlog event or heartbeat from {self._params} in {self._read_timeout_s:g}s "
                f"(stream at {self._where()})",
                hint="the source is down or unreachable; will reconnect from the last checkpoint",
            )
        why = scrub(str(exc), self._params.password) if exc else "connection closed by server"
        return SourceUnavailable(
            f"lost binlog connection to {self._params} at {self._where()}: {why}"
        )

    def _server_error(self, code: int, message: str) -> Exception:
        message = scrub(message, self._params.password)
        if code == C.ER_MASTER_FATAL_ERROR_READING_BINLOG:
            if _PURGED.search(message):
                return BinlogPurged(
                    f"binlog position {self._start} is no longer on {self._params}: {message}",
                    hint="the binlog was purged; a full resync (snapshot) of the tables is needed",
                )
            return DecodeError(f"source cannot stream from {self._where()}: {message}")
        if code in _ACCESS_DENIED:
            return SourceNotReady(
                f"{self._params} refused binlog streaming: {message}",
                hint="GRANT REPLICATION SLAVE, REPLICATION CLIENT ON *.* TO the user",
            )
        return SourceUnavailable(
            f"source {self._params} ended the binlog stream: {message} ({code})"
        )

    # --- the stream --------------------------------------------------------------------------

    def _fill(self, buf: memoryview, pos: int, end: int, need: int) -> tuple[memoryview, int, int]:
        """A buffer holding at least `need` unread bytes: carries the unread tail over."""
        have = end - pos
        new = bytearray(max(CHUNK, need + 4096))
        new[:have] = buf[pos:end]
        view = memoryview(new)
        cap = len(new)
        sock = self._sock
        if sock is None:
            raise _Closed
        try:
            while have < need:
                if self.on_wait is not None and not _readable(sock):
                    # Everything the source sent so far is read: it is quiet (or slower than
                    # us). Tell the consumer before blocking, then say we wait for it.
                    self.on_wait()
                    self.waiting = True
                n = sock.recv_into(view[have:], cap - have)
                self.waiting = False
                if n == 0:
                    raise self._lost(None)
                have += n
        except OSError as exc:
            if self._sock is None:  # closed by close(): end quietly
                raise _Closed from None
            raise self._lost(exc) from None
        return view, 0, have

    def __iter__(self) -> Iterator[Event]:
        """Yield events as the server sends them; blocks while idle (heartbeats come through).

        Every event is yielded, including the first (fake) ROTATE, FORMAT_DESCRIPTION and
        HEARTBEAT; MariaDB compressed events arrive decompressed under their plain type.
        Raises SourceUnavailable on connection loss or read timeout, BinlogPurged when the
        start file is gone, DecodeError on a checksum mismatch.
        """
        for batch in self.batches():
            yield from batch

    def batches(self) -> Iterator[list[Event]]:
        """The events of `__iter__` a list at a time (every complete event already received, or
        one): what a hot consumer loops over, without a generator step per event."""
        if self._started:
            raise RuntimeError("a BinlogReader can be iterated only once; open a new one")
        self._started = True
        if self._sock is None:
            self._send_dump()
        try:
            yield from self._stream()
        except _Closed:
            return

    def _stream(self) -> Iterator[list[Event]]:
        # Hot loop: everything it touches is a local; rare event types go to _control().
        # `frame` (C, or its Python twin) makes the Events of every plain event in the buffer
        # in one call; the packet it stops at (incomplete, control, error, bad checksum...) is
        # read below, one at a time, which raises the errors.
        unpack_header = HEADER.unpack_from
        crc32 = zlib.crc32
        u32 = _U32
        make = make_event
        frame = framing.frame
        kinds = _KINDS
        descriptors = framing.DESCRIPTORS
        zero_copy = _ZERO_COPY
        control = _CONTROL
        checksum = self._checksum
        file = self._file
        buf, pos, end = memoryview(b""), 0, 0
        while self._sock is not None:
            known = self.known_maps
            events, pos, last = frame(buf, pos, end, checksum, file, kinds, descriptors, known)
            if last:  # also when every event was a known TABLE_MAP
                self._pos = last
            if events:
                yield events
                if self._sock is None:
                    return
            if end - pos < 4:
                buf, pos, end = self._fill(buf, pos, end, 4)
            length = u32(buf, pos)[0] & 0xFFFFFF
            pos += 4
            if end - pos < length:
                buf, pos, end = self._fill(buf, pos, end, length)
            p, pos = pos, pos + length
            if length == MAX_PACKET:  # event continues in further packets
                data, buf, pos, end = self._continued(buf, p, pos, end)
                p, stop = 0, len(data)
            else:
                data, stop = buf, pos
            if data[p] != 0:
                self._status(data[p:stop])
            p += 1  # the event starts after the OK byte
            ts, typ, server_id, size, log_pos, flags = unpack_header(data, p)
            if size != stop - p:
                raise DecodeError(
                    f"event at {self._where()} declares {size} bytes but the packet has {stop - p}"
                )
            if typ in control:
                typ, body, ev_file = self._control(data[p:stop], typ, log_pos, flags)
                checksum, file = self._checksum, self._file
                yield [make(typ, ts, server_id, ev_file, log_pos, body, flags)]
                continue
            if checksum:
                stop -= 4
                if u32(data, stop)[0] != crc32(data[p:stop]):
                    raise self._bad_checksum(typ, log_pos)
            body = data[p + 19 : stop]
            if typ not in zero_copy:
                body = memoryview(bytes(body))  # small: own it, free the big buffer sooner
            if log_pos:
                self._pos = log_pos
            yield [make(typ, ts, server_id, file, log_pos, body, flags)]

    def _control(
        self, raw: memoryview, typ: int, log_pos: int, flags: int
    ) -> tuple[int, memoryview, str]:
        """FORMAT_DESCRIPTION, ROTATE and compressed events: (type, body, file of the event)."""
        checksum = self._checksum
        stop = len(raw)
        artificial = log_pos == 0 or bool(flags & C.LOG_EVENT_ARTIFICIAL_F)
        if typ == C.FORMAT_DESCRIPTION_EVENT:
            fde = self._fde = parse_format_description(raw[19:])
            checksum = self._checksum = fde.checksum_alg == C.BINLOG_CHECKSUM_ALG_CRC32
            if not checksum:
                stop -= 4  # the FDE keeps an (unused) checksum slot even with checksums off
        elif typ == C.ROTATE_EVENT and artificial and checksum:
            # The dump thread's own ROTATE (sent before the file's FDE) is checksummed per the
            # session setting, which may differ from the file's: accept it either way.
            checksum = _U32(raw, stop - 4)[0] == zlib.crc32(raw[: stop - 4])
        if checksum:
            stop -= 4
            if _U32(raw, stop)[0] != zlib.crc32(raw[:stop]):
                raise self._bad_checksum(typ, log_pos)
        body = memoryview(bytes(raw[19:stop]))
        file = self._file
        if typ in _COMPRESSED:
            typ, body = self._decompress(typ, body)
        elif typ == C.ROTATE_EVENT:
            name, offset = parse_rotate(body)
            if artificial:  # names the file (and offset) the following events come from
                file = self._file = name
            else:  # the last event of `file`; the next one is in `name`
                self._file = name
                self._pos = offset
                return typ, body, file
        if log_pos:
            self._pos = log_pos
        return typ, body, file

    def _bad_checksum(self, typ: int, log_pos: int) -> DecodeError:
        return DecodeError(
            f"binlog event checksum mismatch at {self._file}:{log_pos} (type {typ})",
            hint="the binlog or the network stream is corrupt",
        )

    def _continued(
        self, buf: memoryview, p: int, pos: int, end: int
    ) -> tuple[memoryview, memoryview, int, int]:
        """Join a payload split over several 16 MiB packets (one copy, only for such events)."""
        parts = [bytes(buf[p:pos])]
        while True:
            if end - pos < 4:
                buf, pos, end = self._fill(buf, pos, end, 4)
            length = _U32(buf, pos)[0] & 0xFFFFFF
            pos += 4
            if end - pos < length:
                buf, pos, end = self._fill(buf, pos, end, length)
            parts.append(bytes(buf[pos : pos + length]))
            pos += length
            if length < MAX_PACKET:
                return memoryview(b"".join(parts)), buf, pos, end

    def _status(self, packet: memoryview) -> None:
        """A non-OK packet in the stream: error or end of stream."""
        if packet[0] == 0xFF:
            code = _ERR_PACKET.unpack_from(packet, 1)[0]
            text = bytes(packet[3:])
            if text.startswith(b"#"):
                text = text[6:]  # '#' + SQLSTATE
            raise self._server_error(code, text.decode("utf-8", "replace"))
        if packet[0] == 0xFE and len(packet) < 9:
            raise SourceUnavailable(
                f"source {self._params} ended the binlog stream at {self._where()}"
            )
        raise DecodeError(
            f"unexpected packet 0x{packet[0]:02x} in binlog stream at {self._where()}"
        )

    def _decompress(self, typ: int, body: memoryview) -> tuple[int, memoryview]:
        fde = self._fde
        if typ == C.QUERY_COMPRESSED_EVENT:
            post = fde.post_len(typ, 13) if fde else 13
            return C.QUERY_EVENT, decompress_query(body, post)
        post = fde.post_len(typ, 8) if fde else 8
        return decompress_rows(typ, body, post)


def _readable(sock: socket.socket) -> bool:
    """Whether a read would return at once (bytes in the kernel buffer or in TLS's own)."""
    if isinstance(sock, ssl.SSLSocket) and sock.pending():
        return True
    try:
        poller = select.poll()  # not select(): file descriptors above 1024 are fine
        poller.register(sock, select.POLLIN)
        return bool(poller.poll(0))
    except (OSError, ValueError):
        return True  # closed or broken: let the read itself report it


class _Closed(Exception):
    """close() was called while a read was blocked: end the iteration."""


def _query(conn: pymysql.connections.Connection, sql: str) -> list[dict[str, Any]]:
    with conn.cursor(pymysql.cursors.DictCursor) as cur:
        cur.execute(sql)
        return list(cur.fetchall())


def server_binlog_position(conn: pymysql.connections.Connection) -> Position:
    """The server's current end of binlog, with its GTID set."""
    mariadb = flavor_of(conn) == "mariadb"
    new_syntax = not mariadb and _version(conn.get_server_info()) >= (8, 4, 0)
    try:
        rows = _query(conn, "SHOW BINARY LOG STATUS" if new_syntax else "SHOW MASTER STATUS")
    except pymysql.err.OperationalError as exc:
        raise SourceUnavailable(f"cannot read binlog status: {exc.args[-1]}") from None
    except pymysql.err.MySQLError as exc:
        raise SourceNotReady(
            f"cannot read binlog status: {exc.args[-1]}",
            hint="the user needs REPLICATION CLIENT (BINLOG MONITOR on MariaDB)",
        ) from None
    if not rows:
        raise SourceNotReady("binary logging is off on the source", hint="start it with log_bin=ON")
    row = rows[0]
    if mariadb:
        gtid = str(_query(conn, "SELECT @@global.gtid_binlog_pos AS g")[0]["g"] or "")
    else:
        gtid = str(row.get("Executed_Gtid_Set") or "").replace("\n", "")
    return Position(str(row["File"]), int(row["Position"]), gtid)


def binlog_files(conn: pymysql.connections.Connection) -> list[tuple[str, int]]:
    """(file name, size in bytes) of every binlog the server still has, oldest first."""
    try:
        rows = _query(conn, "SHOW BINARY LOGS")
    except pymysql.err.MySQLError as exc:
        raise SourceNotReady(f"cannot list binary logs: {exc.args[-1]}") from None
    return [(str(r["Log_name"]), int(r["File_size"])) for r in rows]
