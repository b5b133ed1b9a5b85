"""CDC cost with the size and shape of the work, each against a baseline of the same run.

On a private MariaDB (temp dir, free port), a Replicator applies changes made beforehand, from
its checkpoint, until caught up; each apply runs in a child process of its own, so its peak RSS
(`ru_maxrss`) is that apply's alone.

  wide     --changes row changes (half inserts, half updates, transactions of 1,000 rows) on a
           500-column table; baseline: the same changes on an 8-column table. changes/s, RSS.
           --wide-updates: UPDATEs only (of rows inserted and applied beforehand).
  tables   --txns transactions each upserting 10 rows in every one of --tables tables;
           baseline: the same transactions on one table (10 x --tables rows each). Apply time
           per source transaction, RSS.
  bigtxn   one UPDATE of --big-rows rows (one source transaction); baseline: the same rows
           updated in transactions of 10,000 rows. Peak RSS, time.

    .venv/bin/python bench/cdc_shapes_bench.py [--changes 100000] [--tables 1000] [--txns 20]
                                               [--big-rows 1000000] [--only wide tables bigtxn]
                                               [--checkpoint-memory-limit 256MiB]
    .venv/bin/python bench/cdc_shapes_bench.py --profile wide   # cProfile of the wide apply
    git archive <rev> src | tar -x -C /tmp/before    # an older tree, applied beside this one:
    .venv/bin/python bench/cdc_shapes_bench.py --before-src /tmp/before/src
"""

from __future__ import annotations

import argparse
import cProfile
import json
import logging
import os
import platform
import pstats
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pymysql

from zeroetl.destinations.duckdb.memory import Memory
from zeroetl.engine.filters import DataFilter
from zeroetl.engine.runner import Replicator
from zeroetl.engine.settings import EngineSettings, Progress
from zeroetl.model import Position
from zeroetl.sandbox.mariadb import MariaDBServer, free_port
from zeroetl.service.standalone import open_integration
from zeroetl.sources.mysql.connection import SourceParams
from zeroetl.sources.mysql.source import MySqlSource

DB = "cbench"
WIDE_COLS = 500
NARROW_DDL = (
    f"CREATE TABLE {DB}.narrow (id BIGINT PRIMARY KEY, a INT NOT NULL, b VARCHAR(40) NOT NULL, "
    "c DECIMAL(12,2) NOT NULL, d DATETIME(6) NOT NULL, e DOUBLE, f DATE, g TEXT NULL)"
)
NARROW_ROW = (
    "seq, seq % 100000, CONCAT('name-', seq), (seq % 1000000) / 100, "
    "TIMESTAMP'2020-01-01 00:00:00' + INTERVAL seq SECOND, seq / 7e0, "
    "DATE'2000-01-01' + INTERVAL (seq % 10000) DAY, IF(seq % 3 = 0, NULL, REPEAT('x', seq % 50))"
)
NARROW_SET = "a = a + 1, b = CONCAT('u', id), c = c + 0.01, e = e + 0.5"
SMALL_DDL = "CREATE TABLE {db}.{t} (id BIGINT PRIMARY KEY, a INT NOT NULL, b VARCHAR(20))"


def _wide_kind(i: int) -> tuple[str, str]:
    """Column i (1..499) of the wide table: its type and its value from `seq`."""
    if i % 3 == 0:
        return "INT", f"seq + {i}"
    if i % 3 == 1:
        return "DOUBLE", f"seq / {i}e0"
    return "VARCHAR(12)", f"CONCAT('v', seq % {i + 7})"


WIDE_DDL = (
    f"CREATE TABLE {DB}.wide (id BIGINT PRIMARY KEY, "
    + ", ".join(f"c{i} {_wide_kind(i)[0]}" for i in range(1, WIDE_COLS))
    + ") CHARSET latin1"
)
WIDE_ROW = "seq, " + ", ".join(_wide_kind(i)[1] for i in range(1, WIDE_COLS))
WIDE_SET = "c3 = c3 + 1, c4 = c4 + 0.5, c5 = CONCAT('u', id % 97)"


