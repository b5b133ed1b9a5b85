"""`information_schema` shaped like PostgreSQL's, over the pg_catalog emulation (catalog.py).

DuckDB's own `information_schema` answers in DuckDB's terms (`data_type` 'INTEGER', no `udt_name`,
no lengths, replicated keys nullable, the bookkeeping schemas listed). The views here answer as
PostgreSQL 15 does for the columns clients read (dbt, Metabase's sync, notebooks, hand-written
catalog queries): PostgreSQL type names, varchar lengths, precision and scale, NOT NULL keys,
primary keys as constraints, and only what an analyst may see. `information_schema.<view>`
resolves to them (pgcompat.py); views not emulated here stay DuckDB's.

A view is named `zeroetl_is_<name>` in the emulation schema; `svv_tables` and `svv_columns`
(redshift_catalog.py) build on them.
"""

from __future__ import annotations

from .pgcompat import INFO_PREFIX


def sql() -> list[str]:
    from .pgnames import CURRENT_DB, ON_DUCKDB, OWNER, SCHEMA

    s = SCHEMA
    v = f"{s}.{INFO_PREFIX}"
    # replicated databases are read-only for everyone; the workspace (and the hub) are not
    writable = (
        f"{CURRENT_DB} NOT IN (SELECT zq_d.db FROM {s}.zeroetl_meta_dbs zq_d) AND {ON_DUCKDB}"
    )
    rel = (
        f" FROM {s}.pg_class c JOIN {s}.pg_namespace n ON n.oid = c.relnamespace"
        " WHERE c.relkind IN ('r', 'v')"
    )
    pk = (
        f"{CURRENT_DB} AS constraint_catalog, p.schema_name AS constraint_schema,"
        f" p.table_name || '_pkey' AS constraint_name, {CURRENT_DB} AS table_catalog,"
        " p.schema_name AS table_schema, p.table_name"
    )
    return [
        f"CREATE OR REPLACE VIEW {v}columns AS SELECT {CURRENT_DB} AS table_catalog,"
        " n.nspname AS table_schema, c.relname AS table_name, a.attname AS column_name,"
        " a.attnum::INTEGER AS ordinal_position, NULL::VARCHAR AS column_default,"
        " CASE WHEN a.attnotnull THEN 'NO' ELSE 'YES' END AS is_nullable,"
        " t.zeroetl_format AS data_type,"
        " CASE WHEN a.atttypid IN (1042, 1043) AND a.atttypmod > 4 THEN a.atttypmod - 4 END"
        "::INTEGER AS character_maximum_length,"
        " CASE WHEN a.atttypid IN (1042, 1043) AND a.atttypmod > 4 THEN (a.atttypmod - 4) * 4"
        " WHEN a.atttypid IN (25, 1042, 1043) THEN 1073741824 END::INTEGER AS"
        " character_octet_length,"
        " CASE a.atttypid WHEN 21 THEN 16 WHEN 23 THEN 32 WHEN 20 THEN 64 WHEN 700 THEN 24"
        " WHEN 701 THEN 53 WHEN 1700 THEN CASE WHEN a.atttypmod > 4 THEN (a.atttypmod - 4) >> 16"
        " END END::INTEGER AS numeric_precision,"
        " CASE WHEN a.atttypid IN (20, 21, 23, 700, 701) THEN 2 WHEN a.atttypid = 1700 THEN 10"
        " END::INTEGER AS numeric_precision_radix,"
        " CASE WHEN a.atttypid IN (20, 21, 23) THEN 0 WHEN a.atttypid = 1700 AND a.atttypmod > 4"
        " THEN (a.atttypmod - 4) & 65535 END::INTEGER AS numeric_scale,"
        " CASE WHEN a.atttypid = 1082 THEN 0 WHEN a.atttypid IN (1083, 1114, 1184, 1186) THEN 6"
        " END::INTEGER AS datetime_precision, NULL::VARCHAR AS interval_type, NULL::INTEGER AS"
        " interval_precision, NULL::VARCHAR AS character_set_catalog, NULL::VARCHAR AS"
        " character_set_schema, NULL::VARCHAR AS character_set_name, NULL::VARCHAR AS"
        " collation_catalog, NULL::VARCHAR AS collation_schema, NULL::VARCHAR AS collation_name,"
        " NULL::VARCHAR AS domain_catalog, NULL::VARCHAR AS domain_schema, NULL::VARCHAR AS"
        f" domain_name, {CURRENT_DB} AS udt_catalog, 'pg_catalog' AS udt_schema,"
        " t.typname AS udt_name, NULL::VARCHAR AS scope_catalog, NULL::VARCHAR AS scope_schema,"
        " NULL::VARCHAR AS scope_name, NULL::INTEGER AS maximum_cardinality,"
        " a.attnum::VARCHAR AS dtd_identifier, 'NO' AS is_self_referencing, 'NO' AS is_identity,"
        " NULL::VARCHAR AS identity_generation, NULL::VARCHAR AS identity_start, NULL::VARCHAR"
        " AS identity_increment, NULL::VARCHAR AS identity_maximum, NULL::VARCHAR AS"
        " identity_minimum, NULL::VARCHAR AS identity_cycle, 'NEVER' AS is_generated,"
        " NULL::VARCHAR AS generation_expression,"
        f" CASE WHEN c.relkind = 'r' AND {writable} THEN 'YES' ELSE 'NO' END AS is_updatable"
        f" FROM {s}.pg_attribute a JOIN {s}.pg_class c ON c.oid = a.attrelid"
        f" JOIN {s}.pg_namespace n ON n.oid = c.relnamespace JOIN {s}.pg_type t ON t.oid ="
        " a.atttypid WHERE c.relkind IN ('r', 'v') AND a.attnum > 0",
        f"CREATE OR REPLACE VIEW {v}tables AS SELECT {CURRENT_DB} AS table_catalog,"
        " n.nspname AS table_schema, c.relname AS table_name, CASE c.relkind WHEN 'r' THEN"
        " 'BASE TABLE' ELSE 'VIEW' END AS table_type, NULL::VARCHAR AS"
        " self_referencing_column_name, NULL::VARCHAR AS reference_generation, NULL::VARCHAR AS"
        " user_defined_type_catalog, NULL::VARCHAR AS user_defined_type_schema, NULL::VARCHAR AS"
        f" user_defined_type_name, CASE WHEN c.relkind = 'r' AND {writable} THEN 'YES' ELSE"
        " 'NO' END AS is_insertable_into, 'NO' AS is_typed, NULL::VARCHAR AS commit_action" + rel,
        f"CREATE OR REPLACE VIEW {v}views AS SELECT {CURRENT_DB} AS table_catalog,"
        f" n.nspname AS table_schema, c.relname AS table_name, {s}.pg_get_viewdef(c.oid) AS"
        " view_definition, 'NONE' AS check_option, 'NO' AS is_updatable, 'NO' AS"
        " is_insertable_into, 'NO' AS is_trigger_updatable, 'NO' AS is_trigger_deletable,"
        f" 'NO' AS is_trigger_insertable_into{rel} AND c.relkind = 'v'",
        f"CREATE OR REPLACE VIEW {v}schemata AS SELECT {CURRENT_DB} AS catalog_name,"
        f" nspname AS schema_name, '{OWNER}' AS schema_owner, NULL::VARCHAR AS"
        " default_character_set_catalog, NULL::VARCHAR AS default_character_set_schema,"
        " NULL::VARCHAR AS default_character_set_name, NULL::VARCHAR AS sql_path"
        f" FROM {s}.pg_namespace",
        f"CREATE OR REPLACE VIEW {v}table_constraints AS SELECT {pk}, 'PRIMARY KEY' AS"
        " constraint_type, 'NO' AS is_deferrable, 'NO' AS initially_deferred, 'YES' AS"
        f" enforced, NULL::VARCHAR AS nulls_distinct FROM {s}.zeroetl_pk p",
        f"CREATE OR REPLACE VIEW {v}key_column_usage AS SELECT {pk}, unnest(p.pk) AS"
        " column_name, generate_subscripts(p.pk, 1)::INTEGER AS ordinal_position,"
        f" NULL::INTEGER AS position_in_unique_constraint FROM {s}.zeroetl_pk p",
        f"CREATE OR REPLACE VIEW {v}constraint_column_usage AS SELECT {CURRENT_DB} AS"
        " table_catalog, p.schema_name AS table_schema, p.table_name, unnest(p.pk) AS"
        f" column_name, {CURRENT_DB} AS constraint_catalog, p.schema_name AS"
        f" constraint_schema, p.table_name || '_pkey' AS constraint_name FROM {s}.zeroetl_pk p",
        # no foreign keys here: the right columns, no rows
        f"CREATE OR REPLACE VIEW {v}referential_constraints AS SELECT NULL::VARCHAR AS"
        " constraint_catalog, NULL::VARCHAR AS constraint_schema, NULL::VARCHAR AS"
        " constraint_name, NULL::VARCHAR AS unique_constraint_catalog, NULL::VARCHAR AS"
        " unique_constraint_schema, NULL::VARCHAR AS unique_constraint_name, NULL::VARCHAR AS"
        " match_option, NULL::VARCHAR AS update_rule, NULL::VARCHAR AS delete_rule WHERE false",
    ]
