"""pg_catalog emulation over DuckDB, enough for psql 15's `\\d` family and SQLAlchemy/psycopg.

Every object lives in schema `_zeroetl_pg` of the hub's own in-memory catalog and each session puts
that schema on its DuckDB search path after its own schemas, ahead of DuckDB's built-in
`pg_catalog`: the rewriter strips `pg_catalog.` qualifiers (DuckDB resolves nothing
user-defined inside `pg_catalog`, FACTS.md), so `pg_class`, `format_type(...)` and `version()`
resolve here. Views read DuckDB's own catalog functions for the session's current database, so
one set of objects serves every session. Primary keys and NOT NULL come from the schema each
replicated table has recorded in `_zeroetl.tables` (replicated tables declare no constraints).

Macro bodies bind to the caller's aliases (FACTS.md pitfall), so their subqueries use `zq_*`
aliases that no client uses. Objects that read the `_zeroetl` schemas of the target databases
(`zeroetl_meta_*`) are regenerated whenever the set of attached target databases changes.
"""

from __future__ import annotations

import threading

import duckdb

from zeroetl.monitoring import tables as monitoring
from zeroetl.sqltext import ident, literal

from . import clickhouse_catalog
from .pgnames import CH_DB, CON_OID, ON_DUCKDB, PK_OID, SCHEMA
from .pgnames import OWNER as OWNER  # re-exported: the catalog's public names
from .pgnames import SERVER_VERSION as SERVER_VERSION
from .pgnames import VERSION_TEXT as VERSION_TEXT

HIDDEN_SCHEMAS = ("_zeroetl", SCHEMA, "pg_catalog", "information_schema")

# The emulation's public views: an unqualified name always means them (session.py pins them),
# whatever a replicated table is called.
PINNED_VIEWS = frozenset(
    {
        "pg_type",
        "pg_namespace",
        "pg_class",
        "pg_attribute",
        "pg_index",
        "pg_constraint",
        "pg_database",
        "pg_am",
        "pg_inherits",
        "pg_description",
        "pg_attrdef",
        "pg_collation",
        "pg_roles",
        "pg_user",
        "pg_tablespace",
        "pg_policy",
        "pg_statistic_ext",
        "pg_publication",
        "pg_publication_namespace",
        "pg_publication_rel",
        "pg_sequence",
        "pg_opclass",
        "pg_proc",
        "pg_settings",
        "svv_integration",
        "svv_integration_table_state",
        "sys_integration_activity",
        "sys_integration_table_activity",
        "sys_integration_table_state_change",
        # Redshift's catalog views its drivers read (redshift_catalog.py)
        "svv_tables",
        "svv_columns",
        "svv_external_schemas",
        "svv_external_tables",
        "svv_external_columns",
        "pg_proc_info",
    }
)

# DuckDB type (duckdb_columns().data_type, parameters stripped) -> PostgreSQL type oid
TYPE_OIDS: dict[str, int] = {
    "BOOLEAN": 16, "TINYINT": 21, "SMALLINT": 21, "INTEGER": 23, "BIGINT": 20,
    "UTINYINT": 21, "USMALLINT": 23, "UINTEGER": 20, "UBIGINT": 1700, "HUGEINT": 1700,
    "UHUGEINT": 1700, "FLOAT": 700, "DOUBLE": 701, "DECIMAL": 1700, "VARCHAR": 1043,
    "BLOB": 17, "DATE": 1082, "TIME": 1083, "TIMESTAMP": 1114, "TIMESTAMP WITH TIME ZONE": 1184,
    "INTERVAL": 1186, "UUID": 2950, "JSON": 114, "BIT": 1560,
}  # fmt: skip

# (oid, typname, format_type spelling, typlen, typcategory)
PG_TYPES: list[tuple[int, str, str, int, str]] = [
    (16, "bool", "boolean", 1, "B"), (17, "bytea", "bytea", -1, "U"),
    (18, "char", '"char"', 1, "Z"), (19, "name", "name", 64, "S"),
    (20, "int8", "bigint", 8, "N"), (21, "int2", "smallint", 2, "N"),
    (23, "int4", "integer", 4, "N"), (25, "text", "text", -1, "S"),
    (26, "oid", "oid", 4, "N"), (114, "json", "json", -1, "U"),
    (700, "float4", "real", 4, "N"), (701, "float8", "double precision", 8, "N"),
    (1042, "bpchar", "character", -1, "S"), (1043, "varchar", "character varying", -1, "S"),
    (1082, "date", "date", 4, "D"), (1083, "time", "time without time zone", 8, "D"),
    (1114, "timestamp", "timestamp without time zone", 8, "D"),
    (1184, "timestamptz", "timestamp with time zone", 8, "D"),
    (1186, "interval", "interval", 16, "T"), (1560, "bit", "bit", -1, "V"),
    (1700, "numeric", "numeric", -1, "N"), (2205, "regclass", "regclass", 4, "N"),
    (2206, "regtype", "regtype", 4, "N"), (2950, "uuid", "uuid", 16, "U"),
    (3802, "jsonb", "jsonb", -1, "U"), (1005, "_int2", "smallint[]", -1, "A"),
    (1007, "_int4", "integer[]", -1, "A"), (1009, "_text", "text[]", -1, "A"),
]  # fmt: skip

_lock = threading.Lock()  # one installer at a time (DuckDB catalog write-write conflicts)


def _type_oid_sql(col: str) -> str:
    cases = " ".join(f"WHEN {literal(k)} THEN {v}" for k, v in TYPE_OIDS.items())
    return f"(CASE regexp_replace({col}, '\\(.*$', '') {cases} ELSE 25 END)"


def _typmod_sql() -> str:
    return (
        "(CASE WHEN data_type LIKE 'DECIMAL(%' THEN ((numeric_precision << 16) | numeric_scale) + 4"
        " ELSE -1 END)"
    )


def _static_sql() -> list[str]:
    s = SCHEMA
    types = ", ".join(
        f"({o}, {literal(n)}, {literal(f)}, {ln}, {literal(c)})" for o, n, f, ln, c in PG_TYPES
    )
    hidden = ", ".join(map(literal, HIDDEN_SCHEMAS))
    # DuckDB's objects of the session's database; none in a ClickHouse-backed one's session,
    # whose tables come from zeroetl_ch_columns (clickhouse_catalog.py)
    tables_where = (
        f"database_name = current_database() AND schema_name NOT IN ({hidden}) AND NOT temporary"
        f" AND {ON_DUCKDB}"
    )
    ch = f"db = {CH_DB}"
    return [
        f"CREATE SCHEMA IF NOT EXISTS {s}",
        clickhouse_catalog.create_sql(),
        clickhouse_catalog.tables_view_sql(),
        # --- types, namespaces, relations -------------------------------------------------
        f"CREATE OR REPLACE VIEW {s}.pg_type AS SELECT oid::BIGINT AS oid, typname, 11::BIGINT"
        " AS typnamespace, 100::BIGINT AS typowner, typlen::SMALLINT AS typlen, CASE WHEN cat ="
        " 'A' THEN 'b' ELSE 'b' END AS typtype, cat AS typcategory, CASE WHEN cat = 'S' THEN"
        " 100 ELSE 0 END::BIGINT AS typcollation, 0::BIGINT AS typbasetype, -1 AS typtypmod,"
        " false AS typnotnull, 0::BIGINT AS typrelid, 0::BIGINT AS typelem, 0::BIGINT AS"
        " typarray, ',' AS typdelim, true AS typisdefined, NULL::VARCHAR AS typdefault,"
        # proc names, as `'pg_catalog.array_in'::regproc` becomes 'array_in' (pgcompat.py)
        " CASE WHEN cat = 'A' THEN 'array_in' ELSE typname || 'in' END AS typinput,"
        " CASE WHEN cat = 'A' THEN 'array_out' ELSE typname || 'out' END AS typoutput,"
        " typname || 'recv' AS typreceive, typname || 'send' AS typsend, '-' AS typmodin,"
        " '-' AS typmodout, '-' AS typanalyze, CASE WHEN typlen IN (1, 2, 4, 8) THEN true ELSE"
        " false END AS typbyval, false AS typispreferred, 'i' AS typalign, CASE WHEN typlen < 0"
        " THEN 'x' ELSE 'p' END AS typstorage, 0 AS typndims, NULL::VARCHAR[] AS typacl,"
        " NULL::VARCHAR AS typdefaultbin, '-' AS typsubscript,"
        f" fmt AS zeroetl_format FROM (VALUES {types}) AS zq_t(oid, typname, fmt, typlen, cat)",
        f"CREATE OR REPLACE VIEW {s}.pg_namespace AS SELECT oid::BIGINT AS oid,"
        " schema_name AS nspname, 100::BIGINT AS nspowner, NULL::VARCHAR[] AS nspacl"
        " FROM duckdb_schemas() WHERE database_name = current_database()"
        f" AND schema_name NOT IN ({hidden}) AND {ON_DUCKDB} UNION ALL SELECT * FROM (VALUES"
        " (11::BIGINT, 'pg_catalog', 100::BIGINT, NULL::VARCHAR[]),"
        " (13000::BIGINT, 'information_schema', 100::BIGINT, NULL::VARCHAR[]))"
        " UNION ALL SELECT DISTINCT schema_oid, schema_name, 100::BIGINT, NULL::VARCHAR[]"
        f" FROM {s}.zeroetl_ch_tables WHERE {ch}",
        f"CREATE OR REPLACE VIEW {s}.zeroetl_pk AS SELECT t.table_oid::BIGINT AS table_oid,"
        " t.schema_oid::BIGINT AS schema_oid, t.schema_name, t.table_name, m.pk,"
        " (SELECT list(zq_c.column_index::SMALLINT ORDER BY zq_u.i) FROM (SELECT unnest(m.pk)"
        " AS k, generate_subscripts(m.pk, 1) AS i) zq_u JOIN duckdb_columns() zq_c ON"
        " zq_c.table_oid = t.table_oid AND zq_c.column_name = zq_u.k)"
        " AS indkey FROM duckdb_tables() t JOIN"
        f" {s}.zeroetl_meta_tables m ON m.db = t.database_name AND m.schema_name ="
        " t.schema_name AND m.table_name = t.table_name WHERE t.database_name ="
        f" current_database() AND len(m.pk) > 0 AND {ON_DUCKDB}"
        " UNION ALL SELECT zq_k.table_oid::BIGINT, zq_t.schema_oid::BIGINT, zq_t.schema_name,"
        " zq_t.table_name, zq_k.constraint_column_names, list_transform("
        " zq_k.constraint_column_indexes, lambda zq_i: (zq_i + 1)::SMALLINT) FROM"
        " duckdb_constraints() zq_k JOIN duckdb_tables() zq_t ON zq_t.table_oid ="
        " zq_k.table_oid WHERE zq_k.constraint_type = 'PRIMARY KEY' AND zq_t.database_name ="
        f" current_database() AND zq_t.schema_name NOT IN ({hidden}) AND {ON_DUCKDB}"
        " UNION ALL SELECT table_oid, schema_oid, schema_name, table_name, pk, indkey"
        f" FROM {s}.zeroetl_ch_tables WHERE {ch} AND len(pk) > 0",
        f"CREATE OR REPLACE VIEW {s}.zeroetl_class_base AS"
        " SELECT table_oid::BIGINT AS oid, table_name AS relname, schema_oid::BIGINT AS"
        " relnamespace, 'r' AS relkind, 2::BIGINT AS relam, estimated_size::FLOAT AS reltuples,"
        " column_count::SMALLINT AS relnatts, has_primary_key OR EXISTS (SELECT 1 FROM"
        f" {s}.zeroetl_pk zq_p WHERE zq_p.table_oid = zq_dt.table_oid) AS relhasindex"
        f" FROM duckdb_tables() zq_dt WHERE {tables_where}"
        " UNION ALL SELECT view_oid, view_name, schema_oid, 'v', 0, 0, column_count, false"
        f" FROM duckdb_views() WHERE {tables_where} AND NOT internal"
        " UNION ALL SELECT table_oid, table_name, schema_oid, 'r', 2, 0, natts, len(pk) > 0"
        f" FROM {s}.zeroetl_ch_tables WHERE {ch}"
        f" UNION ALL SELECT table_oid + {PK_OID}, table_name || '_pkey', schema_oid, 'i', 403,"
        f" 0, len(pk), false FROM {s}.zeroetl_pk",
        # the many columns nobody here fills are added by the wrapper view
        f"CREATE OR REPLACE VIEW {s}.pg_class AS SELECT *, 100::BIGINT AS relowner,"
        " 0 AS relpages, false AS relhasrules, false AS relhastriggers, false AS relrowsecurity,"
        " false AS relforcerowsecurity, false AS relispartition, 0::BIGINT AS reltablespace,"
        " 0::BIGINT AS reloftype, 'p' AS relpersistence, 'd' AS relreplident, 0::BIGINT AS"
        " reltoastrelid, 0::SMALLINT AS relchecks, NULL::VARCHAR[] AS reloptions,"
        " NULL::VARCHAR AS relpartbound, NULL::VARCHAR[] AS relacl, 0::BIGINT AS reltype,"
        " false AS relisshared, false AS relhassubclass, 0::BIGINT AS relfilenode,"
        " false AS relhasoids, 0 AS reldiststyle, 0::BIGINT AS relfrozenxid,"
        f" false AS relispopulated FROM {s}.zeroetl_class_base",
        f"CREATE OR REPLACE VIEW {s}.zeroetl_attribute AS SELECT c.table_oid::BIGINT AS"
        f" attrelid, c.column_name AS attname, {_type_oid_sql('c.data_type')}::BIGINT AS"
        f" atttypid, coalesce((list_filter(m.varlen, lambda zq_v: zq_v.name = c.column_name))"
        f"[1].len + 4, {_typmod_sql()})::INTEGER AS atttypmod, c.column_index::SMALLINT AS"
        " attnum,"
        " (NOT c.is_nullable OR coalesce(list_contains(p.pk, c.column_name), false)"
        " OR coalesce(list_contains(m.notnull, c.column_name), false)) AS attnotnull,"
        " false AS atthasdef, false AS attisdropped, '' AS attidentity, '' AS attgenerated,"
        " CASE WHEN c.data_type = 'VARCHAR' THEN 100 ELSE 0 END::BIGINT AS attcollation,"
        " 'p' AS attstorage, '' AS attcompression, -1 AS attstattarget, -1::SMALLINT AS attlen,"
        " 0 AS attndims, NULL::VARCHAR[] AS attacl, true AS attislocal, 0 AS attinhcount,"
        " 0 AS attencodingtype, false AS attisdistkey, 0 AS attsortkeyord"
        f" FROM duckdb_columns() c LEFT JOIN {s}.zeroetl_pk p ON p.table_oid = c.table_oid"
        f" LEFT JOIN {s}.zeroetl_meta_tables m ON m.db = c.database_name AND m.schema_name ="
        " c.schema_name AND m.table_name = c.table_name"
        f" WHERE c.database_name = current_database() AND c.schema_name NOT IN ({hidden})"
        f" AND {ON_DUCKDB}"
        " UNION ALL SELECT table_oid, column_name, atttypid, atttypmod, attnum, attnotnull,"
        " false, false, '', '', CASE WHEN atttypid = 25 THEN 100 ELSE 0 END::BIGINT, 'p', '',"
        " -1, -1::SMALLINT, 0, NULL::VARCHAR[], true, 0, 0, false, 0"
        f" FROM {s}.{clickhouse_catalog.TABLE} WHERE {ch}",
        f"CREATE OR REPLACE VIEW {s}.pg_attribute AS SELECT * FROM {s}.zeroetl_attribute"
        f" UNION ALL SELECT zq_p.table_oid + {PK_OID}, zq_a.attname, zq_a.atttypid,"
        " zq_a.atttypmod, zq_k.i::SMALLINT, zq_a.attnotnull, false, false, '', '',"
        " zq_a.attcollation, zq_a.attstorage, '', -1, zq_a.attlen, 0, NULL, true, 0, 0, false, 0"
        f" FROM {s}.zeroetl_pk zq_p, LATERAL (SELECT unnest(zq_p.indkey) AS attnum,"
        " generate_subscripts(zq_p.indkey, 1) AS i) zq_k JOIN"
        f" {s}.zeroetl_attribute zq_a ON zq_a.attrelid = zq_p.table_oid AND zq_a.attnum ="
        " zq_k.attnum",
        f"CREATE OR REPLACE VIEW {s}.pg_index AS SELECT table_oid + {PK_OID} AS indexrelid,"
        " table_oid AS indrelid, len(indkey)::SMALLINT AS indnatts, len(indkey)::SMALLINT AS"
        " indnkeyatts, true AS indisunique, false AS indnullsnotdistinct, true AS indisprimary,"
        " false AS indisexclusion, true AS indimmediate, false AS indisclustered, true AS"
        " indisvalid, false AS indcheckxmin, true AS indisready, true AS indislive, false AS"
        " indisreplident, indkey, list_transform(indkey, lambda zq_x: 0::BIGINT) AS indclass,"
        " list_transform(indkey, lambda zq_x: 0::SMALLINT) AS indoption, list_transform(indkey,"
        " lambda zq_x: 0::BIGINT) AS indcollation, NULL::VARCHAR AS indexprs, NULL::VARCHAR AS"
        f" indpred FROM {s}.zeroetl_pk",
        f"CREATE OR REPLACE VIEW {s}.pg_constraint AS SELECT table_oid + {CON_OID} AS oid,"
        " table_name || '_pkey' AS conname, schema_oid AS connamespace, 'p' AS contype,"
        " false AS condeferrable, false AS condeferred, true AS convalidated, table_oid AS"
        f" conrelid, 0::BIGINT AS contypid, table_oid + {PK_OID} AS conindid, 0::BIGINT AS"
        " conparentid, 0::BIGINT AS confrelid, ' ' AS confupdtype, ' ' AS confdeltype,"
        " ' ' AS confmatchtype, true AS conislocal, 0 AS coninhcount, true AS connoinherit,"
        " indkey AS conkey, NULL::SMALLINT[] AS confkey, NULL::VARCHAR AS conbin"
        f" FROM {s}.zeroetl_pk",
        f"CREATE OR REPLACE VIEW {s}.pg_database AS SELECT (row_number() OVER (ORDER BY"
        " datname) + 16383)::BIGINT AS oid, datname, 100::BIGINT AS datdba, 6 AS encoding,"
        " 'C.UTF-8' AS datcollate, 'C.UTF-8' AS datctype, NULL::VARCHAR AS daticulocale,"
        " 'c' AS datlocprovider, NULL::VARCHAR[] AS datacl, false AS datistemplate, true AS"
        " datallowconn, -1 AS datconnlimit, 1663::BIGINT AS dattablespace FROM (SELECT"
        f" DISTINCT db AS datname FROM {s}.zeroetl_meta_dbs UNION SELECT 'dev')",
    ]


def _meta_sql(databases: list[str]) -> list[str]:
    """Views over every target database's `_zeroetl` tables (regenerated when they change)."""
    s = SCHEMA
    tables = []
    for db in databases:
        q = ident(db)
        tables.append(
            f"SELECT {literal(db)} AS db, integration_id, schema_name, table_name, table_state,"
            " reason, last_updated_timestamp, rows_copied,"
            " coalesce(from_json(table_schema->'primary_key', '[\"VARCHAR\"]'), [])::VARCHAR[]"
            " AS pk, coalesce(list_transform(list_filter(from_json(table_schema->'columns',"
            ' \'[{"name":"VARCHAR","nullable":"BOOLEAN"}]\'), lambda zq_c: NOT zq_c.nullable),'
            " lambda zq_c: zq_c.name), [])::VARCHAR[] AS notnull,"
            # declared lengths of the source's (var)char columns: varchar(n) in the catalog
            " coalesce(list_transform(list_filter(from_json(table_schema->'columns',"
            ' \'[{"name":"VARCHAR","source_type":"VARCHAR"}]\'), lambda zq_c:'
            " regexp_matches(lower(zq_c.source_type), '^(var)?char\\(\\d+\\)')), lambda zq_c:"
            " {'name': zq_c.name, 'len': regexp_extract(zq_c.source_type, '\\((\\d+)\\)', 1)"
            "::INTEGER}), []) AS varlen, table_schema IS NOT NULL AS"
            f" has_schema FROM {q}._zeroetl.tables"
        )
    empty = (
        "SELECT NULL::VARCHAR AS db, NULL::VARCHAR AS integration_id, NULL::VARCHAR AS"
        " schema_name, NULL::VARCHAR AS table_name, NULL::VARCHAR AS table_state, NULL::VARCHAR"
        " AS reason, NULL::TIMESTAMPTZ AS last_updated_timestamp, NULL::BIGINT AS rows_copied,"
        " []::VARCHAR[] AS pk, []::VARCHAR[] AS notnull, []::STRUCT(name VARCHAR, len INTEGER)[]"
        " AS varlen, false AS has_schema WHERE false"
    )
    out = [
        f"CREATE OR REPLACE VIEW {s}.zeroetl_meta_tables AS {' UNION ALL '.join(tables or [empty])}"
    ]
    dbs = " UNION ALL ".join(f"SELECT {literal(d)} AS db" for d in databases) or (
        "SELECT NULL::VARCHAR AS db WHERE false"
    )
    out.append(f"CREATE OR REPLACE VIEW {s}.zeroetl_meta_dbs AS {dbs}")
    for name, cols in META_UNIONS.items():
        parts = [
            f"SELECT {literal(d)} AS db, {cols} FROM {ident(d)}._zeroetl.{name}" for d in databases
        ]
        if not parts:
            parts = [_empty_union(name)]
        out.append(f"CREATE OR REPLACE VIEW {s}.zeroetl_meta_{name} AS {' UNION ALL '.join(parts)}")
    return out


# the `_zeroetl` tables the endpoint shows, their columns and types: monitoring/tables.py
META_UNIONS: dict[str, str] = {n: t.union_columns() for n, t in monitoring.views().items()}
_EMPTY_TYPES: dict[str, str] = {n: t.empty_select() for n, t in monitoring.views().items()}


def _empty_union(name: str) -> str:
    return f"SELECT NULL::VARCHAR AS db, {_EMPTY_TYPES[name]} WHERE false"


def home_catalog(con: duckdb.DuckDBPyConnection) -> str:
    """The hub's own in-memory catalog (where a fresh cursor starts)."""
    row = con.execute("SELECT current_database()").fetchone()
    return str(row[0]) if row else "memory"


def install(con: duckdb.DuckDBPyConnection, databases: list[str]) -> str:
    """Create or refresh the emulation objects in the hub; returns the qualified schema name.

    Cheap when nothing changed: the static objects are created once per hub, the meta views
    again only when the set of target databases differs from the one recorded in the hub.
    """
    # these build on the objects defined here
    from . import infoschema, pgfuncs, pgstubs, redshift_catalog, sysviews

    home = home_catalog(con)
    attached = {
        r[0]
        for r in con.execute(
            "SELECT database_name FROM duckdb_databases() WHERE NOT internal"
        ).fetchall()
    }
    usable = sorted(d for d in databases if d in attached and _has_meta(con, d))
    marker = "\x00".join(usable)
    qualified_schema = f"{ident(home)}.{SCHEMA}"
    if _recorded(con, home) == marker:
        return qualified_schema
    with _lock:
        previous = _recorded(con, home)
        if previous == marker:
            return qualified_schema
        con.execute(f"USE {ident(home)}")
        con.execute("BEGIN")
        try:
            con.execute(f"CREATE SCHEMA IF NOT EXISTS {SCHEMA}")
            for sql in _meta_sql(usable):
                con.execute(sql)
            if previous is None:
                for sql in [*_static_sql(), *pgstubs.stub_sql(), *pgfuncs.function_sql(), *infoschema.sql(),
                            *redshift_catalog.sql()]:  # fmt: skip
                    con.execute(sql)
                con.register("zeroetl_integrations", sysviews.integrations_table([]))
                con.register("zeroetl_table_stats", sysviews.STATS.empty_table())
                for sql in sysviews.view_sql(SCHEMA):
                    con.execute(sql)
                from . import users_catalog  # pg_roles, pg_user ... (users_catalog.py)

                users_catalog.install(con, SCHEMA)
            con.execute(
                f"CREATE OR REPLACE TABLE {SCHEMA}.zeroetl_state AS SELECT ? AS marker", [marker]
            )
            con.execute("COMMIT")
        except BaseException:
            con.execute("ROLLBACK")
            raise
    return qualified_schema


def _recorded(con: duckdb.DuckDBPyConnection, home: str) -> str | None:
    """The database list the meta views were built for, None before the first install."""
    found = con.execute(
        "SELECT count(*) FROM duckdb_tables() WHERE database_name = ? AND schema_name = ?"
        " AND table_name = 'zeroetl_state'",
        [home, SCHEMA],
    ).fetchone()
    if not found or not found[0]:
        return None
    row = con.execute(f"SELECT marker FROM {ident(home)}.{SCHEMA}.zeroetl_state").fetchone()
    return None if row is None else str(row[0])


def _has_meta(con: duckdb.DuckDBPyConnection, db: str) -> bool:
    row = con.execute(
        "SELECT count(*) FROM duckdb_tables() WHERE database_name = ? AND schema_name = '_zeroetl'"
        " AND table_name = 'tables'",
        [db],
    ).fetchone()
    return bool(row and row[0])
