"""A client session's plumbing: the worker thread, buffered replies, running a statement and
streaming its result in slices. `Session` (session.py) adds the message loop and the simple
query protocol, `ExtendedProtocol` (extended.py) the extended one.

Every call into the SQL layer (execute, describe, batch production and encoding) runs on the
session's own worker thread, so a slow query never blocks the event loop or other sessions, and a
DuckDB cursor is only ever used from one thread. Results stream a slice at a time: the loop writes
a slice and waits for the socket to drain before asking the worker for the next one.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, TypeVar

import pyarrow as pa

from zeroetl.server.pgwire import copyout
from zeroetl.server.pgwire import messages as m
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
from zeroetl.server.pgwire.wire_errors import WireError, as_wire_error
from zeroetl.server.pgwire.worker import SessionWorker

log = logging.getLogger("zeroetl.pgwire")
T = TypeVar("T")

FLUSH_BYTES = 1 << 16  # replies held back at most (they go out at Sync, or when this full)
SLICE_ROWS = 4096  # rows encoded per round trip to the worker: bounds memory per session
MEMO_BYTES = 1 << 16  # a kept result's encoding is kept with it up to this size


@dataclass
class Prepared:
    sql: str
    param_oids: list[int]
    described: tuple[list[int], list[Any] | None] | None = None
    extra: dict[str, Any] = field(default_factory=dict)


class SessionIO:
    """Protocol state of one connection in the query phase, and its plumbing."""

    def __init__(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        sql: Any,
        pool: ThreadPoolExecutor | SessionWorker,
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
        self._background: list[Future[object]] = []  # spawned work not known to be done

    # ---------------------------------------------------------------- plumbing

    async def run(self, fn: Callable[..., T], *args: Any) -> T:
        if isinstance(self.pool, SessionWorker):  # the cheaper trip (worker.py)
            return await self.pool.run(fn, *args)
        return await asyncio.get_running_loop().run_in_executor(self.pool, fn, *args)

    def spawn(self, fn: Callable[[], object]) -> None:
        """Work on the worker that nobody waits for (closing an abandoned result)."""
        self._background = [f for f in self._background if not f.done()]
        self._background.append(self.pool.submit(fn))

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

    # ---------------------------------------------------------------- statements

    def end_of_transaction_cleanup(self) -> None:
        """Portals not declared WITH HOLD end with their transaction."""
        if getattr(self.sql, "in_transaction", False):
            return
        for name in [n for n, p in self.portals.items() if not p.holdable]:
            portal = self.portals.pop(name)
            if portal.outcome is not None and portal.outcome.source is not None:
                if portal.outcome.source.exhausted:  # read to its end: nothing left to stop
                    portal.close()
                else:  # a result still open in DuckDB closes on the session's worker
                    self.spawn(portal.close)

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
        return self._outcome(self.sql.execute(sql, list(params) or None))

    @staticmethod
    def _outcome(res: Any) -> Outcome:
        source = None if res.columns is None else RowSource(res.columns, res.batches)
        if source is not None:
            source.memo = getattr(res, "wire_memo", None)
            source.read_ahead()  # a small result then needs no second trip (stream)
        status = dict(getattr(res, "parameter_status", None) or {})
        return Outcome(res.command_tag, source, status)

    def _kept(self, sql: str, params: Sequence[object]) -> Outcome | None:
        """Event loop: the statement answered from the result cache with no worker trip, when
        the SQL layer can (zeroetl.server.sql.inline); None: run it on the worker."""
        execute_kept = getattr(self.sql, "execute_kept", None)
        if execute_kept is None or any(not f.done() for f in self._background):
            return None  # the worker may be using the session (closing a result) right now
        if parse_cursor_statement(sql) is not None or copyout.parse_copy_to_stdout(sql):
            return None  # the wire's own statements: on the worker, as always
        res = execute_kept(sql, list(params) or None)
        return None if res is None else self._outcome(res)

    async def _execute(self, sql: str, params: Sequence[object]) -> Outcome:
        self.busy, self.cancel_requested = True, False
        try:
            kept = self._kept(sql, params)
            if kept is not None:
                return kept
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
