"""A Top N over a join runs its threshold form first (topn_join.py): the shape is rewritten only
where the prefix argument holds, the answer equals the query's on data made to break it (NULL
and tied keys, joins that drop and multiply rows, offsets), and a short fast result falls back
to the query itself."""

from __future__ import annotations

import random
from collections.abc import Iterator
from typing import Any

import duckdb
import pytest
from tests.sql_backend import HubBackend, add_table, int_col
from tests.unit.test_sql_session import backend  # noqa: F401  (fixture)
from tests.unit.test_workspace import rows

from zeroetl.model import TableId, TableSchema, TableState
from zeroetl.server.sql import dialect, topn_join
from zeroetl.server.sql.session import SqlSession

# the tables of the shape tests: name -> columns (nullable)
_TABLES = {
    "sales": {"salesid": False, "listid": False, "saletime": True, "note": True},
    "listing": {"listid": False, "listtime": True, "sellerid": True},
    "users": {"userid": False, "city": True},
}


def _columns(table: Any) -> dict[str, bool] | None:
    return _TABLES.get(table.name)


def fast_text(sql: str) -> str | None:
    found = topn_join.threshold(dialect.parse(sql), _columns)
    return None if found is None else dialect.generate(found.tree)


def test_a_top_n_over_a_join_gets_its_threshold() -> None:
    sql = (
        "select salesid, dateadd(day, 30, saletime), datediff(day, listtime, saletime) from"
        " sales join listing using (listid) order by salesid limit 50"
    )
    out = fast_text(sql)
    assert out is not None and out.startswith("SELECT salesid,")
    assert out.endswith(
        "FROM sales JOIN listing USING (listid) WHERE sales.salesid <= (SELECT sales.salesid"
        " FROM sales ORDER BY sales.salesid LIMIT 1 OFFSET 49) ORDER BY salesid LIMIT 50"
    )


def test_aliases_offsets_descending_keys_and_own_filters() -> None:
    out = fast_text(
        "select s.salesid, l.listtime from sales s left join listing l on s.listid = l.listid"
        " where s.note = 'x' and l.sellerid > 3 order by s.saletime desc, l.listtime limit 5"
        " offset 10"
    )
    assert out is not None
    # only the conjunct on `s` alone narrows the threshold's read; the NULL keys come first in
    # descending order, so the form answers only while `s` has none (among its own rows)
    assert (
        "WHERE (s.note = 'x' AND l.sellerid > 3) AND (s.saletime >= (SELECT s.saletime FROM"
        " sales AS s WHERE s.note = 'x' ORDER BY s.saletime DESC NULLS FIRST LIMIT 1 OFFSET 14)"
        " AND NOT EXISTS(SELECT 1 FROM sales AS s WHERE s.saletime IS NULL AND s.note = 'x'))"
    ) in out


@pytest.mark.parametrize(
    "sql",
    [
        "select salesid from sales order by salesid limit 5",  # no join: DuckDB's own Top N
        "select salesid from sales join listing using (listid) order by salesid",  # no limit
        "select salesid from sales join listing using (listid) order by listtime limit 5",
        "select listid from sales join listing using (listid) order by listid limit 5",
        "select salesid from sales join listing using (listid) order by salesid limit 20000",
        "select count(*) from sales join listing using (listid) order by 1 limit 5",
        "select distinct salesid from sales join listing using (listid) order by 1 limit 5",
        "select salesid, rank() over (order by listtime) from sales join listing using (listid)"
        " order by salesid limit 5",
        "select salesid, unnest([1, 2]) from sales join listing using (listid) order by salesid"
        " limit 5",
        "select salesid from sales right join listing using (listid) order by salesid limit 5",
        "select salesid from sales full join listing using (listid) order by salesid limit 5",
        "select salesid from listing l join sales s using (listid) order by salesid limit 5",
        "select salesid from sales join mystery using (listid) order by salesid limit 5",
        "select listtime as salesid from sales join listing using (listid) order by salesid"
        " limit 5",
        "select salesid from sales join listing using (listid) order by salesid limit $1",
        "select salesid from sales join (select 1 as listid) x using (listid) order by salesid"
        " limit 5",
        "with c as (select 1) select salesid from sales join listing using (listid) order by"
        " salesid limit 5",
        "select salesid from sales join listing using (listid) group by salesid order by"
        " salesid limit 5",
        "select salesid + 1 from sales join listing using (listid) order by 1 limit 5",
        "select salesid from sales join listing using (listid) order by salesid + 1 limit 5",
        "select salesid from sales asof join listing using (listid) order by salesid limit 5",
    ],
)
def test_other_shapes_are_left_alone(sql: str) -> None:
    assert fast_text(sql) is None


