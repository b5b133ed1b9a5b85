"""One client session after start-up: simple and extended query protocols over a SqlSession.

Every call into the SQL layer (execute, describe, batch production and encoding) runs on the
session's own worker thread, so a slow query never blocks the event loop or other sessions, and a
DuckDB cursor is only ever used from one thread. Results stream a slice at a time: the loop writes
a slice and waits for the socket to drain before asking the worker for the next one.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, TypeVar

import pyarrow as pa

from zeroetl.server.pgwire import copyout
from zeroetl.server.pgwire import messages as m
from zeroetl.server.pgwire.inbox import Inbox
from zeroetl.server.pgwire.params import ParamError, decode_param, probe_value
from zeroetl.server.pgwire.portals import (
    CloseCursor,
    Declare,
    Fetch,
    LimitedSource,
    Outcome,
    Portal,
    RowSource,
    parse_cursor_statement,
)

log = logging.getLogger("zeroetl.pgwire")
T = TypeVar("T")

FLUSH_BYTES = 1 << 16  # replies held back at most (they go out at Sync, or when this full)
SLICE_ROWS = 4096  # rows encoded per round trip to the worker: bounds memory per session
MEMO_BYTES = 1 << 16  # a kept result's encoding is kept with it up to this size


class WireError(Exception):
    """An error to report to the client as an ErrorResponse."""

    def __init__(self, sqlstate: str, message: str, detail: str = "", hint: str = "") -> None:
        super().__init__(message)
        self.sqlstate, self.message, self.detail, self.hint = sqlstate, message, detail, hint


class UnknownMessage(WireError):
    """A message type we do not know: refused, and the session is ready again at once."""


def as_wire_error(exc: BaseException, cancelled: bool = False) -> WireError:
    if isinstance(exc, WireError):
        return exc
    if cancelled:
        return WireError("57014", "canceling statement due to user request")
    state = getattr(exc, "sqlstate", None)
    if isinstance(state, str) and len(state) == 5:
        return WireError(
            state,
            str(getattr(exc, "message", None) or exc),
            str(getattr(exc, "detail", "") or ""),
            str(getattr(exc, "hint", "") or ""),
        )
    if isinstance(exc, ParamError):
        return WireError("22P02", str(exc))
    log.exception("internal error in SQL session", exc_info=exc)
    return WireError("XX000", f"internal error: {type(exc).__name__}: {exc}")


@dataclass
class Prepared:
    sql: str
    param_oids: list[int]
    described: tuple[list[int], list[Any] | None] | None = None
    extra: dict[str, Any] = field(default_factory=dict)


class Session:
    """Protocol state of one connection in the query phase."""

    def __init__(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        sql: Any,
        pool: ThreadPoolExecutor,
    ) -> None:
        self.reader, self.writer, self.sql, self.pool = reader, writer, sql, pool
        self.statements: dict[str, Prepared] = {}
        self.portals: dict[str, Portal] = {}
        self.failed = False  # an error happened inside an explicit transaction
        self.skip_to_sync = False
        self.busy = False
        self.cancel_requested = False
        self.gone = False  # the client closed the connection
        self._out: list[bytes] = []
        self._out_bytes = 0

    # ---------------------------------------------------------------- plumbing

    async def run(self, fn: Callable[..., T], *args: Any) -> T:
        return await asyncio.get_running_loop().run_in_executor(self.pool, fn, *args)

    def send(self, data: bytes) -> None:
        # Replies wait in `_out` until the client can use them (flush): one write per
        # pipelined Parse/Bind/Describe/Execute/Sync instead of one per message.
        self._out.append(data)
        self._out_bytes += len(data)

    async def flush(self) -> None:
        if self._out:
            data = b"".join(self._out)
            self._out.clear()
            self._out_bytes = 0
            self.writer.write(data)
        await self.writer.drain()

    def status_byte(self) -> bytes:
        if not getattr(self.sql, "in_transaction", False):
            self.failed = False
            return b"I"
        return b"E" if self.failed else b"T"

    def client_gone(self) -> None:
        """The connection ended: a running statement is cancelled (nobody will read it)."""
        self.gone = True
        if self.busy:
            self.cancel_requested = True
            self.sql.cancel()

    def request_cancel(self) -> None:
        """Called from the cancel connection: interrupt only a statement that is running."""
        if self.busy:
            self.cancel_requested = True
            self.sql.cancel()

    def send_error(self, err: WireError) -> None:
        if getattr(self.sql, "in_transaction", False):
            self.failed = True
        self.send(
            m.error_response("ERROR", err.sqlstate, err.message, detail=err.detail, hint=err.hint)
        )

    async def serve(self) -> None:
        self.send(m.ready_for_query(self.status_byte()))
        await self.flush()
        inbox = Inbox(self.reader, self.client_gone)
        try:
            while True:
                kind, payload = await inbox.get()
                if kind == b"X":
                    return
                if self.skip_to_sync and kind not in (b"S", b"Q"):
                    continue
                try:
                    try:
                        await self.dispatch(kind, payload)
                    except m.InvalidText as exc:  # PostgreSQL's answer; the session goes on
                        raise WireError("22021", str(exc)) from None
                except WireError as err:
                    self.send_error(err)
                    if kind == b"Q" or isinstance(err, UnknownMessage):
                        self.send(m.ready_for_query(self.status_byte()))
                    else:
                        self.skip_to_sync = True
                # Sync, Query and Flush ask for the replies; so does a client that sent nothing
                # more yet (it may be waiting), and a full buffer
                if kind in (b"S", b"Q", b"H") or inbox.empty or self._out_bytes >= FLUSH_BYTES:
                    await self.flush()
        finally:
            if self._out:  # replies before a protocol violation still go out before its error
                with contextlib.suppress(Exception):
                    self.writer.write(b"".join(self._out))
                self._out.clear()
            await inbox.close()

    async def dispatch(self, kind: bytes, payload: bytes) -> None:
        if kind == b"Q":
            await self.simple_query(m.Buffer(payload).cstr())
        elif kind == b"P":
            await self.parse(m.parse_parse(payload))
        elif kind == b"B":
            self.bind(m.parse_bind(payload))
        elif kind == b"D":
            b = m.Buffer(payload)
            what, name = b.take(1), b.cstr()
            await (self.describe_statement(name) if what == b"S" else self.describe_portal(name))
        elif kind == b"E":
            b = m.Buffer(payload)
            name, max_rows = b.cstr(), b.int32()
            await self.execute_portal(name, max_rows)
        elif kind == b"S":
            self.skip_to_sync = False
            self.end_of_transaction_cleanup()
            self.send(m.ready_for_query(self.status_byte()))
        elif kind == b"C":
            b = m.Buffer(payload)
            what, name = b.take(1), b.cstr()
            if what == b"S":
                self.statements.pop(name, None)
            else:
                p = self.portals.pop(name, None)
                if p is not None:
                    await self.run(p.close)
            self.send(m.CLOSE_COMPLETE)
        elif kind == b"H":
            pass  # serve() drains after every message
        elif kind in (b"d", b"c", b"f"):
            pass  # stray COPY data after an error: ignored, as PostgreSQL does
        else:
            shown = kind.decode("ascii") if kind.isascii() and kind.isalnum() else kind.hex()
            raise UnknownMessage("08P01", f"invalid frontend message type {shown!r}")

    # ---------------------------------------------------------------- statements

    def end_of_transaction_cleanup(self) -> None:
        """Portals not declared WITH HOLD end with their transaction."""
        if getattr(self.sql, "in_transaction", False):
            return
        for name in [n for n, p in self.portals.items() if not p.holdable]:
            portal = self.portals.pop(name)
            if portal.outcome is not None and portal.outcome.source is not None:
                self.pool.submit(portal.close)

    def _run_statement(self, sql: str, params: Sequence[object]) -> Outcome:
        """Worker thread: run one statement (cursor statements handled here)."""
        stmt = parse_cursor_statement(sql)
        if isinstance(stmt, Declare):
            if not stmt.hold and not getattr(self.sql, "in_transaction", False):
                raise WireError("25P01", "DECLARE CURSOR can only be used in transaction blocks")
            if stmt.name in self.portals:
                raise WireError("42P03", f'cursor "{stmt.name}" already exists')
            res = self.sql.execute(stmt.query, list(params) or None)
            if res.columns is None:
                raise WireError("42P11", "cursor can only scan a query that returns rows")
            portal = Portal(
                stmt.name, stmt.query, list(params), (), holdable=stmt.hold, is_cursor=True
            )
            portal.outcome = Outcome("SELECT", RowSource(res.columns, res.batches))
            self.portals[stmt.name] = portal
            return Outcome("DECLARE CURSOR")
        if isinstance(stmt, Fetch):
            cursor = self.portals.get(stmt.name)
            if (
                cursor is None
                or cursor.outcome is None
                or not isinstance(cursor.outcome.source, RowSource)
            ):
                raise WireError("34000", f'cursor "{stmt.name}" does not exist')
            limited = LimitedSource(cursor.outcome.source, stmt.count)
            return Outcome("MOVE" if stmt.move else "FETCH", limited)
        if isinstance(stmt, CloseCursor):
            names = list(self.portals) if stmt.name is None else [stmt.name]
            for name in names:
                p = self.portals.pop(name, None)
                if p is None and stmt.name is not None:
                    raise WireError("34000", f'cursor "{name}" does not exist')
                if p is not None:
                    p.close()
            return Outcome("CLOSE CURSOR")
        copy = copyout.parse_copy_to_stdout(sql)
        if copy is not None:  # the query alone goes through the SQL layer (and its guard)
            res = self.sql.execute(copy.query, list(params) or None)
            if res.columns is None:
                raise WireError("42601", "COPY (query) TO STDOUT needs a query that returns rows")
            return Outcome("COPY", RowSource(res.columns, res.batches), copy=copy)
        res = self.sql.execute(sql, list(params) or None)
        source = None if res.columns is None else RowSource(res.columns, res.batches)
        if source is not None:
            source.memo = getattr(res, "wire_memo", None)
        if source is not None:
            source.read_ahead()  # a small result then needs no second trip (stream)
        status = dict(getattr(res, "parameter_status", None) or {})
        return Outcome(res.command_tag, source, status)

    async def _execute(self, sql: str, params: Sequence[object]) -> Outcome:
        self.busy, self.cancel_requested = True, False
        try:
            return await self.run(self._run_statement, sql, params)
        except Exception as exc:
            raise as_wire_error(exc, self.cancel_requested) from exc
        finally:
            self.busy = False

    def _encode_slice(
        self, source: Any, formats: Sequence[int], limit: int, copy: copyout.CopyOut | None = None
    ) -> tuple[bytes, int, bool]:
        """Worker thread: the next slice of rows as DataRow (or, for COPY, CopyData) messages,
        and whether that was the last (read ahead: a small result costs one trip)."""
        memo: dict[object, object] | None = getattr(source, "memo", None)
        key = None
        if memo is not None and copy is None and source.position == 0:
            key = (tuple(formats), limit, source.shape())  # the same rows, encoded alike
            done = memo.get(key)
            if done is not None:  # a kept result served again: its rows as encoded last time
                source.skip_all()
                return done  # type: ignore[return-value]
        batch: pa.RecordBatch | None = source.next_slice(limit)
        if batch is None:
            return b"", 0, True
        cols = [codec.encode(batch.column(i), formats[i]) for i, codec in enumerate(source.codecs)]
        if copy is not None:
            data = m.copy_data(copyout.rows(copy, cols, batch.num_rows))
        else:
            data = m.data_rows(cols, batch.num_rows)
        out = data, batch.num_rows, source.drained()
        if (
            memo is not None and key is not None and out[2] and len(data) <= MEMO_BYTES
        ):  # the whole result, small
            memo[key] = out
        return out

    async def stream(
        self, outcome: Outcome, formats: Sequence[int], max_rows: int
    ) -> tuple[int, bool]:
        """Send up to max_rows (0 = all) rows; returns (rows sent, stopped at the limit)."""
        source = outcome.source
        assert source is not None
        sent = 0
        self.busy, self.cancel_requested = True, False
        try:
            while max_rows == 0 or sent < max_rows:
                want = SLICE_ROWS if max_rows == 0 else min(SLICE_ROWS, max_rows - sent)
                if isinstance(source, RowSource) and source.inline(want):
                    data, n, last = self._encode_slice(source, formats, want, outcome.copy)
                else:
                    data, n, last = await self.run(
                        self._encode_slice, source, formats, want, outcome.copy
                    )
                if self.cancel_requested:
                    raise WireError("57014", "canceling statement due to user request")
                if n == 0:
                    return sent, False
                self.send(data)
                sent += n
                if self._out_bytes >= FLUSH_BYTES:
                    await self.flush()  # back-pressure: a slow client slows the producer
                if last and (max_rows == 0 or sent < max_rows):
                    return sent, False  # at the limit, PortalSuspended as PostgreSQL sends it
            return sent, True
        except (WireError, ConnectionError):  # a vanished client ends the session quietly
            raise
        except Exception as exc:
            raise as_wire_error(exc, self.cancel_requested) from exc
        finally:
            self.busy = False

    def row_description(
        self, columns: Sequence[Any], codecs: Sequence[Any], formats: Sequence[int]
    ) -> bytes:
        return m.row_description(
            [
                (c.name, k.pg.oid, k.pg.typlen, k.typmod, f)
                for c, k, f in zip(columns, codecs, formats, strict=True)
            ]
        )

    @staticmethod
    def final_tag(outcome: Outcome, rows: int) -> str:
        word = outcome.tag.split(" ", 1)[0].upper() if outcome.tag else ""
        if outcome.copy is not None:
            return f"COPY {rows}"
        if outcome.source is not None and word in ("SELECT", "FETCH", "MOVE", ""):
            return f"{word or 'SELECT'} {rows}"
        return outcome.tag

    async def copy_out(self, outcome: Outcome) -> int:
        """COPY TO STDOUT: CopyOutResponse, the header, one CopyData per row, CopyDone."""
        source, spec = outcome.source, outcome.copy
        assert source is not None and spec is not None
        self.send(m.copy_out_response(len(source.columns)))
        if spec.header:
            self.send(m.copy_data([copyout.header_line(spec, [c.name for c in source.columns])]))
        rows, _ = await self.stream(outcome, [0] * len(source.columns), 0)
        await self._close(source)
        self.send(m.COPY_DONE)
        return rows

    async def _close(self, source: Any) -> None:
        """A source read to its end closes at once; one still open closes on the worker
        (closing may wait for DuckDB)."""
        if source.exhausted:
            source.close()
        else:
            await self.run(source.close)

    def _complete(self, outcome: Outcome, rows: int) -> None:
        for k, v in outcome.parameter_status.items():
            self.send(m.parameter_status(k, v))
        self.send(m.command_complete(self.final_tag(outcome, rows)))

    async def simple_query(self, text: str) -> None:
        try:
            # a short text splits faster than a trip to the worker thread takes
            parts = (
                self.sql.split(text) if len(text) <= 4096 else await self.run(self.sql.split, text)
            )
            statements = [s for s in parts if s.strip()]
        except Exception as exc:
            raise as_wire_error(exc) from exc
        if not statements:
            self.send(m.EMPTY_QUERY)
        for sql in statements:
            try:
                outcome = await self._execute(sql, ())
                rows = 0
                if outcome.source is not None:
                    if isinstance(outcome.source, LimitedSource) and outcome.tag == "MOVE":
                        rows = await self.run(_drain_rows, outcome.source)
                    elif outcome.copy is not None:
                        rows = await self.copy_out(outcome)
                    else:
                        formats = [0] * len(outcome.source.columns)
                        self.send(
                            self.row_description(
                                outcome.source.columns, outcome.source.codecs, formats
                            )
                        )
                        rows, _ = await self.stream(outcome, formats, 0)
                        await self._close(outcome.source)
                self._complete(outcome, rows)
            except WireError as err:
                self.send_error(err)
                break
            finally:
                self.end_of_transaction_cleanup()
        self.send(m.ready_for_query(self.status_byte()))

    # ---------------------------------------------------------------- extended protocol

    async def parse(self, msg: m.Parse) -> None:
        """A named statement is analysed now, as PostgreSQL does at Parse: one the SQL layer
        refuses (a syntax error, an unknown table, the sandbox) fails here and registers nothing,
        so a client that reuses statement names (redshift_connector) can go on after an error.
        The unnamed statement is replaced by the next Parse anyway: it is analysed when first
        described or run, so the one-shot queries of psycopg and pgJDBC are not translated
        twice."""
        if msg.name and msg.name in self.statements:
            raise WireError("42P05", f'prepared statement "{msg.name}" already exists')
        st = Prepared(msg.query, list(msg.param_oids))
        if not msg.query.strip():
            st.described = ([], None)  # an empty query: EmptyQueryResponse at Execute
        elif msg.name:
            await self._describe(st)  # the whole pipeline, guard included; kept for Describe
        self.statements[msg.name] = st
        self.send(m.PARSE_COMPLETE)

    def _statement(self, name: str) -> Prepared:
        st = self.statements.get(name)
        if st is None:
            raise WireError("26000", f'prepared statement "{name}" does not exist')
        return st

    async def _describe(self, st: Prepared) -> tuple[list[int], list[Any] | None]:
        if st.described is None:
            stmt = parse_cursor_statement(st.sql)
            try:
                if isinstance(stmt, Declare):
                    oids, _ = await self.run(self.sql.describe, stmt.query)
                    st.described = (oids, None)
                elif isinstance(stmt, Fetch):
                    cur = self.portals.get(stmt.name)
                    cols = cur.outcome.columns if cur and cur.outcome else None
                    st.described = ([], None if stmt.move else cols)
                elif isinstance(stmt, CloseCursor):
                    st.described = ([], None)
                elif (copy := copyout.parse_copy_to_stdout(st.sql)) is not None:
                    await self.run(self.sql.describe, copy.query)  # the guard rules at Parse
                    st.described = ([], None)  # PostgreSQL describes a COPY as NoData
                else:
                    # sample values of the types the client declared: `select $1` then has the
                    # type its execution will have (NULL would leave it unknown)
                    probes = [probe_value(o) for o in st.param_oids]
                    oids, cols = await self.run(self.sql.describe, st.sql, probes)
                    st.described = (list(oids), cols)
            except Exception as exc:
                raise as_wire_error(exc) from exc
        return st.described

    def _param_oids(self, st: Prepared, n: int) -> list[int]:
        oids = list(st.param_oids[:n]) + [0] * max(0, n - len(st.param_oids))
        if st.described is not None:
            for i, o in enumerate(st.described[0][:n]):
                if oids[i] == 0:
                    oids[i] = o
        return oids

    def bind(self, msg: m.Bind) -> None:
        st = self._statement(msg.statement)
        n = len(msg.params)
        formats = m.expand_formats(msg.param_formats, n)
        oids = self._param_oids(st, n)
        try:
            values = [decode_param(v, oids[i], formats[i]) for i, v in enumerate(msg.params)]
        except ParamError as exc:
            raise WireError("22P02", str(exc)) from exc
        if msg.portal in self.portals:
            if msg.portal:
                raise WireError("42P03", f'portal "{msg.portal}" already exists')
            self.pool.submit(self.portals.pop("").close)
        described = st.described[1] if st.described is not None else None
        self.portals[msg.portal] = Portal(
            msg.portal, st.sql, values, msg.result_formats, described=described
        )
        self.send(m.BIND_COMPLETE)

    async def describe_statement(self, name: str) -> None:
        st = self._statement(name)
        oids, cols = await self._describe(st)
        n = max(len(oids), len(st.param_oids))
        # PostgreSQL resolves parameters it cannot type to text; clients then send text.
        self.send(m.parameter_description([o or 25 for o in self._param_oids(st, n)]))
        if cols is None:
            self.send(m.NO_DATA)
        else:
            codecs = RowSource(cols, iter(())).codecs
            self.send(self.row_description(cols, codecs, [0] * len(cols)))

    async def _portal_outcome(self, name: str, *, conform: bool = False) -> Portal:
        """The portal's statement, run on first use. `conform`: the client knows the result only
        from Describe Statement, so rows must come as that said (RowSource.conform)."""
        portal = self.portals.get(name)
        if portal is None:
            raise WireError("34000", f'portal "{name}" does not exist')
        if portal.outcome is None:
            # Portal cleanup waits for Sync: until then the statement is in its implicit transaction.
            portal.outcome = await self._execute(portal.sql, portal.params)
            src = portal.outcome.source
            if conform and portal.described and isinstance(src, RowSource):
                src.conform(portal.described)
        return portal

    async def describe_portal(self, name: str) -> None:
        portal = await self._portal_outcome(name)
        assert portal.outcome is not None
        src = portal.outcome.source
        if src is None or portal.outcome.tag == "MOVE" or portal.outcome.copy is not None:
            self.send(m.NO_DATA)
            return
        formats = m.expand_formats(portal.result_formats, len(src.columns))
        self.send(self.row_description(src.columns, src.codecs, formats))

    async def execute_portal(self, name: str, max_rows: int) -> None:
        if not name and name not in self.portals:
            raise WireError("34000", "unnamed portal does not exist")
        portal = await self._portal_outcome(name, conform=True)
        outcome = portal.outcome
        assert outcome is not None
        if not portal.sql.strip():
            self.send(m.EMPTY_QUERY)
            return
        rows, suspended = 0, False
        if outcome.source is not None and not portal.done:
            if outcome.tag == "MOVE":
                rows = await self.run(_drain_rows, outcome.source)
            elif outcome.copy is not None:  # a row limit does not apply to COPY
                rows = await self.copy_out(outcome)
            else:
                formats = m.expand_formats(portal.result_formats, len(outcome.source.columns))
                rows, suspended = await self.stream(outcome, formats, max(max_rows, 0))
        if suspended:
            self.send(m.PORTAL_SUSPENDED)
            return
        portal.done = True
        if outcome.source is not None and not portal.is_cursor:
            await self._close(outcome.source)
        self._complete(outcome, rows)


def _drain_rows(source: Any) -> int:
    n = 0
    while (batch := source.next_slice(1 << 20)) is not None:
        n += batch.num_rows
    return n
