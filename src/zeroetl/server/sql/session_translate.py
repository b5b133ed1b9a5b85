"""The session's translation pipeline: a statement's text -> the DuckDB text the hub runs.

Text normalisation -> parse (Redshift, then PostgreSQL) -> the sandbox guard over the whole tree
(guard.py, policy.py) -> table-state checks -> pg_catalog and dialect rewrites -> the guard again
over the exact DuckDB text, with DuckDB's parser (duckparse.py). A translation made before in
the same context is replayed from plancache.py, its findings ruled on again. Also here: the
names a statement reads resolved as DuckDB resolves them, and the catalog emulation and search
path the session translates against.
"""

from __future__ import annotations

import dataclasses
import functools
import re
from collections.abc import Callable
from typing import Any

import duckdb
from sqlglot import exp

from . import (
    catalog,
    clickhouse_catalog,
    dialect,
    duckparse,
    guard,
    inline,
    pgcompat,
    plancache,
    redshift,
    rewrite,
    shapes,
    sysviews,
    topn,
    topn_join,
    workspace,
)
from . import workspace_store as ws
from .backend import Backend
from .errors import SqlError
from .params import SessionParams
from .policy import Kind, Policy, Principal, Touch
from .session_cache import table_catalog
from .session_names import NameResolution
from .users_session import cte_names


def _q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


class TranslatedStatements(NameResolution):
    """Mixed into SqlSession (session.py), which provides these attributes."""

    _backend: Backend
    _statement_dbs: list[str] | None
    _cur: duckdb.DuckDBPyConnection
    database: str
    user: str
    in_transaction: bool
    _ch: Any
    _catalog: str
    _home: str
    _workspace: bool
    _dbs: list[str]
    _installed: bool
    _params: SessionParams
    _policy: Policy
    _who: Principal
    _pinned: frozenset[str]
    _cte_names: frozenset[str]
    _relations: Any
    _catalogs: dict[str, tuple[dict[tuple[str, str], tuple[str | None, str]], int]]
    _recorded: plancache.Recorder | None
    _kept_entry: plancache.Entry | None
    _kept_key: tuple[object, ...]
    _plan: workspace.Plan | None
    _hints: list[str] | None
    _fast: tuple[str, int] | None  # the statement's topn_join.py form and its LIMIT
    _source_cache: dict[str, dict[tuple[str, str], dict[str, str]]]
    _search_path: str
    _visible_path: list[str]
    _stop_reason: str | None
    _stopped: Callable[[], SqlError]
    _error: Callable[[duckdb.Error], SqlError]
    _clickhouse_catalog: Callable[[], list[str]]
    _query_all_states: Callable[[str], bool]
    # users_session.py and workspace_session.py
    _check_scoped_read: Callable[[str], None]
    _check_scoped_reads: Callable[[exp.Expression], None]
    _register_user_views: Callable[[str], None]
    _read_target: Callable[[Touch], Touch]
    _creates_existing: Callable[[Touch], bool]
    _plan_change: Callable[[Any], workspace.Plan | None]

    @property
    def _schemas(self) -> list[str]:
        raise NotImplementedError  # SqlSession's search path

    def _databases(self) -> list[str]:
        """The target databases, read once per statement (SqlSession resets `_statement_dbs`)."""
        if self._statement_dbs is None:
            self._statement_dbs = self._backend.databases()
        return self._statement_dbs

    def _refresh_catalog(self, dbs: list[str]) -> None:
        if getattr(self, "_dbs", None) == dbs and getattr(self, "_installed", False):
            return
        if getattr(self, "_inline", False):  # a new cursor and DuckDB statements
            raise inline.NeedsWorker("databases changed")
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

    def _translate(self, sql: str) -> tuple[str, str, bool]:
        """DuckDB text, command tag, and whether it returns rows; refuses what the sandbox
        does not run (see the module doc). A query translated before in the same context is
        taken from the cache, its findings ruled on again (plancache.py)."""
        self._cte_names, self._relations = frozenset(), None  # this statement's (users_session)
        self._refresh_catalog(self._databases())
        if self._ch is not None:
            self._clickhouse_catalog()
        self._plan = None
        self._hints = None
        self._fast = None
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
        self._fast = e.fast
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
        elif is_query and plan is None:
            self._fast_form(tree, rec)
        tag = "SELECT" if is_query or first in ("WITH", "VALUES", "TABLE") else first
        return duck, tag, is_query or tag in ("DESCRIBE", "DESC")

    def _fast_form(self, tree: exp.Expression, rec: plancache.Recorder) -> None:
        """A Top N over a join gets its threshold form (topn_join.py), checked by the sandbox
        as the query itself is; the session runs it first and falls back to the query."""
        found = topn_join.threshold(tree, self._table_columns)
        if found is None:
            return
        text = dialect.generate(found.tree)
        try:  # it reads what the query reads; if the guard still says no, the query runs alone
            self._check(list(duckparse.inspect(self._cur, text)))
        except SqlError:
            return
        self._fast = rec.fast = (text, found.rows)

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
        self._fast = None  # EXPLAIN shows (and ANALYZE runs) the query as written
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

    def _pin_system_views(self, tree: exp.Expression) -> None:
        """Unqualified names of the system views and the pg_catalog emulation always mean them,
        as pg_catalog comes first in PostgreSQL: a replicated table of the same name (or any
        other object) never shadows one. Its own name stays reachable qualified."""
        ctes = {c.alias_or_name.lower() for c in tree.find_all(exp.CTE)}
        for table in tree.find_all(exp.Table):
            if table.args.get("db") or not isinstance(table.this, exp.Identifier):
                continue
            name = table.name.lower()
            if name in self._pinned and name not in ctes:
                table.set("db", exp.to_identifier(catalog.SCHEMA))
                table.set("catalog", exp.to_identifier(self._home, quoted=True))

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