def _connect(port: int) -> pymysql.Connection:  # type: ignore[type-arg]
    return pymysql.connect(host="127.0.0.1", port=port, user="root", autocommit=True)


def run_sql(port: int, txns: list[list[str]]) -> int:
    """Each inner list is one transaction; returns the rows changed."""
    changed = 0
    conn = _connect(port)
    with conn.cursor() as cur:
        cur.execute(f"USE {DB}")
        for txn in txns:
            cur.execute("BEGIN")
            for sql in txn:
                changed += cur.execute(sql)
            cur.execute("COMMIT")
    conn.close()
    return changed


# -- the child: one Replicator run until caught up ------------------------------------------


class Commits(Progress):
    def __init__(self) -> None:
        self.changes = 0
        self.commits = 0

    def committed(self, position: Position, changes: int, lag_ms: Any, source_time: Any) -> None:
        self.changes += changes
        self.commits += 1


def child(args: argparse.Namespace) -> None:
    if args.fold_log:  # every WAL fold's size and time, on stderr
        logging.basicConfig(stream=sys.stderr, format="%(asctime)s %(message)s")
        logging.getLogger("zeroetl.destinations.duckdb.upkeep").setLevel(logging.DEBUG)
    memory = Memory(checkpoint_limit=args.checkpoint_memory_limit or None)
    dest, iid = open_integration(Path(args.wh), "bench", memory=memory)
    rec = Commits()
    rep = Replicator(
        MySqlSource(SourceParams.from_url(args.url)),
        dest,
        integration_id=iid,
        data_filter=DataFilter.parse(f"exclude: *.*, include: {DB}.*"),
        settings=EngineSettings(until_caught_up=True),
        progress=rec,
    )
    prof = cProfile.Profile() if args.profile else None
    cpu0 = time.process_time()
    t0 = time.perf_counter()
    if prof:
        prof.enable()
    rep.run()
    if prof:
        prof.disable()
    elapsed = time.perf_counter() - t0
    cpu = time.process_time() - cpu0  # every thread of the child: reader, writer, DuckDB's
    stats = dest.upkeep_stats
    folds = {"folds": stats.checkpoints, "fold_s": stats.checkpoint_s_total,
             "wal_max_mb": stats.wal_max_bytes / (1 << 20)}  # fmt: skip
    t1 = time.perf_counter()
    dest.close()  # folds what the WAL still holds: work put off is not free
    folds["close_s"] = time.perf_counter() - t1
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    if prof:
        pst = pstats.Stats(prof, stream=sys.stderr)
        pst.sort_stats("cumulative").print_stats(40)
        pst.sort_stats("tottime").print_stats(30)
    print(json.dumps({"s": elapsed, "cpu_s": cpu, "changes": rec.changes,
                      "commits": rec.commits, "rss_mb": rss_mb, **folds}))  # fmt: skip


# Options every child gets (set by main: the checkpoint memory limit).
CHILD_ARGS: list[str] = []


def apply_in_child(
    wh: Path, url: str, profile: bool = False, src: str | None = None
) -> dict[str, Any]:
    """One Replicator run in a child process; `src`: another zeroetl source tree to run."""
    cmd = [sys.executable, __file__, "--child", "--wh", str(wh), "--url", url, *CHILD_ARGS]
    if profile:
        cmd += ["--profile", "child"]
    env = {**os.environ, "PYTHONPATH": src} if src else None
    out = subprocess.run(cmd, check=True, stdout=subprocess.PIPE, text=True, env=env)
    return dict(json.loads(out.stdout.strip().splitlines()[-1]))


# -- the parent ------------------------------------------------------------------------------


