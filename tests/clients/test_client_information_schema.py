"""`information_schema` shaped like PostgreSQL's (what dbt, Metabase's sync, notebooks and
hand-written catalog queries read): PostgreSQL type names in `columns.data_type` and `udt_name`,
varchar lengths, primary-key columns NOT NULL, primary keys in `table_constraints` and
`key_column_usage`, and `schemata`, `tables`, `views`, over psycopg 3."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
from tests.client_support import SOURCE, TARGET, Endpoint

pytestmark = pytest.mark.integration


@pytest.fixture
def conn(endpoint: Endpoint) -> Iterator[psycopg.Connection[Any]]:
    with psycopg.connect(endpoint.dsn(TARGET), autocommit=True) as c:
        yield c


@pytest.fixture
def dev(endpoint: Endpoint) -> Iterator[psycopg.Connection[Any]]:
    with psycopg.connect(endpoint.dsn("dev"), autocommit=True) as c:
        yield c


def q(c: psycopg.Connection[Any], sql: str, params: Any = None) -> list[tuple[Any, ...]]:
    return [tuple(r) for r in c.execute(sql, params).fetchall()]


def test_columns(conn: psycopg.Connection[Any]) -> None:
    got = q(
        conn,
        "select column_name, ordinal_position, is_nullable, data_type, udt_name,"
        " character_maximum_length, numeric_precision, numeric_scale, datetime_precision,"
        " table_catalog, udt_schema from information_schema.columns"
        " where table_schema = %s and table_name = 'customers' order by ordinal_position",
        [SOURCE],
    )
    assert got == [
        ("id", 1, "NO", "integer", "int4", None, 32, 0, None, TARGET, "pg_catalog"),
        ("name", 2, "NO", "character varying", "varchar", 30, None, None, None, TARGET,
         "pg_catalog"),
        ("email", 3, "YES", "character varying", "varchar", 100, None, None, None, TARGET,
         "pg_catalog"),
        ("balance", 4, "YES", "numeric", "numeric", None, 10, 2, None, TARGET, "pg_catalog"),
        ("created", 5, "YES", "timestamp without time zone", "timestamp", None, None, None, 6,
         TARGET, "pg_catalog"),
        ("flags", 6, "YES", "smallint", "int2", None, 16, 0, None, TARGET, "pg_catalog"),
    ]  # fmt: skip
    # the two-column key: both NOT NULL although the replica declares no constraint
    keyed = q(
        conn,
        "select column_name, is_nullable, data_type from information_schema.columns where"
        " table_schema = %s and table_name = 'order_lines' order by ordinal_position",
        [SOURCE],
    )
    assert keyed == [
        ("order_id", "NO", "bigint"),
        ("line_no", "NO", "integer"),
        ("qty", "NO", "integer"),
        ("sku", "YES", "character varying"),
    ]


def test_tables_views_schemata(conn: psycopg.Connection[Any], dev: psycopg.Connection[Any]) -> None:
    tables = q(
        conn,
        "select table_catalog, table_name, table_type, is_insertable_into from"
        " information_schema.tables where table_schema = %s order by table_name",
        [SOURCE],
    )
    assert ("analytics", "customers", "BASE TABLE", "NO") in tables  # replicas are read-only
    assert len(tables) == 5
    schemata = [r[0] for r in q(conn, "select schema_name from information_schema.schemata")]
    assert SOURCE in schemata and "information_schema" in schemata and "pg_catalog" in schemata
    assert not [s for s in schemata if s.startswith("_zeroetl")]
    assert q(conn, "select catalog_name, schema_owner from information_schema.schemata where"
             " schema_name = %s", [SOURCE]) == [(TARGET, "admin")]  # fmt: skip
    assert q(
        dev,
        "select table_name, table_type, is_insertable_into from information_schema.tables"
        " where table_schema = 'public' order by table_name",
    ) == [("note_view", "VIEW", "NO"), ("notes", "BASE TABLE", "YES")]
    views = q(
        dev,
        "select table_name, check_option, view_definition from information_schema.views"
        " where table_schema = 'public'",
    )
    assert [v[:2] for v in views] == [("note_view", "NONE")]
    assert "notes" in views[0][2]


def test_primary_keys(conn: psycopg.Connection[Any], dev: psycopg.Connection[Any]) -> None:
    constraints = q(
        conn,
        "select constraint_name, table_name, constraint_type from"
        " information_schema.table_constraints where table_schema = %s order by table_name",
        [SOURCE],
    )
    assert ("order_lines_pkey", "order_lines", "PRIMARY KEY") in constraints
    assert ("customers_pkey", "customers", "PRIMARY KEY") in constraints
    usage = q(
        conn,
        "select k.column_name, k.ordinal_position from information_schema.table_constraints t"
        " join information_schema.key_column_usage k on k.constraint_name = t.constraint_name"
        " and k.table_schema = t.table_schema and k.table_name = t.table_name"
        " where t.constraint_type = 'PRIMARY KEY' and t.table_schema = %s"
        " and t.table_name = 'order_lines' order by k.ordinal_position",
        [SOURCE],
    )
    assert usage == [("order_id", 1), ("line_no", 2)]
    assert q(
        dev,
        "select column_name from information_schema.key_column_usage where table_name = 'notes'",
    ) == [("id",)]
    # the bookkeeping never shows
    hidden = q(
        conn,
        "select count(*) from information_schema.columns where table_schema like '\\_zeroetl%%'",
    )
    assert hidden == [(0,)]
