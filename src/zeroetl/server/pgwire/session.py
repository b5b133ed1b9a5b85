"""One client session after start-up: the message loop, and the simple query protocol over a
SqlSession (the extended protocol: extended.py; the plumbing: session_io.py)."""

from __future__ import annotations

import contextlib

from zeroetl.server.pgwire import messages as m
from zeroetl.server.pgwire.extended import ExtendedProtocol, drain_rows
from zeroetl.server.pgwire.inbox import Inbox
from zeroetl.server.pgwire.portals import LimitedSource
from zeroetl.server.pgwire.session_io import FLUSH_BYTES
from zeroetl.server.pgwire.wire_errors import UnknownMessage, WireError, as_wire_error

__all__ = ["Session", "as_wire_error"]


class Session(ExtendedProtocol):
    """One connection in the query phase."""

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
                        rows = await self.run(drain_rows, outcome.source)
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
