"""The functions of the pg_catalog emulation (catalog.py): macros in the emulation schema that the
catalog statements of psql, SQLAlchemy, pgJDBC, psqlODBC, psycopg and the Redshift drivers call.

Macro bodies bind to the caller's aliases (a DuckDB macro is expanded in place), so their
parameters and subquery aliases are named `zq_*`, which no client uses.
"""

from __future__ import annotations

from zeroetl.sqltext import literal


def function_sql() -> list[str]:
    from .pgnames import CH_DB, CON_OID, OWNER, PK_OID, SCHEMA, SERVER_VERSION, VERSION_TEXT

    s = SCHEMA
    return [
        f"CREATE OR REPLACE MACRO {s}.version() AS {literal(VERSION_TEXT)}",
        "CREATE OR REPLACE MACRO " + s + ".zeroetl_getdate() AS date_trunc('second',"
        " CAST(get_current_timestamp() AT TIME ZONE 'UTC' AS TIMESTAMP))",
        # get_current_timestamp(), not current_timestamp: a bare current_timestamp binds to a
        # select item labelled "current_timestamp" first (DuckDB's lateral aliases)
        "CREATE OR REPLACE MACRO " + s + ".zeroetl_sysdate() AS"
        " CAST(get_current_timestamp() AT TIME ZONE 'UTC' AS TIMESTAMP)",
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
        " zq_v.view_oid = zq_oid AND zq_v.schema_name IN (SELECT unnest(current_schemas(false))))"
        # a ClickHouse-backed database's tables (clickhouse_catalog.py): its session's path
        f" OR EXISTS (SELECT 1 FROM {s}.zeroetl_ch_tables zq_h WHERE zq_h.table_oid = zq_oid"
        f" AND zq_h.db = {CH_DB} AND list_contains(getvariable('zeroetl_ch_path'),"
        " zq_h.schema_name))",
        f"CREATE OR REPLACE MACRO {s}.pg_get_expr(zq_a, zq_b) AS NULL::VARCHAR,"
        " (zq_a, zq_b, zq_c) AS NULL::VARCHAR",
        f"CREATE OR REPLACE MACRO {s}.zeroetl_indexdef(zq_oid) AS (SELECT 'CREATE UNIQUE INDEX '"
        " || zq_p.table_name || '_pkey ON ' || zq_p.schema_name || '.' || zq_p.table_name ||"
        " ' USING btree (' || array_to_string(zq_p.pk, ', ') || ')' FROM"
        f" {s}.zeroetl_pk zq_p WHERE zq_p.table_oid + {PK_OID} = zq_oid)",
        # past the last column PostgreSQL answers '' (psqlODBC's SQLStatistics asks until then)
        f"CREATE OR REPLACE MACRO {s}.pg_get_indexdef(zq_oid) AS {s}.zeroetl_indexdef(zq_oid),"
        " (zq_oid, zq_col, zq_pretty) AS CASE WHEN zq_col = 0 THEN"
        f" {s}.zeroetl_indexdef(zq_oid) ELSE coalesce((SELECT zq_p.pk[zq_col] FROM"
        f" {s}.zeroetl_pk zq_p WHERE zq_p.table_oid + {PK_OID} = zq_oid), '') END",
        # pgJDBC: information_schema._pg_expandarray(indkey) (pgcompat.py renames the call);
        # a set-returning macro: one (x, n) row per element
        f"CREATE OR REPLACE MACRO {s}.zeroetl_pg_expandarray(zq_a) AS unnest(list_transform("
        " range(1, len(zq_a) + 1), lambda zq_i: {'x': zq_a[zq_i], 'n': zq_i}))",
        # the view's query, as PostgreSQL gives it (DuckDB keeps the whole CREATE VIEW)
        f"CREATE OR REPLACE MACRO {s}.zeroetl_viewdef(zq_oid) AS (SELECT regexp_replace("
        " zq_v.sql, '^\\s*CREATE\\s+(OR\\s+REPLACE\\s+)?VIEW\\s+.*?\\s+AS\\s+', '', 'is')"
        " FROM duckdb_views() zq_v WHERE zq_v.view_oid = zq_oid)",
        f"CREATE OR REPLACE MACRO {s}.pg_get_viewdef(zq_oid) AS {s}.zeroetl_viewdef(zq_oid),"
        f" (zq_oid, zq_pretty) AS {s}.zeroetl_viewdef(zq_oid)",
        # Redshift column compression: every column here is stored as DuckDB chooses
        f"CREATE OR REPLACE MACRO {s}.format_encoding(zq_e) AS CASE WHEN zq_e IS NULL THEN"
        " NULL ELSE 'none' END",
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
        # psycopg 3's TypeInfo.fetch(), SQLAlchemy's psycopg dialect on connect (defined after
        # the macros they call)
        f"CREATE OR REPLACE MACRO {s}.to_regtype(zq_name) AS {s}.zeroetl_regtype_oid(zq_name)",
        f"CREATE OR REPLACE MACRO {s}.to_regclass(zq_name) AS {s}.zeroetl_regclass_oid(zq_name)",
    ]
