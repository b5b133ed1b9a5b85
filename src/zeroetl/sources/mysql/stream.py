"""Binlog events -> change items grouped by source transaction.

`ChangeStream.items()` turns the raw events of `BinlogReader` into a small vocabulary the engine
understands: decoded row images, DDL statements, commit points (where the position advances) and
idle points (heartbeats outside a transaction). Rows of tables the integration does not want are
never decoded, only framed.

Changes to wanted tables that the source logged in a form we cannot apply (statements instead
of rows, partial row images, TABLE_MAPs without names, partial JSON, compressed transactions,
incidents) become `FaultItem`s: never skipped silently, never fatal to the stream.
"""

from __future__ import annotations

import logging
import struct
import time
from collections.abc import Callable, Iterator

from zeroetl.errors import BinlogFault, DecodeError, ZeroEtlError
from zeroetl.model import Position, TableId, TableSchema
from zeroetl.sources.mysql import items as _items
from zeroetl.sources.mysql.binlog import (
    BinlogReader,
    parse_mariadb_gtid,
    parse_mysql_gtid,
    parse_query,
    parse_rotate,
)
from zeroetl.sources.mysql.connection import SourceParams
from zeroetl.sources.mysql.constants import FL_STANDALONE
from zeroetl.sources.mysql.dml import StatementDml, might_be_dml, statement_dml
from zeroetl.sources.mysql.events import parse_incident
from zeroetl.sources.mysql.faults import (
    COMPRESSION,
    INCIDENT_FAULT,
    PARTIAL_JSON,
    ROW_IMAGE,
    ROW_METADATA,
    STATEMENTS,
    FaultItem,
)
from zeroetl.sources.mysql.gtid import MariaGtidState, MysqlGtidSet
from zeroetl.sources.mysql.items import (
    CommitItem,
    DdlItem,
    IdleItem,
    Item,
    RowsItem,
    TableErrorItem,
    _new,
    _position,
)
from zeroetl.sources.mysql.rows import RowsDecoder
from zeroetl.sources.mysql.tablemap import TableMap, parse_table_map, table_map_id

log = logging.getLogger(__name__)

# Event type codes (MySQL 8 and MariaDB 10.x share these numbers).
QUERY = 2
ROTATE = 4
XID = 16
EXECUTE_LOAD_QUERY = 18  # LOAD DATA logged as a statement
TABLE_MAP = 19
INCIDENT = 26
ROWS_EVENTS = frozenset({23, 24, 25, 30, 31, 32})
HEARTBEAT = frozenset({27, 41})
MYSQL_GTID = 33
MYSQL_ANON_GTID = 34
PARTIAL_UPDATE_ROWS = 39
TRANSACTION_PAYLOAD = 40
MARIADB_GTID = 162
MARIA_GTID = struct.Struct("<QIB")  # seq_no, domain_id, flags2: as events.parse_mariadb_gtid

_TXN_CONTROL = {"BEGIN", "COMMIT", "ROLLBACK", "XA START", "XA END", "XA COMMIT", "XA ROLLBACK"}


def _first_words(sql: str) -> str:
    head = sql.lstrip()[:12].upper()
    if head.startswith("XA "):
        return " ".join(head.split()[:2])
    return head.split(" ", 1)[0].rstrip(";")


_MapEntry = tuple[bytes, TableId, TableMap | None, tuple[RowsDecoder, TableSchema] | None]
# TABLE_MAPs (with their compiled decoders) kept between transactions, least recently mapped
# dropped first: memory must not grow with the number of tables (or of table ids, which the
# server renews as it reopens tables) seen over the stream's life.
MAX_MAPS = 4096
# While there are at most this many maps (and the order of use is not kept), the reader leaves
# out unchanged TABLE_MAPs of tables being decoded (BinlogReader.known_maps): no Event, no
# dispatch, three of a small transaction's eight events.
KNOWN_MAPS = 64


