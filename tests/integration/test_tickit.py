"""TICKIT: deterministic generation, a consistent load, live traffic, and the sample queries
giving the same answers on MariaDB and on DuckDB."""

from __future__ import annotations

import datetime as dt
import threading
from decimal import Decimal
from pathlib import Path

import duckdb
import pyarrow as pa
import pytest

from zeroetl.sandbox import tickit
from zeroetl.sandbox.tickit_data import STANDARD_SIZES, generate, sizes

pytestmark = pytest.mark.integration

SCALE = 0.05


def test_generation_is_deterministic() -> None:
    a, b, c = generate(0.01, seed=3), generate(0.01, seed=3), generate(0.01, seed=4)
    assert a == b
    assert a.sales != c.sales
    assert sizes(1.0) == STANDARD_SIZES
    assert {t: len(getattr(a, t)) for t in tickit.TABLES} == sizes(0.01)


@pytest.fixture
def loaded(db_conn, test_db: str) -> str:  # type: ignore[no-untyped-def]
    counts = tickit.load(db_conn, database=test_db, scale=SCALE, seed=0)
    assert counts == sizes(SCALE)
    assert tickit.row_counts(db_conn, test_db) == counts
    return test_db


def _one(conn, sql: str) -> object:  # type: ignore[no-untyped-def]
    with conn.cursor() as cur:
        cur.execute(sql)
        return cur.fetchone()[0]


def test_load_is_consistent(db_conn, loaded: str) -> None:  # type: ignore[no-untyped-def]
    orphans = {
        "sale without listing": "SELECT COUNT(*) FROM sales s LEFT JOIN listing l USING (listid)"
        " WHERE l.listid IS NULL",
        "sale with another seller or event than its listing": "SELECT COUNT(*) FROM sales s"
        " JOIN listing l USING (listid) WHERE s.sellerid <> l.sellerid OR s.eventid <> l.eventid",
        "listing without event": "SELECT COUNT(*) FROM listing l LEFT JOIN event e USING (eventid)"
        " WHERE e.eventid IS NULL",
        "event without venue": "SELECT COUNT(*) FROM event e LEFT JOIN venue v USING (venueid)"
        " WHERE v.venueid IS NULL",
        "event without category": "SELECT COUNT(*) FROM event e LEFT JOIN category c USING (catid)"
        " WHERE c.catid IS NULL",
        "unknown seller or buyer": "SELECT COUNT(*) FROM sales s WHERE s.sellerid NOT IN"
        " (SELECT userid FROM users) OR s.buyerid NOT IN (SELECT userid FROM users)",
        "buyer is the seller": "SELECT COUNT(*) FROM sales WHERE buyerid = sellerid",
        "dateid not in date": "SELECT (SELECT COUNT(*) FROM sales WHERE dateid NOT IN"
        " (SELECT dateid FROM date)) + (SELECT COUNT(*) FROM listing WHERE dateid NOT IN"
        " (SELECT dateid FROM date)) + (SELECT COUNT(*) FROM event WHERE dateid NOT IN"
        " (SELECT dateid FROM date))",
        "dateid disagrees with the time": "SELECT COUNT(*) FROM sales s JOIN date d USING (dateid)"
        " WHERE DATE(s.saletime) <> d.caldate",
        "sold before listed or after the event": "SELECT COUNT(*) FROM sales s JOIN listing l"
        " USING (listid) JOIN event e ON e.eventid = s.eventid"
        " WHERE s.saletime < l.listtime OR s.saletime > e.starttime",
        "more sold than listed": "SELECT COUNT(*) FROM (SELECT l.listid FROM listing l JOIN sales s"
        " USING (listid) GROUP BY l.listid, l.numtickets HAVING SUM(s.qtysold) > l.numtickets) x",
        "price arithmetic": "SELECT COUNT(*) FROM listing WHERE totalprice <> priceperticket *"
        " numtickets",
        "commission is not 15%": "SELECT COUNT(*) FROM sales WHERE ABS(commission - pricepaid *"
        " 0.15) > 0.01",
    }
    for what, sql in orphans.items():
        assert _one(db_conn, sql) == 0, what
    assert _one(db_conn, "SELECT COUNT(*) FROM users WHERE city = 'San Diego' AND state = 'CA'")
    assert _one(db_conn, "SELECT MIN(caldate) FROM date") == dt.date(2008, 1, 1)
    assert _one(db_conn, "SELECT COUNT(DISTINCT YEAR(saletime)) FROM sales") == 1
    assert _one(db_conn, "SELECT COUNT(DISTINCT catid) FROM event") >= 8
    with db_conn.cursor() as cur:
        cur.execute("SELECT COLUMN_NAME FROM information_schema.COLUMNS WHERE TABLE_SCHEMA ="
                    " DATABASE() AND TABLE_NAME = 'users' ORDER BY ORDINAL_POSITION")  # fmt: skip
        cols = [r[0] for r in cur.fetchall()]
        assert cols[:8] == ["userid", "username", "firstname", "lastname", "city", "state",
                            "email", "phone"]  # fmt: skip
        assert cols[-1] == "likemusicals" and len(cols) == 18
        cur.execute("SELECT TABLE_NAME, COLUMN_NAME FROM information_schema.KEY_COLUMN_USAGE"
                    " WHERE TABLE_SCHEMA = DATABASE() AND CONSTRAINT_NAME = 'PRIMARY'")  # fmt: skip
        keys = dict(cur.fetchall())
    assert keys == {"users": "userid", "venue": "venueid", "category": "catid", "date": "dateid",
                    "event": "eventid", "listing": "listid", "sales": "salesid"}  # fmt: skip


