"""The session's side of ClickHouse-backed target databases (clickhouse_session.py routes and
runs a query there; clickhouse_catalog.py lists their tables in the catalog emulation).

A statement goes to ClickHouse when it reads a replicated table of such a database; one that
reads only the catalog emulation (with table functions) stays on the hub, and one that mixes
both is refused, naming both sides.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from sqlglot import exp

from . import clickhouse_catalog, clickhouse_session, inline
from .backend import Backend
from .errors import SqlError
from .limits import Admission, SessionLimits, StatementRun, effective_timeout_ms
from .params import SessionParams
from .policy import Policy, Principal
from .results import Result


class ClickHouseStatements:
    """Mixed into SqlSession (session.py), which provides these attributes."""

    _backend: Backend
    _databases: Callable[[], list[str]]
    database: str
    in_transaction: bool
    _failed: bool
    _ch: Any  # the session database's ClickHouse destination, None for DuckDB
    _pinned: frozenset[str]
    _home: str
    _params: SessionParams
    _limits: SessionLimits
    _admission: Admission
    _policy: Policy
    _who: Principal
    _stop_reason: str | None
    _stopped: Callable[[], SqlError]
    _finish: Callable[[StatementRun], None]

    @property
    def _schemas(self) -> list[str]:
        raise NotImplementedError  # SqlSession's search path

    def _route_databases(self, sql: str) -> list[str]:
        """The target databases, for routing. On the event loop (inline.py) a statement that
        names one goes to the worker: finding its destination may open a connection."""
        dbs = self._databases()
        if getattr(self, "_inline", False):
            low = sql.lower()
            if any(d.lower() in low for d in dbs):
                raise inline.NeedsWorker("names a database")
        return dbs

    def _clickhouse_route(self, sql: str) -> clickhouse_session.Route | None:
        try:
            routed = clickhouse_session.route(
                self._backend, sql, session_database=self.database, session_dest=self._ch,
                pinned=self._pinned, databases=lambda: self._route_databases(sql),
            )  # fmt: skip
        except SqlError:
            if self.in_transaction:
                self._failed = True
            raise
        if routed is None:
            return None
        pinned, only = self._catalog_reads(routed.tree)
        if pinned and only:
            return None
        if pinned:  # the hub answers these: DuckDB, which cannot read ClickHouse's tables
            if self.in_transaction:
                self._failed = True
            names = ", ".join(sorted(pinned))
            raise SqlError(
                "0A000",
                f"{names} cannot be read in the same query as tables of ClickHouse-backed"
                f' database "{routed.database}": the endpoint answers {names} itself (DuckDB)'
                " and the tables' query runs on ClickHouse",
                hint="query them separately and combine the results in the client",
            )
        return routed

    def _catalog_reads(self, tree: exp.Expression) -> tuple[set[str], bool]:
        """The system and catalog views (pinned names) a statement reads, and whether it reads
        nothing else but table functions and CTEs (psql's `\\d` joins pg_attribute with
        generate_series): the hub answers such a statement, as any that reads no replicated
        table."""
        ctes = {c.alias_or_name.lower() for c in tree.find_all(exp.CTE)}
        named = [t for t in tree.find_all(exp.Table) if isinstance(t.this, exp.Identifier)]
        pinned = [t for t in named if not t.db and t.name.lower() in self._pinned]
        only = all(
            t.name.lower() in ctes or t.db.lower() in ("pg_catalog", "information_schema")
            for t in named
            if t not in pinned
        )
        return {t.name.lower() for t in pinned}, only

    def _ch_args(
        self, routed: clickhouse_session.Route, params: Sequence[object] | None
    ) -> dict[str, Any]:
        timeout = effective_timeout_ms(
            self._params.timeout_ms, self._limits.max_statement_timeout_ms
        )
        return {"schemas": list(self._schemas), "policy": self._policy, "who": self._who,
                "timeout_ms": timeout, "params": params,
                "query_all_states": self._query_all_states(routed.database)}  # fmt: skip

    def _on_clickhouse(
        self, routed: clickhouse_session.Route, params: Sequence[object] | None, run: StatementRun
    ) -> Result:
        """A query of a ClickHouse-backed database (clickhouse_session.py): read whole, as
        ClickHouse answers it, within the session's slot."""
        try:
            if not self._admission.acquire(lambda: self._stop_reason is not None):
                raise self._stopped()
            run.admitted(self._admission)
            result, _cols = clickhouse_session.run(routed, **self._ch_args(routed, params))
        except SqlError:
            if self.in_transaction:
                self._failed = True
            raise
        finally:
            self._finish(run)
        assert result is not None
        return result

    def _clickhouse_catalog(self) -> list[str]:
        """The ClickHouse-backed database's tables copied into the catalog emulation (at most
        every clickhouse_catalog.REFRESH_EVERY_S); its schemas."""
        return clickhouse_catalog.refresh(self._backend, self._home, self.database, self._ch)

    def _query_all_states(self, db: str) -> bool:
        try:
            return bool(self._backend.database_options(db).get("query_all_states", False))
        except Exception:
            return False