class Bench:
    def __init__(self, args: argparse.Namespace, tmp: Path) -> None:
        self.args = args
        self.server = MariaDBServer(tmp / "data", free_port())
        self.wh = tmp / "wh"
        self.out: dict[str, Any] = {}

    @property
    def port(self) -> int:
        return self.server.port

    def apply(self, what: str, changes: int, profile: bool = False) -> dict[str, Any]:
        before = None
        if self.args.before_src:
            # The same changes from the same checkpoint, applied by the other source tree to a
            # copy of the warehouse first: a before/after pair under the same load.
            copy = self.wh.parent / "wh-before"
            shutil.copytree(self.wh, copy)
            try:
                before = apply_in_child(copy, self.server.url(), src=self.args.before_src)
            finally:
                shutil.rmtree(copy, ignore_errors=True)
            before["s"] = max(1e-3, before["s"] - self.out.get("startup_s", 0.0))
            print(f"  {what} (before): {before['changes'] / before['s']:,.0f} changes/s in "
                  f"{before['s']:.2f}s{_cpu(before)}, peak RSS {before['rss_mb']:.0f} MB"
                  f"{_folds(before)}", flush=True)  # fmt: skip
        res = apply_in_child(self.wh, self.server.url(), profile)
        res["s"] = max(1e-3, res["s"] - self.out.get("startup_s", 0.0))
        if res["changes"] != changes:
            raise SystemExit(f"{what}: applied {res['changes']} changes, source made {changes}")
        print(f"  {what}: {res['changes']:,} changes in {res['s']:.2f}s{_cpu(res)} "
              f"({res['changes'] / res['s']:,.0f}/s), {res['commits']} commits, "
              f"peak RSS {res['rss_mb']:.0f} MB{_folds(res)}", flush=True)  # fmt: skip
        if before is not None:
            res["before"] = before
        return res

    def setup(self) -> None:
        a = self.args
        self.server.start()
        self.server.create_replication_user()
        conn = _connect(self.port)
        with conn.cursor() as cur:
            cur.execute(f"CREATE DATABASE {DB}")
            cur.execute(f"USE {DB}")
            cur.execute(NARROW_DDL)
            cur.execute(WIDE_DDL)
            cur.execute(SMALL_DDL.format(db=DB, t="one"))
            for i in range(a.tables if "tables" in a.only else 0):
                cur.execute(SMALL_DDL.format(db=DB, t=f"m{i:04d}"))
            cur.execute(NARROW_DDL.replace(".narrow", ".big"))
            if "bigtxn" in a.only:
                for lo in range(1, a.big_rows + 1, 500_000):
                    hi = min(a.big_rows, lo + 499_999)
                    cur.execute(f"INSERT INTO big SELECT {NARROW_ROW} FROM seq_{lo}_to_{hi}")
        conn.close()
        t0 = time.perf_counter()
        res = apply_in_child(self.wh, self.server.url())
        self.out["snapshot_s"] = time.perf_counter() - t0
        print(f"snapshot of every table: {self.out['snapshot_s']:.1f}s, "
              f"peak RSS {res['rss_mb']:.0f} MB{_folds(res)}", flush=True)  # fmt: skip
        # A run with nothing to apply: its time (start, connect, catch-up check) is
        # subtracted from every apply below.
        self.out["startup_s"] = min(apply_in_child(self.wh, self.server.url())["s"] for _ in "ab")
        print(f"startup of a run with nothing to apply: {self.out['startup_s']:.2f}s", flush=True)

    # -- wide --------------------------------------------------------------------------------
    def wide(self) -> None:
        half = self.args.changes // 2
        res: dict[str, Any] = {}
        for table, row, sets in (("narrow", NARROW_ROW, NARROW_SET), ("wide", WIDE_ROW, WIDE_SET)):
            ins = [
                [f"INSERT INTO {table} SELECT {row} FROM seq_{lo}_to_{lo + 999}"]
                for lo in range(1, half + 1, 1000)
            ]
            upd = [
                [f"UPDATE {table} SET {sets} WHERE id BETWEEN {lo} AND {lo + 999}"]
                for lo in range(1, half + 1, 1000)
            ]
            if self.args.wide_updates:
                # the rows first, applied unmeasured; then only UPDATEs, each row once
                ins += [
                    [f"INSERT INTO {table} SELECT {row} FROM seq_{lo}_to_{lo + 999}"]
                    for lo in range(half + 1, 2 * half + 1, 1000)
                ]
                run_sql(self.port, ins)
                apply_in_child(self.wh, self.server.url())
                upd += [
                    [f"UPDATE {table} SET {sets} WHERE id BETWEEN {lo} AND {lo + 999}"]
                    for lo in range(half + 1, 2 * half + 1, 1000)
                ]
                made = run_sql(self.port, upd)
            else:
                made = run_sql(self.port, ins + upd)
            res[table] = self.apply(table, made, self.args.profile == "wide" and table == "wide")
        narrow, wide = res["narrow"], res["wide"]
        rate = {k: v["changes"] / v["s"] for k, v in res.items()}
        self.out["wide"] = {
            "columns": WIDE_COLS,
            "changes": wide["changes"],
            "narrow_changes_per_s": rate["narrow"],
            "wide_changes_per_s": rate["wide"],
            "ratio_wide_to_narrow": rate["wide"] / rate["narrow"],
            "narrow_rss_mb": narrow["rss_mb"],
            "wide_rss_mb": wide["rss_mb"],
            **_before(wide, "wide"),
        }

    # -- tables ------------------------------------------------------------------------------
    def tables(self) -> None:
        a = self.args
        upsert = (
            "INSERT INTO {t} SELECT seq, seq % 1000, CONCAT('r', seq) FROM seq_{lo}_to_{hi} "
            "ON DUPLICATE KEY UPDATE a = a + 1, b = CONCAT('u', id)"
        )

        def keys(k: int, n: int) -> tuple[int, int]:
            lo = (k // 2) * n + 1  # even txns insert new keys, odd ones update them
            return lo, lo + n - 1

        many = [
            [upsert.format(t=f"m{i:04d}", lo=keys(k, 10)[0], hi=keys(k, 10)[1])
             for i in range(a.tables)]
            for k in range(a.txns)
        ]  # fmt: skip
        one = [
            [upsert.format(t="one", lo=keys(k, 10 * a.tables)[0], hi=keys(k, 10 * a.tables)[1])]
            for k in range(a.txns)
        ]
        # ON DUPLICATE KEY UPDATE counts an updated row twice: count the changes in the binlog
        changes = 10 * a.tables * a.txns
        run_sql(self.port, one)
        base = self.apply("one table", changes)
        run_sql(self.port, many)
        res = self.apply(f"{a.tables} tables", changes, a.profile == "tables")
        self.out["tables"] = {
            "tables": a.tables,
            "transactions": a.txns,
            "changes": changes,
            "per_txn_s": res["s"] / a.txns,
            "one_table_per_txn_s": base["s"] / a.txns,
            "ratio_many_to_one": res["s"] / base["s"],
            "rss_mb": res["rss_mb"],
            "one_table_rss_mb": base["rss_mb"],
            **_before(res, "many_tables"),
        }

    # -- bigtxn ------------------------------------------------------------------------------
    def bigtxn(self) -> None:
        n = self.args.big_rows
        step = 10_000
        small = [
            [f"UPDATE big SET {NARROW_SET} WHERE id BETWEEN {lo} AND {lo + step - 1}"]
            for lo in range(1, n + 1, step)
        ]
        base = {"s": float("nan"), "rss_mb": float("nan")}
        if not self.args.no_small:
            run_sql(self.port, small)
            base = self.apply(f"{n:,} rows in txns of {step:,}", n)
        run_sql(self.port, [[f"UPDATE big SET {NARROW_SET}"]])
        res = self.apply(f"{n:,} rows in one txn", n, self.args.profile == "bigtxn")
        self.out["bigtxn"] = {
            "rows": n,
            "one_txn_s": res["s"],
            "one_txn_rss_mb": res["rss_mb"],
            "small_txns_s": base["s"],
            "small_txns_rss_mb": base["rss_mb"],
            "ratio_rss_one_to_small": res["rss_mb"] / base["rss_mb"],
            **_before(res, "one_txn"),
        }


def _cpu(res: dict[str, Any]) -> str:
    """The CPU time of an apply, every thread of its process (start-up included)."""
    return f" ({res['cpu_s']:.2f}s CPU)" if "cpu_s" in res else ""


def _folds(res: dict[str, Any]) -> str:
    """The WAL folds of an apply (absent from the output of older trees' children)."""
    if "folds" not in res:
        return ""
    return (f", {res['folds']} WAL folds in {res['fold_s']:.2f}s "
            f"(largest WAL {res['wal_max_mb']:.0f} MiB), close {res['close_s']:.2f}s")  # fmt: skip


def _before(res: dict[str, Any], what: str) -> dict[str, Any]:
    """The same apply by the `--before-src` tree: its time and RSS, and after/before ratios."""
    b = res.get("before")
    if not b:
        return {}
    cpu = {f"{what}_cpu_s": res.get("cpu_s"), f"before_{what}_cpu_s": b.get("cpu_s")}
    return {
        **cpu,
        f"before_{what}_s": b["s"],
        f"before_{what}_rss_mb": b["rss_mb"],
        f"{what}_speedup_vs_before": b["s"] / res["s"],
        f"{what}_rss_vs_before": res["rss_mb"] / b["rss_mb"],
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--changes", type=int, default=100_000)
    p.add_argument("--tables", type=int, default=1000)
    p.add_argument("--txns", type=int, default=20)
    p.add_argument("--big-rows", type=int, default=1_000_000)
    p.add_argument(
        "--before-src",
        default="",
        help="also apply every change set with this zeroetl source tree (its src/ directory), "
        "on a copy of the warehouse: before/after in the same run",
    )
    p.add_argument("--no-small", action="store_true", help="bigtxn: skip the baseline (long)")
    p.add_argument("--only", nargs="*", default=["wide", "tables", "bigtxn"])
    p.add_argument("--profile", default="", help="cProfile one apply: wide, tables or bigtxn")
    p.add_argument(
        "--wide-updates",
        action="store_true",
        help="wide: --changes UPDATEs only (three columns of each row), of rows inserted and "
        "applied beforehand (unmeasured)",
    )
    p.add_argument("--quick", action="store_true", help="small sizes: a smoke run, not numbers")
    p.add_argument(
        "--checkpoint-memory-limit",
        default="",
        help="DuckDB's memory limit during checkpoints (engine.checkpoint_memory_limit; "
        "default: half the memory DuckDB detects), e.g. 256MiB",
    )
    p.add_argument("--fold-log", action="store_true", help="log every WAL fold (size, time)")
    p.add_argument("--out", default=str(Path(__file__).parent / "results" / "cdc_shapes.json"))
    p.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--wh", help=argparse.SUPPRESS)
    p.add_argument("--url", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.child:
        child(args)
        return
    if args.checkpoint_memory_limit:
        CHILD_ARGS.extend(["--checkpoint-memory-limit", args.checkpoint_memory_limit])
    if args.fold_log:
        CHILD_ARGS.append("--fold-log")
    if args.quick:
        args.changes, args.tables, args.txns, args.big_rows = 10_000, 100, 4, 100_000
    tmp = Path(tempfile.mkdtemp(prefix="zeroetl-cdcshapes-"))
    bench = Bench(args, tmp)
    try:
        bench.setup()
        for what in ("wide", "tables", "bigtxn"):
            if what in args.only:
                print(f"{what}:", flush=True)
                getattr(bench, what)()
    finally:
        bench.server.stop()
        shutil.rmtree(tmp, ignore_errors=True)
    out = bench.out
    out["machine"] = {
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
        "load_avg": os.getloadavg(),
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    print(json.dumps(out, indent=2))
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(out, indent=2) + "\n")


if __name__ == "__main__":
    main()
