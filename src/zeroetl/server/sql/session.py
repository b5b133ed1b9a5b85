"""One SQL session over the warehouse hub: the interface the wire protocol server calls.

A session owns one DuckDB cursor on the hub (FACTS.md: keep one instance per session; cursors
see committed snapshots). `dbname=<target database>` makes that database current (`demodb.sales`
resolves); `dev` (or `postgres`) is the hub itself, where target databases are reached by
3-part names. Statements run in autocommit unless BEGIN. Each statement goes: interception
(transactions, SET/SHOW, Redshift DATABASE statements) -> text normalisation -> parse (Redshift,
then PostgreSQL) -> the sandbox guard over the whole tree (guard.py, policy.py) -> table-state
checks -> pg_catalog and dialect rewrites -> the guard again over the exact DuckDB text, with
DuckDB's parser (duckparse.py) -> DuckDB, within the session's time, memory and slot (limits.py).
A query reading a ClickHouse-backed target database goes to ClickHouse instead, after the
interception (clickhouse_session.py).

The class is put together from mixins, one module each: the translation pipeline
(session_translate.py, on names and types: session_names.py), ClickHouse routing
(session_clickhouse.py), intercepted statements and errors (session_intercept.py), users and
grants (users_session.py), dev's changes (workspace_session.py) and kept results
(session_cache.py). This module holds the session's state, its public interface and the
running of a statement.
"""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Iterator, Sequence

import duckdb
import pyarrow as pa

from zeroetl import dataversions
from zeroetl.service.readgate import NO_GATE, ReadGate

from . import (
    catalog,
    clickhouse_catalog,
    clickhouse_session,
    duckstream,
    inline,
    pgcompat,
    plancache,
    prepared,
    resultcache,
    rewrite,
    topn_join,
    users_catalog,
    users_sql,
    workspace,
    workspace_catalog,
)
from . import workspace_store as ws
from .backend import Backend
from .errors import SqlError
from .limits import Admission, SessionLimits, StatementRun, effective_timeout_ms
from .params import SessionParams
from .policy import Policy, Principal
from .results import Column, Result, _empty
from .session_cache import ResultCaching
from .session_clickhouse import ClickHouseStatements
from .session_intercept import InterceptedStatements
from .session_translate import TranslatedStatements, _q
from .users_session import UserStatements
from .workspace_session import WorkspaceStatements

__all__ = ["Backend", "Column", "Result", "SqlError", "SqlSession"]

HUB_DATABASES = ("dev", "postgres")
PINNED_VIEWS = catalog.PINNED_VIEWS | workspace_catalog.PINNED | users_catalog.PINNED
BATCH_ROWS = 8192


