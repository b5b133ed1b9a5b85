"""`/metrics` of a real `zeroetl serve` while TICKIT traffic flows:
tables replicated, rows applied and lag move between scrapes; the JSON twins agree."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
from tests.monitoring_support import (
    live_traffic,
    rows_applied,
    scrape,
    start_serve,
    tickit_source,
)
from tests.service_support import wait_for

from zeroetl.sandbox.mariadb import MariaDBServer

pytestmark = pytest.mark.integration

DB = "tickit_metrics"
STATES = ("creating", "active", "syncing", "needs_attention", "modifying", "failed", "deleting")


def test_metrics_move_while_traffic_flows(
    mariadb: MariaDBServer, source_url: str, tmp_path: Path
) -> None:
    with tickit_source(mariadb, DB) as loaded:
        serve = start_serve(tmp_path)
        try:
            _walk(serve, mariadb, source_url, loaded)
        finally:
            serve.stop()


def _walk(serve, mariadb: MariaDBServer, source_url: str, loaded: dict[str, int]) -> None:
    assert serve.api("GET", "/metrics", token=None).status_code == 401  # token by default
    iid = serve.ok(
        "POST",
        "/v1/integrations",
        {"name": "metrics-demo", "source": source_url, "data_filter": f"include: {DB}.*"},
    )["id"]

    # Waiting for a target database: the state family says creating, nothing replicated yet.
    before = scrape(serve, iid)
    assert {s: before[f"zeroetl_integration_state{{state={s}}}"] for s in STATES} == {
        s: float(s == "creating") for s in STATES
    }
    assert before["zeroetl_integration_tables_replicated"] == 0
    assert before["zeroetl_integration_tables_failed"] == 0
    assert before["zeroetl_snapshot_rows_total"] == 0
    assert rows_applied(before) == {"insert": 0, "update": 0, "delete": 0}

    serve.ok("POST", f"/v1/integrations/{iid}/target-database", {"database_name": "wh_metrics"})
    synced = wait_for(
        lambda: (
            (s := scrape(serve, iid))["zeroetl_integration_tables_replicated"] == 7
            and s["zeroetl_integration_state{state=active}"] == 1
            and s
        ),
        "seven TICKIT tables replicated",
        120,
    )
    assert synced["zeroetl_snapshot_rows_total"] == sum(loaded.values())
    for table, n in loaded.items():
        key = f"{{schema={DB},table={table}}}"
        assert synced[f"zeroetl_snapshot_table_rows_copied{key}"] == n
        assert synced[f"zeroetl_snapshot_table_complete{key}"] == 1
    headroom = synced["zeroetl_binlog_retention_headroom_seconds"]
    assert headroom > 0 or math.isinf(headroom)

    with live_traffic(mariadb, DB) as counts:
        base = rows_applied(synced)
        base_bytes = synced["zeroetl_integration_data_transferred_bytes_total"]
        lags: set[float] = set()

        def moved() -> bool:
            s = scrape(serve, iid)
            if "zeroetl_integration_lag_seconds" in s:
                lags.add(s["zeroetl_integration_lag_seconds"])
            now = rows_applied(s)
            grew = all(now[op] > base[op] for op in now)
            return (
                grew
                and s["zeroetl_integration_data_transferred_bytes_total"] > base_bytes
                and len(lags) >= 2
                and s["zeroetl_integration_tables_replicated"] == 7
            )

        wait_for(moved, "rows applied, bytes and lag to move under traffic", 90)
    assert counts["transactions"] > 0

    # Once traffic stops and is applied, the counters equal the source's changes and the JSON
    # twin tells the same numbers as the scrape.
    def settled() -> dict[str, float] | None:
        s = scrape(serve, iid)
        applied = rows_applied(s)
        expected = {
            "insert": counts["listings_inserted"] + counts["sales_inserted"],
            "update": counts["listings_updated"],
            "delete": counts["sales_deleted"],
        }
        return s if applied == {k: float(v) for k, v in expected.items()} else None

    final = wait_for(settled, "the counters to match the traffic", 60)
    stats = serve.ok("GET", f"/v1/integrations/{iid}/stats")
    assert {k: float(v) for k, v in stats["rows_applied"].items()} == rows_applied(final)
    assert (
        stats["data_transferred_bytes"] == final["zeroetl_integration_data_transferred_bytes_total"]
    )
    assert stats["tables"]["replicated"] == 7
    assert all(lag >= 0 for lag in lags)

    series = serve.ok("GET", f"/v1/integrations/{iid}/series", minutes=10, step=5)
    assert series["step_seconds"] == 5 and len(series["points"]) in (120, 121)
    total = {op: sum(p[op] for p in series["points"]) for op in ("insert", "update", "delete")}
    assert total == {k: int(v) for k, v in rows_applied(final).items()}
    assert any(p["lag_seconds"] is not None for p in series["points"])