# --- the answer, on data made to break it ----------------------------------------------------

_ORDERS = ["a.k", "a.k desc", "a.k nulls first", "a.k desc nulls last", "a.k, b.y desc, a.id"]
_JOINS = ["join b on a.k = b.x", "left join b on a.k = b.x", "join b on a.g = b.x",
          "left join b on a.g = b.x", "join b on a.g = b.x and b.y > 5"]  # fmt: skip
_WHERES = ["", "where a.v > 3", "where b.y < 7", "where a.v > 3 and (a.g = 1 or a.g = 2)"]


def _data(con: duckdb.DuckDBPyConnection, seed: int, nulls: float) -> None:
    r = random.Random(seed)
    con.execute("create or replace table a (id integer not null, k integer, g integer, v integer)")
    con.execute("create or replace table b (x integer, y integer)")
    a = [(i, None if r.random() < nulls else r.randrange(60), r.randrange(8), r.randrange(10))
         for i in range(300)]  # fmt: skip
    b = [(r.randrange(70), r.randrange(10)) for _ in range(r.choice([20, 150, 400]))]
    con.executemany("insert into a values (?, ?, ?, ?)", a)
    con.executemany("insert into b values (?, ?)", b)


def _queries() -> Iterator[tuple[str, int]]:
    r = random.Random(7)
    for order in _ORDERS:
        for join in _JOINS:
            for where in _WHERES:
                limit, offset = r.choice([1, 3, 10, 40]), r.choice([0, 0, 5, 30])
                sql = f"select a.id, a.k, b.y from a {join} {where} order by {order} limit {limit}"
                yield (sql + (f" offset {offset}" if offset else ""), limit)


def _answer(con: duckdb.DuckDBPyConnection, sql: str) -> tuple[list[tuple[Any, ...]], str]:
    """The fast form's rows when they are LIMIT rows, else the query's (as the session does)."""
    tree = dialect.parse(sql)

    def columns(t: Any) -> dict[str, bool] | None:
        found = con.execute(
            "select column_name, is_nullable from duckdb_columns() where table_name = ?",
            [t.name],
        ).fetchall()
        return {c: bool(n) for c, n in found} or None

    found = topn_join.threshold(tree, columns)
    assert found is not None, sql
    got = con.execute(dialect.generate(found.tree)).fetchall()
    if len(got) >= found.rows:
        return got, "fast"
    return con.execute(dialect.generate(tree)).fetchall(), "fallback"


def _keys(sql: str, out: list[tuple[Any, ...]]) -> list[tuple[Any, ...]]:
    """What the ORDER BY fixes: the sort keys of each row (tied rows may differ)."""
    if sql.split("order by ")[1].startswith("a.k, b.y desc, a.id"):
        return out  # a total order: every row is fixed
    return [(row[1],) for row in out]


@pytest.mark.parametrize(("seed", "nulls"), [(1, 0.1), (2, 0.1), (3, 0.02), (4, 0.0), (5, 0.0)])
def test_the_answer_is_the_querys(seed: int, nulls: float) -> None:
    con = duckdb.connect()
    _data(con, seed, nulls)
    ways = {"fast": 0, "fallback": 0}
    for sql, _limit in _queries():
        got, way = _answer(con, sql)
        ways[way] += 1
        want = con.execute(dialect.generate(dialect.parse(sql))).fetchall()
        assert _keys(sql, got) == _keys(sql, want), sql
        assert len(got) == len(want), sql
    assert ways["fast"] > 20 and ways["fallback"] > 0, ways  # both paths were tried


# --- through a session -----------------------------------------------------------------------


def _session(backend: HubBackend, listids: list[int], *, cache: bool = True) -> SqlSession:  # noqa: F811
    """A session on `aurora`, whose `sales` (salesid 1-10) gets a `listing` of `listids`."""
    listing = TableSchema(TableId("demodb", "listing"), (int_col("listid", False),), ("listid",))
    add_table(backend.attach("aurora"), listing, [dict(listid=i) for i in listids],
              TableState.SYNCED)  # fmt: skip
    s = SqlSession(backend, database="aurora", user="a")
    s.execute("SET search_path TO demodb")
    if not cache:
        s.execute("SET enable_result_cache_for_session TO off")
    return s


