"""Translation of Redshift-dialect queries for a ClickHouse-backed target database, and what it
refuses before ClickHouse sees anything (clickhouse_query.py). Runs on a catalog written out
here; the same queries run on real chDB in tests/integration/test_sql_clickhouse.py."""

from __future__ import annotations

import pytest

from zeroetl.server.sql import clickhouse_query as chq
from zeroetl.server.sql import pgcompat, rewrite
from zeroetl.server.sql.errors import SqlError

CATALOG = chq.Catalog(
    {
        ("shop", "orders"): {"id": "Int32", "amount": "Nullable(Decimal(10, 2))",
                             "placed": "Nullable(DateTime64(6, 'UTC'))", "note": "Nullable(String)"},
        ("shop", "items"): {"id": "Int32", "order_id": "Int32", "qty": "Int16"},
    }
)  # fmt: skip


def translate(sql: str, schemas: tuple[str, ...] = ("shop",)) -> chq.Translated:
    norm = pgcompat.normalize(rewrite.normalize(sql))
    return chq.translate(
        chq.parse(norm), norm, database="shopdb", schemas=list(schemas), catalog=CATALOG
    )


def refused(sql: str) -> SqlError:
    with pytest.raises(SqlError) as e:
        translate(sql)
    return e.value


def test_tables_read_final_with_the_sources_columns_only() -> None:
    done = translate("select * from orders")
    assert done.sql == (
        'SELECT * FROM (SELECT "id", "amount", "placed", "note" FROM "shop"."orders" FINAL)'
        ' AS "orders"'
    )
    assert done.tables == [("shop", "orders")]
    for name in ("shopdb.shop.orders", "shop.orders", "SHOP.ORDERS"):
        assert '"shop"."orders" FINAL' in translate(f"select id from {name} o").sql
    assert '"shop"."orders" FINAL) AS "o"' in translate("select o.id from orders o").sql


def test_integer_division_truncates_and_other_division_does_not() -> None:
    sql = translate("select id / 2, qty / id, amount / 2, 7 / 2.0 from items, orders").sql
    assert 'intDiv("id", 2)' in sql and 'intDiv("qty", "id")' in sql
    assert 'toDecimal128("amount", 10) / 2' in sql and "toDecimal128(7, 10) / 2.0" in sql


def test_result_names_as_postgresql_names_them() -> None:
    done = translate("select count(*), 1, 2, id as n, o.id from orders o")
    assert sorted(done.labels.values()) == ["?column?", "?column?", "count"]


@pytest.mark.parametrize(
    "sql",
    [
        "insert into orders values (1)",
        "update orders set note = 'x'",
        "delete from orders",
        "create table shop.t (a int)",
        "drop table orders",
        "select * into shop.copy from orders",
        "truncate orders",
    ],
)
def test_only_queries(sql: str) -> None:
    e = refused(sql)
    assert e.sqlstate == "0A000"
    assert "only queries" in e.message


@pytest.mark.parametrize(
    "sql",
    [
        "select * from file('/etc/passwd', 'LineAsString')",
        "select * from url('http://127.0.0.1:1/x', 'CSV')",
        "select * from s3('http://bucket/x.csv')",
        "select * from remote('127.0.0.1', 'system', 'one')",
        "select * from mysql('h:3306', 'db', 't', 'u', 'p')",
        "select * from executable('cat /etc/passwd', 'TSV', 'x String')",
        "select * from input('x String')",
        "select * from Python(zeroetl_rows)",  # chDB reads the caller's Python objects
        "select * from orders, file('/etc/passwd') f",
    ],
)
def test_table_functions_refused(sql: str) -> None:
    e = refused(sql)
    assert e.sqlstate == "42501", e.message
    assert "table function" in e.message


@pytest.mark.parametrize(
    "sql",
    [
        "select file('/etc/passwd')",
        "select dictGet('d', 'x', 1) from orders",
        "select getSetting('readonly')",
        "select hostName(), id from orders",
        "select id from orders where url('x') is null",
    ],
)
def test_functions_reaching_outside_refused(sql: str) -> None:
    e = refused(sql)
    assert e.sqlstate == "42501"
    assert "outside the replicated tables" in e.message


@pytest.mark.parametrize(
    "sql",
    [
        "select * from system.tables",
        "select * from system.one",
        "select * from information_schema.tables",
        "select * from _zeroetl.state",
        "select * from shopdb._zeroetl.state",
    ],
)
def test_system_tables_refused(sql: str) -> None:
    e = refused(sql)
    assert e.sqlstate == "42501"
    assert "not reachable" in e.message


@pytest.mark.parametrize(
    ("sql", "word"),
    [
        ("select * from orders settings readonly = 0", "SETTINGS"),
        ("select id from orders SETTINGS max_threads = 64", "SETTINGS"),
        ("select * from orders into outfile '/tmp/x'", "INTO OUTFILE"),
        ("select * from orders format JSONEachRow", "FORMAT"),
        ("select * from orders FORMAT Native;", "FORMAT"),
    ],
)
def test_clickhouse_clauses_refused(sql: str, word: str) -> None:
    e = refused(sql)
    assert e.sqlstate == "42501"
    assert e.message.startswith(word)


def test_names_in_text_are_not_clauses() -> None:
    assert translate("select 'settings format json' as \"settings\" from orders").sql


def test_other_databases_and_unknown_tables() -> None:
    assert refused("select * from otherdb.shop.orders").sqlstate == "0A000"
    e = refused("select * from nowhere")
    assert (e.sqlstate, e.message) == ("42P01", 'relation "nowhere" does not exist')
    with pytest.raises(SqlError) as no_path:
        translate("select * from orders", schemas=())
    assert no_path.value.sqlstate == "42P01"


def test_ctes_are_not_tables() -> None:
    sql = translate("with orders as (select 1 as id) select id from orders").sql
    assert "FINAL" not in sql


def test_comments_and_escapes_cannot_reach_past_the_text() -> None:
    """No comment survives (the endpoint's SETTINGS follow the text), and quotes and
    backslashes stay inside their literal or identifier."""
    sql = translate("select 'x' /* a */ as y, 'a\\\\' as z, 1 as \"q\"\"\" from orders -- b").sql
    assert "/*" not in sql and "--" not in sql
    assert "'a\\\\'" in sql and '"q"""' in sql
