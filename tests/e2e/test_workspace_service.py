"""The workspace `dev` of a real `zeroetl serve`, over psycopg, with a replicated database:
DDL and DML in dev, views across databases, transactions, replicated data still read-only,
materialized views refreshed automatically after replication changed their inputs and on
demand, `svv_mv_info`, and all of it surviving a restart."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
from tests.sandbox_support import CATEGORIES, Warehouse
from tests.service_support import wait_for

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def wh(mariadb_server, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Warehouse]:
    w = Warehouse.start(
        mariadb_server,
        tmp_path_factory.mktemp("workspace"),
        source_db="wsrc",
        target="wsrc_wh",
    )
    try:
        yield w
        w.stop()
    finally:
        w.serve.kill()


def q(conn: psycopg.Connection[Any], sql: str, params: Any = None) -> list[tuple[Any, ...]]:
    return [tuple(r) for r in conn.execute(sql, params).fetchall()]


def test_workspace_ddl_dml_views_and_restart(wh: Warehouse) -> None:
    db, src = wh.target, wh.source_db
    with wh.connect() as c:
        assert q(c, "show search_path")  # answers; dev starts in public
        c.execute("create schema if not exists analytics")
        c.execute(f"create table analytics.cats as select catid, catname from {db}.{src}.category")
        cur = c.execute("insert into analytics.cats values (100, 'Extra'), (101, 'More')")
        assert cur.rowcount == 2 and cur.statusmessage == "INSERT 0 2"
        assert c.execute("update analytics.cats set catname = 'X' where catid = 100").rowcount == 1
        assert c.execute("delete from analytics.cats where catid = 101").rowcount == 1
        c.execute(
            f"create view analytics.sports as select c.catid, c.catname, s.catdesc from"
            f" analytics.cats c join {db}.{src}.category s using (catid) where s.catgroup ="
            " 'Sports'"
        )
        assert q(c, "select count(*) from analytics.sports") == [(5,)]
        c.execute(f"select catid into public.ids from {db}.{src}.category where catid < 4")
        assert q(c, "select count(*) from ids") == [(3,)]
        c.execute("create table notes (id int primary key, body varchar(100))")
        c.execute("insert into notes values (%s, %s)", [1, "from a parameter"])
        # a transaction: rolled back, then committed
        with psycopg.connect(wh.dsn("dev")) as tx:
            tx.execute("insert into notes values (2, 'rolled back')")
            tx.rollback()
            tx.execute("insert into notes values (3, 'committed')")
            tx.execute("alter table notes add column extra int")
            tx.commit()
        assert q(c, "select id, extra from notes order by id") == [(1, None), (3, None)]
        # an open write transaction in dev does not hold replication back (another file)
        with psycopg.connect(wh.dsn("dev")) as tx:
            tx.execute("insert into notes values (4, 'held open', null)")
            before = wh.replica_events()
            wh.source(f"INSERT INTO events VALUES ({before + 2000}, 0)")
            wait_for(lambda: wh.replica_events() == before + 1, "replication beside a dev write")
            tx.commit()
        # replicated data and the bookkeeping stay out of reach, for admin too
        for sql, state in [
            (f"insert into {db}.{src}.category values (99, 'x', 'x', 'x')", "25006"),
            (f"create table {db}.{src}.t as select 1 as a", "25006"),
            (f"drop table {db}.{src}.category", "25006"),
            ("select * from dev._zeroetl.objects", "42501"),
            ("create table svv_integration (a int)", "42501"),
            ("create table x as select * from read_csv('/etc/passwd')", "42501"),
        ]:
            with pytest.raises(psycopg.Error) as e:
                c.execute(sql)
            assert e.value.sqlstate == state, (sql, e.value.sqlstate, str(e.value))
        assert q(c, f"select count(*) from {db}.{src}.category") == [(len(CATEGORIES),)]
        # the catalog shows what was built, as tools look for it
        assert ("analytics", "cats") in q(c, "select schemaname, tablename from pg_tables")
        assert ("analytics", "sports") in q(c, "select schemaname, viewname from pg_views")

    wh.serve.stop()
    wh.serve.start()
    with wh.connect() as c:
        assert q(c, "select catname from analytics.cats where catid = 100") == [("X",)]
        assert q(c, "select count(*) from analytics.sports") == [(5,)]  # a cross-database view
        assert q(c, "select body from notes order by id") == [
            ("from a parameter",),
            ("committed",),
            ("held open",),
        ]
    wh.healthy()  # replication flows after the restart


def test_materialized_views_auto_and_manual(wh: Warehouse) -> None:
    db, src = wh.target, wh.source_db
    with wh.connect() as c:
        c.execute(
            f"create materialized view mv_events auto refresh yes as select count(*) as n,"
            f" sum(v) as total from {db}.{src}.events"
        )
        c.execute(
            f"create materialized view mv_groups as select v >= 7 as big, count(*) as n from"
            f" {db}.{src}.events group by 1"
        )
        before = q(c, "select n from mv_events")[0][0]
        info = q(c, "select name, is_stale, autorefresh, refresh_state from svv_mv_info order by 1")
        assert info == [("mv_events", "f", "t", "refreshed"), ("mv_groups", "f", "f", "refreshed")]

        big = q(c, "select n from mv_groups where big")
    wh.source("INSERT INTO events VALUES (5000, 7), (5001, 8)")
    with wh.connect() as c:
        # the auto-refreshed view catches up by itself ...
        wait_for(
            lambda: q(c, "select n from mv_events")[0][0] == before + 2,
            "mv_events to be refreshed after replication applied the inserts",
        )
        row = q(
            c,
            "select is_stale, source_position, source_commit_time is not null, last_refresh_time"
            " from svv_mv_info where name = 'mv_events'",
        )[0]
        assert row[0] == "f" and row[1].startswith(f"{db}:") and row[2]
        # ... the other one is marked stale and keeps its contents until REFRESH
        wait_for(
            lambda: q(c, "select is_stale from svv_mv_info where name = 'mv_groups'") == [("t",)],
            "mv_groups to be marked stale",
        )
        assert q(c, "select n from mv_groups where big") == big
        c.execute("refresh materialized view mv_groups")
        assert q(c, "select n from mv_groups where big") == [((big[0][0] if big else 0) + 2,)]
        assert q(c, "select is_stale from svv_mv_info where name = 'mv_groups'") == [("f",)]

    wh.serve.stop()
    wh.serve.start()
    wh.source("INSERT INTO events VALUES (5002, 9)")
    with wh.connect() as c:
        wait_for(
            lambda: q(c, "select n from mv_events")[0][0] == before + 3,
            "mv_events to be refreshed after a restart",
        )
        c.execute("drop materialized view mv_groups")
        assert q(c, "select name from svv_mv_info") == [("mv_events",)]
