"""Redshift's own catalog views and functions that its drivers read (beside catalog.py's pg_catalog).

- redshift_connector's metadata API reads `svv_tables` and `svv_columns` when no schema pattern
  is given, asks `svv_external_schemas` whether a schema is external, lists procedures from
  `pg_proc_info`, and adds the columns of late-binding views from
  `pg_get_late_binding_view_cols()`.
- sqlalchemy-redshift unions its relations, columns and constraints with
  `svv_external_tables` / `svv_external_columns` / `svv_external_schemas`, and its columns with
  `pg_get_late_binding_view_cols()` (an empty subquery: pgcompat.py).

Here nothing is external (Spectrum) and every view is bound to its tables, so those answer no
rows with Redshift's columns; `svv_tables` and `svv_columns` are the information_schema views
(infoschema.py) plus `remarks`, as on Redshift.
"""

from __future__ import annotations

from .pgcompat import INFO_PREFIX

NAMES = frozenset(
    {
        "svv_tables",
        "svv_columns",
        "svv_external_schemas",
        "svv_external_tables",
        "svv_external_columns",
        "pg_proc_info",
    }
)


def sql() -> list[str]:
    from .pgnames import SCHEMA

    s = SCHEMA
    v = f"{s}.{INFO_PREFIX}"
    return [
        f"CREATE OR REPLACE VIEW {s}.svv_tables AS SELECT table_catalog, table_schema,"
        f" table_name, table_type, NULL::VARCHAR AS remarks FROM {v}tables",
        f"CREATE OR REPLACE VIEW {s}.svv_columns AS SELECT table_catalog, table_schema,"
        " table_name, column_name, ordinal_position, column_default, is_nullable, data_type,"
        " character_maximum_length, numeric_precision, numeric_precision_radix, numeric_scale,"
        " datetime_precision, interval_type, interval_precision, character_set_catalog,"
        " character_set_schema, character_set_name, collation_catalog, collation_schema,"
        f" collation_name, domain_name, NULL::VARCHAR AS remarks FROM {v}columns",
        f"CREATE OR REPLACE VIEW {s}.svv_external_schemas AS SELECT 0::BIGINT AS esoid,"
        " 0 AS eskind, ''::VARCHAR AS schemaname, 0::BIGINT AS esowner, ''::VARCHAR AS"
        " databasename, ''::VARCHAR AS esoptions WHERE false",
        f"CREATE OR REPLACE VIEW {s}.svv_external_tables AS SELECT ''::VARCHAR AS"
        " redshift_database_name, ''::VARCHAR AS schemaname, ''::VARCHAR AS tablename,"
        " ''::VARCHAR AS tabletype, ''::VARCHAR AS location, ''::VARCHAR AS input_format,"
        " ''::VARCHAR AS output_format, ''::VARCHAR AS serialization_lib, ''::VARCHAR AS"
        " serde_parameters, 0 AS compressed, ''::VARCHAR AS parameters WHERE false",
        f"CREATE OR REPLACE VIEW {s}.svv_external_columns AS SELECT ''::VARCHAR AS"
        " redshift_database_name, ''::VARCHAR AS schemaname, ''::VARCHAR AS tablename,"
        " ''::VARCHAR AS columnname, ''::VARCHAR AS external_type, 0 AS columnnum,"
        " 0 AS part_key, ''::VARCHAR AS is_nullable WHERE false",
        f"CREATE OR REPLACE VIEW {s}.pg_proc_info AS SELECT 0::BIGINT AS prooid, ''::VARCHAR"
        " AS proname, 0::BIGINT AS pronamespace, 100::BIGINT AS proowner, 0::BIGINT AS prolang,"
        " 'f' AS prokind, false AS proretset, 0::BIGINT AS prorettype, 0 AS pronargs,"
        " [0::BIGINT] AS proargtypes, NULL::BIGINT[] AS proallargtypes, NULL::VARCHAR[] AS"
        " proargmodes, NULL::VARCHAR[] AS proargnames, ''::VARCHAR AS prosrc, NULL::VARCHAR[]"
        " AS proacl WHERE false",
    ]
