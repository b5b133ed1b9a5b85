"""The first snapshot of a table of large BLOBs (engine/copier.py's wide commits,
destinations/duckdb/memory.py's WideRows): equal to the source row by row, committed every
16 MiB (the chunk's byte bound) with DuckDB's checkpoints put off until the rows stop, the
memory limit and DuckDB's checkpoint threshold back afterwards, and a copy cut short resuming
from its committed chunks."""

from __future__ import annotations

from pathlib import Path

import pytest
from tests.integration.test_replicate import check_all, states

from zeroetl.destinations.duckdb import DuckDBDestination
from zeroetl.destinations.duckdb.upkeep import MIB, Upkeep
from zeroetl.engine.filters import DataFilter
from zeroetl.engine.runner import Replicator
from zeroetl.engine.settings import EngineSettings, Progress
from zeroetl.model import TableId
from zeroetl.service.standalone import open_integration
from zeroetl.sources.mysql.connection import SourceParams
from zeroetl.sources.mysql.source import MySqlSource

pytestmark = pytest.mark.integration

ROWS = 72  # of 512 KiB: 36 MiB, past two 16 MiB commits


def _fill(db_conn) -> None:
    with db_conn.cursor() as cur:
        cur.execute("CREATE TABLE `b'q` (id INT PRIMARY KEY, v LONGBLOB, n INT)")
        cur.execute(
            f"INSERT INTO `b'q` SELECT seq, REPEAT(UNHEX(SHA2(seq, 256)), 16384), seq "
            f"FROM seq_1_to_{ROWS}"
        )
        # Hostile neighbours, last (the chunks are sized from the rows before): NULL, empty,
        # and bytes that are not text.
        cur.execute(f"UPDATE `b'q` SET v = NULL WHERE id = {ROWS - 2}")
        cur.execute(f"UPDATE `b'q` SET v = '' WHERE id = {ROWS - 1}")
        cur.execute(
            f"UPDATE `b'q` SET v = CONCAT(0x00ff27225c, REPEAT(0xfe, 3e5)) WHERE id = {ROWS}"
        )


class _Chunks(Progress):
    """Each chunk's rows, called once its commit is done, with what `seen` returns then."""

    def __init__(self, stop_after: int = 0, seen=lambda: None) -> None:
        self.sizes: list[int] = []
        self.seen: list[object] = []
        self.stop_after = stop_after
        self._seen = seen

    def snapshot_chunk(self, table: TableId, rows: int) -> None:
        self.sizes.append(rows)
        self.seen.append(self._seen())
        if self.stop_after and sum(self.sizes) >= self.stop_after:
            raise KeyboardInterrupt  # the process ends here, between two commits


def _replicator(
    source_url: str, dest: DuckDBDestination, iid: str, db: str, progress
) -> Replicator:
    return Replicator(
        MySqlSource(SourceParams.from_url(source_url)),
        dest,
        integration_id=iid,
        data_filter=DataFilter.parse(f"exclude: *.*, include: {db}.*"),
        settings=EngineSettings(until_caught_up=True),
        progress=progress,
    )


def _settings(dest: DuckDBDestination) -> tuple[str, str]:
    row = (
        dest.reader()
        .execute("SELECT current_setting('memory_limit'), current_setting('checkpoint_threshold')")
        .fetchone()
    )
    assert row is not None
    return str(row[0]), str(row[1])


def test_blob_snapshot_commits_by_bytes_and_checkpoints_once(
    db_conn, test_db, source_url, tmp_path: Path
) -> None:
    _fill(db_conn)
    wh = tmp_path / "wh"
    # A WAL limit below one chunk: every commit of the copy before would fold the WAL.
    dest, iid = open_integration(wh, "target", upkeep=Upkeep(wal_limit_bytes=8 * MIB))
    plain = _settings(dest)
    commits: list[None] = []
    real_commit = dest.commit

    def counted() -> None:
        commits.append(None)
        real_commit()

    dest.commit = counted  # type: ignore[method-assign]
    progress = _Chunks(seen=lambda: (len(commits), dest.upkeep_stats.checkpoints))
    try:
        _replicator(source_url, dest, iid, test_db, progress).run()
        # The limit and DuckDB's own checkpoint threshold are what they were.
        assert _settings(dest) == plain
    finally:
        dest.close()
    check_all(db_conn, wh, test_db, ["b'q"])
    assert states(wh)[f"{test_db}.b'q"][0] == "Synced"
    # Chunks of at most 16 MiB (32 rows of 512 KiB; the first sized from the column types).
    assert sum(progress.sizes) == ROWS and max(progress.sizes) <= 32, progress.sizes
    # Committed by 16 MiB (36 MiB: more than one commit; a 64 MiB group before), and no WAL
    # checkpoint while the table's rows came in; the one after them folded the WAL.
    assert len({c for c, _ in progress.seen}) >= 2, progress.seen  # type: ignore[misc]
    assert all(k == 0 for _, k in progress.seen), progress.seen  # type: ignore[misc]
    assert dest.upkeep_stats.checkpoints >= 1


def test_blob_snapshot_cut_short_resumes_from_its_commits(
    db_conn, test_db, source_url, tmp_path: Path
) -> None:
    _fill(db_conn)
    wh = tmp_path / "wh"
    dest, iid = open_integration(wh, "target")
    first = _Chunks(stop_after=40)
    try:
        with pytest.raises(KeyboardInterrupt):
            _replicator(source_url, dest, iid, test_db, first).run()
    finally:
        dest.close()
    dest, iid = open_integration(wh, "target")
    again = _Chunks()
    try:
        _replicator(source_url, dest, iid, test_db, again).run()
    finally:
        dest.close()
    check_all(db_conn, wh, test_db, ["b'q"])  # nothing lost or doubled
    # The second run began after the committed chunks, not from the first row.
    assert sum(again.sizes) <= ROWS - sum(first.sizes) + 32, (first.sizes, again.sizes)
