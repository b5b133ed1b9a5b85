"""DuckDB's memory on a target database of its own (destinations/duckdb/memory.py): bounded
between checkpoints, enough for a checkpoint of 1 MiB BLOBs, and nothing committed ever lost
when a checkpoint fails or the writer is killed.

Real DuckDB files. A checkpoint of a row group holds every value of a vector at once, so 1 MiB
BLOBs need more than a 64 MiB limit: without the headroom each of these tests fails.
"""

from __future__ import annotations

import hashlib
import os
import random
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import duckdb
import pyarrow as pa
import pytest

from zeroetl.destinations.duckdb import DuckDBDestination
from zeroetl.destinations.duckdb.memory import Memory, WideRows
from zeroetl.destinations.duckdb.upkeep import MIB, Upkeep, wal_bytes
from zeroetl.errors import DestinationUnavailable
from zeroetl.model import ColumnSchema, Kind, LogicalType, TableId, TableSchema

SCHEMA = TableSchema(
    TableId("db", "b"),
    (ColumnSchema("id", LogicalType(Kind.INT64)), ColumnSchema("v", LogicalType(Kind.BINARY))),
    ("id",),
)
LIMIT = Memory(limit="64MiB", checkpoint_limit="1GiB")


def blob(i: int) -> bytes:
    """Row i's value: 1 MiB that does not compress (what a checkpoint must hold as is)."""
    return random.Random(i).randbytes(MIB)


def chunk(first: int, n: int) -> pa.Table:
    ids = list(range(first, first + n))
    return pa.table(
        {"id": pa.array(ids, pa.int64()), "v": pa.array([blob(i) for i in ids], pa.binary())}
    )


def digests(path: Path) -> dict[int, str]:
    """id -> md5 of v, read on a connection with DuckDB's default memory."""
    con = duckdb.connect(str(path), read_only=True)
    try:
        return dict(con.execute("SELECT id, md5(v) FROM db.b").fetchall())
    finally:
        con.close()


def expected(n: int) -> dict[int, str]:
    return {i: hashlib.md5(blob(i)).hexdigest() for i in range(n)}


def limit_of(d: DuckDBDestination) -> str:
    row = d.reader().execute("SELECT current_setting('memory_limit')").fetchone()
    return str(row[0]) if row else ""


def threshold_of(d: DuckDBDestination) -> str:
    row = d.reader().execute("SELECT current_setting('checkpoint_threshold')").fetchone()
    return str(row[0]) if row else ""


def test_blob_rows_put_checkpoints_off_then_the_limit_returns(tmp_path: Path) -> None:
    """Commits of 1 MiB rows run under the checkpoint limit and fold no WAL while their vector
    fills (a checkpoint would rewrite every value of it, each time); the next commit without
    them folds it under the checkpoint limit, and the limit and DuckDB's threshold are back."""
    path = tmp_path / "m.duckdb"
    up = Upkeep(wal_limit_bytes=16 * MIB)
    d = DuckDBDestination(path, "i", upkeep_settings=up, memory_settings=LIMIT)
    try:
        assert limit_of(d) == "64.0 MiB"
        assert d.reader().execute("SELECT current_setting('temp_directory')").fetchone() == (
            f"{path}.tmp",
        )
        plain = threshold_of(d)
        d.create_table(SCHEMA)
        for first in range(0, 160, 16):  # 160 MiB, 10 commits, past the WAL limit
            d.write_chunk(SCHEMA, chunk(first, 16), replace=False)
        assert d.upkeep_stats.checkpoints == 0
        assert limit_of(d) == "1.0 GiB" and threshold_of(d) != plain
        d.kv_set("k", "v")  # a commit of no such rows
        assert d.upkeep_stats.checkpoints == 1
        assert limit_of(d) == "64.0 MiB" and threshold_of(d) == plain
    finally:
        d.close()
    assert digests(path) == expected(160)


