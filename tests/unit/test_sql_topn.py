"""Top-N queries compute their select list for the N rows kept (topn.py): the plain shape is
rewritten, everything else is left alone, and the rows are the same."""

from __future__ import annotations

import pytest
from tests.sql_backend import HubBackend
from tests.unit.test_sql_session import backend  # noqa: F401  (fixture)
from tests.unit.test_workspace import rows

from zeroetl.server.sql import dialect, topn
from zeroetl.server.sql.session import SqlSession


def rewritten(sql: str) -> str | None:
    tree = dialect.parse(sql)
    return dialect.generate(tree) if topn.defer_projection(tree) else None


def test_the_plain_shape_is_rewritten() -> None:
    out = rewritten(
        "select s.salesid, upper(s.note) as n from demodb.sales s where s.qtysold > 1"
        " order by s.salesid desc limit 5 offset 2"
    )
    assert out == (
        "SELECT s.salesid, UPPER(s.note) AS n FROM (SELECT * FROM demodb.sales AS s WHERE"
        ' s.qtysold > 1 ORDER BY s.salesid DESC NULLS FIRST LIMIT 5 OFFSET 2) AS "s" ORDER BY'
        " s.salesid DESC NULLS FIRST"
    )


@pytest.mark.parametrize(
    "sql",
    [
        "select salesid as id, upper(note) from sales order by id limit 3",  # an output name
        "select upper(note) as salesid from sales order by salesid limit 3",
        "select count(*) from sales order by 1 limit 3",
        "select salesid, note from sales where qtysold > 1 order by salesid limit 3",  # no gain
        "select salesid, upper(note) from sales order by salesid",  # no limit
        "select salesid, unnest([1, 2]) from sales order by salesid limit 3",  # rows multiply
        "select salesid, (select 1) from sales order by salesid limit 3",
        "select distinct salesid, upper(note) from sales order by salesid limit 3",
        "select a.salesid, upper(b.x) from sales a join t b on a.id = b.id order by 1 limit 3",
        "select salesid, rank() over (order by note) from sales order by salesid limit 3",
        "select demodb.sales.salesid, upper(note) from demodb.sales order by salesid limit 3",
        "with c as (select 1 as a) select a, upper('x') from c order by a limit 1",
    ],
)
def test_other_shapes_are_left_alone(sql: str) -> None:
    assert rewritten(sql) is None


def test_the_rows_are_the_same(backend: HubBackend) -> None:  # noqa: F811
    s = SqlSession(backend, database="aurora", user="a")
    got = rows(
        s,
        "select salesid, upper(note), qtysold * 2 from demodb.sales where qtysold > 1"
        " order by salesid desc limit 3 offset 1",
    )
    data = [(i, f"N{i}", (i % 4 + 1) * 2) for i in range(10, 0, -1) if i % 4 + 1 > 1]
    assert got == data[1:4]
