"""Source INSERTs into many tables skip the warehouse DELETE once a table is Synced
(base.NewKeyInserts): a crash inside such a transaction, a restart, or the replay of what a
table's copy already holds must never double a row."""

from __future__ import annotations

import random
import threading
import time
from pathlib import Path

import pyarrow as pa
import pytest
from tests.integration.test_crash import _catch_up, sigkill_loop
from tests.support import open_duck

from zeroetl.destinations.duckdb import DuckDBDestination
from zeroetl.engine.filters import DataFilter
from zeroetl.engine.runner import Replicator
from zeroetl.engine.settings import EngineSettings
from zeroetl.model import TableSchema
from zeroetl.sources.mysql.connection import SourceParams
from zeroetl.sources.mysql.source import MySqlSource

pytestmark = [pytest.mark.integration, pytest.mark.slow]

TABLES = [f"t{i:02d}" for i in range(12)]


def _create(conn, rows: int) -> None:
    with conn.cursor() as cur:
        for t in TABLES:
            cur.execute(f"CREATE TABLE {t} (id BIGINT PRIMARY KEY, a INT NOT NULL, b VARCHAR(20))")
            cur.execute(
                f"INSERT INTO {t} SELECT seq, seq % 7, CONCAT('r', seq) FROM seq_1_to_{rows}"
            )


def _insert_everywhere(conn, lo: int, n: int = 10) -> None:
    """One source transaction inserting `n` new rows into every table."""
    with conn.cursor() as cur:
        cur.execute("BEGIN")
        for t in TABLES:
            cur.execute(f"INSERT INTO {t} SELECT seq, 1, 'new' FROM seq_{lo}_to_{lo + n - 1}")
        cur.execute("COMMIT")


def _assert_same(conn, wh_file: Path, db: str) -> None:
    duck = open_duck(wh_file)
    try:
        for t in TABLES:
            with conn.cursor() as cur:
                cur.execute(f"SELECT count(*), COALESCE(sum(id), 0) FROM {t}")
                src = tuple(int(v) for v in cur.fetchone())
            got = duck.execute(
                f'SELECT count(*), count(DISTINCT id), COALESCE(sum(id), 0) FROM "{db}".{t}'
            ).fetchone()
            assert got is not None
            assert (got[0], got[2]) == src and got[1] == got[0], (t, got, src)
    finally:
        duck.close()


def test_sigkill_under_insert_only_transactions_across_tables(
    mariadb, db_conn, test_db, source_url, tmp_path
) -> None:
    """Killed during the copy (the stream then replays inserts the copy holds) and while
    streaming (an insert-only transaction half applied, never committed)."""
    _create(db_conn, rows=300)
    wh = tmp_path / "wh"
    stop = threading.Event()
    writer_conn = mariadb.root(test_db)

    def write() -> None:
        lo = 10_000
        while not stop.is_set():
            _insert_everywhere(writer_conn, lo)
            lo += 10
            time.sleep(0.003)

    writer = threading.Thread(target=write, daemon=True)
    writer.start()
    try:
        sigkill_loop(source_url, wh, test_db, 5, random.Random(5), (0.8, 3.0))
    finally:
        stop.set()
        writer.join(timeout=30)
        writer_conn.close()
    _catch_up(source_url, wh, test_db)
    _assert_same(db_conn, wh / "databases" / "target.duckdb", test_db)


class _Counting(DuckDBDestination):
    """A real DuckDB destination that counts its new-key inserts and can die at the COMMIT
    of a transaction that made some."""

    inserts_new = 0
    chunks = 0
    die_at_commit = False

    def insert_new(self, schema: TableSchema, changes: pa.Table) -> None:
        type(self).inserts_new += 1
        super().insert_new(schema, changes)

    def write_chunk(self, schema: TableSchema, rows: pa.Table, *, replace: bool = True) -> None:
        type(self).chunks += 1
        super().write_chunk(schema, rows, replace=replace)

    def commit(self) -> None:
        cls = type(self)
        if cls.die_at_commit and (cls.inserts_new or cls.chunks) and self.in_transaction:
            self._con.close()  # the process dies: no COMMIT, no rollback
            raise KeyboardInterrupt("killed at COMMIT")
        super().commit()


@pytest.fixture(autouse=True)
def _fresh_counts() -> None:
    _Counting.inserts_new, _Counting.chunks, _Counting.die_at_commit = 0, 0, False


def _run(source_url: str, db: str, path: Path) -> None:
    dest = _Counting(path, "i1")
    rep = Replicator(
        MySqlSource(SourceParams.from_url(source_url)),
        dest,
        integration_id="i1",
        data_filter=DataFilter.parse(f"exclude: *.*, include: {db}.*"),
        settings=EngineSettings(until_caught_up=True),
    )
    try:
        rep.run()
    finally:
        if not _Counting.die_at_commit:
            dest.close()


def test_insert_only_transaction_killed_at_commit_applies_once(
    db_conn, test_db, source_url, tmp_path
) -> None:
    _create(db_conn, rows=50)
    path = tmp_path / "w.duckdb"
    _run(source_url, test_db, path)  # the copy: every table Synced once the stream passes it
    _insert_everywhere(db_conn, 1_000)
    _Counting.inserts_new, _Counting.chunks, _Counting.die_at_commit = 0, 0, True
    with pytest.raises(KeyboardInterrupt):
        _run(source_url, test_db, path)
    assert _Counting.inserts_new == len(TABLES)  # the fast path ran, then the process died
    _Counting.die_at_commit = False
    _insert_everywhere(db_conn, 2_000)
    _run(source_url, test_db, path)  # replays the lost transaction, applies the next one
    _assert_same(db_conn, path, test_db)
    # both transactions by the fast path again: one batch holding both, or one batch each
    assert _Counting.inserts_new - len(TABLES) in (len(TABLES), 2 * len(TABLES))


def test_inserts_the_copy_already_holds_are_replayed_once(
    db_conn, test_db, source_url, tmp_path
) -> None:
    """Killed at the first commit of copied rows: the copy resumes at a later position, so
    the stream, from the checkpoint before it, replays INSERTs the copy holds. Those tables are
    not Synced yet: their keys are deleted first, and no row is doubled."""
    _create(db_conn, rows=50)
    path = tmp_path / "w.duckdb"
    _Counting.inserts_new, _Counting.chunks, _Counting.die_at_commit = 0, 0, True
    with pytest.raises(KeyboardInterrupt):
        _run(source_url, test_db, path)
    assert _Counting.chunks > 0
    _insert_everywhere(db_conn, 1_000)  # after the checkpoint, before the resumed copy
    _insert_everywhere(db_conn, 2_000)
    _Counting.inserts_new, _Counting.die_at_commit = 0, False
    _run(source_url, test_db, path)
    _assert_same(db_conn, path, test_db)
    assert _Counting.inserts_new == 0  # replayed into tables being copied: no fast path
    _insert_everywhere(db_conn, 3_000)
    _run(source_url, test_db, path)  # Synced now
    _assert_same(db_conn, path, test_db)
    assert _Counting.inserts_new == len(TABLES)
