"""Snapshot read speed: SnapshotReader (MySQL text protocol -> Arrow) vs the `mariadb` CLI and pymysql.

Starts its own MariaDB in a temp dir on a free port, loads a table of --rows rows x 8 mixed
columns, then reads it with each method in the same run and reports rows/s, the client's CPU
seconds (steadier than wall time on a shared machine) and the ratio to the streaming CLI read
(`mariadb --quick -B -N -e 'select * from t' > /dev/null`). SnapshotReader runs twice,
alternating: with the C splitter (zeroetl/native/textrows.c) and with its Python twin.

    .venv/bin/python bench/snapshot_bench.py [--rows 1000000] [--repeat 3]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import pymysql

from zeroetl.model import TableId
from zeroetl.sandbox.mariadb import MariaDBServer, free_port
from zeroetl.sources.mysql import resultset
from zeroetl.sources.mysql.connection import SourceParams
from zeroetl.sources.mysql.discovery import load_schemas
from zeroetl.sources.mysql.snapshot import SnapshotReader

DB, TABLE = "snapbench", "t"
DDL = (
    f"CREATE TABLE {DB}.{TABLE} (id BIGINT PRIMARY KEY, qty INT NOT NULL, price DECIMAL(12,2), "
    "name VARCHAR(64), created DATETIME(6), updated TIMESTAMP NULL, score DOUBLE, note TEXT NULL)"
)
FILL = (
    f"INSERT INTO {DB}.{TABLE} SELECT seq, seq * 7 % 100000, (seq % 100000) / 100, "
    "CONCAT('name-', seq, '-', MD5(seq)), '2020-01-01' + INTERVAL seq SECOND + INTERVAL seq "
    "MICROSECOND, FROM_UNIXTIME(1600000000 + seq), seq / 7e0, "
    "IF(seq % 3 = 0, NULL, REPEAT('x', seq % 50)) FROM seq_1_to_{n}"
)


def load(server: MariaDBServer, rows: int) -> None:
    conn = server.root()
    with conn.cursor() as cur:
        cur.execute(f"DROP DATABASE IF EXISTS {DB}")
        cur.execute(f"CREATE DATABASE {DB}")
        cur.execute(DDL)
        cur.execute(f"USE {DB}")  # the sequence engine's seq_1_to_N needs a current database
        cur.execute(FILL.format(n=rows))
    conn.close()


def run_cli(server: MariaDBServer) -> int:
    subprocess.run(
        [
            "mariadb",
            "-h127.0.0.1",
            f"-P{server.port}",
            "-uroot",
            "--quick",
            "-B",
            "-N",
            "-e",
            f"select * from {DB}.{TABLE}",
        ],
        stdout=subprocess.DEVNULL,
        check=True,
    )
    return -1  # row count not reported; the table size is known


def run_reader(params: SourceParams) -> int:
    reader = SnapshotReader(params)
    try:
        schema = load_schemas(reader._conn, [TableId(DB, TABLE)])[TableId(DB, TABLE)]
        reader.begin_consistent()
        n = sum(t.num_rows for t, _ in reader.read_chunks(schema, None))
        reader.end()
    finally:
        reader.close()
    return n


def run_pymysql(server: MariaDBServer) -> int:
    conn = server.root(cursorclass=pymysql.cursors.SSCursor)
    n = 0
    with conn.cursor() as cur:
        cur.execute(f"SELECT * FROM {DB}.{TABLE}")
        while rows := cur.fetchmany(10_000):
            n += len(rows)
    conn.close()
    return n


def cpu() -> float:
    """CPU seconds of this process and its finished children (the CLI)."""
    me = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime


def timed(fn: Callable[[], int], repeat: int) -> tuple[float, float]:
    """Best wall seconds and best client CPU seconds over `repeat` runs."""
    best, best_cpu = float("inf"), float("inf")
    for _ in range(repeat):
        t0, c0 = time.perf_counter(), cpu()
        fn()
        best = min(best, time.perf_counter() - t0)
        best_cpu = min(best_cpu, cpu() - c0)
    return best, best_cpu


def with_twin(fn: Callable[[], int]) -> Callable[[], int]:
    """`fn` with the Python twin of the C splitter."""

    def run() -> int:
        saved, resultset.textrows = resultset.textrows, None
        try:
            return fn()
        finally:
            resultset.textrows = saved

    return run


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--skip-pymysql", action="store_true", help="pymysql takes ~10x longer")
    ap.add_argument("--out", default=str(Path(__file__).parent / "results" / "snapshot_bench.json"))
    args = ap.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="zeroetl-snapbench-"))
    server = MariaDBServer(tmp / "data", free_port())
    try:
        server.start()
        server.create_replication_user()
        t0 = time.perf_counter()
        load(server, args.rows)
        print(f"loaded {args.rows} rows in {time.perf_counter() - t0:.1f}s")
        params = SourceParams.from_url(server.url())
        assert run_reader(params) == args.rows
        names = ["mariadb --quick CLI", "SnapshotReader (C)", "SnapshotReader (Python twin)"]
        runs: list[Callable[[], int]] = [
            lambda: run_cli(server),
            lambda: run_reader(params),
            with_twin(lambda: run_reader(params)),
        ]
        results = {name: (float("inf"), float("inf")) for name in names}
        for _ in range(args.repeat):  # alternate, so the load's drift hits every method alike
            for name, fn in zip(names, runs, strict=True):
                wall, secs = timed(fn, 1)
                results[name] = (min(results[name][0], wall), min(results[name][1], secs))
        if not args.skip_pymysql:
            results["pymysql (SSCursor)"] = timed(lambda: run_pymysql(server), 1)
    finally:
        server.stop()
        shutil.rmtree(tmp, ignore_errors=True)

    cli = results["mariadb --quick CLI"][0]
    print(f"\n{'method':<30}{'seconds':>9}{'cpu s':>8}{'rows/s':>12}{'vs CLI':>9}")
    rows_out = []
    for name, (secs, cpu_s) in results.items():
        rps = args.rows / secs
        print(f"{name:<30}{secs:>9.2f}{cpu_s:>8.2f}{rps:>12,.0f}{cli / secs:>8.2f}x")
        rows_out.append(
            {
                "method": name,
                "seconds": round(secs, 3),
                "cpu_seconds": round(cpu_s, 3),
                "rows_per_s": round(rps),
                "ratio_vs_cli": round(cli / secs, 3),
            }
        )
    load_avg = os.getloadavg()[0]
    print(f"load average {load_avg:.1f}")
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(
        json.dumps(
            {"rows": args.rows, "columns": 8, "load": load_avg, "results": rows_out}, indent=2
        )
    )
    print(f"\nwrote {out}")


if __name__ == "__main__":
    main()