def test_traffic_changes_rows_until_stopped(db_conn, mariadb, loaded: str) -> None:  # type: ignore[no-untyped-def]
    before = tickit.row_counts(db_conn, loaded)
    stats = tickit.traffic(db_conn, database=loaded, rate_per_s=40, seconds=1.0, seed=1)
    assert 10 <= stats["transactions"] <= 45  # paced to 40/s, slower if the machine is busy
    assert stats["listings_inserted"] and stats["sales_inserted"] and stats["listings_updated"]
    after = tickit.row_counts(db_conn, loaded)
    assert after["listing"] == before["listing"] + stats["listings_inserted"]
    assert after["sales"] == before["sales"] + stats["sales_inserted"] - stats["sales_deleted"]

    stop = threading.Event()
    conn2 = mariadb.root(loaded)
    result: dict[str, int] = {}
    worker = threading.Thread(
        target=lambda: result.update(
            tickit.traffic(conn2, database=loaded, rate_per_s=20, seconds=None, stop_event=stop)
        )
    )
    worker.start()
    stop.wait(0.5)
    stop.set()
    worker.join(timeout=5)
    conn2.close()
    assert not worker.is_alive() and result["transactions"] > 0


def _copy_to_duckdb(conn, database: str, path: Path) -> duckdb.DuckDBPyConnection:  # type: ignore[no-untyped-def]
    """The replicated shape, built by hand: schema `database` holding the seven tables."""
    duck = duckdb.connect(str(path))
    duck.execute(f'CREATE SCHEMA "{database}"')
    for table in tickit.TABLES:
        with conn.cursor() as cur:
            cur.execute(f"SELECT * FROM `{table}`")
            names = [d[0] for d in cur.description]
            rows = cur.fetchall()
        arrow = pa.table({n: pa.array([r[i] for r in rows]) for i, n in enumerate(names)})
        duck.register("src", arrow)
        duck.execute(f'CREATE TABLE "{database}"."{table}" AS SELECT * FROM src')
        duck.unregister("src")
    catalog = duck.execute("SELECT current_database()").fetchone()[0]  # type: ignore[index]
    duck.execute(f'USE "{catalog}"."{database}"')
    return duck


def _norm(rows: list[tuple[object, ...]]) -> list[tuple[object, ...]]:
    """Engines differ in numeric result types (SUM of SMALLINT is DECIMAL on MariaDB, HUGEINT on
    DuckDB): compare numbers by value."""

    def one(v: object) -> object:
        if isinstance(v, Decimal | float | int) and not isinstance(v, bool):
            return round(float(v), 6)
        return v

    return [tuple(one(v) for v in r) for r in rows]


def test_sample_queries_agree_on_mariadb_and_duckdb(db_conn, loaded: str, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    duck = _copy_to_duckdb(db_conn, loaded, tmp_path / "tickit.duckdb")
    assert len(tickit.SAMPLE_QUERIES) >= 10
    for title, sql in tickit.SAMPLE_QUERIES:
        with db_conn.cursor() as cur:
            cur.execute(sql)
            on_mariadb = _norm(list(cur.fetchall()))
        on_duckdb = _norm(duck.execute(sql).fetchall())
        assert on_mariadb, title
        assert on_duckdb == on_mariadb, title
    duck.close()
