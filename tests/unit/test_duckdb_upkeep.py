"""A target database stays bounded (WAL, monitoring history) and survives a full disk.

Real DuckDB files; the disk-full cases run in a subprocess with a small RLIMIT_FSIZE (Python
ignores SIGXFSZ, so writes past the limit fail with EFBIG, as on a full disk).
"""

from __future__ import annotations

import contextlib
import json
import random
import subprocess
import sys
import textwrap
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb
import pyarrow as pa
import pytest

from zeroetl.destinations.duckdb import DuckDBDestination
from zeroetl.destinations.duckdb.upkeep import MIB, Upkeep, wal_bytes
from zeroetl.errors import DestinationUnavailable, TransientError
from zeroetl.model import (
    ColumnSchema,
    Kind,
    LogicalType,
    Position,
    TableId,
    TableSchema,
    TableState,
)
from zeroetl.service import stats
from zeroetl.service.readgate import ReadGate

SCHEMA = TableSchema(
    TableId("db", "t"),
    (ColumnSchema("id", LogicalType(Kind.INT64)), ColumnSchema("v", LogicalType(Kind.STRING))),
    ("id",),
)


def _batch(first: int, n: int, tag: str) -> pa.Table:
    ids = list(range(first, first + n))
    return pa.table(
        {
            "__seq": list(range(n)),
            "__del": [False] * n,
            "id": ids,
            "v": [f"{tag}-{i}-" + "x" * 40 for i in ids],
        },
        schema=pa.schema([("__seq", pa.int64()), ("__del", pa.bool_()), *SCHEMA.arrow_schema()]),
    )


def _updates(d: DuckDBDestination, rounds: int) -> int:
    """Rewrite 2,000 of 20,000 rows per commit; returns the largest WAL seen after a commit."""
    d.create_table(SCHEMA)
    d.write_chunk(SCHEMA, _batch(0, 20_000, "init").drop_columns(["__seq", "__del"]))
    largest = 0
    for r in range(rounds):
        d.begin()
        d.apply_changes(SCHEMA, _batch((r * 2_000) % 20_000, 2_000, f"r{r}"))
        d.commit()
        largest = max(largest, wal_bytes(d.path))
    return largest


def test_wal_stays_under_its_limit_under_continuous_load(tmp_path: Path) -> None:
    limit = 1 * MIB
    d = DuckDBDestination(tmp_path / "b.duckdb", "i", upkeep_settings=Upkeep(wal_limit_bytes=limit))
    try:
        largest = _updates(d, 60)
        per_commit = d.upkeep_stats.wal_max_bytes  # includes the commit that crossed the limit
        assert d.upkeep_stats.checkpoints >= 3
        assert largest < limit, (largest, limit)
        assert per_commit < 2 * limit
        assert d.reader().execute("SELECT count(*) FROM db.t").fetchone() == (20_000,)
    finally:
        d.close()
    # The same load with the limit far away: the WAL only grows (what happened before).
    d = DuckDBDestination(tmp_path / "u.duckdb", "i")
    try:
        assert _updates(d, 60) > 2 * limit
        assert d.upkeep_stats.checkpoints == 0
    finally:
        d.close()


def test_idle_checkpoint_folds_a_wal_worth_folding(tmp_path: Path) -> None:
    up = Upkeep(wal_limit_bytes=8 * MIB)  # idle floor: 1 MiB
    d = DuckDBDestination(tmp_path / "i.duckdb", "i", upkeep_settings=up)
    try:
        d.create_table(SCHEMA)
        d.checkpoint_if_idle()
        assert d.upkeep_stats.checkpoints == 0  # a tiny WAL is left alone
        d.write_chunk(SCHEMA, _batch(0, 40_000, "a").drop_columns(["__seq", "__del"]))
        assert wal_bytes(d.path) >= up.idle_min_bytes
        d.checkpoint_if_idle()
        assert d.upkeep_stats.checkpoints == 1 and wal_bytes(d.path) < up.idle_min_bytes
    finally:
        d.close()


def _history(d: DuckDBDestination, table: str, when: datetime, n: int) -> None:
    """`n` table-activity rows (1 insert each) and `n` activity rows recorded at `when`."""
    con = d.reader()
    for i in range(n):
        t = when + timedelta(seconds=i)
        con.execute(
            "INSERT INTO _zeroetl.table_activity VALUES (?, ?, 'db', ?, ?, 'tx', 1, 0, 2, 10)",
            [d.integration_id, f"f:{i}", table, t],
        )
        con.execute(
            "INSERT INTO _zeroetl.activity VALUES (?, ?, 'f', ?, '', 'cdc', 10, ?, 1, ?, ?)",
            [d.integration_id, f"f:{i}", i, t, t, t],
        )