def test_blob_rows_are_checkpointed_once_their_vector_is_full(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A vector of 64 rows (DuckDB's is 2,048): the WAL is folded as each one fills.
    monkeypatch.setattr(WideRows, "VECTOR_ROWS", 64)
    path = tmp_path / "v.duckdb"
    d = DuckDBDestination(path, "i", upkeep_settings=Upkeep(wal_limit_bytes=16 * MIB),
                          memory_settings=LIMIT)  # fmt: skip
    try:
        d.create_table(SCHEMA)
        for first in range(0, 160, 16):
            d.write_chunk(SCHEMA, chunk(first, 16), replace=False)
        assert d.upkeep_stats.checkpoints == 2  # after rows 64 and 128
        # Narrow rows leave it alone: 1,000 rows of 100 bytes.
        narrow = pa.table({"id": pa.array(range(1000, 2000), pa.int64()),
                           "v": pa.array([b"x" * 100] * 1000, pa.binary())})  # fmt: skip
        d.write_chunk(SCHEMA, narrow, replace=False)
        assert limit_of(d) == "64.0 MiB"
    finally:
        d.close()
    got = digests(path)
    assert {i: got[i] for i in range(160)} == expected(160) and len(got) == 1160


def test_a_transaction_too_wide_for_the_limit_is_retried_under_the_checkpoint_limit(
    tmp_path: Path,
) -> None:
    """128 MiB of BLOBs in one transaction of changes cannot commit under 64 MiB (DuckDB holds
    a vector of them at once): the failure is transient (the engine retries the batch) and the
    destination reopens under the checkpoint limit, where the retry commits; nothing is lost.
    (Snapshot chunks of such rows commit under the checkpoint limit from the start.)"""
    path = tmp_path / "c.duckdb"
    d = DuckDBDestination(path, "i", memory_settings=LIMIT)
    try:
        d.create_table(SCHEMA)

        def changes(first: int, n: int) -> pa.Table:
            rows = chunk(first, n)
            seq = pa.array(range(first, first + n), pa.int64())
            return rows.add_column(0, "__del", pa.array([False] * n)).add_column(0, "__seq", seq)

        d.apply_changes(SCHEMA, changes(0, 8))

        def big_transaction() -> None:
            d.begin()
            try:
                for first in range(8, 136, 16):
                    d.apply_changes(SCHEMA, changes(first, 16))
            except BaseException:
                d.rollback()
                raise
            d.commit()

        with pytest.raises(DestinationUnavailable, match="memory limit is too small"):
            big_transaction()
        big_transaction()  # the engine's retry
        assert d.memory.raised and limit_of(d) == "1.0 GiB"
    finally:
        d.close()
    assert digests(path) == expected(136)


def test_a_checkpoint_failed_inside_commit_is_folded_on_reopen(tmp_path: Path) -> None:
    """A checkpoint DuckDB itself runs inside COMMIT (a transaction past 4x the WAL limit) under
    a limit too small for it invalidates the database after the transaction is in the WAL.
    Opening the file again folds that WAL under the checkpoint limit: committed, and usable."""
    path = tmp_path / "f.duckdb"
    con = duckdb.connect(str(path), config={"memory_limit": "64MiB"})
    con.execute("SET checkpoint_threshold = '4MiB'")
    con.execute("CREATE SCHEMA db; CREATE TABLE db.b (id BIGINT, v BLOB)")
    for first in range(0, 160, 16):
        try:
            con.from_arrow(chunk(first, 16)).insert_into("db.b")
        except duckdb.FatalException:
            break  # the checkpoint inside this INSERT's commit failed
    else:
        pytest.fail("DuckDB's own checkpoint did not fail under 64 MiB: nothing tested")
    con.close()
    n = first + 16
    assert wal_bytes(path) > 4 * MIB
    d = DuckDBDestination(
        path, "i", upkeep_settings=Upkeep(wal_limit_bytes=MIB), memory_settings=LIMIT
    )
    try:
        assert wal_bytes(path) < MIB and limit_of(d) == "64.0 MiB"
        d.write_chunk(SCHEMA, chunk(n, 8), replace=False)
    finally:
        d.close()
    assert digests(path) == expected(n + 8)


WRITER = textwrap.dedent(
    """
    import sys
    from pathlib import Path
    sys.path[:0] = [sys.argv[2]]
    from test_duckdb_memory import LIMIT, SCHEMA, chunk
    from zeroetl.destinations.duckdb import DuckDBDestination
    from zeroetl.destinations.duckdb.upkeep import MIB, Upkeep

    d = DuckDBDestination(Path(sys.argv[1]), "i", upkeep_settings=Upkeep(wal_limit_bytes=16 * MIB),
                          memory_settings=LIMIT)
    d.create_table(SCHEMA)
    for first in range(0, 10_000, 8):
        d.write_chunk(SCHEMA, chunk(first, 8), replace=False)
        print(first + 8, flush=True)
    """
)


def test_writer_killed_mid_load_loses_nothing_committed(tmp_path: Path) -> None:
    """kill -9 while BLOB chunks are written and checkpointed under the limit: the file opens
    again (under the same limit) and holds every committed chunk, byte for byte."""
    path = tmp_path / "k.duckdb"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    proc = subprocess.Popen(
        [sys.executable, "-c", WRITER, str(path), str(Path(__file__).parent)],
        stdout=subprocess.PIPE,
        env=env,
    )
    assert proc.stdout is not None
    committed = 0
    deadline = time.monotonic() + 120
    while committed < 100 and time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        committed = int(line)
    time.sleep(random.uniform(0.0, 0.3))  # somewhere inside a later chunk or checkpoint
    proc.send_signal(signal.SIGKILL)
    rest = proc.stdout.read().split()
    proc.wait()
    committed = int(rest[-1]) if rest else committed
    assert committed >= 100, "the writer did not get far enough"
    d = DuckDBDestination(path, "i", memory_settings=LIMIT)  # replays the WAL under the limit
    d.close()
    got = digests(path)
    assert len(got) >= committed
    assert got == expected(len(got))


def test_release_memory_reopens_between_transactions(tmp_path) -> None:
    # Opened again between transactions: committed rows are there and writes go on; inside a
    # transaction it does nothing (the open transaction is kept).
    schema = TableSchema(
        TableId("db", "t"),
        (ColumnSchema("id", LogicalType(Kind.INT32), nullable=False, source_type="int"),),
        ("id",),
    )
    dest = DuckDBDestination(tmp_path / "w.duckdb", "i")
    try:
        dest.begin()
        dest.create_table(schema)
        dest.write_chunk(schema, pa.table({"id": pa.array([1, 2], pa.int32())}), replace=False)
        dest.release_memory()  # in a transaction: nothing
        dest.commit()
        before = dest._con
        dest.release_memory()
        assert dest._con is not before
        dest.begin()
        dest.write_chunk(schema, pa.table({"id": pa.array([3], pa.int32())}), replace=False)
        dest.commit()
        rows = dest._con.execute('SELECT id FROM "db"."t" ORDER BY id').fetchall()
        assert rows == [(1,), (2,), (3,)]
    finally:
        dest.close()
