"""The catalog of a ClickHouse-backed target database (clickhouse_catalog.py) answers as the
DuckDB-backed one does for the same tables, in process (SqlSession on the test hub of
test_sql_clickhouse.py: TICKIT written through both destinations, real chDB and MariaDB).
psql and psycopg against a real `zeroetl serve`: tests/e2e/test_clickhouse_catalog.py."""

from __future__ import annotations

import pytest
from tests.integration import test_sql_clickhouse as chsql
from tests.integration.test_sql_clickhouse import CH_DB, _answer, _sessions

from zeroetl.server.sql import clickhouse_catalog
from zeroetl.server.sql.grants import Access
from zeroetl.server.sql.policy import Policy
from zeroetl.server.sql.session import SqlError, SqlSession
from zeroetl.server.sql.users_store import UserStore

pytestmark = pytest.mark.integration

both = chsql.both  # the fixture: TICKIT in DuckDB (tickitdb) and in chDB (chtickit)

TABLES = (
    "select c.relname from pg_class c join pg_namespace n on n.oid = c.relnamespace"
    " where c.relkind = 'r' and n.nspname = 'demodb' and pg_table_is_visible(c.oid)"
    " order by 1"
)
COLUMNS = (
    "select a.attnum, a.attname, format_type(a.atttypid, a.atttypmod), a.attnotnull"
    " from pg_attribute a where a.attrelid = 'demodb.sales'::regclass and a.attnum > 0"
    " order by a.attnum"
)


def test_pg_catalog_lists_the_replicated_tables_with_the_sources_columns(both) -> None:  # type: ignore[no-untyped-def]
    duck, ch = _sessions(both)
    tables = _answer(ch, TABLES)[1]
    assert [t for (t,) in tables] == sorted([*(t for (t,) in _answer(duck, TABLES)[1]), "notes"])
    cols = _answer(ch, COLUMNS)[1]
    assert [c[1] for c in cols] == [c[1] for c in _answer(duck, COLUMNS)[1]]
    assert not {"_version", "_is_deleted", "_synced_at"} & {c[1] for c in cols}
    types = {c[1]: c[2] for c in cols}
    assert types["salesid"] == "integer" and types["pricepaid"] == "numeric(8,2)"
    assert types["saletime"] == "timestamp without time zone"
    assert {c[1]: c[3] for c in cols}["salesid"] is True  # the key is NOT NULL
    # the primary key, as for DuckDB: an index and a constraint
    pk = "select pg_get_constraintdef(oid) from pg_constraint where conrelid = 'demodb.sales'::regclass"
    assert _answer(ch, pk)[1] == _answer(duck, pk)[1] == [("PRIMARY KEY (salesid)",)]
    # not on the search path: not visible, as in PostgreSQL
    ch.execute("SET search_path TO public")
    assert _answer(ch, TABLES)[1] == []


def test_information_schema_and_svv_views_match_duckdb(both) -> None:  # type: ignore[no-untyped-def]
    duck, ch = _sessions(both)
    sql = (
        "select table_catalog, table_schema, table_name, column_name, ordinal_position,"
        " is_nullable, data_type, numeric_precision, numeric_scale from {} where table_schema ="
        " 'demodb' and table_name = 'event' order by ordinal_position"
    )
    for view in ("information_schema.columns", "svv_columns"):
        got, want = _answer(ch, sql.format(view))[1], _answer(duck, sql.format(view))[1]
        assert [r[0] for r in got] == [CH_DB] * len(got)
        # the same columns; character types are `text` here (what a query returns)
        same = [(r[1:6], r[7:]) for r in got]
        assert same == [(r[1:6], r[7:]) for r in want]
        assert [r[6] for r in got] == [
            "text" if w[6] == "character varying" else w[6] for w in want
        ]
    t = "select table_name, table_type from {} where table_schema = 'demodb' order by 1"
    for view in ("information_schema.tables", "svv_tables"):
        want = sorted([*_answer(duck, t.format(view))[1], ("notes", "BASE TABLE")])
        assert _answer(ch, t.format(view))[1] == want  # notes: in ClickHouse only
    # the hub's own objects are not listed in the ClickHouse-backed database
    ns = (
        "select nspname from pg_namespace where nspname not in ('pg_catalog', 'information_schema')"
    )
    assert _answer(ch, ns)[1] == [("demodb",)]


def test_listing_needs_no_grant_reading_does(both) -> None:  # type: ignore[no-untyped-def]
    """As on DuckDB (docs/sql-endpoint.md): every table is listed, reading rows is refused."""
    backend, _conn, db = both
    policy = Policy(Access(UserStore(backend.root)))
    guarded = SqlSession(backend, database=CH_DB, user="nobody", policy=policy)
    guarded.execute(f'SET search_path TO "{db}"')
    assert ("category",) in _answer(guarded, TABLES)[1]
    with pytest.raises(Exception) as e:
        guarded.execute("select * from category")
    assert getattr(e.value, "sqlstate", "") == "42501"


