"""The session's names: which relation, database and column types a name in a statement means,
resolved as DuckDB will resolve it (the session's database and search path), and the types of
a statement's parameters."""

from __future__ import annotations

import re
from collections.abc import Callable

import duckdb
from sqlglot import exp

from . import redshift, rewrite
from . import workspace_store as ws

Catalog = tuple[dict[tuple[str, str], tuple[str | None, str]], int]


class NameResolution:
    """Mixed into SqlSession (session.py), which provides these attributes."""

    _cur: duckdb.DuckDBPyConnection
    _catalog: str
    _workspace: bool
    _dbs: list[str]
    _source_cache: dict[str, dict[tuple[str, str], dict[str, str]]]
    _catalog_of: Callable[[str], Catalog]

    @property
    def _schemas(self) -> list[str]:
        raise NotImplementedError  # SqlSession's search path

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

    def _source_types(self, where: tuple[str, str, str]) -> dict[str, str]:
        db, schema, name = where
        if db not in self._source_cache:  # once per statement and database
            self._source_cache[db] = redshift.source_types(self._cur, db)
        return self._source_cache[db].get((schema, name), {})

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

    def _table_columns(self, table: exp.Table) -> dict[str, bool] | None:
        """A table's columns (lower-case name -> nullable), None for anything that is not a
        table found in the catalog (a view, a CTE, a system relation)."""
        where = self._resolve_any(table)
        if where is None:
            return None
        rows = self._cur.execute(
            "SELECT lower(column_name), is_nullable FROM duckdb_columns() WHERE database_name = ?"
            " AND schema_name = ? AND table_name = ?",
            list(where),
        ).fetchall()
        return {r[0]: bool(r[1]) for r in rows} or None

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