def test_history_retention_by_age_and_rows_keeps_the_counters(tmp_path: Path) -> None:
    up = Upkeep(history_max_age_s=7 * 86400, history_max_rows=50)
    d = DuckDBDestination(tmp_path / "h.duckdb", "i", upkeep_settings=up)
    try:
        now = datetime.now(UTC)
        _history(d, "old", now - timedelta(days=9), 30)  # all past the age limit
        _history(d, "busy", now - timedelta(hours=1), 120)  # 70 past the row cap
        _history(d, "quiet", now - timedelta(hours=2), 10)
        d.record_state_change(TableId("db", "old"), TableState.SYNCED, "x", Position("f", 1, ""))
        before = stats.totals(d.reader(), "h", "i")
        # table activity: 30 too old + 70 over the cap; activity: 160 rows down to 50
        assert d.prune_history() == 30 + 70 + (160 - 50)
        con = d.reader()
        per_table = dict(
            con.execute(
                "SELECT table_name, count(*) FROM _zeroetl.table_activity GROUP BY ALL"
            ).fetchall()
        )
        assert per_table == {"busy": 50, "quiet": 10}
        assert con.execute("SELECT count(*) FROM _zeroetl.activity").fetchone() == (50,)
        # the newest rows are the ones kept
        kept = con.execute(
            "SELECT list(checkpoint_name) FROM _zeroetl.table_activity WHERE table_name = 'busy'"
        ).fetchone()[0]
        assert {"f:70", "f:119"} <= set(kept) and "f:69" not in kept
        after = stats.totals(con, "h", "i")
        for key in ("rows_applied", "data_transferred_bytes", "batches", "last_applied_at"):
            assert after[key] == before[key], key
        assert {t["table"] for t in after["table_activity"]} == {"old", "busy", "quiet"}
        # a second prune compacts the rollup to one row per table
        _history(d, "busy", now - timedelta(minutes=30), 20)
        d.prune_history()
        rollup = con.execute(
            "SELECT table_name, count(*), sum(pruned_rows) FROM _zeroetl.table_activity_pruned "
            "GROUP BY ALL ORDER BY 1"
        ).fetchall()
        assert rollup == [("busy", 1, 90), ("old", 1, 30)]
        assert stats.totals(con, "h", "i")["rows_applied"]["insert"] == 180
    finally:
        d.close()


_DISK_FULL = textwrap.dedent(
    """
    import resource, sys
    from pathlib import Path
    import pyarrow as pa
    from zeroetl.destinations.duckdb import DuckDBDestination
    from zeroetl.destinations.duckdb.upkeep import Upkeep, MIB
    from zeroetl.errors import DestinationUnavailable
    from tests.unit.test_duckdb_upkeep import SCHEMA, _batch

    import duckdb, json, threading
    path = Path(sys.argv[1])
    kw, name = {}, "db.t"
    if sys.argv[2] == "hub":  # attached to a shared instance, as in the service
        hub = duckdb.connect(":memory:")
        kw = {"hub": hub, "hub_lock": threading.Lock(), "catalog": "target"}
        name = "target.db.t"  # readers of a hub name the database
    d = DuckDBDestination(path, "i", upkeep_settings=Upkeep(wal_limit_bytes=64 * MIB), **kw)
    d.create_table(SCHEMA)
    d.write_chunk(SCHEMA, _batch(0, 1000, "a").drop_columns(["__seq", "__del"]))
    d.checkpoint()
    size = path.stat().st_size
    resource.setrlimit(resource.RLIMIT_FSIZE, (size + 300_000, resource.RLIM_INFINITY))
    seen = []
    n = 1000
    try:
        while True:  # commits until the WAL reaches the limit
            d.begin()
            d.apply_changes(SCHEMA, _batch(n, 1000, "b"))
            d.commit()
            n += 1000
    except DestinationUnavailable as e:
        seen.append("commit: " + e.message)
    committed = n
    resource.setrlimit(resource.RLIMIT_FSIZE, (size + 10_000, resource.RLIM_INFINITY))
    try:
        d.checkpoint()  # must grow the database file past the limit
    except DestinationUnavailable as e:
        seen.append("checkpoint: " + e.message)
    resource.setrlimit(resource.RLIMIT_FSIZE, (resource.RLIM_INFINITY, resource.RLIM_INFINITY))
    d.reader().execute(f"SELECT count(*) FROM {name}").fetchone()  # the file is reopened
    d.begin()
    d.apply_changes(SCHEMA, _batch(committed, 10, "c"))
    d.commit()
    rows = d.reader().execute(f"SELECT count(*) FROM {name}").fetchone()[0]
    print(json.dumps({"seen": seen, "committed": committed, "rows": rows}))
    """
)


@pytest.mark.parametrize("mode", ["own", "hub"])
def test_disk_full_is_transient_and_loses_nothing(tmp_path: Path, mode: str) -> None:
    out = subprocess.run(
        [sys.executable, "-c", _DISK_FULL, str(tmp_path / "full.duckdb"), mode],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=Path(__file__).resolve().parents[2],
    )
    assert out.returncode == 0, out.stderr[-3000:]
    result = json.loads(out.stdout.strip().splitlines()[-1])
    commit_err, checkpoint_err = result["seen"]
    assert "File too large" in commit_err and "EFBIG" in commit_err
    assert "File too large" in checkpoint_err
    # every committed row is there after the reopen, and writing works again
    assert result["rows"] == result["committed"] + 10


