"""Nothing lost, nothing doubled with column UPDATEs (apply_columns.py): SIGKILL `zeroetl
replicate` again and again while a wide table takes updates of a few columns, inserts,
deletes and key moves, then catch up and compare with the source."""

from __future__ import annotations

import random
import threading

import pytest
from tests.integration.test_crash import _catch_up, sigkill_loop
from tests.support import assert_table_equal, open_duck

pytestmark = [pytest.mark.integration, pytest.mark.slow]

NCOLS = 24


def _writer(conn, stop: threading.Event, seed: int) -> None:  # type: ignore[no-untyped-def]
    rng = random.Random(seed)
    with conn.cursor() as cur:
        while not stop.is_set():
            key = rng.randrange(300)
            op = rng.random()
            cur.execute("BEGIN")
            if op < 0.1:
                cur.execute("DELETE FROM w WHERE id = %s", [key])
            elif op < 0.2:
                vals = ", ".join(str(rng.randrange(9)) for _ in range(NCOLS))
                cur.execute(f"REPLACE INTO w VALUES ({key}, {vals})")
            elif op < 0.25:
                cur.execute("UPDATE IGNORE w SET id = %s WHERE id = %s", [key + 1000, key])
            else:
                picked = rng.sample(range(NCOLS), rng.randrange(1, 4))
                sets = ", ".join(f"c{i} = c{i} + {rng.randrange(1, 5)}" for i in picked)
                cur.execute(f"UPDATE w SET {sets} WHERE id BETWEEN %s AND %s", [key, key + 20])
            cur.execute("COMMIT")
            stop.wait(0.002)


def test_sigkill_loop_under_column_updates(mariadb, db_conn, test_db, source_url, tmp_path) -> None:
    cols = ", ".join(f"c{i} INT" for i in range(NCOLS))
    with db_conn.cursor() as cur:
        cur.execute(f"CREATE TABLE w (id INT PRIMARY KEY, {cols})")
        vals = ", ".join(
            f"({k}, " + ", ".join(str((k * i) % 7) for i in range(NCOLS)) + ")" for k in range(300)
        )
        cur.execute(f"INSERT INTO w VALUES {vals}")
    wh = tmp_path / "wh"
    _catch_up(source_url, wh, test_db)  # Synced first: the column path applies from here
    stop = threading.Event()
    writer_conn = mariadb.root(test_db)
    t = threading.Thread(target=_writer, args=(writer_conn, stop, 5), daemon=True)
    t.start()
    try:
        sigkill_loop(source_url, wh, test_db, 6, random.Random(4), (0.5, 2.5))
    finally:
        stop.set()
        t.join(timeout=30)
        writer_conn.close()
    _catch_up(source_url, wh, test_db)
    duck = open_duck(wh / "databases" / "target.duckdb")
    try:
        assert_table_equal(db_conn, duck, test_db, "w")
    finally:
        duck.close()
