"""ClickHouse-backed integrations through a real `zeroetl serve` (a subprocess: chDB runs one
engine per process, so the test opens ClickHouse only once the service has stopped), created
with the real CLI or the API, from a real MariaDB. Monitoring as for DuckDB targets: the system
views over the SQL endpoint, `/metrics`, describe; restarts (SIGTERM and SIGKILL) resume
exactly once, compared row by row with the source (FINAL reads)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from tests.destinations.conftest import start_chdb_http
from tests.monitoring_support import rows_applied, scrape
from tests.service_support import Serve, wait_for

from zeroetl.destinations import base
from zeroetl.model import TableId

pytestmark = pytest.mark.integration

SECRET = "ch-secret-7Qx"


@pytest.fixture
def svc(tmp_path: Path) -> Iterator[Serve]:
    s = Serve(tmp_path / "wh", tmp_path / "serve.log", env={"ZEROETL_CLICKHOUSE_PASSWORD": SECRET})
    s.start()
    try:
        yield s
    finally:
        s.kill()


def _setup(db_conn: Any) -> None:
    with db_conn.cursor() as cur:
        cur.execute("CREATE TABLE a (id INT PRIMARY KEY, v VARCHAR(20), d DATETIME(3))")
        cur.execute("CREATE TABLE b (id BIGINT PRIMARY KEY, amount DECIMAL(12,2))")
        cur.execute("CREATE TABLE nokey (x INT)")
        cur.executemany(
            "INSERT INTO a VALUES (%s, %s, '2026-01-02 03:04:05.678')",
            [(i, f"v{i}") for i in range(300)],
        )
        cur.executemany("INSERT INTO b VALUES (%s, %s)", [(i, i * 1.25) for i in range(120)])


def _changes(db_conn: Any, step: int) -> None:
    """Inserts, updates, deletes and a key change, different at each step."""
    with db_conn.cursor() as cur:
        base_id = 1000 * step
        cur.executemany(
            "INSERT INTO a VALUES (%s, %s, NULL)", [(base_id + i, f"s{step}") for i in range(40)]
        )
        cur.execute("UPDATE a SET v = %s WHERE id %% 7 = %s", [f"u{step}", step % 7])
        cur.execute("DELETE FROM a WHERE id %% 11 = %s AND id < 300", [step % 11])
        cur.execute("UPDATE b SET amount = amount + 1 WHERE id < 30")
        cur.execute("UPDATE b SET id = id + 100000 WHERE id = %s", [step])


def _source_count(db_conn: Any, table: str) -> int:
    with db_conn.cursor() as cur:
        cur.execute(f"SELECT count(*) FROM `{table}`")
        return int(cur.fetchone()[0])


def _wait_synced(svc: Serve, ident: str, db: str, db_conn: Any, timeout: float = 120) -> None:
    want = {t: _source_count(db_conn, t) for t in ("a", "b")}

    def check() -> Any:
        t = svc.tables(ident)
        return (
            all(
                t.get(f"{db}.{n}", {}).get("state") == "Synced" and t[f"{db}.{n}"]["rows"] == rows
                for n, rows in want.items()
            )
            and t
        )

    wait_for(check, f"{ident} to hold the source's rows {want}", timeout)


def _compare(db_conn: Any, url: str, iid: str, db: str) -> None:
    dest = base.open_url(url, iid)
    try:
        for table in ("a", "b"):
            got = dest.read_table(TableId(db, table), ("id",)).to_pylist()  # type: ignore[attr-defined]
            with db_conn.cursor() as cur:
                cur.execute(f"SELECT * FROM `{table}` ORDER BY id")
                names = [d[0] for d in cur.description]
                want = [dict(zip(names, r, strict=True)) for r in cur.fetchall()]
            assert got == want, table
            # exactly once: one current row per key, and no key twice among the live versions
            n = dest.query(  # type: ignore[attr-defined]
                f"SELECT count() - uniqExact(id) FROM `{db}`.`{table}` FINAL"
            )
            assert n.column(0)[0].as_py() == 0
    finally:
        dest.close()


def _sql(svc: Serve, sql: str, *args: Any) -> list[tuple[Any, ...]]:
    with psycopg.connect(svc.sql_dsn(), autocommit=True) as conn:
        cur = conn.execute(sql, list(args))
        return [tuple(r) for r in cur.fetchall()] if cur.description else []


def test_chdb_integration_through_the_cli_and_the_sql_endpoint(
    svc: Serve, tmp_path: Path, source_url: str, db_conn: Any, test_db: str
) -> None:
    _setup(db_conn)
    ch = tmp_path / "ch"
    url = f"chdb://{ch}"
    refused = svc.cli(
        "create", "x", "--source", source_url, "--destination", "clickhouse://u:pw9@h:8123/"
    )
    assert refused.returncode != 0 and "ZEROETL_CLICKHOUSE_PASSWORD" in refused.stderr
    assert "pw9" not in refused.stdout + refused.stderr
    out = svc.cli(
        "create", "shop-ch", "--source", source_url, "--destination", url,
        "--target-database", "shop", "--data-filter", f"exclude: *.*, include: {test_db}.*",
        "--json",
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    made = json.loads(out.stdout)
    iid = made["id"]
    assert made["destination"] == url
    described = svc.cli("describe", "shop-ch")
    assert f"destination        {url}" in described.stdout or url in described.stdout
    other = svc.api(
        "POST",
        "/v1/integrations",
        {"name": "two", "source": source_url, "destination": f"chdb://{tmp_path / 'ch2'}"},
    )
    assert other.status_code == 400 and "one engine per process" in other.text

    _wait_synced(svc, iid, test_db, db_conn)
    _changes(db_conn, 1)
    _wait_synced(svc, iid, test_db, db_conn)

    # the system views over the SQL endpoint, as for a DuckDB target
    states = _sql(
        svc,
        "SELECT table_name, table_state, table_rows, reason FROM svv_integration_table_state "
        "WHERE integration_id = %s ORDER BY table_name",
        iid,
    )
    assert [(r[0], r[1]) for r in states] == [("a", "Synced"), ("b", "Synced"), ("nokey", "Failed")]
    assert states[0][2] == _source_count(db_conn, "a") and "primary key" in states[2][3]
    integ = _sql(
        svc,
        "SELECT target_database, state, total_tables_replicated, total_tables_failed, "
        "last_replicated_checkpoint FROM svv_integration WHERE integration_id = %s",
        iid,
    )
    # a failed table: needs_attention, shown as ErrorState (as for DuckDB targets)
    assert integ[0][:4] == ("shop", "ErrorState", 2, 1) and integ[0][4]
    assert (
        _sql(svc, "SELECT count(*) FROM sys_integration_activity WHERE integration_id = %s", iid)[
            0
        ][0]
        > 0
    )
    # /metrics
    metrics = wait_for(
        lambda: (s := scrape(svc, iid))["zeroetl_integration_tables_replicated"] == 2 and s,
        "the metrics",
        30,
    )
    assert metrics["zeroetl_integration_tables_failed"] == 1
    assert rows_applied(metrics)["update"] > 0

    # the console's JSON twins
    stats = svc.ok("GET", f"/v1/integrations/{iid}/stats")
    assert {k: float(v) for k, v in stats["rows_applied"].items()} == rows_applied(metrics)
    assert svc.ok("GET", f"/v1/integrations/{iid}/series", minutes=10)
    assert svc.ok("GET", f"/v1/integrations/{iid}/activity")["items"]
    assert svc.ok("GET", f"/v1/integrations/{iid}/tables/state-changes")["items"]
    assert svc.api("GET", "/", token=None).status_code == 200

    # refresh one table over the SQL endpoint
    _sql(svc, f'ALTER DATABASE shop INTEGRATION REFRESH TABLE "{test_db}".a')
    wait_for(
        lambda: _sql(
            svc,
            "SELECT count(*) FROM sys_integration_table_state_change WHERE integration_id = %s "
            "AND table_name = 'a' AND new_state = 'ResyncInitiated'",
            iid,
        )[0][0],
        "the refresh in the state-change log",
        60,
    )
    _wait_synced(svc, iid, test_db, db_conn)

    # a clean restart, then a SIGKILL with changes in flight: exactly once after each
    svc.stop()
    _changes(db_conn, 2)
    svc.start()
    _wait_synced(svc, iid, test_db, db_conn)
    _changes(db_conn, 3)
    svc.kill()
    _changes(db_conn, 4)
    svc.start()
    _wait_synced(svc, iid, test_db, db_conn)
    svc.stop()
    _compare(db_conn, url, iid, test_db)


def test_clickhouse_server_integration_through_the_api(
    svc: Serve, tmp_path: Path, source_url: str, db_conn: Any, test_db: str
) -> None:
    """The `clickhouse://` transport: ClickHouse's engine behind the test-only HTTP front."""
    _setup(db_conn)
    server, url = start_chdb_http(tmp_path / "srv")
    try:
        made = svc.ok(
            "POST",
            "/v1/integrations",
            {
                "name": "shop-http",
                "source": source_url,
                "destination": url,
                "target_database": "shop",
                "data_filter": f"exclude: *.*, include: {test_db}.*",
            },
        )
        iid = made["id"]
        assert made["destination"] == url.replace("127.0.0.1:", "127.0.0.1:")
        _wait_synced(svc, iid, test_db, db_conn)
        _changes(db_conn, 1)
        _wait_synced(svc, iid, test_db, db_conn)
        svc.stop()
        _changes(db_conn, 2)
        svc.start()
        _wait_synced(svc, iid, test_db, db_conn)
        _compare(db_conn, url, iid, test_db)
        assert not any(SECRET in text for text in svc.seen)
        assert SECRET not in svc.log.read_text()
    finally:
        server.kill()