class ChangeStream:
    """One pass over the binlog from `start`. Not restartable: make a new one to reconnect."""

    def __init__(
        self,
        params: SourceParams,
        start: Position,
        *,
        server_id: int,
        wanted: Callable[[TableId], bool],
        heartbeat_s: float = 0.5,
    ) -> None:
        # The stream never reads ANNOTATE_ROWS events: not sent, a third fewer events to frame.
        reader = BinlogReader(
            params, start, server_id=server_id, heartbeat_s=heartbeat_s, annotate=False
        )
        self._setup(reader, start, wanted)

    @classmethod
    def from_reader(
        cls, reader: BinlogReader, start: Position, *, wanted: Callable[[TableId], bool]
    ) -> ChangeStream:
        """Over a reader that is already set up (recorded streams, tests)."""
        self = cls.__new__(cls)
        self._setup(reader, start, wanted)
        return self

    def _setup(
        self, reader: BinlogReader, start: Position, wanted: Callable[[TableId], bool]
    ) -> None:
        self.start = start
        self.wanted = wanted
        self.reader = reader
        # table_id -> (TABLE_MAP bytes, table, TableMap (None: no column names), decoder and
        # schema (None when unwanted, failed or without names))
        self._maps: dict[int, _MapEntry] = {}
        # The bodies of the maps with a decoder, for the reader to skip (None: not kept, over
        # KNOWN_MAPS maps). Kept equal to those entries of _maps from this thread; the reader
        # compares against it before this loop sees the batch, which is why the framer returns
        # every TABLE_MAP after the first one it returns.
        self._known: dict[int, bytes] | None = {}
        reader.known_maps = self._known
        self._failed: set[TableId] = set()
        self._commit_us = 0  # MySQL 8: the current transaction's commit time, microseconds

    def close(self) -> None:
        self.reader.close()

    def forget_failure(self, table: TableId) -> None:
        """Decode this table again from its next TABLE_MAP (a resync may have fixed it).

        Safe from another thread: a set discard is atomic, and the reader re-checks skipped
        tables at every TABLE_MAP."""
        self._failed.discard(table)

    def items(self) -> Iterator[Item]:
        file = self.start.file
        gtids_text = self.start.gtid_set
        maria = (
            MariaGtidState.parse(gtids_text)
            if "-" in gtids_text and ":" not in gtids_text
            else None
        )
        mysql = MysqlGtidSet.parse(gtids_text) if ":" in gtids_text else None
        in_txn = False
        standalone_next = False
        maps = self._maps
        table_id = int.from_bytes  # of a rows event or TABLE_MAP: its first 6 bytes
        new_item, wall_clock = _new, time.time
        for batch in self.reader.batches():  # a list per receive: no generator step per event
            for ev in batch:
                t = ev.type
                if t in ROWS_EVENTS:
                    entry = maps.get(table_id(ev.body[:6], "little"))
                    if entry is None:
                        raise DecodeError(
                            f"rows event for an unknown table id at {ev.file}:{ev.end_pos}"
                        )
                    compiled = entry[3]
                    if compiled is None:
                        continue
                    decoder, schema = compiled
                    tid = entry[1]
                    try:
                        image = decoder.decode(t, ev.body)
                    except BinlogFault as exc:
                        what = f"the source logged a {exc.message} at {ev.file}:{ev.end_pos}"
                        yield FaultItem(ROW_IMAGE, (tid,), what, ev.timestamp)
                        continue
                    except ZeroEtlError as exc:
                        yield from self._fail(tid, getattr(exc, "reason", None) or str(exc))
                        continue
                    except (
                        Exception
                    ) as exc:  # a decoder bug must fail one table, not the integration
                        log.exception("decoding %s failed at %s:%s", tid, ev.file, ev.end_pos)
                        yield from self._fail(
                            tid, f"cannot decode row event at {ev.file}:{ev.end_pos}: {exc!r}"
                        )
                        continue
                    item = new_item(RowsItem)  # RowsItem(...) without the dataclass's __init__
                    item.table = tid
                    item.schema = schema
                    item.image = image
                    item.timestamp = ev.timestamp
                    yield item
                elif t == TABLE_MAP:
                    tid_num = table_id(ev.body[:6], "little")
                    cached = maps.get(tid_num)
                    tmap: TableMap | None
                    if cached is not None and cached[0] == ev.body:  # compared without a copy
                        if cached[3] is not None:
                            if len(maps) > KNOWN_MAPS:  # keep the order of use (moot when few)
                                maps[tid_num] = maps.pop(tid_num)
                            continue
                        tid, tmap = cached[1], cached[2]  # skipped so far: may be wanted again
                    else:
                        try:
                            tmap = parse_table_map(ev.body)
                            tid = TableId(tmap.schema, tmap.table)
                        except BinlogFault:  # no column names: only a wanted table cares
                            tmap, tid = None, table_map_id(ev.body)
                    new: tuple[RowsDecoder, TableSchema] | None = None
                    if tid not in self._failed and self.wanted(tid):
                        if tmap is None:
                            what = (
                                f"the source logged a TABLE_MAP without column names for {tid} "
                                f"at {ev.file}:{ev.end_pos}"
                            )
                            yield FaultItem(ROW_METADATA, (tid,), what, ev.timestamp)
                        else:
                            try:
                                new = (RowsDecoder(tmap), tmap.table_schema())
                            except ZeroEtlError as exc:
                                yield from self._fail(tid, getattr(exc, "reason", None) or str(exc))
                    body = bytes(ev.body)
                    maps[tid_num] = (body, tid, tmap, new)
                    known = self._known
                    if known is not None:
                        if len(maps) > KNOWN_MAPS:  # the order of use counts from now on
                            self._known = self.reader.known_maps = None
                        elif new is not None:
                            known[tid_num] = body
                        else:
                            known.pop(tid_num, None)
                elif t == XID:
                    in_txn = False
                    if len(maps) > MAX_MAPS:
                        self._trim_maps()
                    if maria is not None:  # the common case: the position made when read
                        # made without __init__, _commit_time inline (once a transaction)
                        commit = new_item(CommitItem)
                        commit._position = None
                        commit._at = (ev.file, ev.end_pos, tuple(maria.latest.items()))
                        us = self._commit_us
                        if us:
                            self._commit_us = 0
                            commit.timestamp = us / 1_000_000
                        else:
                            ts = ev.timestamp + 1.0
                            now = wall_clock()
                            commit.timestamp = ts if ts < now else now
                        yield commit
                        continue
                    yield CommitItem(
                        self._pos(ev.file, ev.end_pos, maria, mysql),
                        self._commit_time(ev.timestamp),
                    )
                elif t == QUERY:
                    q = parse_query(ev.body)
                    word = _first_words(q.sql)
                    if word == "BEGIN" or word == "XA START":
                        in_txn = True
                    elif word in _TXN_CONTROL:
                        in_txn = False
                        if len(maps) > MAX_MAPS:
                            self._trim_maps()
                        yield CommitItem(
                            self._pos(ev.file, ev.end_pos, maria, mysql),
                            self._commit_time(ev.timestamp),
                        )
                    elif word == "SAVEPOINT":
                        pass
                    else:
                        dml = statement_dml(q.sql, q.schema) if might_be_dml(q.sql) else None
                        if dml is not None:
                            yield from self._statement(
                                dml, q.sql, ev.file, ev.end_pos, ev.timestamp
                            )
                        else:
                            yield DdlItem(q.schema, q.sql, ev.timestamp)
                        if not in_txn or standalone_next:
                            in_txn = False
                            yield CommitItem(
                                self._pos(ev.file, ev.end_pos, maria, mysql),
                                self._commit_time(ev.timestamp),
                            )
                    standalone_next = False
                elif t == MARIADB_GTID:
                    # parse_mariadb_gtid without its object: one of these begins every transaction
                    if len(ev.body) < MARIA_GTID.size:
                        parse_mariadb_gtid(ev.body, ev.server_id)  # raises its DecodeError
                    seq, domain, gflags = MARIA_GTID.unpack_from(ev.body, 0)
                    if maria is None:
                        maria = MariaGtidState()
                    maria.latest[domain] = (ev.server_id, seq)
                    standalone_next = bool(gflags & FL_STANDALONE)
                    in_txn = not standalone_next
                elif t == MYSQL_GTID:
                    g2 = parse_mysql_gtid(ev.body)
                    self._commit_us = g2.immediate_commit_us
                    if mysql is None:
                        mysql = MysqlGtidSet()
                    mysql.add(g2.uuid, g2.gno)
                elif t == ROTATE:
                    file, offset = parse_rotate(ev.body)
                    if not in_txn:
                        yield IdleItem(self._pos(file, offset, maria, mysql))
                elif t in HEARTBEAT:
                    if not in_txn:
                        yield IdleItem(self._pos(ev.file, ev.end_pos, maria, mysql))
                elif t == EXECUTE_LOAD_QUERY:
                    fde = self.reader.format_description
                    q = parse_query(ev.body, fde.post_len(t, 26) if fde else 26)
                    dml = statement_dml(q.sql, q.schema)
                    if dml is not None:
                        yield from self._statement(dml, q.sql, ev.file, ev.end_pos, ev.timestamp)
                    if not in_txn or standalone_next:
                        in_txn = False
                        yield CommitItem(
                            self._pos(ev.file, ev.end_pos, maria, mysql),
                            self._commit_time(ev.timestamp),
                        )
                    standalone_next = False
                elif t == TRANSACTION_PAYLOAD:
                    # MySQL 8 binlog_transaction_compression: the whole transaction (BEGIN, TABLE_MAPs,
                    # rows, XID) is one zstd payload whose tables we cannot see.
                    what = (
                        f"the source logged a compressed transaction at {ev.file}:{ev.end_pos} "
                        "(its tables cannot be read)"
                    )
                    yield FaultItem(COMPRESSION, None, what, ev.timestamp)
                    in_txn = False
                    yield CommitItem(
                        self._pos(ev.file, ev.end_pos, maria, mysql),
                        self._commit_time(ev.timestamp),
                    )
                elif t == PARTIAL_UPDATE_ROWS:  # MySQL 8 binlog_row_value_options=PARTIAL_JSON
                    entry = maps.get(table_id(ev.body[:6], "little"))
                    if entry is None:
                        raise DecodeError(
                            f"rows event for an unknown table id at {ev.file}:{ev.end_pos}"
                        )
                    if entry[3] is not None:
                        what = (
                            f"the source logged a partial JSON update for {entry[1]} "
                            f"at {ev.file}:{ev.end_pos}"
                        )
                        yield FaultItem(PARTIAL_JSON, (entry[1],), what, ev.timestamp)
                elif t == INCIDENT:
                    _num, message = parse_incident(ev.body)
                    what = (
                        f"the source logged an incident at {ev.file}:{ev.end_pos} "
                        f"({message or 'lost events'}): its binlog may lack changes"
                    )
                    yield FaultItem(INCIDENT_FAULT, None, what, ev.timestamp)

    def _statement(
        self, dml: StatementDml, sql: str, file: str, pos: int, ts: int
    ) -> Iterator[FaultItem]:
        """Rows changed by a statement logged as such: a fault for the wanted tables it names
        (for every table when it names none we can read)."""
        where = f"at {file}:{pos}"
        if dml.tables is None:
            text = " ".join(sql[:200].split())[:60]
            what = (
                f"the source wrote {dml.verb} as a statement, not as row events, {where} "
                f"({text!r}: its tables cannot be told)"
            )
            yield FaultItem(STATEMENTS, None, what, ts)
            return
        tables = tuple(t for t in dml.tables if self.wanted(t))
        if tables:
            names = ", ".join(str(t) for t in tables)
            what = (
                f"the source wrote {dml.verb} on {names} as a statement, not as row events, {where}"
            )
            yield FaultItem(STATEMENTS, tables, what, ts)

    def _commit_time(self, header_ts: int) -> float:
        us, self._commit_us = self._commit_us, 0
        if us:
            return us / 1_000_000
        return min(header_ts + 1.0, time.time())

    def _trim_maps(self) -> None:
        """Between transactions (every transaction maps the tables it changes before its rows
        events): forget the least recently mapped quarter."""
        for k in list(self._maps)[: len(self._maps) - MAX_MAPS * 3 // 4]:
            del self._maps[k]
            if self._known is not None:
                self._known.pop(k, None)

    def _fail(self, table: TableId, reason: str) -> Iterator[Item]:
        self._failed.add(table)
        for k, (body, tid, tmap, _dec) in list(self._maps.items()):
            if tid == table:
                self._maps[k] = (body, tid, tmap, None)
                if self._known is not None:  # its next TABLE_MAP must come through
                    self._known.pop(k, None)
        yield TableErrorItem(table, reason)

    @staticmethod
    def _pos(
        file: str, offset: int, maria: MariaGtidState | None, mysql: MysqlGtidSet | None
    ) -> Position:
        gtid = str(maria) if maria is not None else str(mysql) if mysql is not None else ""
        return _position(file, offset, gtid)


__all__ = ["ChangeStream", *_items.__all__]  # the items re-exported: callers import them from here
