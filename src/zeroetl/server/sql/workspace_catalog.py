"""Catalog views the workspace's clients need beside the pg_catalog emulation (catalog.py).

Tools that build things in `dev` ask the catalog what exists before they act: dbt-postgres lists
a schema's relations from `pg_tables`, `pg_views` and `pg_matviews`, and links views to what they
read through `pg_depend` / `pg_rewrite`. These views live in the emulation schema, read the
session's current database like the rest of the emulation, and take owners and materialized
views from dev's bookkeeping (workspace_store.py). `svv_mv_info` (mviews.py) says how fresh each
materialized view is. Every name here is pinned by the session like the emulation's own views:
an object in dev or a replicated table of the same name never shadows one.
"""

from __future__ import annotations

import duckdb

from zeroetl.sqltext import ident, literal

from . import mviews
from . import workspace_store as ws
from .catalog import HIDDEN_SCHEMAS, OWNER, SCHEMA

PINNED = frozenset({"pg_tables", "pg_views", "pg_matviews", "pg_depend", "pg_rewrite"}) | (
    mviews.PINNED
)


def _sql() -> list[str]:
    s = SCHEMA
    book = f"{ident(ws.WORKSPACE)}.{ws.BOOK}"
    hidden = ", ".join(map(literal, HIDDEN_SCHEMAS))
    here = f"database_name = current_database() AND schema_name NOT IN ({hidden})"
    # the recorded owner in dev, the catalog's owner elsewhere
    owner = (
        f"coalesce((SELECT max(zq_o.owner) FROM {book}.objects zq_o WHERE current_database() ="
        f" {literal(ws.WORKSPACE)} AND zq_o.schema_name = zq_x.schema_name AND zq_o.name ="
        f" zq_x.zq_name), {literal(OWNER)})"
    )
    not_mview = (
        f"NOT EXISTS (SELECT 1 FROM {book}.mviews zq_m WHERE current_database() ="
        f" {literal(ws.WORKSPACE)} AND zq_m.schema_name = zq_x.schema_name AND zq_m.name ="
        " zq_x.zq_name)"
    )
    return [
        f"CREATE SCHEMA IF NOT EXISTS {s}",
        f"CREATE OR REPLACE VIEW {s}.pg_tables AS SELECT schema_name AS schemaname, zq_name AS"
        f" tablename, {owner} AS tableowner, NULL::VARCHAR AS tablespace, has_primary_key AS"
        " hasindexes, false AS hasrules, false AS hastriggers, false AS rowsecurity FROM"
        f" (SELECT *, table_name AS zq_name FROM duckdb_tables() WHERE {here} AND NOT temporary)"
        f" zq_x WHERE {not_mview}",
        f"CREATE OR REPLACE VIEW {s}.pg_views AS SELECT schema_name AS schemaname, zq_name AS"
        f" viewname, {owner} AS viewowner, sql AS definition FROM (SELECT *, view_name AS"
        f" zq_name FROM duckdb_views() WHERE {here} AND NOT internal AND NOT temporary) zq_x",
        f"CREATE OR REPLACE VIEW {s}.pg_matviews AS SELECT schema_name AS schemaname, name AS"
        " matviewname, owner AS matviewowner, NULL::VARCHAR AS tablespace, false AS hasindexes,"
        f" state <> 'never refreshed' AS ispopulated, sql_text AS definition FROM {book}.mviews"
        f" WHERE current_database() = {literal(ws.WORKSPACE)}",
        # DuckDB records no dependencies between views and tables: no rows, the right columns
        f"CREATE OR REPLACE VIEW {s}.pg_depend AS SELECT 0::BIGINT AS classid, 0::BIGINT AS"
        " objid, 0 AS objsubid, 0::BIGINT AS refclassid, 0::BIGINT AS refobjid, 0 AS"
        " refobjsubid, 'n' AS deptype WHERE false",
        f"CREATE OR REPLACE VIEW {s}.pg_rewrite AS SELECT 0::BIGINT AS oid, '' AS rulename,"
        " 0::BIGINT AS ev_class, '1' AS ev_type, 'O' AS ev_enabled, true AS is_instead WHERE"
        " false",
        *mviews.view_sql(s),
    ]


def install(con: duckdb.DuckDBPyConnection) -> None:
    """Create the views in the hub's own catalog (once, when the hub opens with dev)."""
    con.execute("BEGIN")
    try:
        for sql in _sql():
            con.execute(sql)
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise
