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

SCHEMA = "_zeroetl_pg"
OWNER = "zeroetl"
SERVER_VERSION = "15.0"
VERSION_TEXT = "PostgreSQL 15.0 (zeroetl 0.1.0, DuckDB 2.0) on x86_64-pc-linux-gnu, compiled by zeroetl, 64-bit"
PK_OID = 2_000_000_000  # synthesized index oid = table oid + PK_OID (fits PostgreSQL's uint32)
CON_OID = 3_000_000_000  # synthesized constraint oid = table oid + CON_OID

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
    tables_where = (
        f"database_name = current_database() AND schema_name NOT IN ({hidden}) AND NOT temporary"
    )
    return [
        f"CREATE SCHEMA IF NOT EXISTS {s}",
        # --- types, namespaces, relations -------------------------------------------------
        f"CREATE OR REPLACE VIEW {s}.pg_type AS SELECT oid::BIGINT AS oid, typname, 11::BIGINT"
        " AS typnamespace, 10::BIGINT AS typowner, typlen::SMALLINT AS typlen, CASE WHEN cat ="
        " 'A' THEN 'b' ELSE 'b' END AS typtype, cat AS typcategory, CASE WHEN cat = 'S' THEN"
        " 100 ELSE 0 END::BIGINT AS typcollation, 0::BIGINT AS typbasetype, -1 AS typtypmod,"
        " false AS typnotnull, 0::BIGINT AS typrelid, 0::BIGINT AS typelem, 0::BIGINT AS"
        " typarray, ',' AS typdelim, true AS typisdefined, NULL::VARCHAR AS typdefault,"
        f" fmt AS zeroetl_format FROM (VALUES {types}) AS zq_t(oid, typname, fmt, typlen, cat)",
        f"CREATE OR REPLACE VIEW {s}.pg_namespace AS SELECT oid::BIGINT AS oid,"
        " schema_name AS nspname, 10::BIGINT AS nspowner, NULL::VARCHAR[] AS nspacl"
        " FROM duckdb_schemas() WHERE database_name = current_database()"
        f" AND schema_name NOT IN ({hidden}) UNION ALL SELECT * FROM (VALUES"
        " (11::BIGINT, 'pg_catalog', 10::BIGINT, NULL::VARCHAR[]),"
        " (13000::BIGINT, 'information_schema', 10::BIGINT, NULL::VARCHAR[]))",
        f"CREATE OR REPLACE VIEW {s}.zeroetl_pk AS SELECT t.table_oid::BIGINT AS table_oid,"
        " t.schema_oid::BIGINT AS schema_oid, t.schema_name, t.table_name, m.pk,"
        " (SELECT list(zq_c.column_index::SMALLINT ORDER BY zq_u.i) FROM (SELECT unnest(m.pk)"
        " AS k, generate_subscripts(m.pk, 1) AS i) zq_u JOIN duckdb_columns() zq_c ON"
        " zq_c.table_oid = t.table_oid AND zq_c.column_name = zq_u.k)"
        " AS indkey FROM duckdb_tables() t JOIN"
        f" {s}.zeroetl_meta_tables m ON m.db = t.database_name AND m.schema_name ="
        " t.schema_name AND m.table_name = t.table_name WHERE t.database_name ="
        " current_database() AND len(m.pk) > 0",
        f"CREATE OR REPLACE VIEW {s}.zeroetl_class_base AS"
        " SELECT table_oid::BIGINT AS oid, table_name AS relname, schema_oid::BIGINT AS"
        " relnamespace, 'r' AS relkind, 2::BIGINT AS relam, estimated_size::FLOAT AS reltuples,"
        " column_count::SMALLINT AS relnatts, has_primary_key OR EXISTS (SELECT 1 FROM"
        f" {s}.zeroetl_pk zq_p WHERE zq_p.table_oid = zq_dt.table_oid) AS relhasindex"
        f" FROM duckdb_tables() zq_dt WHERE {tables_where}"
        " UNION ALL SELECT view_oid, view_name, schema_oid, 'v', 0, 0, column_count, false"
        f" FROM duckdb_views() WHERE {tables_where} AND NOT internal"
        f" UNION ALL SELECT table_oid + {PK_OID}, table_name || '_pkey', schema_oid, 'i', 403,"
        f" 0, len(pk), false FROM {s}.zeroetl_pk",
        # the many columns nobody here fills are added by the wrapper view
        f"CREATE OR REPLACE VIEW {s}.pg_class AS SELECT *, 10::BIGINT AS relowner,"
        " 0 AS relpages, false AS relhasrules, false AS relhastriggers, false AS relrowsecurity,"
        " false AS relforcerowsecurity, false AS relispartition, 0::BIGINT AS reltablespace,"
        " 0::BIGINT AS reloftype, 'p' AS relpersistence, 'd' AS relreplident, 0::BIGINT AS"
        " reltoastrelid, 0::SMALLINT AS relchecks, NULL::VARCHAR[] AS reloptions,"
        " NULL::VARCHAR AS relpartbound, NULL::VARCHAR[] AS relacl, 0::BIGINT AS reltype,"
        " false AS relisshared, false AS relhassubclass, 0::BIGINT AS relfilenode,"
        f" false AS relhasoids FROM {s}.zeroetl_class_base",
        f"CREATE OR REPLACE VIEW {s}.pg_attribute AS SELECT c.table_oid::BIGINT AS attrelid,"
        f" c.column_name AS attname, {_type_oid_sql('c.data_type')}::BIGINT AS atttypid,"
        f" {_typmod_sql()}::INTEGER AS atttypmod, c.column_index::SMALLINT AS attnum,"
        " (NOT c.is_nullable OR coalesce(list_contains(p.pk, c.column_name), false)"
        " OR coalesce(list_contains(m.notnull, c.column_name), false)) AS attnotnull,"
        " false AS atthasdef, false AS attisdropped, '' AS attidentity, '' AS attgenerated,"
        " CASE WHEN c.data_type = 'VARCHAR' THEN 100 ELSE 0 END::BIGINT AS attcollation,"
        " 'p' AS attstorage, '' AS attcompression, -1 AS attstattarget, -1::SMALLINT AS attlen,"
        " 0 AS attndims, NULL::VARCHAR[] AS attacl, true AS attislocal, 0 AS attinhcount"
        f" FROM duckdb_columns() c LEFT JOIN {s}.zeroetl_pk p ON p.table_oid = c.table_oid"
        f" LEFT JOIN {s}.zeroetl_meta_tables m ON m.db = c.database_name AND m.schema_name ="
        " c.schema_name AND m.table_name = c.table_name"
        f" WHERE c.database_name = current_database() AND c.schema_name NOT IN ({hidden})",
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
        " datname) + 16383)::BIGINT AS oid, datname, 10::BIGINT AS datdba, 6 AS encoding,"
        " 'C.UTF-8' AS datcollate, 'C.UTF-8' AS datctype, NULL::VARCHAR AS daticulocale,"
        " 'c' AS datlocprovider, NULL::VARCHAR[] AS datacl, false AS datistemplate, true AS"
        " datallowconn, -1 AS datconnlimit, 1663::BIGINT AS dattablespace FROM (SELECT"
        f" DISTINCT db AS datname FROM {s}.zeroetl_meta_dbs UNION SELECT 'dev')",
        # --- stubs: right columns, no rows (or the one row PostgreSQL always has) ---------
        f"CREATE OR REPLACE VIEW {s}.pg_am AS SELECT * FROM (VALUES (2::BIGINT, 'heap', 't'),"
        " (403::BIGINT, 'btree', 'i')) AS zq_am(oid, amname, amtype)",
        f"CREATE OR REPLACE VIEW {s}.pg_inherits AS SELECT 0::BIGINT AS inhrelid, 0::BIGINT AS"
        " inhparent, 0 AS inhseqno, false AS inhdetachpending WHERE false",
        f"CREATE OR REPLACE VIEW {s}.pg_description AS SELECT 0::BIGINT AS objoid, 0::BIGINT"
        " AS classoid, 0 AS objsubid, ''::VARCHAR AS description WHERE false",
        f"CREATE OR REPLACE VIEW {s}.pg_attrdef AS SELECT 0::BIGINT AS oid, 0::BIGINT AS"
        " adrelid, 0::SMALLINT AS adnum, ''::VARCHAR AS adbin WHERE false",
        f"CREATE OR REPLACE VIEW {s}.pg_collation AS SELECT 100::BIGINT AS oid, 'default' AS"
        " collname, 11::BIGINT AS collnamespace, 'd' AS collprovider",
        f"CREATE OR REPLACE VIEW {s}.pg_roles AS SELECT 10::BIGINT AS oid, '{OWNER}' AS rolname,"
        " true AS rolsuper, true AS rolinherit, false AS rolcreaterole, false AS rolcreatedb,"
        " true AS rolcanlogin, -1 AS rolconnlimit, NULL::VARCHAR[] AS rolconfig",
        f"CREATE OR REPLACE VIEW {s}.pg_user AS SELECT '{OWNER}' AS usename, 10::BIGINT AS"
        " usesysid, true AS usesuper",
        f"CREATE OR REPLACE VIEW {s}.pg_tablespace AS SELECT 1663::BIGINT AS oid, 'pg_default'"
        " AS spcname, 10::BIGINT AS spcowner",
        f"CREATE OR REPLACE VIEW {s}.pg_policy AS SELECT 0::BIGINT AS oid, '' AS polname,"
        " 0::BIGINT AS polrelid, 'r' AS polcmd, true AS polpermissive, [0::BIGINT] AS polroles,"
        " NULL::VARCHAR AS polqual, NULL::VARCHAR AS polwithcheck WHERE false",
        f"CREATE OR REPLACE VIEW {s}.pg_statistic_ext AS SELECT 0::BIGINT AS oid, 0::BIGINT AS"
        " stxrelid, 0::BIGINT AS stxnamespace, '' AS stxname, ['d'] AS stxkind, -1 AS"
        " stxstattarget WHERE false",
        f"CREATE OR REPLACE VIEW {s}.pg_publication AS SELECT 0::BIGINT AS oid, '' AS pubname,"
        " false AS puballtables WHERE false",
        f"CREATE OR REPLACE VIEW {s}.pg_publication_namespace AS SELECT 0::BIGINT AS pnpubid,"
        " 0::BIGINT AS pnnspid WHERE false",
        f"CREATE OR REPLACE VIEW {s}.pg_publication_rel AS SELECT 0::BIGINT AS prpubid,"
        " 0::BIGINT AS prrelid, NULL::VARCHAR AS prqual, NULL::SMALLINT[] AS prattrs WHERE false",
        f"CREATE OR REPLACE VIEW {s}.pg_sequence AS SELECT 0::BIGINT AS seqrelid, 0::BIGINT AS"
        " seqstart, 0::BIGINT AS seqincrement, 0::BIGINT AS seqmin, 0::BIGINT AS seqmax,"
        " 0::BIGINT AS seqcache, false AS seqcycle WHERE false",
        f"CREATE OR REPLACE VIEW {s}.pg_opclass AS SELECT 0::BIGINT AS oid, '' AS opcname,"
        " true AS opcdefault WHERE false",
        f"CREATE OR REPLACE VIEW {s}.pg_proc AS SELECT 0::BIGINT AS oid, '' AS proname,"
        " 0::BIGINT AS pronamespace, 'f' AS prokind, 0::BIGINT AS prorettype, ''::VARCHAR AS"
        " prosrc, false AS proretset, 0::BIGINT AS prolang, [0::BIGINT] AS proargtypes,"
        " 'v' AS provolatile, 'u' AS proparallel, false AS prosecdef, 10::BIGINT AS proowner,"
        " NULL::VARCHAR[] AS proacl WHERE false",
        f"CREATE OR REPLACE VIEW {s}.pg_settings AS SELECT name, value AS setting FROM"
        " duckdb_settings() WHERE false",
        # --- functions ------------------------------------------------------------------
        f"CREATE OR REPLACE MACRO {s}.version() AS {literal(VERSION_TEXT)}",
        "CREATE OR REPLACE MACRO " + s + ".zeroetl_getdate() AS date_trunc('second',"
        " CAST(get_current_timestamp() AT TIME ZONE 'UTC' AS TIMESTAMP))",
        "CREATE OR REPLACE MACRO " + s + ".zeroetl_sysdate() AS"
        " CAST(current_timestamp AT TIME ZONE 'UTC' AS TIMESTAMP)",
        # STRTOL(text, base): sqlglot writes FROM_BASE, which DuckDB lacks
        "CREATE OR REPLACE MACRO " + s + ".from_base(zq_s, zq_b) AS list_reduce("
        "string_split(upper(zq_s), ''), lambda zq_acc, zq_ch: zq_acc * zq_b +"
        " (strpos('0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ', zq_ch) - 1), 0::BIGINT)",
        f"CREATE OR REPLACE MACRO {s}.pg_get_userbyid(zq_id) AS '{OWNER}'",
        f"CREATE OR REPLACE MACRO {s}.pg_encoding_to_char(zq_e) AS 'UTF8'",
        f"CREATE OR REPLACE MACRO {s}.format_type(zq_oid, zq_mod) AS CASE"
        " WHEN zq_oid IS NULL THEN NULL"
        " WHEN zq_oid = 1700 AND zq_mod > 4 THEN 'numeric(' || ((zq_mod - 4) >> 16) || ','"
        " || ((zq_mod - 4) & 65535) || ')'"
        " WHEN zq_oid IN (1042, 1043) AND zq_mod > 4 THEN (SELECT zq_t.zeroetl_format FROM"
        f" {s}.pg_type zq_t WHERE zq_t.oid = zq_oid) || '(' || (zq_mod - 4) || ')'"
        f" ELSE coalesce((SELECT zq_t.zeroetl_format FROM {s}.pg_type zq_t WHERE zq_t.oid ="
        " zq_oid), '???') END",
        f"CREATE OR REPLACE MACRO {s}.pg_table_is_visible(zq_oid) AS EXISTS (SELECT 1 FROM"
        " duckdb_tables() zq_t WHERE zq_t.table_oid = zq_oid AND zq_t.schema_name IN (SELECT"
        " unnest(current_schemas(false)))) OR EXISTS (SELECT 1 FROM duckdb_views() zq_v WHERE"
        " zq_v.view_oid = zq_oid AND zq_v.schema_name IN (SELECT unnest(current_schemas(false))))",
        f"CREATE OR REPLACE MACRO {s}.pg_get_expr(zq_a, zq_b) AS NULL::VARCHAR,"
        " (zq_a, zq_b, zq_c) AS NULL::VARCHAR",
        f"CREATE OR REPLACE MACRO {s}.zeroetl_indexdef(zq_oid) AS (SELECT 'CREATE UNIQUE INDEX '"
        " || zq_p.table_name || '_pkey ON ' || zq_p.schema_name || '.' || zq_p.table_name ||"
        " ' USING btree (' || array_to_string(zq_p.pk, ', ') || ')' FROM"
        f" {s}.zeroetl_pk zq_p WHERE zq_p.table_oid + {PK_OID} = zq_oid)",
        f"CREATE OR REPLACE MACRO {s}.pg_get_indexdef(zq_oid) AS {s}.zeroetl_indexdef(zq_oid),"
        " (zq_oid, zq_col, zq_pretty) AS CASE WHEN zq_col = 0 THEN"
        f" {s}.zeroetl_indexdef(zq_oid) ELSE (SELECT zq_p.pk[zq_col] FROM {s}.zeroetl_pk zq_p"
        f" WHERE zq_p.table_oid + {PK_OID} = zq_oid) END",
        f"CREATE OR REPLACE MACRO {s}.zeroetl_constraintdef(zq_oid) AS (SELECT 'PRIMARY KEY ('"
        f" || array_to_string(zq_p.pk, ', ') || ')' FROM {s}.zeroetl_pk zq_p WHERE"
        f" zq_p.table_oid + {CON_OID} = zq_oid)",
        f"CREATE OR REPLACE MACRO {s}.pg_get_constraintdef(zq_oid) AS"
        f" {s}.zeroetl_constraintdef(zq_oid), (zq_oid, zq_pretty) AS"
        f" {s}.zeroetl_constraintdef(zq_oid)",
        f"CREATE OR REPLACE MACRO {s}.obj_description(zq_a) AS NULL::VARCHAR,"
        " (zq_a, zq_b) AS NULL::VARCHAR",
        f"CREATE OR REPLACE MACRO {s}.col_description(zq_a, zq_b) AS NULL::VARCHAR",
        f"CREATE OR REPLACE MACRO {s}.shobj_description(zq_a, zq_b) AS NULL::VARCHAR",
        f"CREATE OR REPLACE MACRO {s}.pg_relation_is_publishable(zq_a) AS false",
        f"CREATE OR REPLACE MACRO {s}.pg_get_statisticsobjdef_columns(zq_a) AS NULL::VARCHAR",
        f"CREATE OR REPLACE MACRO {s}.pg_get_serial_sequence(zq_a, zq_b) AS NULL::VARCHAR",
        f"CREATE OR REPLACE MACRO {s}.pg_collation_is_visible(zq_a) AS true",
        f"CREATE OR REPLACE MACRO {s}.pg_function_is_visible(zq_a) AS true",
        f"CREATE OR REPLACE MACRO {s}.pg_get_function_result(zq_a) AS NULL::VARCHAR",
        f"CREATE OR REPLACE MACRO {s}.pg_get_function_arguments(zq_a) AS NULL::VARCHAR",
        f"CREATE OR REPLACE MACRO {s}.pg_type_is_visible(zq_a) AS true",
        f"CREATE OR REPLACE MACRO {s}.array_upper(zq_a, zq_d) AS len(zq_a)",
        f"CREATE OR REPLACE MACRO {s}.array_lower(zq_a, zq_d) AS CASE WHEN len(zq_a) > 0"
        " THEN 1 END",
        f"CREATE OR REPLACE MACRO {s}.pg_backend_pid() AS 1",
        f"CREATE OR REPLACE MACRO {s}.pg_size_pretty(zq_b) AS format_bytes(zq_b::BIGINT)",
        f"CREATE OR REPLACE MACRO {s}.pg_table_size(zq_oid) AS NULL::BIGINT",
        f"CREATE OR REPLACE MACRO {s}.pg_total_relation_size(zq_oid) AS NULL::BIGINT",
        f"CREATE OR REPLACE MACRO {s}.pg_relation_size(zq_oid) AS NULL::BIGINT",
        f"CREATE OR REPLACE MACRO {s}.has_table_privilege(zq_a, zq_b) AS true,"
        " (zq_a, zq_b, zq_c) AS true",
        f"CREATE OR REPLACE MACRO {s}.has_schema_privilege(zq_a, zq_b) AS true,"
        " (zq_a, zq_b, zq_c) AS true",
        f"CREATE OR REPLACE MACRO {s}.has_database_privilege(zq_a, zq_b) AS true,"
        " (zq_a, zq_b, zq_c) AS true",
        f"CREATE OR REPLACE MACRO {s}.set_config(zq_name, zq_value, zq_local) AS zq_value",
        f"CREATE OR REPLACE MACRO {s}.current_setting(zq_name) AS CASE lower(zq_name)"
        " WHEN 'default_table_access_method' THEN 'heap' WHEN 'server_version' THEN"
        f" '{SERVER_VERSION}' WHEN 'server_version_num' THEN '150000' WHEN 'timezone' THEN"
        " 'UTC' WHEN 'search_path' THEN array_to_string(current_schemas(false), ', ')"
        " WHEN 'standard_conforming_strings' THEN 'on' WHEN 'server_encoding' THEN 'UTF8'"
        " WHEN 'client_encoding' THEN 'UTF8' ELSE NULL END",
        # regclass / regtype / regnamespace casts (rewrite.py turns casts into these calls)
        f"CREATE OR REPLACE MACRO {s}.zeroetl_regclass_oid(zq_name) AS (SELECT min(zq_c.oid)"
        f" FROM {s}.pg_class zq_c JOIN {s}.pg_namespace zq_n ON zq_n.oid = zq_c.relnamespace"
        " WHERE zq_c.relname = string_split(zq_name::VARCHAR, '.')[-1] AND"
        " (NOT contains(zq_name::VARCHAR, '.') OR zq_n.nspname = string_split(zq_name::VARCHAR,"
        " '.')[-2]))",
        f"CREATE OR REPLACE MACRO {s}.zeroetl_regclass_name(zq_oid) AS (SELECT CASE WHEN"
        f" {s}.pg_table_is_visible(zq_c.oid) THEN zq_c.relname ELSE zq_n.nspname || '.' ||"
        f" zq_c.relname END FROM {s}.pg_class zq_c JOIN {s}.pg_namespace zq_n ON zq_n.oid ="
        " zq_c.relnamespace WHERE zq_c.oid = zq_oid)",
        f"CREATE OR REPLACE MACRO {s}.zeroetl_regnamespace_name(zq_oid) AS (SELECT"
        f" zq_n.nspname FROM {s}.pg_namespace zq_n WHERE zq_n.oid = zq_oid)",
        f"CREATE OR REPLACE MACRO {s}.zeroetl_regtype_oid(zq_name) AS (SELECT min(zq_t.oid)"
        f" FROM {s}.pg_type zq_t WHERE zq_t.typname = zq_name OR zq_t.zeroetl_format ="
        " zq_name)",
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
            " lambda zq_c: zq_c.name), [])::VARCHAR[] AS notnull, table_schema IS NOT NULL AS"
            f" has_schema FROM {q}._zeroetl.tables"
        )
    empty = (
        "SELECT NULL::VARCHAR AS db, NULL::VARCHAR AS integration_id, NULL::VARCHAR AS"
        " schema_name, NULL::VARCHAR AS table_name, NULL::VARCHAR AS table_state, NULL::VARCHAR"
        " AS reason, NULL::TIMESTAMPTZ AS last_updated_timestamp, NULL::BIGINT AS rows_copied,"
        " []::VARCHAR[] AS pk, []::VARCHAR[] AS notnull, false AS has_schema WHERE false"
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
    from . import sysviews  # sysviews builds on the meta views defined here

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
                for sql in _static_sql():
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
