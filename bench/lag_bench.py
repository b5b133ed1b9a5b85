"""Lag and small-transaction throughput: adaptive batching against the fixed batching of before,
both measured in the same run on the same private MariaDB and warehouse.

  small  --small-txns transactions of 5 row changes (update 3 rows, insert 1, delete 1) written
         with no replicator running, then applied from the checkpoint (decode + apply + commit,
         `until_caught_up`): changes/s, for each batching mode.
  lag    a steady upsert load (INSERT ... ON DUPLICATE KEY UPDATE statements, --stmts-per-s of
         them, sized to reach each --rates changes/s) from one process, and beside it heartbeat
         rows written every 100 ms from another, each carrying its client clock; a reader cursor
         on the warehouse polls every --poll-ms for new heartbeat rows (first visibility):
         p50/p99/max lag, for each batching mode and rate.

Baseline: `EngineSettings(adaptive_batching=False)`, the fixed `batch_ms` (200 ms) batching
zeroetl used before; ratios are new / old (lag: lower is better; throughput: higher is better).
The warehouse must equal the source at the end (count and sums), or the bench fails.

    .venv/bin/python bench/lag_bench.py [--rates 10000,100000] [--small-txns 20000]
    .venv/bin/python bench/lag_bench.py --profile small   # cProfile of the small-txn apply
                                                          # (writer and binlog reader threads)
    .venv/bin/python bench/lag_bench.py --only lag --phases   # each commit's phases: where the
                                                              # time of the slowest commits went
"""

from __future__ import annotations

import argparse
import cProfile
import json
import multiprocessing as mp
import os
import platform
import pstats
import shutil
import statistics
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb
import pymysql

sys.path.insert(0, str(Path(__file__).parent))
import contextlib

from replication_bench import DDL, ROWS_SQL, Ids, execute, small_burst

from zeroetl.destinations.duckdb.destination import DuckDBDestination
from zeroetl.destinations.duckdb.upkeep import MIB, Upkeep
from zeroetl.engine.filters import DataFilter
from zeroetl.engine.runner import Replicator
from zeroetl.engine.settings import EngineSettings, Progress
from zeroetl.model import Position
from zeroetl.sandbox.mariadb import MariaDBServer, free_port
from zeroetl.service.standalone import open_integration
from zeroetl.sources.mysql.connection import SourceParams
from zeroetl.sources.mysql.source import MySqlSource

DB, TABLE = "rbench", "t"
HB_DDL = f"CREATE TABLE {DB}.hb (id BIGINT PRIMARY KEY, sent DOUBLE NOT NULL)"
UPSERT_KEYS = 200_000  # the upsert load cycles over keys [1e9, 1e9 + UPSERT_KEYS)
UPSERT_SQL = (
    f"INSERT INTO {TABLE} SELECT seq + 1000000000, seq % 100000, CONCAT('up-', seq), "
    "(seq % 1000000) / 100, TIMESTAMP'2020-01-01 00:00:00' + INTERVAL seq SECOND, seq / 7e0, "
    "DATE'2000-01-01' + INTERVAL (seq % 10000) DAY, NULL FROM seq_{lo}_to_{hi} "
    "ON DUPLICATE KEY UPDATE a = a + 1, e = e + 1, b = CONCAT('u', id)"
)
MODES = {"adaptive": True, "fixed": False}


