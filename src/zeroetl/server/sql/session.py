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
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import re
import warnings
from collections.abc import Iterator, Sequence
from typing import Any

import duckdb
import pyarrow as pa
from sqlglot import exp

from zeroetl import dataversions
from zeroetl.service.readgate import NO_GATE, ReadGate

from . import (
    catalog,
    clickhouse_catalog,
    clickhouse_session,
    dialect,
    duckparse,
    guard,
    pgcompat,
    pgerrors,
    plancache,
    redshift,
    rewrite,
    shapes,
    sysviews,
    topn,
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
from .policy import Kind, Policy, Principal, Touch
from .results import Column, Result, _empty
from .session_cache import ResultCaching, table_catalog
from .users_session import UserStatements, cte_names
from .workspace_session import WorkspaceStatements

__all__ = ["Backend", "Column", "Result", "SqlError", "SqlSession"]

HUB_DATABASES = ("dev", "postgres")
PINNED_VIEWS = catalog.PINNED_VIEWS | workspace_catalog.PINNED | users_catalog.PINNED
BATCH_ROWS = 8192


def _q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


class SqlSession(WorkspaceStatements, UserStatements, ResultCaching):
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

    def execute(self, sql: str, params: Sequence[object] | None = None) -> Result:
        self._drop_open_result()
        self.query = users_sql.redact(sql)
        code = rewrite.strip_comments(sql).strip()
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
            if not self._admission.acquire(lambda: self._stop_reason is not None):
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
            # a relation streams: batches are produced as the client reads them
            reader = self._cur.sql(duck, params=args).to_arrow_reader(BATCH_ROWS)
        except duckdb.Error as e:
            self._finish(run)
            raise self._error(e) from None
        except BaseException:
            self._finish(run)
            raise
        self._open = reader
        columns = self._columns(reader.schema)
        return Result(columns, self._keeping(ticket, columns, self._stream(reader, run), tag), tag)

    def _clickhouse_route(self, sql: str) -> clickhouse_session.Route | None:
        try:
            routed = clickhouse_session.route(
                self._backend, sql, session_database=self.database, session_dest=self._ch,
                pinned=self._pinned, databases=self._backend.databases,
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

    def _changed_catalog(self) -> None:
        """A statement that is not a query runs: kept translations may no longer hold."""
        plancache.bump()
        if self.in_transaction:
            self._changed_in_transaction = True

    def _start(self) -> StatementRun:
        """The statement's clock starts now (PostgreSQL counts from the statement's arrival).

        From here until its result is read or dropped the statement is a reader of the hub: a
        checkpoint that must reclaim deleted rows waits for none (service/readgate.py)."""
        self._gate.enter()
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
                reader = self._cur.sql(
                    f"SELECT * FROM ({duck}) AS zq_describe LIMIT 0",
                    params=[probes[i] if i < len(probes) else None for i in range(len(types))]
                    or None,
                ).to_arrow_reader(1)
                columns = self._columns(reader.schema)
                reader.close()
            except duckdb.Error as e:
                raise self._error(e) from None
        return types, columns

    # --- pipeline ----------------------------------------------------------------------

    def _translate(self, sql: str) -> tuple[str, str, bool]:
        """DuckDB text, command tag, and whether it returns rows; refuses what the sandbox
        does not run (see the module doc). A query translated before in the same context is
        taken from the cache, its findings ruled on again (plancache.py)."""
        self._cte_names, self._relations = frozenset(), None  # this statement's (users_session)
        self._refresh_catalog(self._backend.databases())
        if self._ch is not None:
            self._clickhouse_catalog()
        self._plan = None
        self._hints = None
        self._source_cache: dict[str, dict[tuple[str, str], dict[str, str]]] = {}
        self._catalogs = {}
        key = self._cache_key(sql)
        self._kept_entry, self._kept_key = None, key
        entry = plancache.CACHE.get(key)
        if entry is not None:
            done = self._replay(entry)
            if done is not None:
                self._kept_entry = entry
                return done
            plancache.CACHE.drop(key)  # a database it reads changed: translate again
        outer, rec = self._recorded, plancache.Recorder()
        self._recorded = rec
        generation = plancache.generation()
        try:
            duck, tag, is_query = self._translate_fresh(sql, rec)
        finally:
            self._recorded = outer
        self._kept_entry, self._kept_key = None, key  # not an inner statement's (EXPLAIN)
        keep = rec.cacheable and rewrite.rememberable(sql)  # bounded memory, no passwords kept
        if keep and is_query and tag != "EXPLAIN" and self._plan is None:
            versions = tuple((db, self._catalog_of(db)[1]) for db in sorted(rec.dbs(self)))
            self._kept_entry = rec.entry(duck, tag, self, versions, generation)
            plancache.CACHE.put(key, self._kept_entry)
        return duck, tag, is_query

    def _cache_key(self, sql: str) -> tuple[object, ...]:
        return (sql, self.database, self._catalog, self.user, self._search_path,
                tuple(self._visible_path), tuple(self._dbs), self._home,
                self._workspace)  # fmt: skip

    def _catalog_of(self, db: str) -> tuple[dict[tuple[str, str], tuple[str | None, str]], int]:
        """`db`'s replicated tables' states and fingerprint, read once per statement."""
        if db not in self._catalogs:
            self._catalogs[db] = table_catalog(self._cur, db, in_transaction=self.in_transaction)
        return self._catalogs[db]

    def _replay(self, e: plancache.Entry) -> tuple[str, str, bool] | None:
        """A kept translation, if what it was made from still holds: the policy rules on its
        findings now, and the replicated tables it reads are checked for their states."""
        for db, fingerprint in e.versions:
            if self._catalog_of(db)[1] != fingerprint:
                return None
        self._cte_names = e.cte_names
        for touches in e.checks:
            self._check(list(touches))
        for name in e.scoped:
            self._check_scoped_read(name)
        for db, schema, name in e.targets:
            state = self._catalog_of(db)[0].get((schema, name))
            if state is None or state[0] == "Synced" or self._query_all_states(db):
                continue
            raise redshift.not_queryable(db, schema, name, state[0], state[1])
        self._register_user_views(e.norm)
        if sysviews.referenced(e.norm):
            try:
                sysviews.register(self._cur, self._backend, self._dbs, e.norm)
            except duckdb.Error as err:
                raise self._error(err) from None
        self._hints = list(e.hints) if e.hints is not None else None
        return e.duck, e.tag, e.is_query

    def _translate_fresh(self, sql: str, rec: plancache.Recorder) -> tuple[str, str, bool]:
        norm = pgcompat.normalize(rewrite.normalize(sql))
        rec.norm = norm
        code = rewrite.strip_comments(norm).strip()
        first, second = guard.statement_words(code)
        if first == "EXPLAIN":
            return self._explain(code)
        server = guard.server_statement(first, second)
        if server is not None:
            rec.cacheable = False
            self._policy.check([server], self._who)
        try:
            tree = dialect.parse(norm)
        except SqlError as syntax:
            # sqlglot cannot parse some DuckDB syntax: say what DuckDB would have done with it
            # when that is refused, else the syntax error.
            try:
                touches = duckparse.inspect(self._cur, code)
            except SqlError:
                raise syntax from None
            self._check(touches)
            raise
        self._cte_names = cte_names(tree)
        rec.named(tree)
        plan = self._plan_change(tree)
        # CREATE TABLE/VIEW ... AS query: its columns are named and typed as a query's would be
        body = shapes.created_query(tree) if plan is not None else None
        labelled = shapes.all_labels(body or tree, norm)  # as written, before any rewrite
        self._check(guard.inspect(tree, self._database_of), plan)
        self._check_scoped_reads(tree)
        self._pin_system_views(tree)
        pgcompat.rewrite(tree, database=self.database, home=self._home, schema=catalog.SCHEMA)
        redshift.check_states(
            tree,
            rec.noting(self._resolve),
            lambda db: self._catalog_of(db)[0],
            self._query_all_states,
        )
        rewrite.pg_rewrite(tree, database=self.database, user=self.user, schemas=self._visible_path)
        is_query = isinstance(tree, exp.Query) and plan is None
        if is_query:  # before translation, which rewrites the casts that say a length
            self._hints = shapes.string_hints(tree, self._resolve, self._source_types)
        dialect.translate(tree, lambda c: self._column_type(tree, c))
        if is_query:
            if not shapes.apply_all_labels(tree, labelled):
                rewrite.name_columns(tree)
            topn.defer_projection(tree)  # a Top N computes its select list for N rows
        elif body is not None:
            shapes.apply_all_labels(body, labelled)
            # before generation: the workspace's checks below see the final text
            probe = functools.partial(self._probe_types, checked=False)
            shapes.shape_aggregates(body, probe, dialect.generate)
        duck = dialect.generate(tree)
        if plan is None:
            rec.final = tuple(duckparse.inspect(self._cur, duck))
            self._check(list(rec.final))
        else:  # DuckDB serialises only queries: it checks each query and call inside
            workspace.check_kind(self._cur, duck, plan.duck_kind)
            for text in workspace.inner_queries(tree):
                self._check(duckparse.inspect(self._cur, text), plan)
            self._plan = plan
        self._register_user_views(norm)
        if sysviews.referenced(norm):
            try:
                sysviews.register(self._cur, self._backend, self._dbs, norm)
            except duckdb.Error as e:
                raise self._error(e) from None
        if is_query and shapes.shape_aggregates(tree, self._probe_types, dialect.generate):
            duck = dialect.generate(tree)
            rec.final = tuple(duckparse.inspect(self._cur, duck))
            self._check(list(rec.final))
        tag = "SELECT" if is_query or first in ("WITH", "VALUES", "TABLE") else first
        return duck, tag, is_query or tag in ("DESCRIBE", "DESC")

    def _explain(self, code: str) -> tuple[str, str, bool]:
        """EXPLAIN [ANALYZE] query: the query goes through the whole pipeline (ANALYZE runs it)."""
        m = re.match(
            r"EXPLAIN\s*(?:\(([^)]*)\)|((?:ANALY[SZ]E|VERBOSE)(?:\s+(?:ANALY[SZ]E|VERBOSE))*))?"
            r"\s*(.*)$",
            code,
            re.I | re.S,
        )
        options = ((m.group(1) or m.group(2) or "") if m else "").upper()
        inner = m.group(3) if m else ""
        duck, _tag, is_query = self._translate(inner)
        if not is_query:
            self._check([Touch(Kind.STATEMENT, "EXPLAIN")])
        analyze = "ANALYZE " if "ANALY" in options else ""
        return f"EXPLAIN {analyze}{duck}", "EXPLAIN", True

    def _check(self, touches: list[Touch], plan: workspace.Plan | None = None) -> None:
        """The policy's ruling on what a statement touches (writes learn their database, and
        in the workspace the owner of what they act on)."""
        for t in touches:
            if t.kind in (Kind.WRITE, Kind.DDL) and plan is not None and t.path in plan.owners:
                # an object of dev, named in full by workspace.plan (schemas have two parts)
                t = dataclasses.replace(t, database=ws.WORKSPACE, owner=plan.owner(t.path))
            if t.kind in (Kind.WRITE, Kind.DDL) and t.database is None:
                t = dataclasses.replace(t, database=self._database_of_path(t.path))
            if t.kind is Kind.READ and not self._policy.superuser(self._who):
                t = self._read_target(t)
            elif t.database == ws.WORKSPACE and self._creates_existing(t):
                t = dataclasses.replace(t, existing=True)
            self._policy.check([t], self._who)
        if self._recorded is not None:
            self._recorded.checks.append((tuple(touches), plan))

    def _database_of(self, table: exp.Table) -> str | None:
        return self._database_of_path(tuple(p for p in (table.catalog, table.db, table.name) if p))

    def _database_of_path(self, path: tuple[str, ...]) -> str | None:
        """The replicated target database a (possibly partial) table name lands in, if any;
        WORKSPACE for 3-part names in dev (workspace.plan writes dev's objects out in full; a
        2-part `dev.t` may be a schema `dev` of the session's own database)."""
        if self._workspace and len(path) >= 3 and path[0] == ws.WORKSPACE:
            return ws.WORKSPACE
        own = self._catalog if self._catalog in self._dbs else None
        if len(path) >= 3:
            return path[0] if path[0] in self._dbs else None
        if len(path) == 2 and own is None:
            return path[0] if path[0] in self._dbs else None  # `db.t`: catalog db, schema main
        return own

    def _pin_system_views(self, tree: exp.Expression) -> None:
        """Unqualified names of the system views and the pg_catalog emulation always mean them,
        as pg_catalog comes first in PostgreSQL: a replicated table of the same name (or any
        other object) never shadows one. Its own name stays reachable qualified."""
        ctes = {c.alias_or_name.lower() for c in tree.find_all(exp.CTE)}
        for table in tree.find_all(exp.Table):
            if table.args.get("db") or not isinstance(table.this, exp.Identifier):
                continue
            name = table.name.lower()
            if name in PINNED_VIEWS and name not in ctes:
                table.set("db", exp.to_identifier(catalog.SCHEMA))
                table.set("catalog", exp.to_identifier(self._home, quoted=True))

    def _stream(self, reader: pa.RecordBatchReader, run: StatementRun) -> Iterator[pa.RecordBatch]:
        try:
            yield from reader
        except (duckdb.Error, pa.ArrowException, OSError) as e:
            if self._stop_reason is not None and "nterrupt" in str(e):
                raise self._stopped() from None
            if isinstance(e, duckdb.Error):
                raise self._error(e) from None
            raise SqlError("XX000", str(e)) from None
        finally:
            self._finish(run)

    def _refresh_catalog(self, dbs: list[str]) -> None:
        if getattr(self, "_dbs", None) == dbs and getattr(self, "_installed", False):
            return
        con = self._backend.cursor()
        try:
            catalog.install(con, dbs)
        except duckdb.Error as e:
            raise SqlError("XX000", f"cannot prepare the catalog emulation: {e}") from None
        finally:
            con.close()
        self._dbs = list(dbs)
        self._installed = True

    def _apply_search_path(self, schemas: list[str]) -> None:
        # As in PostgreSQL, schemas that do not exist are skipped (DuckDB refuses them).
        rows = self._cur.execute(
            "SELECT schema_name FROM duckdb_schemas() WHERE database_name = ?", [self._catalog]
        ).fetchall()
        existing = {r[0] for r in rows}
        parts = [f"{_q(self._catalog)}.{_q(s)}" for s in schemas if s in existing]
        # the path as current_schemas() shows it: existing schemas, `public` by its own name
        self._visible_path = [
            "public" if s == self._params.public else s for s in schemas if s in existing
        ]
        parts.append(f"{_q(self._home)}.{_q(catalog.SCHEMA)}")
        self._search_path = ",".join(parts)  # DuckDB's form (materialized views keep it)
        self._cur.execute("SET search_path = " + "'" + self._search_path.replace("'", "''") + "'")
        if self._ch is not None:  # its schemas are ClickHouse's (clickhouse_catalog.py)
            found = set(self._clickhouse_catalog())
            self._visible_path = [s for s in schemas if s in found]
            clickhouse_catalog.set_path(self._cur, list(schemas))

    def _clickhouse_catalog(self) -> list[str]:
        """The ClickHouse-backed database's tables copied into the catalog emulation (at most
        every clickhouse_catalog.REFRESH_EVERY_S); its schemas."""
        return clickhouse_catalog.refresh(self._backend, self._home, self.database, self._ch)

    def _columns(self, schema: pa.Schema) -> list[Column]:
        hints = self._hints if self._hints is not None and len(self._hints) == len(schema) else None
        cols = []
        for i, f in enumerate(schema):
            hint = hints[i] if hints else ""
            if not hint and f.name in pgcompat.VECTOR_TYPES and pa.types.is_string(f.type):
                hint = pgcompat.VECTOR_TYPES[f.name]  # `indkey` as text '1 2' (pgcompat)
            cols.append(Column(f.name, f.type, hint))
        return cols

    def _probe_types(self, sql: str, *, checked: bool = True) -> list[str] | None:
        """DuckDB's types of the columns of `sql` (bound, never run); None if it cannot bind.

        `sql` is the statement's own FROM, CTEs and aggregate arguments, as generated into the
        statement's DuckDB text that the sandbox checked already (the final text is checked
        again once the casts are in): binding it reaches nothing that text did not. When the
        statement was not checked yet (`checked=False`), the probe is checked first."""
        try:
            if not checked:
                self._check(duckparse.inspect(self._cur, sql))
            return [str(t) for t in self._cur.sql(sql).types]
        except duckdb.InterruptException:
            raise self._stopped() from None  # the statement's timeout or cancel: never lost
        except (duckdb.Error, SqlError):
            if self._stop_reason is not None:
                raise self._stopped() from None
            return None

    def _source_types(self, where: tuple[str, str, str]) -> dict[str, str]:
        db, schema, name = where
        if db not in self._source_cache:  # once per statement and database
            self._source_cache[db] = redshift.source_types(self._cur, db)
        return self._source_cache[db].get((schema, name), {})

    def _query_all_states(self, db: str) -> bool:
        try:
            return bool(self._backend.database_options(db).get("query_all_states", False))
        except Exception:
            return False

    def _resolve(self, table: exp.Table) -> tuple[str, str, str] | None:
        name = table.name
        if not name or isinstance(table.this, exp.Func):
            return None
        cat, db = table.catalog, table.db
        if cat:
            return (cat, db, name) if cat in self._dbs else None
        if self._catalog not in self._dbs:
            return None  # the hub or dev (`x.t` there is never a replicated table)
        if db:
            return (self._catalog, db, name)
        states = self._catalog_of(self._catalog)[0]
        for schema in self._schemas:
            if (schema, name) in states:
                return (self._catalog, schema, name)
        return None

    def _column_type(self, tree: exp.Expression, col: exp.Column) -> str | None:
        tables = list(tree.find_all(exp.Table))
        if col.table:
            tables = [t for t in tables if t.alias_or_name == col.table]
        found: set[str] = set()
        for t in tables:
            where = self._resolve_any(t)
            if where is None:
                continue
            rows = self._cur.execute(
                "SELECT data_type FROM duckdb_columns() WHERE database_name = ? AND schema_name"
                " = ? AND table_name = ? AND column_name = ?",
                [*where, col.name],
            ).fetchall()
            found.update(r[0] for r in rows)
        return found.pop() if len(found) == 1 else None

    def _resolve_any(self, table: exp.Table) -> tuple[str, str, str] | None:
        if table.catalog:
            return (table.catalog, table.db, table.name)
        if table.db:
            return (self._catalog, table.db, table.name)
        row = self._cur.execute(
            "SELECT database_name, schema_name FROM duckdb_tables() WHERE database_name = ? AND"
            " table_name = ? AND list_contains(?, schema_name) LIMIT 1",
            [self._catalog, table.name, self._schemas],
        ).fetchone()
        return None if row is None else (row[0], row[1], table.name)

    def _param_types(self, sql: str) -> list[int]:
        from .catalog import TYPE_OIDS

        code = "".join(t for c, t in rewrite.segments(sql) if c)
        nums = [int(n) for n in re.findall(r"\$(\d+)", code)]
        types = [0] * (max(nums) if nums else 0)
        for m in re.finditer(r"\$(\d+)\s*::\s*([A-Za-z_ ]+?)(?:\b|\()", code):
            name = m.group(2).strip().upper()
            alias = {"VARCHAR": "VARCHAR", "TEXT": "VARCHAR", "INT": "INTEGER", "INT4": "INTEGER",
                     "INT8": "BIGINT", "INT2": "SMALLINT", "BOOL": "BOOLEAN",
                     "NUMERIC": "DECIMAL", "FLOAT8": "DOUBLE", "FLOAT4": "FLOAT"}  # fmt: skip
            oid = TYPE_OIDS.get(alias.get(name, name), 0)
            if name == "TEXT":
                oid = 25
            types[int(m.group(1)) - 1] = oid
        return types

    # --- intercepted statements --------------------------------------------------------

    def _intercepted(self, ic: rewrite.Intercepted, sql: str) -> Result:
        k = ic.kind
        if k in ("create_db", "alter_db", "drop_db"):
            self._may_manage_databases(k)
            if self.in_transaction:
                raise SqlError("25001", f"{ic.kind.split('_')[0].upper()} DATABASE cannot run"
                               " inside a transaction block")  # fmt: skip
            try:
                done = redshift.run(k, sql, self._backend)
            finally:
                plancache.bump()
            self._refresh_catalog(self._backend.databases())
            return _empty(done.tag)
        if k == "begin":
            if not self.in_transaction:
                self._run("BEGIN TRANSACTION")
                self.in_transaction, self._failed = True, False
            return _empty(ic.tag)
        if k in ("commit", "rollback"):
            tag = "ROLLBACK" if self._failed else ic.tag
            if self.in_transaction:
                try:
                    self._cur.execute("ROLLBACK" if self._failed or k == "rollback" else "COMMIT")
                except duckdb.Error as e:
                    if not self._failed:
                        raise self._error(e) from None
            self.in_transaction, self._failed = False, False
            if self._changed_in_transaction:  # its DDL is undone or now seen by all
                self._changed_in_transaction = False
                plancache.bump()
            return _empty(tag)
        if k == "rollback_to" and self._failed:
            raise SqlError(
                "0A000",
                "ROLLBACK TO SAVEPOINT after an error is not supported (DuckDB aborts the whole"
                " transaction); ROLLBACK and start again",
            )
        if self._failed and k not in ("show",):
            raise SqlError("25P02", "current transaction is aborted, commands ignored until end"
                           " of transaction block")  # fmt: skip
        if k == "set":
            self._params.set(ic.name, ic.value, ic.scope)
            return _empty("SET")
        if k == "reset":
            self._params.reset(ic.name)
            return _empty("RESET")
        if k == "show":
            return self._show(ic.name)
        return _empty(ic.tag)

    def _run(self, sql: str) -> None:
        try:
            self._cur.execute(sql)
        except duckdb.Error as e:
            raise self._error(e) from None

    def _show(self, name: str) -> Result:
        if name == "all":
            values = self._params.values
            names = sorted(values)
            table = pa.table({"name": names, "setting": [values[n] for n in names],
                              "description": [""] * len(names)})  # fmt: skip
        else:
            table = pa.table({name: [self._params.show(name)]})
        return Result(
            [Column(f.name, f.type) for f in table.schema], iter(table.to_batches()), "SHOW"
        )

    # --- errors --------------------------------------------------------------------------

    def _error(self, e: duckdb.Error) -> SqlError:
        if self.in_transaction:
            self._failed = True
        text = str(e)
        msg = re.sub(r"^[A-Za-z ]+ Error: ", "", text).strip()
        if isinstance(e, duckdb.InterruptException):
            return self._stopped()
        if isinstance(e, duckdb.OutOfMemoryException) or "max_temp_directory_size" in text:
            # The session's memory (and the warehouse's temp space) are bounded on purpose.
            full = "max_temp_directory_size" in text or "temp" in text.lower()
            return SqlError(
                "53100" if full else "53200",
                f"out of {'temporary disk space' if full else 'memory'} for this query: {msg}",
                hint="narrow the query (filters, fewer columns, LIMIT); every session has a fixed"
                " share of the service's memory and temp space",
            )
        if isinstance(e, duckdb.PermissionException):  # DuckDB's own sandbox, behind the guard
            return SqlError("42501", f"permission denied: {msg}")
        if "Division by zero" in text:
            return SqlError("22012", "division by zero")
        return pgerrors.translate(e, msg, self._home)
