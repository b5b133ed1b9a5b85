"""A warehouse commit slower than the source's net_write_timeout, under a steady load.

A private MariaDB runs with `--net-write-timeout=1`. A live Replicator applies into DuckDB
through a commit that sleeps `--stall` seconds (a stand-in for a transaction touching thousands
of tables) while the source writes `--mb` MB of binlog in 1 MB transactions. Two runs:

- baseline: the dump session keeps the server's net_write_timeout (zeroetl before this change);
- zeroetl: the dump session raises it (`binlog.DUMP_WRITE_TIMEOUT_S`).

Reported per run: binlog connections lost, and seconds from the end of the load until the
warehouse holds every row (capped by `--cap`). Writes bench/results/stall_bench.json.

    .venv/bin/python bench/stall_bench.py [--mb 40] [--stall 2] [--cap 120]
"""

from __future__ import annotations

import argparse
import json
import shutil
import tempfile
import threading
import time
from pathlib import Path

from zeroetl.engine.filters import DataFilter
from zeroetl.engine.runner import Replicator
from zeroetl.engine.settings import EngineSettings
from zeroetl.sandbox.mariadb import MariaDBServer, free_port
from zeroetl.service.standalone import open_integration
from zeroetl.sources.mysql import binlog
from zeroetl.sources.mysql.connection import SourceParams
from zeroetl.sources.mysql.source import MySqlSource

ROWS_PER_MB = 500
PAD = 2000


def run(server: MariaDBServer, wh: Path, db: str, mb: int, stall: float, cap: float) -> dict:
    conn = server.root()
    with conn.cursor() as cur:
        cur.execute(f"CREATE DATABASE {db}")
        cur.execute(f"CREATE TABLE {db}.big (id INT PRIMARY KEY, pad VARCHAR({PAD}))")
    dest, iid = open_integration(wh, "target")
    rep = Replicator(
        MySqlSource(SourceParams.from_url(server.url())),
        dest,
        integration_id=iid,
        data_filter=DataFilter.parse(f"exclude: *.*, include: {db}.*"),
        settings=EngineSettings(batch_ms=100),
    )
    commit = dest.commit

    def slow_commit() -> None:
        if rep.phase == "streaming":
            time.sleep(stall)
        commit()

    dest.commit = slow_commit  # type: ignore[method-assign]
    thread = threading.Thread(target=rep.run, daemon=True)
    thread.start()
    while rep.phase != "streaming":
        time.sleep(0.1)
    pad = "x" * PAD
    n = 0
    with conn.cursor() as cur:
        for _ in range(mb):
            cur.executemany(
                f"INSERT INTO {db}.big VALUES (%s, %s)",
                [(n + i, pad) for i in range(ROWS_PER_MB)],
            )
            n += ROWS_PER_MB
    loaded = time.monotonic()
    reader = dest.reader()
    got = 0
    while time.monotonic() - loaded < cap:
        row = reader.execute(f'SELECT count(*) FROM "{db}".big').fetchone()
        got = int(row[0]) if row else 0
        if got == n:
            break
        time.sleep(0.2)
    catch_up = time.monotonic() - loaded
    reader.close()
    rep.stop()
    thread.join(60)
    dest.close()
    with conn.cursor() as cur:
        cur.execute(f"DROP DATABASE {db}")
    conn.close()
    return {
        "reconnects": rep.reconnects,
        "rows": n,
        "rows_applied": got,
        "catch_up_s": round(catch_up, 1) if got == n else None,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--mb", type=int, default=40)
    ap.add_argument("--stall", type=float, default=2.0)
    ap.add_argument("--cap", type=float, default=120.0)
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="zeroetl-stall-bench-"))
    server = MariaDBServer(
        tmp / "data", free_port(), server_id=1, extra_args=("--net-write-timeout=1",)
    )
    server.start()
    server.create_replication_user()
    results = {}
    try:
        raised = binlog.DUMP_WRITE_TIMEOUT_S
        for name, timeout in (("baseline", 1), ("zeroetl", raised)):
            binlog.DUMP_WRITE_TIMEOUT_S = timeout
            results[name] = run(server, tmp / name, f"stall_{name}", args.mb, args.stall, args.cap)
        binlog.DUMP_WRITE_TIMEOUT_S = raised
    finally:
        server.stop()
        shutil.rmtree(tmp, ignore_errors=True)
    print(f"{args.mb} MB, commit stall {args.stall:g} s, server net_write_timeout=1")
    print(f"{'run':<10} {'reconnects':>10} {'rows applied':>14} {'catch-up s':>11}")
    for name, r in results.items():
        caught = "-" if r["catch_up_s"] is None else f"{r['catch_up_s']:.1f}"
        applied = f"{r['rows_applied']}/{r['rows']}"
        print(f"{name:<10} {r['reconnects']:>10} {applied:>14} {caught:>11}")
    out = Path(__file__).parent / "results"
    out.mkdir(exist_ok=True)
    (out / "stall_bench.json").write_text(json.dumps({"args": vars(args), **results}, indent=2))


if __name__ == "__main__":
    main()
