"""A ClickHouse-backed integration inside the service, in this process: real MariaDB, real
embedded ClickHouse (chDB). Validation of the destination URL, the mirrored bookkeeping that
the monitoring reads, refresh, a failing table beside the others, and the readers' handle
(`ServiceBackend.query_destination`) sharing chDB's one engine with the worker."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from tests.service_support import wait_for

from zeroetl.catalog.errors import InvalidParameter
from zeroetl.server.sql_backend import ServiceBackend
from zeroetl.service.service import Service
from zeroetl.service.service_config import ServiceConfig

pytestmark = pytest.mark.integration


@pytest.fixture
def svc(tmp_path: Path) -> Iterator[Service]:
    s = Service(ServiceConfig(warehouse=tmp_path / "wh", sql_port=None, stop_timeout_s=20))
    s.start()
    try:
        yield s
    finally:
        s.shutdown()


def _tables(svc: Service, ident: str) -> dict[str, dict[str, Any]]:
    return {f"{t['schema']}.{t['table']}": t for t in svc.integration_tables(ident)}


def _count(dest: Any, sql: str) -> int:
    return int(dest.query(sql).column(0)[0].as_py())


def test_destination_urls_are_checked_before_anything_is_recorded(
    svc: Service, tmp_path: Path, source_url: str
) -> None:
    cases = {
        "clickhouse://u:hunter2@h:8123/": "password",
        "kafka://h:9092/": "unknown destination",
        "duckdb:///x.duckdb": "DuckDB by default",
        "chdb://relative/dir": "absolute directory",
        f"chdb://{tmp_path / 'wh' / 'databases' / 'ch'}": "warehouse's own files",
        "clickhouse://u@h:8123/?colour=red": "unknown ClickHouse URL option",
    }
    for url, why in cases.items():
        with pytest.raises(InvalidParameter) as err:
            svc.create_integration(name="bad", source=source_url, destination=url)
        assert why in str(err.value), url
        assert "hunter2" not in str(err.value) + str(err.value.hint)
    assert svc.list_integrations()[1] == 0


def test_chdb_integration_in_the_service(
    svc: Service, tmp_path: Path, source_url: str, db_conn: Any, test_db: str
) -> None:
    with db_conn.cursor() as cur:
        cur.execute("CREATE TABLE a (id INT PRIMARY KEY, v VARCHAR(20))")
        cur.execute("CREATE TABLE b (id INT PRIMARY KEY, amount DECIMAL(10,2))")
        cur.execute("CREATE TABLE nokey (x INT)")  # fails alone; the others flow
        cur.executemany("INSERT INTO a VALUES (%s, %s)", [(i, f"v{i}") for i in range(50)])
        cur.executemany("INSERT INTO b VALUES (%s, %s)", [(i, i * 1.5) for i in range(20)])
    ch = tmp_path / "ch"
    made = svc.create_integration(
        name="shop-ch",
        source=source_url,
        data_filter=f"exclude: *.*, include: {test_db}.*",
        target_database="shop",
        destination=f"chdb://{ch}",
    )
    assert made["destination"] == f"chdb://{ch}"
    # one chdb:// directory per process, one integration per destination
    for url in (f"chdb://{tmp_path / 'other'}", f"chdb://{ch}"):
        with pytest.raises(InvalidParameter, match=r"one engine per process|already replicates"):
            svc.create_integration(name="second", source=source_url, destination=url)

    a, b, nokey = f"{test_db}.a", f"{test_db}.b", f"{test_db}.nokey"

    def synced(rows_a: int, rows_b: int) -> Any:
        t = _tables(svc, "shop-ch")
        return (
            t.get(a, {}).get("state") == "Synced"
            and t[a]["rows"] == rows_a
            and t.get(b, {}).get("state") == "Synced"
            and t[b]["rows"] == rows_b
            and t.get(nokey, {}).get("state") == "Failed"
            and t
        )

    tables = wait_for(lambda: synced(50, 20), "the snapshot in ClickHouse", 90)
    assert "primary key" in tables[nokey]["reason"]
    with db_conn.cursor() as cur:
        cur.execute("UPDATE a SET v = 'new' WHERE id < 10")
        cur.execute("DELETE FROM a WHERE id >= 40")
        cur.execute("INSERT INTO b VALUES (100, 1.25)")
    wait_for(lambda: synced(40, 21), "the changes in ClickHouse", 60)

    backend = ServiceBackend(svc)
    dest = backend.query_destination("shop")
    assert dest is not None and backend.query_destination("nosuch") is None
    assert backend.query_destination("shop") is dest  # kept open
    assert _count(dest, f"SELECT count() FROM `{test_db}`.a FINAL WHERE v = 'new'") == 10
    assert _count(dest, f"SELECT count() FROM `{test_db}`.a FINAL") == 40

    described = svc.get_integration("shop-ch")
    assert described["tables"] == {"replicated": 2, "failed": 1, "resyncing": 0}
    assert described["checkpoint"]
    assert any(r["checkpoint_type"] == "cdc" for r in svc.activity("shop-ch"))

    svc.refresh("shop-ch", tables=[a])
    wait_for(
        lambda: any(
            c["table"] == "a" and c["state"] == "ResyncInitiated"
            for c in svc.table_state_changes("shop-ch")
        ),
        "the refresh to be recorded",
        30,
    )
    wait_for(lambda: synced(40, 21), "the refreshed table", 60)
    assert _count(dest, f"SELECT count() FROM `{test_db}`.a FINAL") == 40

    # a data filter change: b excluded (its table dropped in ClickHouse), then included again
    svc.modify_integration("shop-ch", data_filter=f"exclude: *.*, include: {test_db}.a")
    wait_for(
        lambda: _tables(svc, "shop-ch").get(b, {}).get("state") == "Deleted",
        "b to stop",
        60,
    )
    wait_for(
        lambda: (
            _count(dest, f"SELECT count() FROM system.tables WHERE database = '{test_db}'") == 1
        ),
        "b dropped in ClickHouse",
        30,
    )
    wait_for(
        lambda: svc.get_integration("shop-ch")["state"] != "modifying", "the filter applied", 30
    )
    svc.modify_integration("shop-ch", data_filter=f"exclude: *.*, include: {test_db}.*")
    wait_for(lambda: synced(40, 21), "b copied again", 60)

    # DROP DATABASE removes the monitoring file; created again, it resumes from ClickHouse's
    # checkpoint with the table states copied back
    svc.drop_target_database("shop")
    assert not (tmp_path / "wh" / "databases" / "shop.duckdb").exists()
    svc.create_target_database(svc.get_integration("shop-ch")["id"], "shop")
    with db_conn.cursor() as cur:
        cur.execute("INSERT INTO a VALUES (500, 'after')")
    wait_for(lambda: synced(41, 21), "the changes after the new target database", 60)
    dest = backend.query_destination("shop")
    assert dest is not None
    assert _count(dest, f"SELECT count() FROM `{test_db}`.a FINAL") == 41

    # a DuckDB-backed integration beside it: no ClickHouse destination for its database
    svc.create_integration(
        name="shop-duck",
        source=source_url,
        data_filter=f"exclude: *.*, include: {test_db}.b",
        target_database="duck",
    )
    assert backend.query_destination("duck") is None


def test_changes_held_by_the_commit_interval_count_in_the_shown_lag(
    svc: Service, tmp_path: Path, source_url: str, db_conn: Any, test_db: str
) -> None:
    """`?min_insert_interval_ms=` is kept with the destination, and while a change waits for
    the interval the integration's `lag_seconds` (system views, /metrics) includes the wait."""
    with db_conn.cursor() as cur:
        cur.execute("CREATE TABLE a (id INT PRIMARY KEY, v VARCHAR(20))")
        cur.execute("INSERT INTO a VALUES (1, 'seed')")
    url = f"chdb://{tmp_path / 'ch'}?min_insert_interval_ms=12000"
    made = svc.create_integration(
        name="paced",
        source=source_url,
        data_filter=f"exclude: *.*, include: {test_db}.*",
        target_database="shop",
        destination=url,
    )
    assert made["destination"] == url
    table = f"{test_db}.a"
    wait_for(lambda: _tables(svc, "paced").get(table, {}).get("state") == "Synced", "snapshot")
    dest = ServiceBackend(svc).query_destination("shop")
    assert dest is not None
    rows = f"SELECT count() FROM `{test_db}`.a FINAL"
    with db_conn.cursor() as cur:
        cur.execute("INSERT INTO a VALUES (2, 'first')")
    wait_for(lambda: _count(dest, rows) == 2, "the first change", 30)
    with db_conn.cursor() as cur:
        cur.execute("INSERT INTO a VALUES (3, 'held')")
    lag = wait_for(
        lambda: (s := svc.get_integration("paced")["lag_seconds"]) is not None and s >= 3 and s,
        "the wait to show in the lag",
        11,
    )
    assert _count(dest, rows) == 2, lag  # still held back: the lag was not a stale reading
    wait_for(lambda: _count(dest, rows) == 3, "the commit after the interval", 30)