def test_a_session_answers_from_the_fast_form_and_falls_back(backend: HubBackend) -> None:  # noqa: F811
    dest = backend.attach("aurora")
    listing = TableSchema(
        TableId("demodb", "listing"),
        (int_col("listid", False), int_col("sellerid", True)),
        ("listid",),
    )
    # listings of sales 1-10 by salesid: sales.salesid joins listing.listid; only even ones
    add_table(dest, listing, [dict(listid=i, sellerid=i % 3) for i in range(2, 11, 2)],
              TableState.SYNCED)  # fmt: skip
    s = SqlSession(backend, database="aurora", user="a")
    s.execute("SET search_path TO demodb")
    before = dict(topn_join.STATS)
    sql = (
        "select salesid, sellerid from sales join listing on sales.salesid = listing.listid"
        " order by salesid desc limit 1"
    )
    assert rows(s, sql) == [(10, 1)]
    assert topn_join.STATS["fast"] == before["fast"] + 1
    assert topn_join.STATS["fallback"] == before["fallback"]
    # the three highest sales hold two listings between them: the fast form comes short
    short = sql.replace("limit 1", "limit 3")
    assert rows(s, short) == [(10, 1), (8, 2), (6, 0)]
    assert topn_join.STATS["fast"] == before["fast"] + 1
    assert topn_join.STATS["fallback"] == before["fallback"] + 1
    s.execute("SET enable_result_cache_for_session TO off")
    assert rows(s, sql) == [(10, 1)]  # from the kept translation, its form kept too
    assert topn_join.STATS["fast"] == before["fast"] + 2
    explained = str(rows(s, "explain " + sql))
    assert explained.count("Table: aurora.demodb.sales") == 1  # the query as written: one scan
    assert topn_join.STATS["fast"] == before["fast"] + 2


def test_a_fast_result_past_its_bytes_runs_the_query(
    backend: HubBackend,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    s = _session(backend, list(range(1, 11)), cache=False)
    sql = "select salesid from sales join listing on salesid = listid order by salesid limit 4"
    before = dict(topn_join.STATS)
    assert rows(s, sql) == [(1,), (2,), (3,), (4,)]
    assert topn_join.STATS["fast"] == before["fast"] + 1
    monkeypatch.setattr(topn_join, "MAX_BYTES", 8)  # the fast result is not read past this
    assert rows(s, sql) == [(1,), (2,), (3,), (4,)]
    assert topn_join.STATS["fallback"] == before["fallback"] + 1


def test_parameters_reach_the_fast_form(backend: HubBackend) -> None:  # noqa: F811
    s = _session(backend, list(range(1, 11)))
    before = dict(topn_join.STATS)
    sql = (
        "select salesid, qtysold from sales join listing on salesid = listid"
        " where sales.qtysold >= $1 and listid <> $2 order by salesid desc limit 2"
    )
    # qtysold is i % 4 + 1: sales 10 (3), 9 (2), 7 (4), 6 (3) ...
    assert rows(s, sql, [3, 7]) == [(10, 3), (6, 3)]
    assert rows(s, sql, [2, 10]) == [(9, 2), (7, 4)]
    assert sum(topn_join.STATS.values()) == sum(before.values()) + 2


def test_a_form_that_keeps_coming_short_is_tried_seldom(backend: HubBackend) -> None:  # noqa: F811
    s = _session(backend, [1], cache=False)  # a listing for the lowest sale only
    sql = "select salesid from sales join listing on salesid = listid order by salesid desc limit 1"
    before = dict(topn_join.STATS)
    for _ in range(2 + topn_join.RETRY_EVERY):
        assert rows(s, sql) == [(1,)]
    moved = {k: topn_join.STATS[k] - before[k] for k in before}
    # two misses, then RETRY_EVERY - 1 runs without it, then one more try
    assert moved == {"fast": 0, "fallback": 3, "skipped": topn_join.RETRY_EVERY - 1}


def test_a_form_that_answers_again_is_tried_every_time() -> None:
    cur = duckdb.connect()
    text = "select * from range(3)"  # three rows: short of 5, enough for 3
    before = dict(topn_join.STATS)
    assert topn_join.run(cur, text, 5, None, 1024) is None
    assert topn_join.run(cur, text, 5, None, 1024) is None
    for _ in range(topn_join.RETRY_EVERY - 1):
        assert topn_join.run(cur, text, 3, None, 1024) is None  # not tried
    got = topn_join.run(cur, text, 3, None, 1024)  # tried again, and it answers
    assert got is not None and got.read_all().num_rows == 3
    assert topn_join.run(cur, text, 3, None, 1024) is not None  # tried every time again
    moved = {k: topn_join.STATS[k] - before[k] for k in before}
    assert moved == {"fast": 2, "fallback": 2, "skipped": topn_join.RETRY_EVERY - 1}
