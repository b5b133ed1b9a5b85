"""End to end on ClickHouse: real MariaDB -> `zeroetl replicate --destination chdb:///dir` (a
real process) -> embedded ClickHouse, compared row by row with the source (FINAL reads)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from tests.destinations.conftest import start_chdb_http

from zeroetl.model import TableId
from zeroetl.service.standalone import open_destination_url

pytestmark = pytest.mark.integration


def _dest_url(ch: Path | str) -> str:
    """A directory: embedded chDB; a URL: that server."""
    return ch if isinstance(ch, str) else f"chdb://{ch}"


def _cmd(url: str, wh: Path, ch: Path | str, db: str, *extra: str) -> list[str]:
    return [
        sys.executable, "-m", "zeroetl.cli.main", "replicate", "--source", url,
        "--warehouse", str(wh), "--destination", _dest_url(ch), "--database", "target",
        "--data-filter", f"exclude: *.*, include: {db}.*", "--chunk-rows", "70",
        "--batch-ms", "50", *extra,
    ]  # fmt: skip


def _catch_up(url: str, wh: Path, ch: Path | str, db: str) -> None:
    out = subprocess.run(
        _cmd(url, wh, ch, db, "--until-caught-up"),
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
        capture_output=True,
        timeout=300,
    )
    assert out.returncode == 0, out.stderr.decode()[-3000:]


def _source_rows(db_conn: Any, table: str, key: str) -> list[dict[str, Any]]:
    with db_conn.cursor() as cur:
        cur.execute(f"SELECT * FROM `{table}` ORDER BY `{key}`")
        names = [d[0] for d in cur.description]
        return [dict(zip(names, r, strict=True)) for r in cur.fetchall()]


def _compare(db_conn: Any, ch: Path | str, db: str, tables: dict[str, str]) -> None:
    dest, _iid = open_destination_url(_dest_url(ch))  # the integration's own metadata
    try:
        for table, key in tables.items():
            got = dest.read_table(TableId(db, table), (key,)).to_pylist()  # type: ignore[attr-defined]
            # DECIMAL(65,30) is exact text in the logical model: compare decimals as text
            want = [{k: str(v) if isinstance(v, Decimal) else v for k, v in r.items()}
                    for r in _source_rows(db_conn, table, key)]  # fmt: skip
            assert got == want, table
    finally:
        dest.close()


@pytest.fixture(params=["chdb", "http"])
def target(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Path | str]:
    """Embedded chDB, or the `clickhouse://` HTTP transport against ClickHouse's engine behind
    the test-only HTTP front (tests/destinations/chdb_http.py)."""
    if request.param == "chdb":
        yield tmp_path / "ch"
        return
    server, url = start_chdb_http(tmp_path / "srv")
    try:
        yield url
    finally:
        server.kill()
        server.wait()


def test_snapshot_cdc_and_ddl_into_clickhouse(
    db_conn, test_db, source_url, tmp_path, target
) -> None:
    wh, ch = tmp_path / "wh", target
    with db_conn.cursor() as cur:
        cur.execute(
            "CREATE TABLE orders (id INT PRIMARY KEY, customer VARCHAR(40) NOT NULL, "
            "amount DECIMAL(65,30), placed DATETIME(6), note BLOB, big BIGINT UNSIGNED)"
        )
        cur.executemany(
            "INSERT INTO orders VALUES (%s, %s, %s, %s, %s, %s)",
            [
                (
                    i,
                    f"c{i % 7} ü",
                    f"{i}.25",
                    f"2024-01-{1 + i % 28:02d} 10:00:00.123456",
                    bytes([i % 256, 0, 255]),
                    2**64 - i,
                )
                for i in range(1, 301)
            ],
        )
    _catch_up(source_url, wh, ch, test_db)
    _compare(db_conn, ch, test_db, {"orders": "id"})

    with db_conn.cursor() as cur:
        cur.execute("UPDATE orders SET amount = amount + 1 WHERE id % 3 = 0")
        cur.execute("DELETE FROM orders WHERE id % 5 = 0")
        cur.execute("UPDATE orders SET id = id + 1000 WHERE id % 7 = 0")  # key changes
        cur.execute("UPDATE orders SET id = 7 WHERE id = 1007")  # an old key reused
        cur.execute("REPLACE INTO orders VALUES (1, 'replaced', 1, NULL, NULL, 0)")
        cur.execute(
            "INSERT INTO orders VALUES (2, 'x', 2, NULL, NULL, 1) "
            "ON DUPLICATE KEY UPDATE customer = 'iodku'"
        )
        cur.execute("ALTER TABLE orders ADD COLUMN extra INT NULL AFTER customer")
        cur.execute("UPDATE orders SET extra = id WHERE id < 50")
        cur.execute("INSERT INTO orders (id, customer, extra) VALUES (5000, 'after ddl', 9)")
    _catch_up(source_url, wh, ch, test_db)
    _compare(db_conn, ch, test_db, {"orders": "id"})

    # In place: rename and drop a column, rename a table, truncate one; a type change copies
    # the table again (CREATE OR REPLACE and a new snapshot of it).
    with db_conn.cursor() as cur:
        cur.execute("CREATE TABLE scratch (k INT PRIMARY KEY, s VARCHAR(10))")
        cur.execute("INSERT INTO scratch VALUES (1, 'a'), (2, 'b')")
        cur.execute("ALTER TABLE orders RENAME COLUMN customer TO buyer")
        cur.execute("ALTER TABLE orders DROP COLUMN note")
        cur.execute("UPDATE orders SET buyer = 'renamed' WHERE id < 20")
        cur.execute("RENAME TABLE orders TO orders_v2")
        cur.execute("ALTER TABLE orders_v2 MODIFY COLUMN extra BIGINT NULL")
        cur.execute("UPDATE orders_v2 SET extra = 1 << 40 WHERE id = 5000")
        cur.execute("TRUNCATE TABLE scratch")
        cur.execute("INSERT INTO scratch VALUES (3, 'c')")
    _catch_up(source_url, wh, ch, test_db)
    _compare(db_conn, ch, test_db, {"orders_v2": "id", "scratch": "k"})
    dest, _iid = open_destination_url(_dest_url(ch))
    try:
        states = {str(k): v.state.value for k, v in dest.load_table_statuses().items()}
        schemas = {str(k) for k in dest.recorded_schemas()}
    finally:
        dest.close()
    assert states[f"{test_db}.orders_v2"] == "Synced" and states[f"{test_db}.scratch"] == "Synced"
    assert schemas == {f"{test_db}.orders_v2", f"{test_db}.scratch"}


@pytest.mark.slow
def test_sigkill_and_replay_lose_and_double_nothing(db_conn, test_db, source_url, tmp_path) -> None:
    wh, ch = tmp_path / "wh", tmp_path / "ch"
    with db_conn.cursor() as cur:
        cur.execute("CREATE TABLE t (id INT PRIMARY KEY, v INT NOT NULL)")
        cur.executemany("INSERT INTO t VALUES (%s, %s)", [(i, 0) for i in range(500)])
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    for round_ in range(4):
        proc = subprocess.Popen(
            _cmd(source_url, wh, ch, test_db), env=env,
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        with db_conn.cursor() as cur:
            for i in range(30):
                cur.execute("UPDATE t SET v = v + 1 WHERE id %% 10 = %s", (i % 10,))
                cur.execute("DELETE FROM t WHERE id = %s", (round_ * 100 + i,))
                cur.execute("INSERT INTO t VALUES (%s, %s)", (10_000 + round_ * 100 + i, i))
                time.sleep(0.02)
        time.sleep(0.5 + round_ * 0.3)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    _catch_up(source_url, wh, ch, test_db)
    _compare(db_conn, ch, test_db, {"t": "id"})
