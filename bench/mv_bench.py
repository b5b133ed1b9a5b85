"""Materialized views in the workspace: how soon an AUTO REFRESH view shows a source change, and
whether refreshing views slows replication down.

A real MariaDB and `zeroetl serve`, TICKIT at `--scale`. One sale at a time is inserted on the
source; each round measures when it is visible in the replica (`aurora_zeroetl.demodb.sales`)
and, once views exist, in an AUTO REFRESH view aggregating all sales. Baseline (same run): the
replica's visibility latency before any view exists. Reported: replica latency with views /
without (replication is not held back: ~1.0), view latency / replica latency, and what one
refresh costs (`svv_mv_info.last_refresh_seconds`, a manual REFRESH).

    .venv/bin/python bench/mv_bench.py [--scale 0.2] [--rounds 20] [--views 3]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import psycopg

from zeroetl.sandbox import tickit
from zeroetl.sandbox.mariadb import MariaDBServer, free_port

RESULTS = Path(__file__).resolve().parent / "results"
SQL = "select count(*) from aurora_zeroetl.demodb.sales where salesid = %s"


def wait(check: Any, timeout: float = 60.0) -> float:
    start = time.perf_counter()
    while time.perf_counter() - start < timeout:
        if check():
            return time.perf_counter() - start
        time.sleep(0.005)
    raise SystemExit("timed out")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--scale", type=float, default=0.2)
    ap.add_argument("--rounds", type=int, default=20)
    ap.add_argument("--views", type=int, default=3)
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="zeroetl-mvbench-"))
    db = MariaDBServer(datadir=tmp / "mariadb", port=free_port(), server_id=1)
    db.start()
    db.create_replication_user()
    serve: subprocess.Popen[bytes] | None = None
    try:
        root = db.root()
        tickit.load(root, database="demodb", scale=args.scale, seed=1)
        root.close()
        api, sql_port = free_port(), free_port()
        wh = tmp / "wh"
        env = {k: v for k, v in os.environ.items() if not k.startswith("ZEROETL_")}
        with (tmp / "serve.log").open("wb") as log:
            serve = subprocess.Popen(
                [sys.executable, "-m", "zeroetl.cli.main", "serve", "--warehouse", str(wh),
                 "--api-port", str(api), "--sql-port", str(sql_port)],
                stdout=log, stderr=log, env=env,
            )  # fmt: skip
        url = f"http://127.0.0.1:{api}"
        wait(lambda: _up(url))
        token = (wh / "api.token").read_text().strip()
        created = httpx.post(
            url + "/v1/integrations",
            json={"name": "bench", "source": db.url(), "data_filter": "include: demodb.*"},
            headers={"Authorization": f"Bearer {token}"},
            timeout=60,
        ).json()
        password = (wh / "sql.password").read_text().strip()
        dsn = f"host=127.0.0.1 port={sql_port} user=admin dbname=dev password={password}"
        conn = psycopg.connect(dsn, autocommit=True)
        conn.execute(f"CREATE DATABASE aurora_zeroetl FROM INTEGRATION '{created['id']}'")
        total = tickit.row_counts(db.root("demodb"), "demodb")["sales"]
        wait(lambda: _count(conn) == total, timeout=600)
        src = db.root("demodb")
        next_id = 10_000_000

        def insert() -> int:
            nonlocal next_id
            next_id += 1
            with src.cursor() as cur:
                cur.execute(
                    "INSERT INTO sales VALUES (%s, 1, 1, 2, 1, 1, 1, 10.00, 1.50, NOW())", [next_id]
                )
            return next_id

        def visible(i: int) -> float:
            return wait(lambda: conn.execute(SQL, [i]).fetchone() == (1,))

        base = [visible(insert()) for _ in range(args.rounds)]
        for k in range(args.views):
            conn.execute(
                f"create materialized view mv{k} auto refresh yes as select eventid, count(*) as"
                " n, sum(pricepaid) as revenue from aurora_zeroetl.demodb.sales group by eventid"
            )
        replica, view = [], []
        for _ in range(args.rounds):
            expected = _count(conn) + 1
            start = time.perf_counter()
            i = insert()
            replica.append(visible(i))
            wait(lambda e=expected: _mv_total(conn) == e)
            view.append(time.perf_counter() - start)
            time.sleep(1.1)  # past the per-view minimum gap: each round is a fresh refresh
        cost = [r[0] for r in conn.execute("select last_refresh_seconds from svv_mv_info")]
        t0 = time.perf_counter()
        conn.execute("refresh materialized view mv0")
        manual = time.perf_counter() - t0
        out = {
            "machine": f"{platform.machine()} {os.cpu_count()} cpus",
            "scale": args.scale,
            "sales_rows": total,
            "rounds": args.rounds,
            "views": args.views,
            "replica_p50_s_no_views": statistics.median(base),
            "replica_p50_s_with_views": statistics.median(replica),
            "view_p50_s": statistics.median(view),
            "view_max_s": max(view),
            "refresh_seconds_median": statistics.median(cost),
            "manual_refresh_s": manual,
        }
        out["replica_with_views_vs_without"] = (
            out["replica_p50_s_with_views"] / out["replica_p50_s_no_views"]
        )
        out["view_vs_replica"] = out["view_p50_s"] / out["replica_p50_s_with_views"]
        RESULTS.mkdir(exist_ok=True)
        (RESULTS / "mv.json").write_text(json.dumps(out, indent=2))
        for k, v in out.items():
            print(f"{k:34} {v:.3f}" if isinstance(v, float) else f"{k:34} {v}")
    finally:
        if serve is not None:
            serve.send_signal(signal.SIGTERM)
            serve.wait(60)
        db.stop()
        shutil.rmtree(tmp, ignore_errors=True)


def _up(url: str) -> bool:
    try:
        return httpx.get(url + "/healthz", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def _count(conn: psycopg.Connection[Any]) -> int:
    try:
        row = conn.execute("select count(*) from aurora_zeroetl.demodb.sales").fetchone()
    except psycopg.Error:
        return -1
    return int(row[0]) if row else -1


def _mv_total(conn: psycopg.Connection[Any]) -> int:
    row = conn.execute("select sum(n) from mv0").fetchone()
    return int(row[0]) if row and row[0] is not None else -1


if __name__ == "__main__":
    main()
