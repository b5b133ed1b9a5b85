"""Names and numbers the PostgreSQL catalog emulation shares (catalog.py and the modules that
build its parts), in a module of their own so those modules do not import one another."""

from __future__ import annotations

SCHEMA = "_zeroetl_pg"
OWNER = "admin"  # the superuser owns what replication made (its id is 100, as in users_store)
SERVER_VERSION = "15.0"
VERSION_TEXT = "PostgreSQL 15.0 (zeroetl 0.1.0, DuckDB 2.0) on x86_64-pc-linux-gnu, compiled by zeroetl, 64-bit"
PK_OID = 2_000_000_000  # synthesized index oid = table oid + PK_OID (fits PostgreSQL's uint32)
CON_OID = 3_000_000_000  # synthesized constraint oid = table oid + CON_OID

# A session of a ClickHouse-backed target database names it in this DuckDB variable on its own
# cursor (clickhouse_catalog.py): the catalog views list its ClickHouse tables, not DuckDB's.
CH_DB = "getvariable('zeroetl_ch_db')"
ON_DUCKDB = f"{CH_DB} IS NULL"
CURRENT_DB = f"coalesce({CH_DB}, current_database())"  # the session's database, in views
