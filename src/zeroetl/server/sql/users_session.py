"""The session's side of users and grants: running the user statements, and naming what a
statement reads so the policy can rule on grants (policy.Policy.select).

Every table name a statement reads is resolved as DuckDB will resolve it (the session's database
and search path) to `database.schema.name`; names of the system views and the catalog
emulation, of common table expressions in scope and of things that do not exist are left alone
(the first two are readable by all, the last fail in DuckDB). Two passes see a statement: the
sqlglot tree, where a CTE's scope is known, and DuckDB's own parse of the translated text, where
a name that is a CTE anywhere in the statement was already ruled on in the first pass.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import duckdb
import sqlglot
from sqlglot import exp

from . import mviews, relations, users_catalog, users_commands, users_run, users_sql, workspace
from . import workspace_store as ws
from .backend import Backend
from .errors import SqlError
from .policy import Kind, Policy, Principal, Touch


class UserStatements:
    """Mixed into SqlSession (session.py), which provides these attributes."""

    _cur: duckdb.DuckDBPyConnection
    _backend: Backend
    in_transaction: bool
    _workspace: bool
    _catalog: str
    _dbs: list[str]
    _policy: Policy
    _who: Principal
    user: str
    _cte_names: frozenset[str]
    _relations: users_run.Index | None  # the catalog's relations, read once per statement
    _resolved_memo: tuple[users_run.Index | None, dict[tuple[object, ...], Touch]]
    _pinned: frozenset[str]
    _refresh_catalog: Callable[[list[str]], None]

    @property
    def _schemas(self) -> list[str]:
        raise NotImplementedError  # SqlSession's search path

    # --- the statements --------------------------------------------------------------------

    def _user_statement(self, code: str) -> str | None:
        """Run `code` if it is a user, group or grant statement; its command tag, else None."""
        if not users_sql.is_user_statement(code):
            return None
        access = self._policy.access
        if access is None:
            raise SqlError("42501", "users and grants are managed by the service, which this"
                           " endpoint is not connected to")  # fmt: skip
        cmd = users_commands.parse(code)
        ctx = users_run.Context(
            store=access.store,
            access=access,
            user=self.user,
            con=self._cur,
            catalog=self._catalog,
            databases=list(self._dbs),
            workspace=self._workspace,
            schemas=list(self._schemas),
        )
        try:
            return users_run.run(cmd, ctx)
        except duckdb.Error as e:
            raise SqlError("XX000", f"cannot resolve the object: {e}") from None

    def _register_user_views(self, sql: str) -> None:
        if users_catalog.referenced(sql):  # without a store: `admin` alone
            access = self._policy.access
            snap = access.store.snapshot if access is not None else None
            users_catalog.register(self._cur, snap, self.user)

    def _may_manage_databases(self, kind: str) -> None:
        """CREATE/ALTER/DROP DATABASE: superusers and users created with CREATEDB."""
        access = self._policy.access
        if access is None or access.is_superuser(self.user):
            return
        user = access.store.snapshot.users.get(self.user)
        if user is None or not user.createdb:
            verb = kind.split("_")[0]
            raise SqlError("42501", f"permission denied to {verb} database",
                           hint="a superuser can, or a user given CREATEDB")  # fmt: skip

    def _creates_existing(self, t: Touch) -> bool:
        """A CREATE in dev whose object exists already (OR REPLACE, IF NOT EXISTS)."""
        name = t.name.upper()
        if t.kind is not Kind.DDL or len(t.path) != 3 or name == "CREATE SCHEMA":
            return False
        if not name.startswith(("CREATE", "SELECT INTO")):
            return False
        return users_run.relation(self._cur, t.path, ws.WORKSPACE, []) is not None

    def _forget_grants(self, plan: workspace.Plan) -> None:
        """Grants go with the objects a statement dropped, and follow the ones it renamed."""
        access = self._policy.access
        if access is None:
            return
        for e in plan.effects:
            if e.action == "forget":
                access.store.forget_object(e.kind, ws.WORKSPACE, e.schema, e.name)
            elif e.action == "rename":
                access.store.rename_object(ws.WORKSPACE, e.schema, e.name, e.new)

    # --- what a statement reads ------------------------------------------------------------

    def _read_target(self, t: Touch) -> Touch:
        """A READ touch with the relation it names filled in, when it names one in a replicated
        database or in dev (see the module doc)."""
        if self._policy.access is None or t.kind is not Kind.READ or not t.path:
            return t
        low = t.path[-1].lower()
        if len(t.path) == 1 and (low in self._cte_names or low in self._pinned):
            return t
        return self._resolved(t)

    def _kept_catalog(self) -> relations.Kept | None:
        """The hub's kept catalog reads; None inside a transaction (relations.py)."""
        return None if self.in_transaction else relations.of(self._backend)

    def _resolved(self, t: Touch, depth: int = 0) -> Touch:
        if self._relations is None:  # read once per statement
            # only what grants protect: the replicated databases and dev
            self._relations = relations.relation_index(self._kept_catalog(), self._cur, self._dbs)
        # a replicated relation's name resolves the same while the index object stands (kept
        # per catalog version): a repeated statement skips the look-ups
        no_memo: tuple[users_run.Index | None, dict[tuple[object, ...], Touch]] = (None, {})
        index, memo = getattr(self, "_resolved_memo", no_memo)
        if index is not self._relations:
            index, memo = self._relations, {}
            self._resolved_memo = (index, memo)
        key = (t, self._catalog, tuple(self._schemas))
        kept = memo.get(key)
        if kept is not None:
            return kept
        found = users_run.relation(
            self._cur, t.path, self._catalog, list(self._schemas), self._relations
        )
        if found is None:
            return t
        db = found[0]
        if db == ws.WORKSPACE and self._workspace:
            if found[1] == ws.BOOK:
                return t  # the policy refuses _zeroetl by name
            owner = relations.owner_of(self._kept_catalog(), self._cur, self._dbs, *found[1:])
            self._owner_may_read(found, owner, depth)
            return dataclasses.replace(t, path=found, database=db, owner=owner)
        if db in self._dbs and found[1] != ws.BOOK:
            resolved = dataclasses.replace(t, path=found, database=db)
            if len(memo) < 1024:
                memo[key] = resolved
            return resolved
        return t

    def _owner_may_read(self, found: tuple[str, str, str], owner: str | None, depth: int) -> None:
        """A view (or materialized view) of dev reads with its owner's rights, checked now, as
        Redshift does: revoking the owner's SELECT on a table stops every reader of the view."""
        if owner is None or self._policy.superuser(Principal(owner)):
            return  # not recorded (made before users existed), or a superuser's
        if depth > 8:
            raise SqlError("42P17", f"views nested too deeply under {found[2]}")
        _, schema, name = found
        body_of = relations.body_of(self._kept_catalog(), self._cur, self._dbs, schema, name)
        reads: list[Touch] = []
        if body_of is None:
            return  # a table
        if body_of[0] == "mv":
            for key in body_of[1]:
                db, s, n = mviews.split(key)
                reads.append(Touch(Kind.READ, "SELECT", (db, s, n), database=db))
        else:
            try:
                body = sqlglot.parse_one(body_of[1], read="duckdb")
            except sqlglot.errors.ParseError:
                raise SqlError("XX000", f"cannot check the rights of view {name}") from None
            for table in body.find_all(exp.Table):
                path = tuple(p for p in (table.catalog, table.db, table.name) if p)
                if not path or path == (schema, name) or not isinstance(table.this, exp.Identifier):
                    continue
                if len(path) == 1 and _cte_in_scope(table, path[0].lower()):
                    continue
                reads.append(self._view_name(path, schema, depth))
        for r in reads:
            if r.database is None:
                continue
            refused = self._policy.select(r, Principal(owner))
            if refused is not None:
                raise SqlError(
                    "42501",
                    f"permission denied for view {name}: its owner {owner} may not read"
                    f" {r.path[-1]} ({refused.message})",
                    hint="a view reads with its owner's rights, as on Redshift",
                )

    def _view_name(self, path: tuple[str, ...], schema: str, depth: int) -> Touch:
        """A name in a dev view's body: DuckDB binds it in the view's own schema first."""
        t = Touch(Kind.READ, "SELECT", path)
        if len(path) == 1:
            found = users_run.relation(self._cur, path, ws.WORKSPACE, [schema], self._relations)
            if found is not None:
                t = Touch(Kind.READ, "SELECT", found)
        return self._resolved(t, depth + 1)

    def _check_scoped_reads(self, tree: exp.Expression) -> None:
        """Names that are a CTE somewhere in the statement but not where they are used."""
        if self._policy.access is None or not self._cte_names:
            return
        for table in tree.find_all(exp.Table):
            if table.db or table.catalog or not isinstance(table.this, exp.Identifier):
                continue
            name = table.name.lower()
            if name not in self._cte_names or _cte_in_scope(table, name):
                continue
            self._check_scoped_read(table.name)

    def _check_scoped_read(self, name: str) -> None:
        t = self._resolved(Touch(Kind.READ, "SELECT", (name,)))
        self._policy.check([t], self._who)
        recorded = getattr(self, "_recorded", None)
        if recorded is not None:  # ruled on again when the translation is reused
            recorded.scoped.append(name)


def cte_names(tree: exp.Expression) -> frozenset[str]:
    return frozenset(c.alias_or_name.lower() for c in tree.find_all(exp.CTE))


def _cte_in_scope(table: exp.Table, name: str) -> bool:
    """Whether `table` refers to a CTE named `name` of an enclosing WITH: one defined before the
    CTE it is used in (or itself, in WITH RECURSIVE), or any of them in the main query."""
    path: set[int] = set()  # ids of the nodes from `table` up to the current one
    node: exp.Expr | None = table
    while node is not None:
        path.add(id(node))
        w = node.args.get("with_") or node.args.get("with")
        if isinstance(w, exp.With):
            ctes = list(w.expressions)
            inside = next((i for i, c in enumerate(ctes) if id(c) in path), None)
            if inside is None:
                visible = ctes  # used in the main query
            else:
                visible = ctes[: inside + 1] if w.args.get("recursive") else ctes[:inside]
            if any(c.alias_or_name.lower() == name for c in visible):
                return True
        node = node.parent
    return False
