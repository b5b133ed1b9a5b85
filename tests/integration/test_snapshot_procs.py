"""Snapshots read in child processes (`snapshot_processes`): hostile values round-trip, a
reader process killed mid-copy ends the attempt with a clear error and the copy resumes per
chunk with nothing lost or doubled, and the source's password stays out of the children's
argv and environment."""

from __future__ import annotations

import logging
import os
import signal
import threading
import time
from pathlib import Path

import pytest
from tests.integration.test_replicate import check_all, replicate, states

from zeroetl.engine.filters import DataFilter
from zeroetl.engine.runner import Replicator
from zeroetl.engine.settings import EngineSettings, Progress
from zeroetl.model import TableId
from zeroetl.service.standalone import open_integration
from zeroetl.sources.mysql.connection import SourceParams
from zeroetl.sources.mysql.discovery import load_schemas
from zeroetl.sources.mysql.snapshot import SnapshotReader
from zeroetl.sources.mysql.snapshot_procs import ProcessCopy
from zeroetl.sources.mysql.source import MySqlSource

pytestmark = pytest.mark.integration

PROCS = {"snapshot_processes": True, "snapshot_readers": 2}


def _workers() -> list[int]:
    """Pids of this process's snapshot reader children."""
    me = os.getpid()
    out = []
    for d in Path("/proc").iterdir():
        if not d.name.isdigit():
            continue
        try:
            stat = (d / "stat").read_text()
            cmd = (d / "cmdline").read_bytes()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        if ppid == me and b"snapshot_worker" in cmd:
            out.append(int(d.name))
    return out


def test_hostile_values_and_enum_set_keys(db_conn, test_db, source_url, tmp_path) -> None:
    with db_conn.cursor() as cur:
        cur.execute("SET SESSION sql_mode = ''")
        cur.execute(
            "CREATE TABLE h (e ENUM('zz','aa','mm') NOT NULL, s SET('x','y','z') NOT NULL, "
            "n INT, b LONGBLOB, t TEXT, d DECIMAL(65,30), dz DATE, tz DATETIME(6), "
            "PRIMARY KEY (e, s, n))"
        )
        cur.execute(
            "INSERT INTO h SELECT ELT(1 + seq % 3, 'zz', 'aa', 'mm'), "
            "ELT(1 + seq % 4, '', 'x', 'y,z', 'x,y,z'), seq, "
            "CONCAT(X'00', REPEAT(X'00FF', seq % 50), X'00'), CONCAT('a', CHAR(0), '☃', seq), "
            "-seq / 7, IF(seq % 2, '0000-00-00', '2024-02-29'), "
            "IF(seq % 3, '0000-00-00 00:00:00', '9999-12-31 23:59:59.999999') FROM seq_1_to_300"
        )
        # One huge value (12 MB) among small ones, and a plain integer key split into ranges.
        cur.execute(
            "INSERT INTO h VALUES ('aa', 'y', 100000, REPEAT(X'00AB', 6000000), '', 0, NULL, NULL)"
        )
        cur.execute("CREATE TABLE k (id BIGINT UNSIGNED PRIMARY KEY, v VARCHAR(20))")
        cur.execute("INSERT INTO k SELECT 18446744073709551615 - seq * 5, seq FROM seq_1_to_3000")
    wh = tmp_path / "wh"
    replicate(source_url, wh, test_db, chunk_rows=100, **PROCS)
    check_all(db_conn, wh, test_db, ["h", "k"])
    st = states(wh)
    assert st[f"{test_db}.h"][0] == "Synced" and st[f"{test_db}.k"][0] == "Synced"


