"""Redshift-shaped answers from the SQL layer on a real DuckDB hub: result types of aggregates,
column labels, string lengths, the search path as users see it, and errors that never name
zeroetl's internal objects (a corpus of typical mistakes)."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pytest
import sqlglot
from tests.sql_backend import HubBackend, add_table, sales_schema

from zeroetl.model import ColumnSchema, Kind, LogicalType, TableId, TableSchema, TableState
from zeroetl.server.pgwire.types import codec_for
from zeroetl.server.sql import pgerrors, shapes
from zeroetl.server.sql.session import SqlError, SqlSession
from zeroetl.service.hub import attach_workspace


@pytest.fixture
def s(tmp_path: Path) -> SqlSession:
    b = HubBackend(tmp_path)
    d = b.attach("aurora")
    rows = [
        dict(salesid=i, qtysold=i % 4 + 1, pricepaid=Decimal("10.50") * i, saletime=None,
             note=f"n{i}")
        for i in range(1, 11)
    ]  # fmt: skip
    add_table(d, sales_schema(), rows)
    wide = TableSchema(
        TableId("demodb", "wide"),
        (
            ColumnSchema("id", LogicalType(Kind.INT64), False, "bigint"),
            ColumnSchema("big", LogicalType(Kind.INT64), True, "bigint"),
            ColumnSchema("code", LogicalType(Kind.STRING), True, "char(4)"),
            ColumnSchema("body", LogicalType(Kind.STRING), True, "text"),
        ),
        ("id",),
    )
    add_table(d, wide, [dict(id=1, big=2**62, code="ab", body="x"),
                        dict(id=2, big=2**62, code="cd", body="y")])  # fmt: skip
    return SqlSession(b, database="aurora", user="admin")


def result(s: SqlSession, sql: str) -> tuple[list[Any], list[tuple[Any, ...]]]:
    r = s.execute(sql)
    assert r.columns is not None
    out: list[tuple[Any, ...]] = []
    for batch in r.batches:
        out.extend(zip(*(c.to_pylist() for c in batch.columns), strict=True))
    return r.columns, out


def wire(col: Any) -> tuple[str, int, int]:
    """(label, type oid, typmod) as RowDescription announces the column."""
    codec = codec_for(col.type, col.pg_type)
    return col.name, codec.pg.oid, codec.typmod


def test_sum_and_avg_types_are_redshifts(s: SqlSession) -> None:
    cols, rows = result(
        s,
        "select sum(salesid), sum(qtysold), avg(salesid), avg(qtysold), sum(pricepaid),"
        " avg(pricepaid), count(*), sum(salesid::float8), avg(qtysold::float8),"
        " sum(salesid) over () as w, sum(distinct qtysold) from demodb.sales group by salesid"
        " order by 1 limit 1",
    )
    assert [wire(c)[1] for c in cols] == [20, 20, 20, 20, 1700, 1700, 20, 701, 701, 20, 20]
    assert [wire(c)[2] for c in cols][4:6] == [(38 << 16 | 2) + 4] * 2  # DEC(38,2) both
    assert rows == [(1, 2, 1, 2, Decimal("10.50"), Decimal("10.50"), 1, 1.0, 2.0, 55, 2)]
    # AVG of integers is BIGINT with the fraction dropped (2.5 -> 2), of decimals DEC(38,s)
    _, rows = result(s, "select avg(qtysold), avg(pricepaid), avg(-qtysold) from demodb.sales")
    assert rows == [(2, Decimal("57.75"), -2)]
    # in a CTE, a subquery, HAVING and ORDER BY too; a BIGINT overflow is an error, not a wrap
    _, rows = result(
        s,
        "with t as (select qtysold q from demodb.sales) select (select sum(q) from t) as a,"
        " sum(q) as b from t having sum(q) > 0 order by sum(q)",
    )
    assert rows == [(25, 25)]
    cols, _ = result(s, "with t as (select qtysold q from demodb.sales) select sum(q) from t")
    assert wire(cols[0])[1] == 20
    with pytest.raises(SqlError) as e:
        result(s, "select sum(big) from demodb.wide")
    assert e.value.sqlstate == "22003"


def test_labels_are_the_names_users_wrote(s: SqlSession) -> None:
    cols, _ = result(
        s,
        "select current_database(), getdate(), sysdate, datediff(day, saletime, getdate()),"
        " dateadd(day, 1, saletime), nvl(note, 'x'), coalesce(note, 'x'), count(*), sum(qtysold),"
        " salesid::int, 1::int, 'a'::char(3), 1 + 1, upper(note), now(), current_timestamp,"
        " current_date, case when true then 1 end, (select max(salesid) from demodb.sales),"
        " true, pg_catalog.lower(note), date_part('year', saletime), current_user,"
        " current_schema(), approximate count(distinct note), listagg(note) within group"
        " (order by note), note as n from demodb.sales group by all",
    )
    assert [c.name for c in cols] == [
        "current_database", "getdate", "timestamp", "date_diff", "date_add", "coalesce",
        "coalesce", "count", "sum", "salesid", "int4", "bpchar", "?column?", "upper", "now",
        "current_timestamp", "current_date", "case", "max", "bool", "lower", "pgdate_part",
        "current_user", "current_schema", "count", "listagg", "n",
    ]  # fmt: skip
    assert not any("zeroetl" in c.name or "ts_or_ds" in c.name for c in cols)


def test_string_lengths_reach_the_row_description(s: SqlSession) -> None:
    cols, _ = result(s, "select * from demodb.wide")
    assert [wire(c) for c in cols] == [
        ("id", 20, -1), ("big", 20, -1), ("code", 1042, 8), ("body", 25, -1)
    ]  # fmt: skip
    cols, _ = result(
        s,
        "select w.code, note, note::varchar(5), cast(salesid as char(9)), upper(note), s.*"
        " from demodb.sales s join demodb.wide w on w.id = s.salesid",
    )
    assert [wire(c)[1:] for c in cols][:5] == [(1042, 8), (1043, 24), (1043, 9), (1042, 13),
                                               (25, -1)]  # fmt: skip
    assert wire(cols[-1]) == ("note", 1043, 24)
    # described (Parse/Describe) the same way as executed
    _types, described = s.describe("select note, code from demodb.sales, demodb.wide")
    assert described is not None and [wire(c)[1:] for c in described] == [(1043, 24), (1042, 8)]


def test_search_path_and_current_schemas_show_no_internal_schema(s: SqlSession) -> None:
    assert result(s, "show search_path")[1] == [('"$user", public',)]
    _, rows = result(s, "select current_schema(), current_schemas(true), current_schemas(false)")
    assert rows == [("public", ["pg_catalog", "public"], ["public"])]
    s.execute("set search_path to demodb, public")
    _, rows = result(s, "select current_schema, current_schemas(true), count(*) from sales")
    assert rows == [("demodb", ["pg_catalog", "demodb", "public"], 10)]
    assert result(s, "show search_path")[1] == [("demodb, public",)]
    s.execute("reset search_path")
    assert result(s, "select current_schemas(false)")[1] == [(["public"],)]


# (statement, SQLSTATE, what the message says, what the hint may suggest or None)
MISTAKES = [
    ("select * from demodb.sale", "42P01", 'relation "sale" does not exist', '"sales"'),
    ("select * from tables", "42P01", 'relation "tables" does not exist', None),
    ("select * from demodb.tabels", "42P01", 'relation "tabels" does not exist', None),
    ("select * from checkpoint", "42P01", 'relation "checkpoint" does not exist', None),
    ("select * from pg_clas", "42P01", 'relation "pg_clas" does not exist', '"pg_class"'),
    ("select * from nosuch.sales", "42P01", 'relation "nosuch.sales" does not exist', None),
    ("select salesidd from demodb.sales", "42703", 'column "salesidd" does not exist',
     '"salesid"'),
    ("select x.salesid from demodb.sales", "42P01", 'table "x"', None),
    ("select lenn(note) from demodb.sales", "42883", "function lenn does not exist", '"len"'),
    ("select zeroetl_getdat()", "42883", "does not exist", '"getdate"'),
    ("select w.nosuch from demodb.wide w", "42703", "column w.nosuch does not exist", None),
    ("select sum(note) from demodb.sales", "42883",
     "function sum(character varying) does not exist", "explicit type casts"),
    ("select 'abc'::int", "22P02", 'invalid input syntax for type integer: "abc"', None),
    ("select * from demodb.sales where note = 1", "22P02", "invalid input syntax for type", None),
    ("select getdat()", "42883", "function getdat does not exist", None),
    ("select 'x'::regclass::oid + zeroetl_regclass_oid(1, 2)", None, "", None),
]  # fmt: skip


@pytest.mark.parametrize("sql,state,says,suggests", MISTAKES, ids=[m[0] for m in MISTAKES])
def test_errors_never_name_internal_objects(
    s: SqlSession, sql: str, state: str | None, says: str, suggests: str | None
) -> None:
    with pytest.raises(SqlError) as e:
        result(s, sql)
    err = e.value
    text = f"{err.message}\n{err.detail}\n{err.hint}"
    for word in ("zeroetl_", "_zeroetl", "duckdb_", "zq_", "ts_or_ds", "Did you mean \"\"",
                 "LINE 1", "HUGEINT", "INT32"):  # fmt: skip
        assert word not in text, text
    if state is not None:
        assert err.sqlstate == state and says in err.message, text
    if suggests is not None:
        assert suggests in err.hint, text


def test_error_translation_of_duckdb_texts() -> None:
    cases = [
        (duckdb.CatalogException('Catalog Error: Table with name tabels does not exist!\nDid you'
                                 ' mean "information_schema.tables or db._zeroetl.tables"?'),
         ("42P01", 'relation "tabels" does not exist', 'Did you mean "information_schema.tables"?')),
        (duckdb.CatalogException('Catalog Error: Table with name objects does not exist!\nDid you'
                                 ' mean "_zeroetl.objects"?'),
         ("42P01", 'relation "objects" does not exist', "")),
        (duckdb.CatalogException('Catalog Error: Table with name x does not exist!\nDid you mean'
                                 ' "memory.main.x"?'), ("42P01", 'relation "x" does not exist', "")),
        (duckdb.BinderException('Binder Error: Macro zeroetl_regclass_oid() does not support the'
                                ' supplied arguments.\nCandidate macros:\n\tzeroetl_regclass_oid'
                                '(zq_name)'),
         ("42804", "Macro ?() does not support the supplied arguments.", "")),
        (duckdb.BinderException('Binder Error: Referenced column "nme" not found in FROM clause!'
                                '\nCandidate bindings: "name", "zq_a0"\n\nLINE 1: select'
                                ' zeroetl_getdate()'),
         ("42703", 'column "nme" does not exist', 'Did you mean "name"?')),
    ]  # fmt: skip
    for err, (state, message, hint) in cases:
        msg = str(err).split(": ", 1)[1]
        got = pgerrors.translate(err, msg, "memory")
        assert (got.sqlstate, got.message, got.hint) == (state, message, hint)


def test_labels_of_a_parsed_statement() -> None:
    text = "select getdate(), Foo.Bar(x), x::numeric, (1), -x, exists(select 1) from t"
    tree = sqlglot.parse_one(text, read="redshift")
    assert shapes.labels(tree, text) == ["getdate", "bar", "x", "?column?", "?column?", "exists"]
    text = "select 't'::regclass::oid, 'x'::regclass"  # object identifier types, as drivers send
    tree = sqlglot.parse_one(text, read="postgres")
    assert shapes.labels(tree, text) == ["oid", "regclass"]
    assert shapes.pg_string_type("varchar(30)") == "varchar(30)"
    assert shapes.pg_string_type("char(4) binary") == "bpchar(4)"
    assert shapes.pg_string_type("text") == ""
    assert codec_for(pa.string(), "varchar(30)").typmod == 34
    assert codec_for(pa.int32(), "varchar(30)").pg.oid == 23  # a hint only shapes strings


@pytest.mark.parametrize(
    "state,reason,says,advice",
    [
        (TableState.FAILED, "unsupported column type geometry", "will not resume on its own",
         "ALTER DATABASE aurora INTEGRATION REFRESH TABLE demodb.t"),
        (TableState.RESYNC_INITIATED, "initial snapshot in progress", "is being copied",
         "retry when svv_integration_table_state shows the table Synced"),
        (TableState.RESYNC_REQUIRED, "table changed", "starts automatically",
         "retry when svv_integration_table_state shows the table Synced"),
        (TableState.DELETED, "dropped at the source", "dropped at the source",
         "ALTER DATABASE aurora INTEGRATION REFRESH TABLE demodb.t"),
    ],
    ids=["failed", "copying", "queued", "deleted"],
)  # fmt: skip
def test_a_table_not_queryable_says_what_to_do(
    tmp_path: Path, state: TableState, reason: str, says: str, advice: str
) -> None:
    b = HubBackend(tmp_path)
    d = b.attach("aurora")
    t = TableSchema(TableId("demodb", "t"), (ColumnSchema("id", LogicalType(Kind.INT32)),), ())
    add_table(d, t, [], state, reason)
    s = SqlSession(b, database="aurora", user="admin")
    with pytest.raises(SqlError) as e:
        result(s, "select * from demodb.t")
    err = e.value
    assert err.sqlstate == "55000" and state.value in err.message and reason in err.message
    assert says in err.message and advice in err.hint, (err.message, err.hint)
    if state is TableState.FAILED:
        assert "retry" not in err.hint and "wait" not in err.hint  # waiting never fixes it


def test_a_cte_named_like_a_replicated_table_has_its_own_types(s: SqlSession) -> None:
    s.execute("set search_path to demodb")
    five = "select 1 as a, 2 as b, 3 as c, 4 as d, 'abcdef' as e"  # as many columns as sales
    cols, rows = result(s, f"with sales as ({five}) select * from sales")
    assert wire(cols[4]) == ("e", 25, -1) and rows == [(1, 2, 3, 4, "abcdef")]
    cols, _ = result(s, "select note from sales")
    assert [wire(c) for c in cols] == [("note", 1043, 24)]


@pytest.mark.parametrize(
    "sql,message",
    [
        ("select * fro t", 'syntax error at or near "t"'),
        ("selec 1", 'syntax error at or near "1"'),
        ("select (1", "syntax error at end of input"),
        ("select 1 from demodb.sales where", "syntax error at end of input"),
        ("select datediff(day)", "syntax error at end of input"),
    ],
)
def test_syntax_errors_are_worded_as_postgresql_words_them(
    s: SqlSession, sql: str, message: str
) -> None:
    with pytest.raises(SqlError) as e:
        result(s, sql)
    assert (e.value.sqlstate, e.value.message) == ("42601", message)
    assert "sqlglot" not in e.value.detail and "class" not in e.value.detail


def test_tables_and_views_created_from_a_query_get_its_names_and_types(s: SqlSession) -> None:
    b = s._backend
    (b.root / "databases").mkdir(exist_ok=True)  # type: ignore[attr-defined]
    attach_workspace(b.hub, b.root)  # type: ignore[attr-defined]
    dev = SqlSession(b, database="dev", user="admin")  # type: ignore[arg-type]
    dev.execute(
        "create table made as select count(*), sum(qtysold), getdate() is not null,"
        " upper(note) from aurora.demodb.sales group by note"
    )
    dev.execute(
        "create view seen as select getdate(), sysdate, avg(qtysold) from aurora.demodb.sales"
    )
    for name, expected in [
        # information_schema speaks PostgreSQL's type names (infoschema.py)
        ("made", [("count", "BIGINT"), ("sum", "BIGINT"), ("?column?", "BOOLEAN"),
                  ("upper", "CHARACTER VARYING")]),
        ("seen", [("getdate", "TIMESTAMP WITHOUT TIME ZONE"),
                  ("timestamp", "TIMESTAMP WITHOUT TIME ZONE"), ("avg", "BIGINT")]),
    ]:  # fmt: skip
        _, got = result(
            dev,
            "select column_name, data_type from information_schema.columns where table_name ="
            f" '{name}' order by ordinal_position",
        )
        assert [(c, t.upper()) for c, t in got] == expected, got


def test_derived_tables_and_ctes_name_their_columns_as_postgresql_does(s: SqlSession) -> None:
    cols, rows = result(
        s,
        "with c as (select note, count(*), sum(qtysold) from demodb.sales group by note)"
        " select * from (select count(*), max(salesid) from demodb.sales) x, c"
        " where c.count > 0 and x.max = 10 order by note limit 1",
    )
    assert [wire(c)[:2] for c in cols] == [
        ("count", 20), ("max", 23), ("note", 25), ("count", 20), ("sum", 20)
    ]  # fmt: skip
    assert rows == [(10, 10, "n1", 1, 2)]


@pytest.mark.parametrize(
    "sql",
    [
        "select sum(a) from read_csv('/etc/passwd') t(a)",
        "select avg(a) from (select length(content) a from read_text('/etc/passwd'))",
        "with x as (select * from read_csv('/etc/hosts')) select sum(1) from x",
    ],
)
def test_the_type_probe_reaches_nothing_the_sandbox_refuses(s: SqlSession, sql: str) -> None:
    with pytest.raises(SqlError) as e:
        result(s, sql)
    assert e.value.sqlstate == "42501", e.value.message


def test_bounded_string_casts_keep_their_length(s: SqlSession) -> None:
    cols, rows = result(
        s,
        "select 'abcdef'::varchar(3) as v, 'ab'::char(4) as c, cast(12345 as varchar(2)) as n,"
        " count(*) from demodb.sales where 'abcdef'::varchar(3) = 'abc' and 'ab'::char(4) = 'ab'",
    )
    assert rows == [("abc", "ab", "12", 10)]
    char = codec_for(cols[1].type, cols[1].pg_type)
    assert [wire(c)[1:] for c in cols[:3]] == [(1043, 7), (1042, 8), (1043, 6)]
    arr = pa.array(["ab", None, "é"])  # as the source stores them (MySQL strips the padding)
    assert char.encode(arr, 0) == char.encode(arr, 1) == [b"ab", None, "é".encode()]