class SqlSession(
    ClickHouseStatements,
    TranslatedStatements,
    InterceptedStatements,
    WorkspaceStatements,
    UserStatements,
    ResultCaching,
):
    def __init__(
        self,
        backend: Backend,
        *,
        database: str,
        user: str,
        limits: SessionLimits | None = None,
        admission: Admission | None = None,
        policy: Policy | None = None,
    ) -> None:
        self._backend = backend
        self.database = database
        self.user = user
        self.in_transaction = False
        self._failed = False
        self._open: pa.RecordBatchReader | None = None
        self._limits = limits or SessionLimits()
        self._admission = admission or Admission(0)
        self._policy = policy or Policy()
        self._who = Principal(user)
        self._pinned = PINNED_VIEWS
        self._cte_names: frozenset[str] = frozenset()
        self._relations: dict[tuple[str, str, str], tuple[str, str, str]] | None = None
        self._catalogs: dict[str, tuple[dict[tuple[str, str], tuple[str | None, str]], int]] = {}
        self._recorded: plancache.Recorder | None = None  # the translation being made
        self._kept_entry: plancache.Entry | None = None  # the statement's, once kept
        self._fast: tuple[str, int] | None = None
        self._kept_key: tuple[object, ...] = ()
        self._changed_in_transaction = False
        # the statement running or last run, passwords masked (what activity views may show)
        self.query = ""
        self.closed = False
        self._current: StatementRun | None = None
        self._stop_reason: str | None = None  # why the running statement is being interrupted
        # Statements count as readers until their result is read (a checkpoint that must
        # reclaim deleted rows waits for none: service/readgate.py).
        self._gate: ReadGate = getattr(backend, "read_gate", NO_GATE)
        self._reading = False
        self._inline = False  # answering on the wire's event loop (inline.py)
        # the target databases, asked once per statement: routing and translation both need
        # them, and asking reads the service's catalog (a SQLite statement under its lock)
        self._statement_dbs: list[str] | None = None
        dbs = backend.databases()
        # a target database in ClickHouse: its queries go there, the rest runs on the hub
        self._ch = clickhouse_session.query_destination(backend, database)
        if database not in dbs and database not in HUB_DATABASES:
            raise SqlError(
                "3D000",
                f'database "{database}" does not exist',
                hint="connect to dev, or to a target database created with CREATE DATABASE ..."
                " FROM INTEGRATION",
            )
        self._dbs: list[str] = []
        self._refresh_catalog(dbs)
        self._cur = backend.cursor()
        self._prepared = prepared.PreparedPlans(self._cur)  # this cursor's, never another's
        self._home = catalog.home_catalog(self._cur)
        # `dev` is the workspace database when the hub has one (the service's does)
        self._workspace = ws.attached(self._cur)
        self._plan: workspace.Plan | None = None  # the running change statement's, if any
        self._hints: list[str] | None = None  # the translated query's string types (shapes.py)
        hub_db = ws.WORKSPACE if self._workspace else self._home
        self._catalog = database if database in dbs and self._ch is None else hub_db
        self._params = SessionParams(
            self._cur,
            self._who,
            self._policy,
            timeout_ms=self._limits.statement_timeout_ms,
            apply_search_path=self._apply_search_path,
            public_schema=ws.DEFAULT_SCHEMA if self._catalog == ws.WORKSPACE else "main",
        )
        self._params.values["is_superuser"] = "on" if self._policy.superuser(self._who) else "off"
        # psql's \password asks, then sends ALTER USER ... PASSWORD '<SCRAM verifier>'
        self._params.values["password_encryption"] = "scram-sha-256"
        if self._catalog == ws.WORKSPACE:
            for name in ("default_transaction_read_only", "transaction_read_only"):
                self._params.values[name] = "off"
        try:
            self._cur.execute(f"USE {_q(self._catalog)}")
            self._cur.execute("SET TimeZone = 'UTC'")
            self._cur.execute("SET integer_division = true")
            if self._limits.memory:
                self._cur.execute("SET operator_memory_limit = ?", [self._limits.memory])
            if self._ch is not None:  # the catalog views list its ClickHouse tables
                clickhouse_catalog.set_database(self._cur, database)
            self._apply_search_path(self._params.schemas)
        except duckdb.Error as e:
            self._cur.close()
            raise SqlError("3D000", f'database "{database}" cannot be opened: {e}') from None

    @property
    def _schemas(self) -> list[str]:
        return self._params.schemas

    # --- public interface --------------------------------------------------------------

    def split(self, sql: str) -> list[str]:
        return rewrite.split(sql)

    def cancel(self, reason: str = "user") -> None:
        """Interrupt the running statement (any thread): a cancel request, a timeout, or the
        client going away."""
        self._stop_reason = reason
        with contextlib.suppress(duckdb.Error):
            self._cur.interrupt()

    def close(self) -> None:
        self.closed = True  # no longer counts against the user's CONNECTION LIMIT
        self._drop_open_result()
        try:
            if self.in_transaction:
                self._cur.execute("ROLLBACK")
        except duckdb.Error:
            pass
        self._cur.close()

    def execute_kept(self, sql: str, params: Sequence[object] | None = None) -> Result | None:
        """The statement's kept result if it can be answered without DuckDB nor any wait (the
        wire calls this on its event loop: inline.py), else None: run it with `execute` on the
        session's worker. Raises what `execute` would (the sandbox, grants, table states)."""
        if (
            self._open is not None  # closing a result may wait for DuckDB
            or self.in_transaction
            or self._failed
            or self._ch is not None
            or not resultcache.enabled(self._params.values)
            or not plancache.CACHE.contains(self._cache_key(sql))
        ):
            return None
        cur, self._cur, self._inline = self._cur, inline.NO_DUCKDB, True
        try:
            return self.execute(sql, params)
        except inline.NeedsWorker:
            return None
        finally:
            self._cur, self._inline = cur, False

    def execute(self, sql: str, params: Sequence[object] | None = None) -> Result:
        self._drop_open_result()
        self._statement_dbs = None
        self.query = users_sql.redact(sql)
        code = rewrite.strip_comments(sql).strip()
        if self._inline and (users_sql.is_user_statement(code) or rewrite.intercept(sql)):
            raise inline.NeedsWorker("not a query")  # never kept (execute_kept asks first)
        if users_sql.is_user_statement(code):  # never reaches DuckDB, nor any log
            if self._failed:
                raise SqlError("25P02", "current transaction is aborted, commands ignored until"
                               " end of transaction block")  # fmt: skip
            try:
                return _empty(self._user_statement(code) or "")
            finally:
                plancache.bump()  # users, groups, grants: what cached findings are ruled by
        ic = rewrite.intercept(sql)
        if ic is not None:
            return self._intercepted(ic, sql)
        if self._failed:
            raise SqlError(
                "25P02",
                "current transaction is aborted, commands ignored until end of transaction block",
            )
        routed = self._clickhouse_route(sql)
        run = self._start()
        if routed is not None:
            return self._on_clickhouse(routed, params, run)
        try:
            mv = self._mview_statement(sql)
            if mv is None:
                duck, tag, is_query = self._translate(sql)
            if self._inline:  # a kept result or nothing: no slot to wait for, no DuckDB
                if mv is not None or self._plan is not None or not is_query:
                    raise inline.NeedsWorker("not a query")
                if not self._admission.try_acquire():
                    raise inline.NeedsWorker("no free slot")
            elif not self._admission.acquire(lambda: self._stop_reason is not None):
                raise self._stopped()
            run.admitted(self._admission)
            if mv is not None:
                try:
                    return self._mview(mv)
                finally:
                    self._changed_catalog()
                    self._finish(run)
            args = list(params) if params else None
            if self._plan is not None:
                try:
                    done = self._run_change(duck, args, self._plan)
                    self._forget_grants(self._plan)
                    return done
                finally:
                    self._changed_catalog()
                    self._finish(run)
            if not is_query:
                self._changed_catalog()
                try:
                    self._cur.execute(duck, args)
                    if self._cur.description is None:
                        return _empty(tag)
                    with warnings.catch_warnings():  # small results (EXPLAIN...): a copy is fine
                        warnings.simplefilter("ignore")
                        table: pa.Table = self._cur.to_arrow_table()  # type: ignore[assignment]
                finally:
                    dataversions.bump_all()  # what it wrote is visible now
                    self._finish(run)
                cols = self._columns(table.schema)
                return Result(cols, iter(table.to_batches()), tag)
            ticket = self._result_ticket(args)  # versions read before it runs
            kept = self._kept_result(ticket)
            if kept is not None:
                self._finish(run)
                return kept
            if self._inline:
                raise inline.NeedsWorker("not kept")
            if self._stop_reason is not None:  # cancelled before DuckDB started: it would miss it
                raise self._stopped()
            # a relation streams: batches are produced as the client reads them
            reader = self._run_query(duck, args)
        except duckdb.Error as e:
            self._finish(run)
            raise self._error(e) from None
        except BaseException:
            self._finish(run)
            raise
        self._open = reader
        columns = self._columns(reader.schema)
        return Result(columns, self._keeping(ticket, columns, self._stream(reader, run), tag), tag)

    def _run_query(self, duck: str, args: list[object] | None) -> pa.RecordBatchReader:
        """The query's reader; a repeated one runs from its prepared plan (prepared.py). A Top
        N over a join runs its threshold form first, the query itself when that comes short."""
        if self._fast is not None:
            fast = topn_join.run(self._cur, *self._fast, args, BATCH_ROWS)
            if fast is not None:
                return fast
        entry = self._kept_entry
        if args or entry is None or self.in_transaction:
            return duckstream.reader(self._cur, duck, args, BATCH_ROWS)
        key = (self._kept_key, resultcache.settings_key(self._params.values), entry.generation)
        text = self._prepared.text(key, duck)
        if text is duck:
            return duckstream.reader(self._cur, duck, None, BATCH_ROWS)
        try:
            return duckstream.reader(self._cur, text, None, BATCH_ROWS)
        except duckdb.InterruptException:
            raise
        except duckdb.Error:  # the text says what is wrong, if anything still is
            self._prepared.drop(key)
            return duckstream.reader(self._cur, duck, None, BATCH_ROWS)

    def _changed_catalog(self) -> None:
        """A statement that is not a query runs: kept translations may no longer hold."""
        plancache.bump()
        if self.in_transaction:
            self._changed_in_transaction = True

    def _start(self) -> StatementRun:
        """The statement's clock starts now (PostgreSQL counts from the statement's arrival).

        From here until its result is read or dropped the statement is a reader of the hub: a
        checkpoint that must reclaim deleted rows waits for none (service/readgate.py)."""
        if not self._inline:
            self._gate.enter()
        elif not self._gate.try_enter():  # a checkpoint's window is open: wait on the worker
            raise inline.NeedsWorker("read gate")
        self._reading = True
        self._stop_reason = None
        limit = effective_timeout_ms(self._params.timeout_ms, self._limits.max_statement_timeout_ms)
        self._current = StatementRun(limit, self._timed_out)
        return self._current.arm()

    def _timed_out(self, run: StatementRun) -> None:
        """The timer of `run` fired: interrupt it unless it already ended (a statement that
        started meanwhile is not this one's to cancel)."""
        if self._current is run and not run.done:
            self.cancel("timeout")

    @property
    def running_since(self) -> float | None:
        """When the running statement (or the one whose result is open) started."""
        run = self._current
        return None if run is None or run.done else run.started

    def _stopped(self) -> SqlError:
        if self._stop_reason == "timeout":
            return SqlError("57014", "canceling statement due to statement timeout")
        if self._stop_reason == "memory":
            return SqlError(
                "53200",
                "canceling statement: the service is short of memory and replication comes first",
                hint="narrow the query (filters, fewer columns, LIMIT), or run it when fewer"
                " queries are running",
            )
        return SqlError("57014", "canceling statement due to user request")

    def _drop_open_result(self) -> None:
        """A result the client stopped reading must not block the next statement."""
        reader, self._open = self._open, None
        if reader is not None:
            with contextlib.suppress(Exception):
                reader.close()
        if self._current is not None:
            self._finish(self._current)

    def _finish(self, run: StatementRun) -> None:
        run.finish()
        if self._reading:
            self._reading = False
            self._gate.leave()

    def describe(
        self, sql: str, probes: Sequence[object] = ()
    ) -> tuple[list[int], list[Column] | None]:
        """Parameter type OIDs and result columns; `probes`: sample values of the parameter types
        the client declared (None: unknown), so the columns have the types execution gives."""
        self._drop_open_result()
        self._statement_dbs = None
        if users_sql.is_user_statement(rewrite.strip_comments(sql).strip()):
            return [], None
        ic = rewrite.intercept(sql)
        if ic is not None:
            cols = [Column(ic.name or "setting", pa.string())] if ic.kind == "show" else None
            return [], cols
        if self._mview_statement(sql) is not None:
            return [], None
        routed = self._clickhouse_route(sql)
        if routed is not None:
            _none, cols = clickhouse_session.run(
                routed, **self._ch_args(routed, None), describe=True
            )
            return self._param_types(sql), cols
        with self._gate.reading():
            duck, _tag, is_query = self._translate(sql)
            types = self._param_types(sql)
            if not is_query:
                return types, None
            try:
                reader = duckstream.reader(
                    self._cur,
                    f"SELECT * FROM ({duck}) AS zq_describe LIMIT 0",
                    [probes[i] if i < len(probes) else None for i in range(len(types))],
                    1,
                )
                columns = self._columns(reader.schema)
                reader.close()
            except duckdb.Error as e:
                raise self._error(e) from None
        return types, columns

    def _stream(self, reader: pa.RecordBatchReader, run: StatementRun) -> Iterator[pa.RecordBatch]:
        try:
            yield from reader
            # read to its end (on the worker, which reads ahead): released now rather than by
            # the next statement, so a kept result can be answered without the worker then
            if self._open is reader:
                self._open = None
                self._release(reader)
        except (duckdb.Error, pa.ArrowException, OSError) as e:
            if self._stop_reason is not None and "nterrupt" in str(e):
                raise self._stopped() from None
            if isinstance(e, duckdb.Error):
                raise self._error(e) from None
            raise SqlError("XX000", str(e)) from None
        finally:
            self._finish(run)

    @staticmethod
    def _release(reader: pa.RecordBatchReader) -> None:
        with contextlib.suppress(Exception):
            reader.close()

    def _columns(self, schema: pa.Schema) -> list[Column]:
        hints = self._hints if self._hints is not None and len(self._hints) == len(schema) else None
        cols = []
        for i, f in enumerate(schema):
            hint = hints[i] if hints else ""
            if not hint and f.name in pgcompat.VECTOR_TYPES and pa.types.is_string(f.type):
                hint = pgcompat.VECTOR_TYPES[f.name]  # `indkey` as text '1 2' (pgcompat)
            cols.append(Column(f.name, f.type, hint))
        return cols
