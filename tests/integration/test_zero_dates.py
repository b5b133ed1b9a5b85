"""Zero dates become NULL and are counted per table, in the snapshot and in the binlog."""

from __future__ import annotations

import logging

import pytest
from tests.integration.test_replicate import replicate
from tests.support import open_duck

from zeroetl.engine.filters import DataFilter
from zeroetl.engine.runner import Replicator
from zeroetl.engine.settings import EngineSettings
from zeroetl.model import TableId
from zeroetl.service import reads
from zeroetl.service.standalone import open_integration
from zeroetl.sources.mysql.connection import SourceParams
from zeroetl.sources.mysql.source import MySqlSource

pytestmark = pytest.mark.integration


def _counts(wh, test_db) -> dict[str, int]:
    duck = open_duck(wh / "databases" / "target.duckdb")
    try:
        iid = duck.execute("SELECT value FROM _zeroetl.kv WHERE key = 'integration_id'").fetchone()
        assert iid is not None
        rows = reads.table_states(duck, "target", iid[0])
    finally:
        duck.close()
    return {r["table"]: r["zero_dates"] for r in rows if r["schema"] == test_db}


@pytest.mark.parametrize(
    "mode", [{}, {"snapshot_processes": True, "snapshot_readers": 2}], ids=["inproc", "procs"]
)
def test_zero_dates_are_counted_per_table(
    db_conn, test_db, source_url, tmp_path, caplog, mode
) -> None:
    caplog.set_level(logging.WARNING, logger="zeroetl.engine.tables")
    with db_conn.cursor() as cur:
        cur.execute("SET SESSION sql_mode = ''")
        cur.execute("CREATE TABLE z (id INT PRIMARY KEY, d DATE, t DATETIME(3), ts TIMESTAMP NULL)")
        cur.execute("CREATE TABLE clean (id INT PRIMARY KEY, d DATE)")
        cur.execute(
            "INSERT INTO z VALUES (1, '0000-00-00', '0000-00-00 00:00:00', '0000-00-00 00:00:00'),"
            " (2, '2024-01-00', '2024-05-01 10:00:00', NULL), (3, '2024-01-02', NULL, NULL)"
        )
        cur.execute("INSERT INTO clean VALUES (1, '2024-01-01')")
    wh = tmp_path / "wh"
    replicate(source_url, wh, test_db, chunk_rows=2, **mode)  # two chunks
    assert _counts(wh, test_db) == {"z": 4, "clean": 0}  # 3 in row 1, the zero day of row 2

    with db_conn.cursor() as cur:
        cur.execute("SET SESSION sql_mode = ''")
        cur.execute("INSERT INTO z VALUES (4, '0000-00-00', '2024-00-00 00:00:00', NULL)")
        cur.execute("UPDATE z SET d = '2024-02-00' WHERE id = 3")
        cur.execute("INSERT INTO clean VALUES (2, '2024-01-02')")
    replicate(source_url, wh, test_db)
    assert _counts(wh, test_db) == {"z": 7, "clean": 0}  # + 2 inserted, + 1 updated

    duck = open_duck(wh / "databases" / "target.duckdb")
    try:
        got = duck.execute(f'SELECT id, d, t, ts FROM "{test_db}".z ORDER BY id').fetchall()
    finally:
        duck.close()
    assert [r[1] for r in got] == [None, None, None, None]
    assert got[1][2] is not None and got[3][2] is None
    logged = [r.getMessage() for r in caplog.records if "zero date" in r.getMessage()]
    assert len(logged) == 1 and f"{test_db}.z" in logged[0]  # the first time only

    # A resync copies afresh and counts afresh: only what the table holds now.
    with db_conn.cursor() as cur:
        cur.execute("UPDATE z SET d = '2024-01-01', t = NULL, ts = NULL WHERE id = 1")
    dest, iid = open_integration(wh, "target")
    rep = Replicator(
        MySqlSource(SourceParams.from_url(source_url)),
        dest,
        integration_id=iid,
        data_filter=DataFilter.parse(f"exclude: *.*, include: {test_db}.*"),
        settings=EngineSettings(until_caught_up=True),
    )
    rep.refresh([TableId(test_db, "z")])
    try:
        rep.run()
    finally:
        dest.close()
    assert _counts(wh, test_db) == {"z": 4, "clean": 0}  # rows 2 and 3: 1 each, row 4: 2