def test_failing_table_fails_alone(db_conn, test_db, source_url, tmp_path) -> None:
    with db_conn.cursor() as cur:
        cur.execute("CREATE TABLE durations (id INT PRIMARY KEY, t TIME)")
        cur.execute("INSERT INTO durations VALUES (1, '10:00:00'), (2, '-838:59:59')")
        cur.execute("CREATE TABLE fine (id INT PRIMARY KEY)")
        cur.execute("INSERT INTO fine SELECT seq FROM seq_1_to_500")
    wh = tmp_path / "wh"
    replicate(source_url, wh, test_db, chunk_rows=50, **PROCS)
    st = states(wh)
    assert st[f"{test_db}.durations"][0] == "Failed"
    assert "TIME value out of range" in st[f"{test_db}.durations"][1]
    check_all(db_conn, wh, test_db, ["fine"])


class _KillOnce(Progress):
    """SIGKILLs one reader process once `after` rows are committed."""

    def __init__(self, after: int) -> None:
        self.after = after
        self.rows = 0
        self.killed: list[int] = []

    def snapshot_chunk(self, table: TableId, rows: int) -> None:
        self.rows += rows
        if not self.killed and self.rows >= self.after:
            pids = _workers()
            assert pids, "no reader process to kill"
            os.kill(pids[0], signal.SIGKILL)
            self.killed.append(pids[0])


