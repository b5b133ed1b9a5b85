"""The first snapshot gives DuckDB's memory back (the file opened again: ReleasesMemory) after
exactly every RELEASE_TABLES tables copied, whatever the group commit's size and time bounds."""

from __future__ import annotations

import pytest
from tests.integration.test_replicate import check_all, replicate

from zeroetl.destinations.duckdb import DuckDBDestination

pytestmark = pytest.mark.integration


def test_memory_given_back_every_release_tables(
    monkeypatch, db_conn, test_db, source_url, tmp_path
) -> None:
    # Before: only at the next group commit, up to GROUP_S later (often 2,000-3,000 tables at
    # 10,000 tables of 10 rows), while DuckDB's catalog grew with every table written and the
    # checkpoint that gives it back peaked on top of it (peak RSS 477-510 MB -> 460-467 MB).
    from zeroetl.engine import copier

    monkeypatch.setattr(copier, "RELEASE_TABLES", 3)
    names = [f"g{i}" for i in range(8)]
    with db_conn.cursor() as cur:
        for n in names:
            cur.execute(f"CREATE TABLE `{n}` (id INT PRIMARY KEY, v VARCHAR(10))")
            cur.execute(f"INSERT INTO `{n}` SELECT seq, CONCAT('v-', seq) FROM seq_1_to_5")
    written: list[str] = []
    at_release: list[int] = []
    write, release = DuckDBDestination.write_chunk, DuckDBDestination.release_memory

    def counted(self, schema, *args, **kwargs):  # type: ignore[no-untyped-def]
        written.append(schema.id.table)
        return write(self, schema, *args, **kwargs)

    def released(self):  # type: ignore[no-untyped-def]
        at_release.append(len(set(written)))
        return release(self)

    monkeypatch.setattr(DuckDBDestination, "write_chunk", counted)
    monkeypatch.setattr(DuckDBDestination, "release_memory", released)
    wh = tmp_path / "wh"
    replicate(source_url, wh, test_db)
    assert at_release == [3, 6]
    check_all(db_conn, wh, test_db, names)
