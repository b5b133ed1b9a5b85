"""The SQL endpoint inside `zeroetl serve`, as issue 4 walks it: svv_integration, CREATE DATABASE
... FROM INTEGRATION, the TICKIT query by 3-part names, \\c into the target database, system
views, read-only databases, while replication keeps writing."""

from __future__ import annotations

import os
import subprocess
import threading

import psycopg
import pytest
from tests.service_support import Serve, wait_for

from zeroetl.sandbox import tickit

pytestmark = pytest.mark.integration

TOP_SELLERS = """
select sellerid, username, (firstname ||' '|| lastname) as name, city, sum(qtysold)
from aurora_zeroetl.demodb.sales, aurora_zeroetl.demodb.date, aurora_zeroetl.demodb.users
where sales.sellerid = users.userid and sales.dateid = date.dateid
  and year = 2008 and city = 'San Diego'
group by sellerid, username, name, city order by 5 desc, 1 limit 5
"""
TOP_SELLERS_MYSQL = """
select sellerid, username, concat(firstname, ' ', lastname) as name, city, sum(qtysold)
from sales, date, users
where sales.sellerid = users.userid and sales.dateid = date.dateid
  and year = 2008 and city = 'San Diego'
group by sellerid, username, name, city order by 5 desc, 1 limit 5
"""


@pytest.fixture
def demodb(mariadb):
    conn = mariadb.root()
    tickit.load(conn, database="demodb", scale=0.02, seed=3)
    conn.close()
    yield "demodb"
    conn = mariadb.root()
    with conn.cursor() as cur:
        cur.execute("DROP DATABASE IF EXISTS demodb")
    conn.close()


def test_walkthrough_over_the_sql_endpoint(mariadb, demodb, source_url, tmp_path) -> None:
    serve = Serve(tmp_path / "wh", tmp_path / "serve.log")
    serve.start()
    try:
        created = serve.ok(
            "POST",
            "/v1/integrations",
            {"name": "zero-etl-demo", "source": source_url, "data_filter": "include: demodb.*"},
        )
        iid = created["id"]
        with psycopg.connect(serve.sql_dsn("dev"), autocommit=True) as dev:
            rows = dev.execute("select integration_id, state from svv_integration").fetchall()
            assert (iid, "PendingDbConnectState") in rows
            dev.execute(f"CREATE DATABASE aurora_zeroetl FROM INTEGRATION '{iid}'")
        serve.wait_state(iid, "active", timeout=120)

        # Replication keeps writing while we query.
        stop = threading.Event()
        writer = mariadb.root()
        t = threading.Thread(
            target=tickit.traffic,
            kwargs=dict(
                conn=writer, database="demodb", rate_per_s=30, seconds=None, seed=5, stop_event=stop
            ),
            daemon=True,
        )
        t.start()
        try:
            with psycopg.connect(serve.sql_dsn("dev"), autocommit=True) as dev:
                ours = dev.execute(TOP_SELLERS).fetchall()
                state = dev.execute(
                    "select state, current_lag from svv_integration where integration_id = %s",
                    [iid],
                ).fetchone()
                assert state[0] == "CdcRefreshState"
                tables = dev.execute(
                    "select table_name, table_state from svv_integration_table_state"
                    " where target_database = 'aurora_zeroetl' order by 1"
                ).fetchall()
                assert sorted(t for t, _ in tables) == sorted(tickit.TABLES)
                assert all(s == "Synced" for _, s in tables)
                assert (
                    dev.execute("select count(*) from sys_integration_activity").fetchone()[0] > 0
                )
                with pytest.raises(psycopg.Error) as err:
                    dev.execute("delete from aurora_zeroetl.demodb.sales")
                assert err.value.sqlstate == "25006"
            with psycopg.connect(serve.sql_dsn("aurora_zeroetl"), autocommit=True) as db:
                n = db.execute("select count(*) from demodb.sales").fetchone()[0]
                assert n > 0
        finally:
            stop.set()
            t.join(timeout=30)
            writer.close()

        # The same question asked of the source (traffic stopped, so compare once caught up).
        conn = mariadb.root("demodb")
        with conn.cursor() as cur:
            cur.execute(TOP_SELLERS_MYSQL)
            expected = [tuple(r) for r in cur.fetchall()]
            cur.execute("select count(*) from sales")
            src_sales = cur.fetchone()[0]
        conn.close()

        def caught_up() -> bool:
            with psycopg.connect(serve.sql_dsn("aurora_zeroetl"), autocommit=True) as db:
                return db.execute("select count(*) from demodb.sales").fetchone()[0] == src_sales

        wait_for(caught_up, "the warehouse to catch up", 60)
        with psycopg.connect(serve.sql_dsn("dev"), autocommit=True) as dev:
            ours = [tuple(r) for r in dev.execute(TOP_SELLERS).fetchall()]
        assert [(a, b, c, d, int(e)) for a, b, c, d, e in ours] == [
            (a, b, c, d, int(e)) for a, b, c, d, e in expected
        ]

        # psql, as an analyst would use it, including \c and \d.
        env = {**os.environ, "PGPASSWORD": serve.sql_password}
        out = subprocess.run(
            ["psql", "-X", "-h", "127.0.0.1", "-p", str(serve.sql_port), "-U", "admin", "-d", "dev",
             "-c", "select count(*) from aurora_zeroetl.demodb.users",
             "-c", r"\c aurora_zeroetl",
             "-c", "select count(*) > 0 from demodb.listing",
             "-c", r"\dt demodb.*"],
            capture_output=True, text=True, env=env, timeout=60,
        )  # fmt: skip
        assert out.returncode == 0, out.stderr
        assert "sales" in out.stdout and " t\n" in out.stdout, out.stdout

        _corpus_over_the_wire(serve, mariadb)
        _sessions_streaming_and_auth(serve)
    finally:
        serve.stop()


def _corpus_over_the_wire(serve: Serve, mariadb) -> None:  # type: ignore[no-untyped-def]
    """The Redshift-dialect corpus and the TICKIT sample queries, sent by a real client to the
    served endpoint, answer like the same questions asked of the source."""
    from tests.integration.test_sql_tickit import CORPUS, _norm

    src = mariadb.root("demodb")
    mismatched = []
    with psycopg.connect(serve.sql_dsn("aurora_zeroetl"), autocommit=True) as db:
        db.execute("SET search_path TO demodb")
        cases = [(t, r.format(db="aurora_zeroetl", s="demodb"), m) for t, r, m in CORPUS]
        cases += [(t, q, q) for t, q in tickit.SAMPLE_QUERIES]
        for title, ours, theirs in cases:
            got = _norm([tuple(r) for r in db.execute(ours).fetchall()])
            with src.cursor() as cur:
                cur.execute(theirs)
                want = _norm([tuple(r) for r in cur.fetchall()])
            if got != want:
                mismatched.append((title, got[:2], want[:2]))
        # Top N over joins (server/sql/topn_join.py), with bound parameters and through a
        # server-side cursor: the threshold form's answer, or the query's where it comes short
        joins = [
            ("select s.salesid, l.listtime from demodb.sales s join demodb.listing l"
             " on s.listid = l.listid where s.qtysold >= %s order by s.salesid desc limit 7",
             "select s.salesid, l.listtime from sales s join listing l on s.listid = l.listid"
             " where s.qtysold >= %s order by s.salesid desc limit 7", [2]),
            ("select s.salesid, s.saletime, e.eventname from demodb.sales s left join"
             " demodb.event e on s.eventid = e.eventid where e.eventid %% 3 = %s"
             " order by s.saletime desc, s.salesid limit 9 offset 3",
             "select s.salesid, s.saletime, e.eventname from sales s left join event e"
             " on s.eventid = e.eventid where e.eventid %% 3 = %s"
             " order by s.saletime desc, s.salesid limit 9 offset 3", [1]),
            ("select s.salesid + %s, l.listtime from demodb.sales s join demodb.listing l"
             " on s.listid = l.listid order by s.salesid limit 5",
             "select s.salesid + %s, l.listtime from sales s join listing l"
             " on s.listid = l.listid order by s.salesid limit 5", [1000]),
        ]  # fmt: skip
        for i, (ours, theirs, params) in enumerate(joins):
            with db.transaction(), db.cursor(name=f"topn_join_{i}") as named:
                named.execute(ours, params)
                got = _norm([tuple(r) for r in named.fetchall()])
            with src.cursor() as cur:
                cur.execute(theirs, params)
                want = _norm([tuple(r) for r in cur.fetchall()])
            assert len(want) == len(got) > 0
            if got != want or _norm([tuple(r) for r in db.execute(ours, params)]) != want:
                mismatched.append((ours, got[:2], want[:2]))
    src.close()
    assert not mismatched, mismatched


def _sessions_streaming_and_auth(serve: Serve) -> None:
    errors: list[BaseException] = []

    def analyst(n: int) -> None:
        try:
            with psycopg.connect(serve.sql_dsn("aurora_zeroetl"), autocommit=True) as db:
                for _ in range(5):
                    q = "select count(*) from demodb.sales where salesid %% %s = 0"
                    assert db.execute(q, [n + 2]).fetchone()[0] >= 0
        except BaseException as exc:  # collected and raised in the test thread
            errors.append(exc)

    threads = [threading.Thread(target=analyst, args=(i,)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert not errors, errors

    # A large result streams: a server-side cursor gets its first rows long before the end.
    with psycopg.connect(serve.sql_dsn("dev")) as dev, dev.cursor(name="big") as cur:
        cur.itersize = 1000
        cur.execute("select i, repeat('x', 50) from range(3000000) t(i)")
        first = cur.fetchmany(10)
        assert [r[0] for r in first] == list(range(10))

    with pytest.raises(psycopg.OperationalError) as err:
        psycopg.connect(serve.sql_dsn("dev").replace(serve.sql_password, "wrong-password"))
    assert "28P01" in str(err.value) or "password" in str(err.value).lower()