def test_killed_reader_resumes_per_chunk(db_conn, test_db, source_url, tmp_path, caplog) -> None:
    caplog.set_level(logging.WARNING)
    n = 60_000
    with db_conn.cursor() as cur:
        cur.execute("CREATE TABLE big (id INT PRIMARY KEY, v VARCHAR(40), d DECIMAL(12,2))")
        cur.execute(f"INSERT INTO big SELECT seq, MD5(seq), seq / 100 FROM seq_1_to_{n}")
        cur.execute("CREATE TABLE tags (t ENUM('b','a') NOT NULL, n INT, PRIMARY KEY (t, n))")
        cur.execute("INSERT INTO tags SELECT IF(seq % 2, 'a', 'b'), seq FROM seq_1_to_900")
    progress = _KillOnce(after=n // 4)
    wh = tmp_path / "wh"
    dest, iid = open_integration(wh, "target")
    rep = Replicator(
        MySqlSource(SourceParams.from_url(source_url)),
        dest,
        integration_id=iid,
        data_filter=DataFilter.parse(f"exclude: *.*, include: {test_db}.*"),
        settings=EngineSettings(
            until_caught_up=True, chunk_rows=1000, snapshot_commit_rows=1000, **PROCS
        ),  # type: ignore[arg-type]
        progress=progress,
    )
    try:
        rep.run()
    finally:
        dest.close()
    assert progress.killed
    said = [r.getMessage() for r in caplog.records if "snapshot reader process" in r.getMessage()]
    assert any(f"{progress.killed[0]} was killed by signal SIGKILL" in m for m in said), said
    check_all(db_conn, wh, test_db, ["big", "tags"])  # row by row: nothing lost or doubled
    # Resumed from the committed cursors, not from scratch: little was copied twice.
    assert progress.rows < n + 900 + n // 2, progress.rows
    assert not _workers()  # no reader process left behind
    st = states(wh)
    assert st[f"{test_db}.big"][0] == "Synced" and st[f"{test_db}.tags"][0] == "Synced"


class _CutOnce(Progress):
    """Kills the source connection of a reader process once `after` rows are committed.

    A reader's connection is busy only while it reads a chunk (it sleeps while its chunks wait
    for the engine), so a thread watches the process list for a reader's SELECT instead of
    looking once from the engine's callback, which holds the engine (and so the readers) up.
    """

    def __init__(self, root, after: int) -> None:
        self.root, self.after, self.rows, self.cut = root, after, 0, 0
        self._watcher: threading.Thread | None = None

    def snapshot_chunk(self, table: TableId, rows: int) -> None:
        self.rows += rows
        if self._watcher is None and self.rows >= self.after:
            self._watcher = threading.Thread(target=self._cut, daemon=True)
            self._watcher.start()

    def _cut(self) -> None:
        deadline = time.monotonic() + 30
        with self.root.cursor() as cur:
            while not self.cut and time.monotonic() < deadline:
                cur.execute(
                    "SELECT id FROM information_schema.processlist WHERE user = 'zeroetl' "
                    "AND command = 'Query' AND info LIKE 'SELECT %'"
                )
                for (conn_id,) in cur.fetchall():
                    cur.execute(f"KILL CONNECTION {int(conn_id)}")
                    self.cut += 1
                time.sleep(0.001)

    def join(self) -> None:
        if self._watcher is not None:
            self._watcher.join()


def test_reader_losing_the_source_resumes(
    mariadb, db_conn, test_db, source_url, tmp_path, caplog
) -> None:
    # A reader's query killed on the server: the process reports it (not a crash) and the
    # engine retries; the copy resumes and ends equal to the source.
    caplog.set_level(logging.WARNING)
    n = 200_000
    with db_conn.cursor() as cur:
        cur.execute("CREATE TABLE big (id INT PRIMARY KEY, v VARCHAR(40))")
        cur.execute(f"INSERT INTO big SELECT seq, MD5(seq) FROM seq_1_to_{n}")
    root = mariadb.root()
    progress = _CutOnce(root, after=n // 10)
    wh = tmp_path / "wh"
    dest, iid = open_integration(wh, "target")
    rep = Replicator(
        MySqlSource(SourceParams.from_url(source_url)),
        dest,
        integration_id=iid,
        data_filter=DataFilter.parse(f"exclude: *.*, include: {test_db}.*"),
        settings=EngineSettings(
            until_caught_up=True, chunk_rows=2000, snapshot_commit_rows=2000, **PROCS
        ),  # type: ignore[arg-type]
        progress=progress,
    )
    try:
        rep.run()
    finally:
        progress.join()
        dest.close()
        root.close()
    said = [r.getMessage() for r in caplog.records if "snapshot reader process" in r.getMessage()]
    assert progress.cut, "no reader query to kill"
    assert said and "source unavailable" in caplog.text, said
    check_all(db_conn, wh, test_db, ["big"])
    assert not _workers()


def test_password_not_in_children_argv_or_env(db_conn, test_db, source_url) -> None:
    secret = f"Pw-{os.getpid()}-kq7Zr"  # a password no path or module name contains
    user = f"procs{os.getpid()}"
    with db_conn.cursor() as cur:
        cur.execute("CREATE TABLE t (id INT PRIMARY KEY, v TEXT)")
        cur.execute("INSERT INTO t SELECT seq, REPEAT('x', 100) FROM seq_1_to_5000")
        cur.execute(f"CREATE USER '{user}'@'%' IDENTIFIED BY '{secret}'")
        cur.execute(f"GRANT SELECT, BINLOG MONITOR ON *.* TO '{user}'@'%'")
    base = SourceParams.from_url(source_url)
    params = SourceParams(base.host, base.port, user, secret)
    schema = load_schemas(db_conn, [TableId(test_db, "t")])[TableId(test_db, "t")]
    first = SnapshotReader(params, chunk_rows=100)
    copy = None
    try:
        at = first.begin_consistent()
        assert at is not None
        copy = ProcessCopy(first, [(schema, None)], at, 2)
        it = copy.chunks()
        c = next(it)
        assert c.table == schema.id and c.rows is not None
        rows = c.rows.num_rows
        pids = copy.pids()
        assert len(pids) == 2
        for pid in pids:
            for what in ("cmdline", "environ"):
                blob = Path(f"/proc/{pid}/{what}").read_bytes()
                assert secret.encode() not in blob, what
        for c in it:
            rows += c.rows.num_rows if c.rows is not None else 0
        assert rows == 5000
        assert not any(_alive(p) for p in pids)
    finally:
        if copy is not None:
            copy.close()
        first.close()
        with db_conn.cursor() as cur:
            cur.execute(f"DROP USER '{user}'@'%'")


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"
