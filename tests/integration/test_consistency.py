"""Snapshot under concurrent writes (both hand-off techniques) and atomicity of big transactions."""

from __future__ import annotations

import threading
import time

import pytest
from tests.integration.test_replicate import check_all, replicate, states
from tests.workload import TABLES, Workload

from zeroetl.engine.filters import DataFilter
from zeroetl.engine.runner import Replicator
from zeroetl.engine.settings import EngineSettings
from zeroetl.service.standalone import open_integration
from zeroetl.sources.mysql.connection import SourceParams
from zeroetl.sources.mysql.snapshot import SnapshotReader
from zeroetl.sources.mysql.source import MySqlSource

pytestmark = pytest.mark.integration


@pytest.mark.parametrize("technique", ["consistent-snapshot", "watermarks"])
def test_snapshot_while_the_source_writes(
    technique, mariadb, db_conn, test_db, source_url, tmp_path, monkeypatch
) -> None:
    """Chunks are read while a workload (DDL included) runs; once caught up, equal."""
    if technique == "watermarks":
        # MySQL 8 has no consistent-snapshot position: take the path the engine uses there
        # (positions read before and after each chunk), on the same real server.
        monkeypatch.setattr(SnapshotReader, "begin_consistent", lambda self: None)
    Workload(db_conn, test_db, seed=21).create(rows=600)
    stop = threading.Event()
    writer_conn = mariadb.root(test_db)
    writer = Workload(writer_conn, test_db, seed=22)
    writer.next_id = 20_000
    t = threading.Thread(target=writer.run, args=(stop,), kwargs={"pause_s": 0.001}, daemon=True)
    t.start()
    try:
        time.sleep(0.3)
        replicate(source_url, tmp_path / "wh", test_db, chunk_rows=37, batch_ms=20)
    finally:
        stop.set()
        t.join(timeout=30)
        writer_conn.close()
    replicate(source_url, tmp_path / "wh", test_db, chunk_rows=37)
    check_all(db_conn, tmp_path / "wh", test_db, list(TABLES))
    st = states(tmp_path / "wh")
    assert all(st[f"{test_db}.{t}"][0] == "Synced" for t in TABLES), st


def test_big_transaction_is_applied_atomically(db_conn, test_db, source_url, tmp_path) -> None:
    """A source transaction far larger than a batch is applied in slices but committed once:
    a reader never sees part of it."""
    with db_conn.cursor() as cur:
        cur.execute("CREATE TABLE big (id INT PRIMARY KEY, v INT)")
    wh = tmp_path / "wh"
    replicate(source_url, wh, test_db)
    dest, iid = open_integration(wh, "target")
    rep = Replicator(
        MySqlSource(SourceParams.from_url(source_url)),
        dest,
        integration_id=iid,
        data_filter=DataFilter.parse(f"exclude: *.*, include: {test_db}.*"),
        settings=EngineSettings(batch_rows=500, batch_ms=10),
    )
    runner = threading.Thread(target=rep.run, daemon=True)
    runner.start()
    seen: set[int] = set()
    try:
        with db_conn.cursor() as cur:
            cur.execute("BEGIN")
            for start in range(0, 20_000, 2000):
                cur.execute(
                    "INSERT INTO big SELECT seq, seq FROM seq_%s_to_%s", (start + 1, start + 2000)
                )
            cur.execute("COMMIT")
        reader = dest.reader()
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            n = reader.execute(f'SELECT count(*) FROM "{test_db}".big').fetchone()[0]
            seen.add(n)
            if n == 20_000:
                break
        reader.close()
    finally:
        rep.stop()
        runner.join(timeout=30)
        dest.close()
    assert seen <= {0, 20_000} and 20_000 in seen, sorted(seen)[:10]
    check_all(db_conn, wh, test_db, ["big"])
