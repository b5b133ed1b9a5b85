"""The WAL of a target database stays under its limit while changes keep coming (`zeroetl
replicate --wal-limit-mb 1` under continuous updates), the warehouse still ends equal to the
source, and a SIGKILL in the middle costs nothing."""

from __future__ import annotations

import itertools
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from tests.support import assert_table_equal, open_duck

pytestmark = [pytest.mark.integration, pytest.mark.slow]

MIB = 1 << 20


def _cmd(url: str, wh: Path, db: str, *extra: str) -> list[str]:
    return [
        sys.executable,
        "-m",
        "zeroetl.cli.main",
        "replicate",
        "--source",
        url,
        "--warehouse",
        str(wh),
        "--database",
        "target",
        "--data-filter",
        f"exclude: *.*, include: {db}.*",
        "--batch-ms",
        "50",
        "--wal-limit-mb",
        "1",
        *extra,
    ]


def test_wal_stays_under_the_limit_under_continuous_load(
    mariadb, db_conn, test_db, source_url, tmp_path
) -> None:
    with db_conn.cursor() as cur:
        cur.execute("CREATE TABLE t (id INT PRIMARY KEY, v INT, pad VARCHAR(200))")
        cur.execute("INSERT INTO t SELECT seq, 0, REPEAT('x', 150) FROM seq_1_to_5000")
    wh = tmp_path / "wh"
    wal = wh / "databases" / "target.duckdb.wal"
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(
        _cmd(source_url, wh, test_db), env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    sizes: list[int] = []
    stop = threading.Event()

    def sample() -> None:
        while not stop.wait(0.01):
            try:
                sizes.append(wal.stat().st_size)
            except FileNotFoundError:
                sizes.append(0)

    sampler = threading.Thread(target=sample, daemon=True)
    writer = mariadb.root(test_db)
    try:
        time.sleep(2)  # the snapshot
        sampler.start()
        deadline = time.monotonic() + 8
        i = 0
        with writer.cursor() as cur:
            while time.monotonic() < deadline:
                lo = (i * 400) % 5000
                cur.execute(
                    "UPDATE t SET v = v + 1, pad = REPEAT(CHAR(97 + v %% 26), 150) "
                    "WHERE id > %s AND id <= %s",
                    (lo, lo + 400),
                )
                i += 1
                time.sleep(0.01)
        time.sleep(1)
        assert proc.poll() is None, proc.stderr.read().decode()[-3000:]  # type: ignore[union-attr]
        proc.send_signal(signal.SIGKILL)  # a crash mid-stream: replay is bounded by the limit
        proc.wait(30)
    finally:
        stop.set()
        if proc.poll() is None:
            proc.kill()
        writer.close()
    sampler.join(5)
    folds = sum(1 for a, b in itertools.pairwise(sizes) if b < a)
    assert folds >= 3, f"no checkpoint under load: largest WAL {max(sizes)}"
    # the limit, plus at most the commit that crossed it (a 50 ms batch)
    assert max(sizes) < 2 * MIB, max(sizes)
    out = subprocess.run(
        _cmd(source_url, wh, test_db, "--until-caught-up"),
        env=env,
        capture_output=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr.decode()[-3000:]
    duck = open_duck(wh / "databases" / "target.duckdb")
    try:
        assert_table_equal(db_conn, duck, test_db, "t")
    finally:
        duck.close()
