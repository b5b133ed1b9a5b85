"""Redshift-dialect queries through the SQL layer answer like the same questions on MariaDB.

TICKIT is loaded into the MariaDB fixture, copied into a target database file through
DuckDBDestination (schemas from discovery, `_zeroetl` metadata written by the destination), and
every corpus query runs through SqlSession with its MariaDB spelling run on the source.
"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest
from tests.sql_backend import HubBackend

from zeroetl.model import TableId, TableState, TableStatus
from zeroetl.sandbox import tickit
from zeroetl.server.sql.session import SqlError, SqlSession
from zeroetl.sources.mysql.discovery import load_schemas

pytestmark = pytest.mark.integration

# (title, Redshift / PostgreSQL spelling, MariaDB spelling)
CORPUS: list[tuple[str, str, str]] = [
    ("top sellers in San Diego (README text, || and 3-part names)",
     """select sellerid, username, (firstname ||' '|| lastname) as name, city, sum(qtysold)
        from {db}.{s}.sales, {db}.{s}.date, {db}.{s}.users
        where sales.sellerid = users.userid and sales.dateid = date.dateid
          and year = 2008 and city = 'San Diego'
        group by sellerid, username, name, city order by 5 desc, sellerid limit 5""",
     """select sellerid, username, concat(firstname, ' ', lastname) as name, city, sum(qtysold)
        from sales, date, users where sales.sellerid = users.userid and sales.dateid = date.dateid
          and year = 2008 and city = 'San Diego'
        group by sellerid, username, name, city order by 5 desc, sellerid limit 5"""),
    ("TOP n", "select top 3 salesid, pricepaid from sales order by pricepaid desc, salesid",
     "select salesid, pricepaid from sales order by pricepaid desc, salesid limit 3"),
    ("integer division", "select eventid, sum(qtysold) / count(*) as per_sale, 7/2, -7/2"
     " from sales group by eventid order by eventid limit 20",
     "select eventid, sum(qtysold) div count(*), 7 div 2, -7 div 2 from sales group by eventid"
     " order by eventid limit 20"),
    ("NVL / NVL2 / DECODE",
     "select userid, nvl(city, 'none'), nvl2(phone, 'has phone', 'no phone'),"
     " decode(state, 'CA', 'California', 'NY', 'New York', 'other') from users"
     " order by userid limit 50",
     "select userid, ifnull(city, 'none'), if(phone is not null, 'has phone', 'no phone'),"
     " case state when 'CA' then 'California' when 'NY' then 'New York' else 'other' end"
     " from users order by userid limit 50"),
    ("DATEADD / DATEDIFF",
     "select salesid, dateadd(day, 30, saletime), datediff(day, listtime, saletime),"
     " datediff(month, listtime, saletime) from sales join listing using (listid)"
     " order by salesid limit 50",
     "select salesid, date_add(saletime, interval 30 day), datediff(saletime, listtime),"
     " (year(saletime) - year(listtime)) * 12 + month(saletime) - month(listtime)"
     " from sales join listing using (listid) order by salesid limit 50"),
    ("TRUNC(timestamp) and DATE_TRUNC",
     "select trunc(saletime) as d, date_trunc('month', saletime) as m, count(*) from sales"
     " group by 1, 2 order by 1 limit 40",
     "select date(saletime), cast(date_format(saletime, '%Y-%m-01') as datetime), count(*) from sales"
     " group by 1, 2 order by 1 limit 40"),
    ("LISTAGG WITHIN GROUP", "select catgroup, listagg(catname, ',') within group (order by"
     " catname) from category group by catgroup order by catgroup",
     "select catgroup, group_concat(catname order by catname separator ',') from category"
     " group by catgroup order by catgroup"),
    ("LISTAGG DISTINCT without delimiter", "select listagg(distinct catgroup) within group"
     " (order by catgroup) from category",
     "select group_concat(distinct catgroup order by catgroup separator '') from category"),
    ("LEN / CHARINDEX / SUBSTRING / UPPER",
     "select venueid, len(venuename), charindex('e', venuename), upper(substring(venuename,"
     " 1, 3)) from venue order by venueid",
     "select venueid, char_length(venuename), locate('e', venuename), upper(substring(venuename,"
     " 1, 3)) from venue order by venueid"),
    # MariaDB has no time zone tables here: compare winter rows with a fixed -05:00 offset
    ("CONVERT_TIMEZONE", "select salesid, convert_timezone('UTC', 'America/New_York', saletime)"
     " from sales where extract(month from saletime) in (1, 2, 12) order by salesid limit 20",
     "select salesid, convert_tz(saletime, '+00:00', '-05:00') from sales"
     " where month(saletime) in (1, 2, 12) order by salesid limit 20"),
    ("DATEPART / EXTRACT", "select datepart(dow, caldate), extract(year from caldate), count(*)"
     " from date group by 1, 2 order by 1",
     "select dayofweek(caldate) - 1, year(caldate), count(*) from date group by 1, 2 order by 1"),
    ("RATIO_TO_REPORT", "select catgroup, ratio_to_report(count(*)) over () from category"
     " group by catgroup order by catgroup",
     "select catgroup, count(*) / sum(count(*)) over () from category group by catgroup"
     " order by catgroup"),
    ("window + CTE", "with s as (select sellerid, sum(pricepaid) as total from sales group by"
     " sellerid) select sellerid, total, rank() over (order by total desc, sellerid) from s"
     " order by 3 limit 10",
     "with s as (select sellerid, sum(pricepaid) as total from sales group by sellerid)"
     " select sellerid, total, rank() over (order by total desc, sellerid) from s"
     " order by 3 limit 10"),
    ("CAST and :: casts", "select eventid::varchar || '-' || cast(venueid as varchar(10)),"
     " starttime::date from event order by eventid limit 20",
     "select concat(eventid, '-', venueid), date(starttime) from event order by eventid limit 20"),
    ("STRTOL", "select strtol('ff', 16), strtol('101', 2)", "select conv('ff', 16, 10) + 0,"
     " conv('101', 2, 10) + 0"),
]  # fmt: skip


@pytest.fixture(scope="module")
def warehouse(tmp_path_factory: pytest.TempPathFactory, mariadb_server) -> Any:  # type: ignore[no-untyped-def]
    import uuid

    db = "tk_" + uuid.uuid4().hex[:8]
    conn = mariadb_server.root(None)
    with conn.cursor() as cur:
        cur.execute(f"CREATE DATABASE `{db}`")
    conn.select_db(db)
    tickit.load(conn, database=db, scale=0.02, seed=0)
    backend = HubBackend(Path(tmp_path_factory.mktemp("wh")))
    dest = backend.attach("tickitdb")
    schemas = load_schemas(conn, [TableId(db, t) for t in tickit.TABLES])
    for t in tickit.TABLES:
        schema = schemas[TableId(db, t)]
        dest.create_table(schema)
        with conn.cursor() as cur:
            cur.execute(f"SELECT * FROM `{t}`")
            names = [d[0] for d in cur.description]
            data = [dict(zip(names, r, strict=True)) for r in cur.fetchall()]
        dest.write_chunk(schema, pa.Table.from_pylist(data, schema=schema.arrow_schema()))
        dest.save_table_status(TableStatus(schema.id, TableState.SYNCED))
    yield backend, conn, db
    conn.close()


def _norm(rows: list[tuple[Any, ...]]) -> list[tuple[Any, ...]]:
    def one(v: Any) -> Any:
        if isinstance(v, Decimal | float | int) and not isinstance(v, bool):
            return round(float(v), 4)
        if hasattr(v, "tzinfo") and getattr(v, "tzinfo", None) is not None:
            return v.replace(tzinfo=None)
        return v

    return [tuple(one(v) for v in r) for r in rows]


def _endpoint(s: SqlSession, sql: str) -> list[tuple[Any, ...]]:
    r = s.execute(sql)
    out: list[tuple[Any, ...]] = []
    for b in r.batches:
        out.extend(zip(*(c.to_pylist() for c in b.columns), strict=True))
    return out


def _mariadb(conn, sql: str) -> list[tuple[Any, ...]]:  # type: ignore[no-untyped-def]
    with conn.cursor() as cur:
        cur.execute(sql)
        return list(cur.fetchall())


def test_sample_queries_match_mariadb(warehouse) -> None:  # type: ignore[no-untyped-def]
    backend, conn, db = warehouse
    s = SqlSession(backend, database="tickitdb", user="analyst")
    s.execute(f'SET search_path TO "{db}"')
    for title, sql in tickit.SAMPLE_QUERIES:
        assert _norm(_endpoint(s, sql)) == _norm(_mariadb(conn, sql)), title


def test_redshift_corpus_matches_mariadb(warehouse) -> None:  # type: ignore[no-untyped-def]
    backend, conn, db = warehouse
    s = SqlSession(backend, database="tickitdb", user="analyst")
    s.execute(f'SET search_path TO "{db}"')
    mismatched = []
    for title, redshift_sql, mariadb_sql in CORPUS:
        try:
            got = _norm(_endpoint(s, redshift_sql.format(db="tickitdb", s=db)))
        except SqlError as e:
            mismatched.append((title, f"{e.sqlstate} {e.message}"))
            continue
        want = _norm(_mariadb(conn, mariadb_sql))
        if got != want:
            mismatched.append((title, f"{got[:2]} != {want[:2]}"))
    assert not mismatched, mismatched


def test_integer_division_and_getdate_utc(warehouse) -> None:  # type: ignore[no-untyped-def]
    backend, _conn, _db = warehouse
    s = SqlSession(backend, database="dev", user="a")
    assert _endpoint(s, "select 7/2, -7/2, 7.0/2, 7/2.0") == [(3, -3, 3.5, 3.5)]
    s.execute("SET timezone TO 'America/Los_Angeles'")
    (utc, now_utc), = _endpoint(s, "select getdate(), (now() at time zone 'UTC')::timestamp")  # fmt: skip
    assert abs((now_utc - utc).total_seconds()) < 5
    with pytest.raises(SqlError) as e:
        s.execute("select 1/0")
    assert e.value.sqlstate == "22012"


@pytest.mark.parametrize(
    ("sql", "named"),
    [
        ("select trunc(x) from (select '2008-01-01' as x) t", "TRUNC"),
        ("select isnull(1, 2)", "ISNULL"),
        ("select no_such_function(1)", "no_such_function"),
    ],
)
def test_untranslatable_constructs_are_named(warehouse, sql: str, named: str) -> None:  # type: ignore[no-untyped-def]
    backend, _conn, _db = warehouse
    s = SqlSession(backend, database="dev", user="a")
    with pytest.raises(SqlError) as e:
        s.execute(sql)
    assert named.lower() in e.value.message.lower()
