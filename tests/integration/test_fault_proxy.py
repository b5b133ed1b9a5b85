"""Self-healing under a hostile network: the service replicates through a TCP proxy that cuts,
pauses and blackholes its connections at random (seeded), during the first snapshot and
during CDC, while a workload writes to the source. Every fault is waited out: the integration
shows `needs_attention` with the reason while it retries, then `active`, and the warehouse ends
equal to the source, value by value."""

from __future__ import annotations

import itertools
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import duckdb
import pytest
from tests.faultproxy import Chaos, FaultProxy
from tests.service_support import wait_for
from tests.support import assert_table_equal
from tests.workload import TABLES, Workload

from zeroetl.engine.settings import EngineSettings
from zeroetl.service.service import Service
from zeroetl.service.service_config import ServiceConfig

pytestmark = [pytest.mark.integration, pytest.mark.slow]


@pytest.fixture
def proxy(mariadb) -> Iterator[FaultProxy]:
    p = FaultProxy("127.0.0.1", mariadb.port)
    yield p
    p.close()


def _service(tmp_path: Path) -> Service:
    engine = EngineSettings(
        chunk_rows=100,
        batch_ms=50,
        heartbeat_s=0.5,
        reconnect_max_s=2.0,
        source_read_timeout_s=3.0,  # how soon a blackholed query is given up
    )
    svc = Service(
        ServiceConfig(
            warehouse=tmp_path / "wh", sql_port=None, monitor_interval_s=0.05, engine=engine
        )
    )
    svc.start()
    return svc


class Watch:
    """Samples the integration as the API shows it, on a thread, until stopped."""

    def __init__(self, svc: Service, ident: str) -> None:
        self.svc, self.ident = svc, ident
        self.samples: list[dict[str, Any]] = []
        self._stop = threading.Event()
        self._t = threading.Thread(target=self._run, daemon=True)
        self._t.start()

    def now(self) -> dict[str, Any]:
        v = self.svc.get_integration(self.ident)
        keys = ("state", "reason", "replication_state", "lag_seconds", "phase")
        return {k: v[k] for k in keys}

    def _run(self) -> None:
        while not self._stop.wait(0.05):
            self.samples.append(self.now())

    def stop(self) -> None:
        """Stop sampling, with one last sample of the state as of now (the thread's last one
        may predate what the test just waited for)."""
        self._stop.set()
        self._t.join(5)
        self.samples.append(self.now())

    def states(self) -> list[str]:
        return [s["state"] for s in self.samples]


def _story(samples: list[dict[str, Any]]) -> list[tuple[str, str, int]]:
    """Consecutive samples of the same state and reason, counted."""
    keyed = ((s["state"], s["reason"][:160]) for s in samples)
    return [(state, why, len(list(g))) for (state, why), g in itertools.groupby(keyed)]


def _equal(svc: Service, db_conn, db: str) -> bool:
    cur = svc.hub_cursor()
    try:
        cur.execute("USE target")
        for t in TABLES:
            assert_table_equal(db_conn, cur, db, t)
        return True
    except (AssertionError, duckdb.CatalogException):  # not equal, or not even copied yet
        return False
    finally:
        cur.close()


def test_cuts_pauses_and_blackholes_during_snapshot_and_cdc(
    mariadb, db_conn, test_db, proxy, tmp_path
) -> None:
    wl = Workload(db_conn, test_db, seed=21, ddl=False)
    wl.create(rows=4000)
    # A snapshot long enough for a cut and a blackhole to land in it, however fast the machine:
    # a slow link until the blackhole is noticed (4,000 rows a table were once enough alone; on
    # a quiet machine the copy now ends before the first cut).
    proxy.slow(0.02)
    svc = _service(tmp_path)
    url = f"mysql://zeroetl:zeroetl@127.0.0.1:{proxy.port}"
    writer_conn = mariadb.root(test_db)
    writer = Workload(writer_conn, test_db, seed=22, ddl=False)
    writer.next_id = 100_000
    stop_writes = threading.Event()
    writes = threading.Thread(
        target=writer.run, args=(stop_writes,), kwargs={"pause_s": 0.005}, daemon=True
    )
    during_snapshot: list[str] = []
    watch: Watch | None = None
    try:
        view = svc.create_integration(
            name="chaos",
            source=url,
            data_filter=f"exclude: *.*, include: {test_db}.*",
            target_database="target",
        )
        watch = Watch(svc, view["id"])
        writes.start()

        def hit_snapshot(fault: str) -> None:
            if watch.now()["state"] == "creating":
                during_snapshot.append(fault)

        def cut_until_noticed() -> None:
            # A cut only shows when it hits a connection in use (the snapshot's reader between
            # two chunks may be idle, the monitors' connections come and go): cut again until
            # the integration says so, then wait for the retry to work.
            deadline = time.monotonic() + 30
            while True:
                seen = len(watch.samples)
                hit_snapshot("cut")
                proxy.cut()
                t = time.monotonic()
                while time.monotonic() - t < 1.5:
                    if any(s["state"] == "needs_attention" for s in watch.samples[seen:]):
                        break
                    time.sleep(0.05)
                else:
                    assert time.monotonic() < deadline, "no cut was ever noticed"
                    continue
                break
            wait_for(lambda: watch.now()["state"] != "needs_attention", "a retry to work", 30)

        # During the first snapshot: a cut, then a blackhole that never ends by itself (only
        # the read timeout of the snapshot's connection can notice it: no RST ever comes).
        wait_for(lambda: watch.now()["state"] == "creating", "the snapshot", 30)
        time.sleep(0.5)
        cut_until_noticed()
        hit_snapshot("blackhole")
        proxy.blackhole(None)
        wait_for(lambda: watch.now()["state"] == "needs_attention", "the blackhole noticed", 30)
        proxy.slow(0)
        proxy.heal()
        # Then random faults while the snapshot ends and the stream runs.
        chaos = Chaos(proxy, seed=4, observe=hit_snapshot).start()
        time.sleep(8)
        chaos.stop()
        stop_writes.set()
        writes.join(30)
        wait_for(lambda: _equal(svc, db_conn, test_db), "the warehouse to equal the source", 120)
        wait_for(lambda: watch.now()["state"] == "active", "active again", 30)
    except AssertionError:
        if watch is not None:  # what the integration went through, for the failure message
            print(_story(watch.samples), proxy.log.events, file=sys.stderr)
        raise
    finally:
        if watch is not None:
            watch.stop()
        proxy.heal()
        stop_writes.set()
        if writes.is_alive():
            writes.join(30)
        writer_conn.close()
        svc.shutdown()

    log = proxy.log
    assert log.count("cut") >= 2 and log.count("pause") and log.count("blackhole") >= 2, log.events
    assert {"cut", "blackhole"} <= set(during_snapshot), (during_snapshot, log.events)
    assert watch is not None
    seen = watch.samples
    attention = [s for s in seen if s["state"] == "needs_attention"]
    reasons = {s["reason"].split(": ", 1)[0] for s in attention}
    assert reasons == {"replication paused, retrying with backoff until this clears"}, reasons
    assert all(s["replication_state"] == "ErrorState" for s in attention)
    # a stalled integration never claims to be caught up
    assert not [s for s in attention if s["lag_seconds"] == 0.0], attention
    assert seen[-1]["state"] == "active" and seen[-1]["replication_state"] == "CdcRefreshState"
    assert "creating" in watch.states()[: watch.states().index("needs_attention")]