class Phases:
    """Times each warehouse commit's phases (the writer thread's wall time), by wrapping the
    replicator's commit and the destination's methods: which commits are slow, and why."""

    WRAPPED = ("apply_changes", "save_checkpoint", "record_activity", "record_table_activity",
               "save_table_status", "checkpoint", "prune_history", "begin")  # fmt: skip

    def __init__(self, rep: Replicator, dest: DuckDBDestination) -> None:
        self.commits: list[dict[str, float]] = []
        self._cur: dict[str, float] | None = None
        self._dest = dest
        for name in self.WRAPPED:
            setattr(dest, name, self._wrap(name, getattr(dest, name)))
        con_commit = dest.commit

        def commit() -> None:  # the COMMIT statement, then upkeep (timed on its own)
            t0 = time.perf_counter()
            con_commit()
            self._add("commit+upkeep", time.perf_counter() - t0)

        dest.commit = commit  # type: ignore[method-assign]
        real = rep._commit

        def timed_commit() -> None:
            self._cur = cur = {}
            t0 = time.perf_counter()
            real()
            cur["total"] = (time.perf_counter() - t0) * 1000
            # the rest: sealing the batch (raw values -> Arrow), the table book, the engine
            cur["other"] = cur["total"] - sum(v for k, v in cur.items() if k != "total")
            cur["at"] = t0
            self.commits.append(cur)
            self._cur = None

        rep._commit = timed_commit  # type: ignore[method-assign]

    def _add(self, name: str, secs: float) -> None:
        if self._cur is not None:
            self._cur[name] = self._cur.get(name, 0.0) + secs * 1000

    def _wrap(self, name: str, fn: Any) -> Any:
        def timed(*a: Any, **kw: Any) -> Any:
            t0 = time.perf_counter()
            try:
                return fn(*a, **kw)
            finally:
                self._add(name, time.perf_counter() - t0)

        return timed

    def restore(self) -> None:
        for name in (*self.WRAPPED, "commit"):
            with contextlib.suppress(AttributeError):
                delattr(self._dest, name)

    def summary(self, top: int = 8) -> dict[str, Any]:
        """Where the time of all commits went, and the slowest commits' phases."""
        if not self.commits:
            return {}
        totals: dict[str, float] = {}
        for c in self.commits:
            for k, v in c.items():
                if k != "at":
                    totals[k] = totals.get(k, 0.0) + v
        ts = sorted(c["total"] for c in self.commits)
        slow = sorted(self.commits, key=lambda c: -c["total"])[:top]
        return {
            "commits": len(self.commits),
            "total_ms_p50": ts[len(ts) // 2],
            "total_ms_p99": ts[min(len(ts) - 1, int(len(ts) * 0.99))],
            "sum_ms_by_phase": {k: round(v, 1) for k, v in sorted(totals.items())},
            "slowest": [" ".join(f"{k}={v:.0f}" for k, v in c.items() if k != "at") for c in slow],
        }


class Counter(Progress):
    def __init__(self) -> None:
        self.changes = 0
        self.commits = 0
        self.last: Position | None = None
        self.times: list[float] = []

    def committed(self, position: Position, changes: int, lag_ms: Any, source_time: Any) -> None:
        self.changes += changes
        self.commits += 1
        self.last = position
        self.times.append(time.perf_counter())

    def gaps_ms(self) -> dict[str, float]:
        """Time between consecutive warehouse commits (a long one is a stall of the writer)."""
        gaps = [(b - a) * 1000 for a, b in zip(self.times, self.times[1:], strict=False)]
        if len(gaps) < 2:
            return {}
        return {"median": statistics.median(gaps), "max": max(gaps)}


def upsert_load(port: int, rate: float, stmts_per_s: float, seconds: float, out: Any) -> None:
    """`rate` row changes/s as `stmts_per_s` upsert statements of rate/stmts_per_s rows each."""
    rows = max(1, round(rate / stmts_per_s))
    conn = pymysql.connect(host="127.0.0.1", port=port, user="root", database=DB, autocommit=True)
    lo = 0
    n = 0
    t0 = time.perf_counter()
    with conn.cursor() as cur:
        while (now := time.perf_counter()) - t0 < seconds:
            delay = t0 + n / stmts_per_s - now
            if delay > 0:
                time.sleep(delay)
            if lo + rows > UPSERT_KEYS:
                lo = 0
            cur.execute(UPSERT_SQL.format(lo=lo, hi=lo + rows - 1))
            lo += rows
            n += 1
        elapsed = time.perf_counter() - t0
    conn.close()
    out.put({"statements": n, "rows": n * rows, "elapsed_s": elapsed})


def heartbeats(port: int, first_id: int, seconds: float, out: Any) -> None:
    """One heartbeat row every 100 ms carrying the client clock just before its commit."""
    conn = pymysql.connect(host="127.0.0.1", port=port, user="root", database=DB, autocommit=True)
    n = 0
    t0 = time.perf_counter()
    with conn.cursor() as cur:
        while time.perf_counter() - t0 < seconds:
            delay = t0 + n * 0.1 - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
            cur.execute(f"INSERT INTO hb VALUES ({first_id + n}, {time.time()!r})")
            n += 1
    conn.close()
    out.put(n)


class Bench:
    def __init__(self, args: argparse.Namespace, tmp: Path) -> None:
        self.args = args
        self.server = MariaDBServer(tmp / "data", free_port())
        self.wh = tmp / "wh"
        self.dest: DuckDBDestination | None = None
        self.iid = ""
        self.ids = Ids(args.rows)
        self.out: dict[str, Any] = {}
        self.next_hb = 1

    def replicator(self, progress: Progress, *, adaptive: bool, until: bool) -> Replicator:
        assert self.dest is not None
        return Replicator(
            MySqlSource(SourceParams.from_url(self.server.url())),
            self.dest,
            integration_id=self.iid,
            data_filter=DataFilter.parse(f"exclude: *.*, include: {DB}.*"),
            settings=EngineSettings(until_caught_up=until, adaptive_batching=adaptive),
            progress=progress,
        )

    def load(self) -> None:
        self.server.start()
        self.server.create_replication_user()
        conn = self.server.root()
        with conn.cursor() as cur:
            cur.execute(f"CREATE DATABASE {DB}")
            cur.execute(DDL)
            cur.execute(HB_DDL)
            cur.execute(f"USE {DB}")
            cur.execute(f"INSERT INTO {TABLE} " + ROWS_SQL.format(e="seq / 7e0", lo=1,
                                                                  hi=self.args.rows))  # fmt: skip
        conn.close()
        upkeep = Upkeep(wal_limit_bytes=int(self.args.wal_limit_mb * MIB))
        self.dest, self.iid = open_integration(self.wh, "bench", upkeep=upkeep)
        if self.args.fsync_mode:  # an experiment: what the WAL's fsync at COMMIT costs
            self.dest._con.execute(f"SET fsync_mode = '{self.args.fsync_mode}'")
        t0 = time.perf_counter()
        self.replicator(Progress(), adaptive=True, until=True).run()
        print(f"loaded and copied {self.args.rows:,} rows in {time.perf_counter() - t0:.1f}s",
              flush=True)  # fmt: skip

    # -- small transactions -------------------------------------------------------------------
    def small(self, mode: str, profile: bool) -> None:
        gen = execute(self.server.port, small_burst(self.ids, self.args.small_txns))
        rec = Counter()
        rep = self.replicator(rec, adaptive=MODES[mode], until=True)
        prof = cProfile.Profile() if profile else None
        reader_prof = cProfile.Profile() if profile else None
        if reader_prof is not None:  # the binlog reader thread (decoding) has its own profile
            from zeroetl.sources.mysql import pump

            real_run = pump.Pump._run

            def profiled_run(pump_self: Any) -> None:
                reader_prof.enable()
                try:
                    real_run(pump_self)
                finally:
                    reader_prof.disable()

            pump.Pump._run = profiled_run  # type: ignore[method-assign]
        t0 = time.perf_counter()
        cpu0 = time.process_time()  # both threads; steadier than wall time on a busy machine
        if prof:
            prof.enable()
        rep.run()
        if prof:
            prof.disable()
        elapsed = time.perf_counter() - t0
        cpu_us = (time.process_time() - cpu0) * 1e6 / self.args.small_txns
        if rec.changes != gen["changes"]:
            raise SystemExit(f"small {mode}: applied {rec.changes}, source made {gen['changes']}")
        self.out.setdefault("small_txns", {})[mode] = {
            "changes": gen["changes"],
            "transactions": self.args.small_txns,
            "apply_s": elapsed,
            "changes_per_s": gen["changes"] / elapsed,
            "warehouse_commits": rec.commits,
            "cpu_us_per_txn": cpu_us,
        }
        print(f"small txns ({mode}): {gen['changes'] / elapsed:,.0f} changes/s, "
              f"{rec.commits} commits, {cpu_us:.0f} us CPU per transaction", flush=True)  # fmt: skip
        if prof:
            stats = pstats.Stats(prof).sort_stats("cumulative")
            stats.print_stats(45)
            pstats.Stats(prof).sort_stats("tottime").print_stats(30)
            assert reader_prof is not None
            print("--- the binlog reader thread ---")
            pstats.Stats(reader_prof).sort_stats("cumulative").print_stats(30)
            pstats.Stats(reader_prof).sort_stats("tottime").print_stats(30)

    # -- lag --------------------------------------------------------------------------------
    def lag(self, mode: str, rate: float) -> None:
        rec = Counter()
        rep = self.replicator(rec, adaptive=MODES[mode], until=False)
        assert self.dest is not None
        folds: list[float] = []  # WAL checkpoints (the destination's upkeep) while measuring
        real_checkpoint = self.dest.checkpoint

        def timed_checkpoint() -> None:
            t0 = time.perf_counter()
            real_checkpoint()
            folds.append((time.perf_counter() - t0) * 1000)

        self.dest.checkpoint = timed_checkpoint  # type: ignore[method-assign]
        phases = Phases(rep, self.dest) if self.args.phases else None
        errors: list[BaseException] = []

        def run() -> None:
            try:
                rep.run()
            except BaseException as exc:  # reported below
                errors.append(exc)

        thread = threading.Thread(target=run, name="replicator", daemon=True)
        thread.start()
        ctx = mp.get_context("spawn")
        try:
            time.sleep(1.0)
            secs = self.args.lag_s
            q1, q2 = ctx.Queue(), ctx.Queue()
            first = self.next_hb
            load = ctx.Process(
                target=upsert_load,
                daemon=True,
                args=(self.server.port, rate, self.args.stmts_per_s, secs, q1),
            )
            hb = ctx.Process(target=heartbeats, args=(self.server.port, first, secs, q2),
                             daemon=True)  # fmt: skip
            load.start()
            time.sleep(1.0)  # the load runs steadily before the first heartbeat
            load_avg = os.getloadavg()[0]
            hb.start()
            lags, sent = self._poll(first, errors, q2)
            gen = q1.get(timeout=30)  # a child that failed printed why
            load.join()
            hb.join()
            self.next_hb = first + sent
            if len(lags) != sent:
                raise SystemExit(f"lag {mode} {rate}: {len(lags)} of {sent} heartbeats arrived")
        finally:
            rep.stop()
            thread.join(timeout=60)
            if phases is not None:
                phases.restore()
            with contextlib.suppress(AttributeError):
                del self.dest.checkpoint
        if errors:
            raise errors[0]
        qs = statistics.quantiles(lags, n=100)
        res = {
            "target_changes_per_s": rate,
            "achieved_changes_per_s": gen["rows"] / gen["elapsed_s"],
            "heartbeats": len(lags),
            "p50_ms": statistics.median(lags) * 1000,
            "p99_ms": qs[98] * 1000,
            "max_ms": max(lags) * 1000,
            "warehouse_commits": rec.commits,
            "commit_gap_ms": rec.gaps_ms(),
            "wal_checkpoints_ms": folds,
            "load_avg_1m": load_avg,
        }
        if phases is not None:
            res["commit_phases"] = phases.summary()
        self.out.setdefault("lag", {}).setdefault(str(int(rate)), {})[mode] = res
        print(f"lag ({mode}) at {res['achieved_changes_per_s']:,.0f} changes/s: "
              f"p50 {res['p50_ms']:.0f} ms, p99 {res['p99_ms']:.0f} ms, max "
              f"{res['max_ms']:.0f} ms, {rec.commits} commits (gaps {res['commit_gap_ms']}), "
              f"WAL folds {[round(f) for f in folds]} ms, load {load_avg:.2f}",
              flush=True)  # fmt: skip
        if phases is not None:
            print(json.dumps(res["commit_phases"], indent=1), flush=True)

    def _poll(self, first: int, errors: list[BaseException], done: Any) -> tuple[list[float], int]:
        """Poll the warehouse for heartbeat rows until the writer has reported how many it
        sent and all of them arrived (or a deadline passes)."""
        import queue

        assert self.dest is not None
        cur = self.dest.reader()
        sql = f'SELECT id, sent FROM "bench"."{DB}"."hb" WHERE id >= ? ORDER BY id'
        lags: list[float] = []
        seen = first
        sent: int | None = None
        deadline = time.monotonic() + self.args.lag_s + 60
        poll = self.args.poll_ms / 1000
        while time.monotonic() < deadline and not errors:
            rows = cur.execute(sql, [seen]).fetchall()
            now = time.time()
            for rid, at in rows:
                lags.append(now - at)
                seen = rid + 1
            if sent is None:
                with contextlib.suppress(queue.Empty):
                    sent = done.get_nowait()
            if sent is not None and len(lags) >= sent:
                break
            time.sleep(poll)
        cur.close()
        if sent is None:
            raise SystemExit("the heartbeat writer did not finish (see its error above)")
        return lags, sent

    def verify(self) -> None:
        assert self.dest is not None
        sums = "count(*), sum(id), sum(a), sum(e)"
        conn = self.server.root(DB)
        with conn.cursor() as cur:
            cur.execute(f"SELECT {sums} FROM {TABLE}")
            src = cur.fetchone()
            cur.execute("SELECT count(*), sum(sent) FROM hb")
            src_hb = cur.fetchone()
        conn.close()
        cur2 = self.dest.reader()
        wh = cur2.execute(f'SELECT {sums} FROM "bench"."{DB}"."{TABLE}"').fetchone()
        wh_hb = cur2.execute(f'SELECT count(*), sum(sent) FROM "bench"."{DB}"."hb"').fetchone()
        cur2.close()
        assert src and wh and src_hb and wh_hb
        same = (
            tuple(src[:3]) == tuple(wh[:3])
            and abs(src[3] - wh[3]) <= 1e-9 * abs(src[3])
            and src_hb[0] == wh_hb[0]
        )
        self.out["verified"] = {"equal": same, "rows": int(src[0])}
        if not same:
            raise SystemExit(f"warehouse differs from source: {src} {src_hb} vs {wh} {wh_hb}")
        print(f"verified: warehouse equals source ({int(src[0]):,} rows)", flush=True)


def report(out: dict[str, Any]) -> None:
    print(f"\n{'measure':<40}{'adaptive':>12}{'fixed':>12}{'new/old':>9}")
    if len(out.get("small_txns", {})) == 2:
        s = out["small_txns"]
        a, f = s["adaptive"]["changes_per_s"], s["fixed"]["changes_per_s"]
        print(f"{'small txns changes/s':<40}{a:>12,.0f}{f:>12,.0f}{a / f:>8.2f}x")
    for rate, res in out.get("lag", {}).items():
        if len(res) != 2:
            continue
        for q in ("p50_ms", "p99_ms"):
            a, f = res["adaptive"][q], res["fixed"][q]
            label = f"lag {q[:3]} ms at {int(rate):,} changes/s"
            print(f"{label:<40}{a:>12.0f}{f:>12.0f}{a / f:>8.2f}x")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=200_000)
    ap.add_argument("--small-txns", type=int, default=20_000, help="5-change transactions")
    ap.add_argument("--rates", default="10000,100000", help="upsert load, changes/s")
    ap.add_argument("--stmts-per-s", type=float, default=100.0, help="upsert statements/s")
    ap.add_argument("--lag-s", type=float, default=15.0, help="heartbeat seconds per run")
    ap.add_argument("--poll-ms", type=float, default=2.0, help="poller interval")
    ap.add_argument("--only", choices=["small", "lag"], default=None)
    ap.add_argument("--modes", default="adaptive,fixed", help="batching modes to run")
    ap.add_argument("--profile", choices=["small"], default=None)
    ap.add_argument("--fsync-mode", choices=["STANDARD", "NONE"], default=None)
    ap.add_argument("--wal-limit-mb", type=float, default=64.0, help="checkpoint past this WAL")
    ap.add_argument("--switch-ms", type=float, default=0.0, help="sys.setswitchinterval")
    ap.add_argument("--phases", action="store_true", help="time each commit's phases (lag)")
    ap.add_argument("--out", type=Path, default=Path(__file__).parent / "results")
    args = ap.parse_args()
    if args.switch_ms:
        sys.setswitchinterval(args.switch_ms / 1000)

    tmp = Path(tempfile.mkdtemp(prefix="zeroetl-lagbench-"))
    bench = Bench(args, tmp)
    t0 = time.perf_counter()
    try:
        bench.load()
        if args.only != "lag":
            for mode in args.modes.split(",") if not args.profile else ("adaptive",):
                bench.small(mode, bool(args.profile))
        if args.only != "small" and not args.profile:
            for rate in (float(r) for r in args.rates.split(",")):
                for mode in reversed(args.modes.split(",")):
                    bench.lag(mode, rate)
        bench.verify()
    finally:
        if bench.dest is not None:
            bench.dest.close()
        bench.server.stop()
        shutil.rmtree(tmp, ignore_errors=True)
    if args.profile:
        return
    result = {
        "benchmark": "lag_bench",
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {
            "cpus": os.cpu_count(),
            "platform": platform.platform(),
            "load_avg_at_end": os.getloadavg(),
        },
        "duckdb": duckdb.__version__,
        "settings": {k: v for k, v in vars(args).items() if k != "out"},
        "baseline": "EngineSettings(adaptive_batching=False): fixed batch_ms 200 / batch_rows",
        "wall_s": time.perf_counter() - t0,
        **bench.out,
    }
    report(result)
    args.out.mkdir(parents=True, exist_ok=True)
    path = args.out / "lag_bench.json"
    path.write_text(json.dumps(result, indent=2) + "\n")
    print(f"\nwrote {path} (whole bench {result['wall_s']:.0f}s)")


if __name__ == "__main__":
    main()
