"""The extended query protocol (Parse, Bind, Describe, Execute) of a session.

`ExtendedProtocol` is a part of `Session` (session.py), kept apart because the extended protocol's
statement and portal bookkeeping is its own concern: prepared statements are analysed at Parse
(or first use, for the unnamed one), portals are run on first Describe or Execute and stream in
slices like simple queries.
"""

from __future__ import annotations

from typing import Any

from zeroetl.server.pgwire import copyout
from zeroetl.server.pgwire import messages as m
from zeroetl.server.pgwire.params import ParamError, decode_param, probe_value
from zeroetl.server.pgwire.portals import (
    CloseCursor,
    Declare,
    Fetch,
    Portal,
    RowSource,
    parse_cursor_statement,
)
from zeroetl.server.pgwire.session_io import Prepared, SessionIO
from zeroetl.server.pgwire.wire_errors import WireError, as_wire_error


class ExtendedProtocol(SessionIO):
    """Parse, Bind, Describe and Execute over the session's plumbing."""

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
            self.spawn(self.portals.pop("").close)
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
                rows = await self.run(drain_rows, outcome.source)
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


def drain_rows(source: Any) -> int:
    n = 0
    while (batch := source.next_slice(1 << 20)) is not None:
        n += batch.num_rows
    return n