def test_second_process_lock_is_transient(tmp_path: Path) -> None:
    d = DuckDBDestination(tmp_path / "w.duckdb", "x")
    code = (
        "import sys; from pathlib import Path\n"
        "from zeroetl.destinations.duckdb import DuckDBDestination\n"
        "from zeroetl.errors import TransientError\n"
        "try: DuckDBDestination(Path(sys.argv[1]), 'y')\n"
        "except TransientError as e: print(e.message); sys.exit(3)\n"
    )
    try:
        r = subprocess.run(
            [sys.executable, "-c", code, str(tmp_path / "w.duckdb")], capture_output=True, text=True
        )
    finally:
        d.close()
    assert r.returncode == 3, r.stderr
    assert "another process holds the database file" in r.stdout
    assert issubclass(DestinationUnavailable, TransientError)


@pytest.mark.parametrize("bad", [0, 1000])
def test_upkeep_refuses_nonsense(bad: int) -> None:
    with pytest.raises(ValueError):
        Upkeep(wal_limit_bytes=bad)


def _file_under_readers(tmp_path: Path, gate: ReadGate | None) -> tuple[int, int]:
    """Random rewrites of a 200k-row table with 2 threads querying it back to back; returns
    (growth of the bytes in use, windows that found no reader)."""
    hub = duckdb.connect(":memory:")
    d = DuckDBDestination(
        tmp_path / f"r{gate is not None}.duckdb",
        "i",
        upkeep_settings=Upkeep(wal_limit_bytes=1 * MIB, window_every_s=0.0),
        hub=hub,
        hub_lock=threading.Lock(),
        catalog="target",
        quiesce=gate.window if gate is not None else None,
    )
    stop = threading.Event()
    reads = [0]

    def reader(offset: float) -> None:
        # An analyst reading a result slowly: a transaction open for a while, two of them
        # overlapping, so that some reader is always there.
        cur = hub.cursor()
        time.sleep(offset)
        while not stop.is_set():
            with gate.reading() if gate is not None else contextlib.nullcontext():
                cur.execute("BEGIN")
                cur.execute("SELECT count(*), sum(length(v)) FROM target.db.t").fetchall()
                time.sleep(0.2)
                cur.execute("COMMIT")
            reads[0] += 1

    try:
        d.create_table(SCHEMA)
        d.write_chunk(SCHEMA, _batch(0, 200_000, "a").drop_columns(["__seq", "__del"]))
        d.checkpoint()
        base = d._used_bytes()
        threads = [threading.Thread(target=reader, args=(o,), daemon=True) for o in (0, 0.1)]
        for t in threads:
            t.start()
        rng = random.Random(3)
        r = 0
        # At least 80 rounds, and on until the readers have really been there (a loaded
        # machine may give them few turns), whatever the machine's speed.
        while r < 80 or (reads[0] <= 10 and r < 800):
            d.begin()
            d.apply_changes(SCHEMA, _batch(rng.randrange(0, 195_000), 5_000, f"r{r}"))
            d.commit()
            r += 1
        stop.set()
        for t in threads:
            t.join(10)
        assert reads[0] > 10  # the readers really were there
        return d._used_bytes() - base, d.upkeep_stats.windows_clear
    finally:
        stop.set()
        d.close()


def test_readers_are_held_back_for_a_checkpoint_that_reclaims(tmp_path: Path) -> None:
    # Without the gate every checkpoint meets a reader and reclaims nothing: the file grows.
    grown, _ = _file_under_readers(tmp_path, None)
    kept, clear = _file_under_readers(tmp_path, ReadGate())
    assert clear >= 1
    assert kept < grown / 2, (kept, grown)


def test_read_gate_holds_new_readers_and_waits_for_running_ones() -> None:
    gate = ReadGate(max_hold_s=5.0)
    order: list[str] = []
    gate.enter()  # a statement in flight
    started = threading.Event()

    def late_reader() -> None:
        started.wait(5)
        with gate.reading():
            order.append("late reader")

    t = threading.Thread(target=late_reader)
    t.start()

    def finish_first() -> None:
        time.sleep(0.2)
        order.append("running reader done")
        gate.leave()

    threading.Thread(target=finish_first).start()
    with gate.window(wait_s=5.0) as clear:
        started.set()
        time.sleep(0.2)  # the late reader is held back meanwhile
        order.append(f"checkpoint (clear={clear})")
    t.join(5)
    assert order == ["running reader done", "checkpoint (clear=True)", "late reader"]
    gate.enter()  # a reader that never ends: the window gives up after wait_s
    with gate.window(wait_s=0.1) as clear:
        assert clear is False
    gate.leave()
