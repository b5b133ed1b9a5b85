"""The session's side of the workspace `dev`: running change statements and the materialized
view statements (the rules are in workspace.py, policy.py and mviews.py).

Every change runs in a transaction together with its bookkeeping (owners, materialized views):
the session's own when the client opened one (BEGIN ... COMMIT), else one of its own. DuckDB lets
a transaction write to one attached file only; everything written here is in dev.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from typing import Any

import duckdb

from . import duckparse, mviews, rewrite, workspace
from . import workspace_store as ws
from .errors import SqlError
from .policy import Kind, Policy, Principal, Touch
from .results import _empty


class WorkspaceStatements:
    """Mixed into SqlSession (session.py), which provides these attributes."""

    _cur: duckdb.DuckDBPyConnection
    _workspace: bool
    _catalog: str
    _dbs: list[str]
    _search_path: str  # DuckDB's search_path text as the session set it
    _policy: Policy
    _who: Principal
    user: str
    in_transaction: bool
    _translate: Callable[[str], tuple[str, str, bool]]
    _error: Callable[[duckdb.Error], SqlError]

    @property
    def _schemas(self) -> list[str]:
        raise NotImplementedError  # SqlSession's search path

    def _context(self) -> workspace.Context:
        return workspace.Context(
            con=self._cur,
            user=self.user,
            schemas=list(self._schemas),
            in_workspace=self._catalog == ws.WORKSPACE,
            replicated=lambda name: name in self._dbs,
        )

    def _plan_change(self, tree: Any) -> workspace.Plan | None:
        if not self._workspace:
            return None  # no workspace on this hub: every change is refused by the policy
        try:
            return workspace.plan(
                tree, self._context(), lambda s, n: mviews.is_mview(self._cur, s, n)
            )
        except duckdb.Error as e:
            raise self._error(e) from None

    @contextlib.contextmanager
    def _change_transaction(self) -> Any:
        """The client's transaction, or one of our own around the statement and bookkeeping."""
        own = not self.in_transaction
        if own:
            self._cur.execute("BEGIN TRANSACTION")
        try:
            yield
            if own:
                self._cur.execute("COMMIT")
        except BaseException:
            if own:
                with contextlib.suppress(duckdb.Error):
                    self._cur.execute("ROLLBACK")
            raise

    def _run_change(self, duck: str, args: list[object] | None, plan: workspace.Plan) -> Any:
        count: int | None = None
        with self._change_transaction():
            self._cur.execute(duck, args)
            if self._cur.description is not None:
                rows = self._cur.fetchall()
                if plan.counts and rows and isinstance(rows[0][0], int):
                    count = int(rows[0][0])
            workspace.apply_effects(self._cur, plan, self.user)
        return _empty(f"{plan.tag} {count or 0}" if plan.counts else plan.tag)

    # --- materialized views ------------------------------------------------------------

    def _mview_statement(self, sql: str) -> mviews.Statement | None:
        if not self._workspace:
            return None
        return mviews.match(rewrite.strip_comments(sql).strip())

    def _mview_target(self, name: tuple[str, ...], creating: bool) -> tuple[str, str]:
        if len(name) == 3 and name[0] != ws.WORKSPACE:
            raise SqlError(
                "25006" if name[0] in self._dbs else "3D000",
                f'materialized views live in the workspace "{ws.WORKSPACE}", not in "{name[0]}"',
            )
        if len(name) >= 2:
            return name[-2], name[-1]
        if not creating:
            for schema in self._schemas:
                if mviews.is_mview(self._cur, schema, name[0]):
                    return schema, name[0]
        existing = ws.schemas(self._cur)
        path = [s for s in self._schemas if s in existing] if self._catalog == ws.WORKSPACE else []
        return (path[0] if path else ws.DEFAULT_SCHEMA), name[0]

    def _mview(self, st: mviews.Statement) -> Any:
        schema, name = self._mview_target(st.name, st.kind == "create")
        path = (ws.WORKSPACE, schema, name)
        try:
            if st.kind == "create":
                return _empty(self._create_mview(st, schema, name, path))
            mv = mviews.get(self._cur, schema, name)
            if mv is None:
                if st.kind == "drop" and st.if_exists:
                    return _empty("DROP MATERIALIZED VIEW")
                raise SqlError("42P01", f'materialized view "{schema}.{name}" does not exist')
            what = {"refresh": "REFRESH MATERIALIZED VIEW", "drop": "DROP MATERIALIZED VIEW",
                    "rename": "ALTER MATERIALIZED VIEW"}[st.kind]  # fmt: skip
            kind = Kind.WRITE if st.kind == "refresh" else Kind.DDL
            self._policy.check([Touch(kind, what, path, ws.WORKSPACE, owner=mv.owner)], self._who)
            if st.kind == "refresh":
                self._refresh_mview(mv)
            elif st.kind == "rename":
                workspace.check_new_name(st.new_name, what)
                with self._change_transaction():
                    mviews.rename(self._cur, mv, st.new_name)
            else:
                with self._change_transaction():
                    mviews.drop(self._cur, schema, name)
            return _empty(what)
        except duckdb.Error as e:
            raise self._error(e) from None

    def _create_mview(
        self, st: mviews.Statement, schema: str, name: str, path: tuple[str, ...]
    ) -> str:
        tag = "CREATE MATERIALIZED VIEW"
        workspace.check_new_name(name, tag)
        self._policy.check(
            [Touch(Kind.DDL, tag, path, ws.WORKSPACE, owner=ws.owner_of(self._cur, schema))],
            self._who,
        )
        if ws.existing(self._cur, schema, name) is not None:
            if st.if_not_exists:
                return tag
            raise SqlError("42P07", f'relation "{schema}.{name}" already exists')
        duck, _tag, is_query = self._translate(st.query)
        if not is_query:
            raise SqlError("42601", "a materialized view is defined by a query (AS SELECT ...)")
        inputs = self._inputs(duck)
        with self._change_transaction():
            mviews.create(
                self._cur, schema=schema, name=name, owner=self.user, definition=duck,
                sql_text=st.query, search_path=self._search_path,
                autorefresh=st.autorefresh, inputs=inputs,
            )  # fmt: skip
        return tag

    def _refresh_mview(self, mv: mviews.MView) -> None:
        """REFRESH in the session's transaction, or in one of its own (an error is recorded)."""
        self._cur.execute("SET search_path = ?", [mv.search_path])  # as it was written
        try:
            mviews.refresh(self._cur, mv, own_transaction=not self.in_transaction)
        finally:
            self._cur.execute("SET search_path = ?", [self._search_path])

    def _inputs(self, duck: str) -> tuple[str, ...]:
        """The replicated tables a query reads, as mviews input keys."""
        found: set[str] = set()
        for t in duckparse.inspect(self._cur, duck):
            if t.kind is not Kind.READ or not t.path:
                continue
            where = self._table_of(t.path)
            if where is not None and where[0] in self._dbs:
                found.add(mviews.input_key(*where))
        return tuple(sorted(found))

    def _table_of(self, path: tuple[str, ...]) -> tuple[str, str, str] | None:
        if len(path) >= 3:
            return path[-3], path[-2], path[-1]
        schemas = [path[0]] if len(path) == 2 else self._schemas
        row = self._cur.execute(
            "SELECT database_name, schema_name FROM duckdb_tables() WHERE database_name = ? AND"
            " table_name = ? AND list_contains(?, schema_name) LIMIT 1",
            [self._catalog, path[-1], schemas],
        ).fetchone()
        if row is not None:
            return str(row[0]), str(row[1]), path[-1]
        if len(path) == 2 and path[0] in self._dbs:
            return path[0], "main", path[1]
        return None