def test_result_types_are_what_the_catalog_says(both) -> None:  # type: ignore[no-untyped-def]
    """Every ClickHouse type the mapping writes has the PostgreSQL type a query returns."""
    from zeroetl.server.pgwire import types as wire

    _backend, _conn, db = both
    _duck, ch = _sessions(both)
    for table in ("sales", "event", "users", "date", "notes"):
        r = ch.execute(f"select * from {table} limit 1")
        cols = r.columns or []
        list(r.batches)
        got = _answer(ch, f"select atttypid, atttypmod from pg_attribute where attrelid ="
                          f" '{db}.{table}'::regclass and attnum > 0 order by attnum")[1]  # fmt: skip
        codecs = [wire.codec_for(c.type, c.pg_type) for c in cols]
        assert got == [(k.pg.oid, k.typmod) for k in codecs], table


@pytest.mark.parametrize(
    ("ch_type", "want"),
    [
        ("Int8", (21, -1, False)), ("UInt16", (23, -1, False)), ("UInt32", (20, -1, False)),
        ("Nullable(Int64)", (20, -1, True)), ("UInt64", (1700, -1, False)),
        ("Decimal(65, 30)", (1700, ((65 << 16) | 30) + 4, False)),
        ("Nullable(Decimal(10, 2))", (1700, ((10 << 16) | 2) + 4, True)),
        ("DateTime64(6, 'UTC')", (1114, -1, False)), ("Date32", (1082, -1, False)),
        ("Time64(6)", (1083, -1, False)), ("LowCardinality(Nullable(String))", (25, -1, True)),
        ("Float32", (700, -1, False)), ("Bool", (16, -1, False)),
    ],
)  # fmt: skip
def test_pg_type_of_clickhouse_types(ch_type: str, want: tuple[int, int, bool]) -> None:
    assert clickhouse_catalog.pg_type(ch_type) == want


def test_binary_columns_are_bytea() -> None:
    assert clickhouse_catalog.pg_type("String", binary=True)[0] == 17


def test_mixing_clickhouse_with_duckdb_says_which_databases_and_why(both) -> None:  # type: ignore[no-untyped-def]
    backend, _conn, db = both
    for database in ("dev", CH_DB, "tickitdb"):
        s = SqlSession(backend, database=database, user="analyst")
        for sql in (
            f"select * from {CH_DB}.{db}.sales join tickitdb.{db}.users on true",
            f"select count(*) from {CH_DB}.{db}.sales where sellerid in"
            f" (select userid from tickitdb.{db}.users)",
        ):
            with pytest.raises(SqlError) as e:
                s.execute(sql)
            assert e.value.sqlstate == "0A000"
            assert f'database "{CH_DB}", which is replicated into ClickHouse' in e.value.message
            assert 'ClickHouse cannot read database "tickitdb"' in e.value.message
            assert "separately" in (e.value.hint or "")
        # a system view (answered by the endpoint itself) with a ClickHouse table
        with pytest.raises(SqlError) as e:
            s.execute(f"select * from {CH_DB}.{db}.sales, svv_integration")
        assert e.value.sqlstate == "0A000", e.value.message
        assert "svv_integration cannot be read in the same query as tables of" in e.value.message


def test_the_catalog_follows_clickhouse_ddl(both) -> None:  # type: ignore[no-untyped-def]
    """A table created, a column added, a table dropped: listed within REFRESH_EVERY_S."""
    import time

    from tests.sql_backend import int_col

    from zeroetl.model import ColumnSchema, Kind, LogicalType, TableId, TableSchema

    backend, _conn, _db = both
    ch = SqlSession(backend, database=CH_DB, user="analyst")
    ch.execute("SET search_path TO extra")
    cols = "select attname, format_type(atttypid, atttypmod) from pg_attribute where attrelid = 'extra.t'::regclass and attnum > 0 order by attnum"  # fmt: skip
    t = TableSchema(TableId("extra", "t"), (int_col("id", False),), ("id",))
    backend.ch.create_table(t)
    try:
        time.sleep(clickhouse_catalog.REFRESH_EVERY_S + 0.1)
        assert _answer(ch, cols)[1] == [("id", "integer")]
        backend.ch.add_column(t.id, ColumnSchema("amount", LogicalType(Kind.DECIMAL, 12, 2), True))
        time.sleep(clickhouse_catalog.REFRESH_EVERY_S + 0.1)
        assert _answer(ch, cols)[1] == [("id", "integer"), ("amount", "numeric(12,2)")]
    finally:
        backend.ch.drop_table(t.id)
        backend.ch._t.command("DROP DATABASE IF EXISTS `extra`")
    time.sleep(clickhouse_catalog.REFRESH_EVERY_S + 0.1)
    assert _answer(ch, "select count(*) from pg_class where relname = 't'")[1] == [(0,)]
