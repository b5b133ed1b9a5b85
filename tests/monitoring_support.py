"""TICKIT in a real `zeroetl serve` with live traffic, and /metrics scrapes (shared by the metrics
and console tests)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from prometheus_client.parser import text_string_to_metric_families

from tests.service_support import Serve
from zeroetl.sandbox import tickit
from zeroetl.sandbox.mariadb import MariaDBServer

SCALE = 0.02  # ~3,400 sales: a snapshot of a few seconds


@contextmanager
def tickit_source(mariadb: MariaDBServer, database: str) -> Iterator[dict[str, int]]:
    """TICKIT loaded into `database` on the test server (dropped afterwards); yields row counts."""
    conn = mariadb.root()
    try:
        counts = tickit.load(conn, database=database, scale=SCALE, seed=11)
    finally:
        conn.close()
    try:
        yield counts
    finally:
        conn = mariadb.root()
        with conn.cursor() as cur:
            cur.execute(f"DROP DATABASE IF EXISTS `{database}`")
        conn.close()


@contextmanager
def live_traffic(
    mariadb: MariaDBServer, database: str, rate_per_s: float = 25
) -> Iterator[dict[str, int]]:
    """tickit.traffic() on a thread until the block ends; yields its counts (filled at the end)."""
    stop = threading.Event()
    conn = mariadb.root()
    counts: dict[str, int] = {}

    def run() -> None:
        counts.update(
            tickit.traffic(conn, database=database, rate_per_s=rate_per_s, seed=5, stop_event=stop)
        )

    t = threading.Thread(target=run, name="tickit-traffic", daemon=True)
    t.start()
    try:
        yield counts
    finally:
        stop.set()
        t.join(30)
        conn.close()
    assert not t.is_alive(), "traffic did not stop"


def start_serve(tmp_path: Path, *args: str) -> Serve:
    serve = Serve(tmp_path / "wh", tmp_path / "serve.log", *args)
    serve.start()
    return serve


def scrape(serve: Serve, integration_id: str, *, token: bool = True) -> dict[str, Any]:
    """One integration's samples: {"name{label=value,...}": value} (integration_id left out)."""
    r = serve.api("GET", "/metrics", token="" if token else None)
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("text/plain")
    out: dict[str, Any] = {}
    for family in text_string_to_metric_families(r.text):
        for s in family.samples:
            if s.labels.get("integration_id") != integration_id:
                continue
            labels = ",".join(
                f"{k}={v}" for k, v in sorted(s.labels.items()) if k != "integration_id"
            )
            out[f"{s.name}{{{labels}}}" if labels else s.name] = s.value
    return out


def rows_applied(sample: dict[str, Any]) -> dict[str, float]:
    return {
        op: sample.get(f"zeroetl_integration_rows_applied_total{{op={op}}}", 0.0)
        for op in ("insert", "update", "delete")
    }
