"""Many integrations in one service: --n sources (one MariaDB server each, or --shared: one
server with --n databases) replicated by one `zeroetl serve`, each into a target database of its
own, each under the same steady upsert load.

Phases, all in one run on the same servers and service:
  idle      --n integrations active, no load: the service's CPU (what idle integrations cost);
  solo      the load (--rate changes/s) on ONE source while the other integrations are paused
            and their sources silent: one integration alone in the service (the baseline for
            the next phase: the same source, service and machine);
  baseline  the same load on that source, the other integrations resumed and their sources
            sending heartbeats only: what idle integrations cost a loaded one;
  all       the load on every source at once: aggregate changes/s, lag per integration, the
            service's CPU (per integration = CPU / n).

Load per source: INSERT ... ON DUPLICATE KEY UPDATE statements (--stmts-per-s of them, sized to
reach --rate row changes/s), from a process of its own per source, plus a heartbeat row updated
every 100 ms carrying the client's clock. Lag = when an analyst first sees a heartbeat value
over the SQL endpoint: one psycopg session polls every target database's heartbeat every
--poll-ms in one UNION ALL statement (10 scalar subqueries in one SELECT, as before, cost DuckDB
40-80 ms of planning per poll: the poll itself loaded the service and its round trip inflated
every lag). A value first returned by a poll became visible after the previous poll read (its
start: the lower bound) and before this poll returned (its end: the upper bound, the number
reported as lag); both bounds and the polls' own round trips are reported. The service's CPU
and its threads' run-queue wait are read from /proc over each phase, with the machine's load.
At the end each target must equal its source (count and sums), or the bench fails.

    .venv/bin/python bench/many_integrations_bench.py [--n 10] [--rate 5000] [--seconds 20]
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import platform
import shutil
import statistics
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg
import pymysql

sys.path.insert(0, str(Path(__file__).parent))
from soak_bench import Serve

from zeroetl.sandbox.mariadb import MariaDBServer, free_port

TABLE_DDL = (
    "CREATE TABLE {db}.t (id BIGINT PRIMARY KEY, a INT NOT NULL, b VARCHAR(40) NOT NULL, "
    "c DECIMAL(12,2) NOT NULL, d DATETIME(6) NOT NULL, e DOUBLE, f DATE, g TEXT NULL)"
)
HB_DDL = "CREATE TABLE {db}.hb (id INT PRIMARY KEY, ts DOUBLE NOT NULL)"
KEYS = 100_000  # the upsert load cycles over these keys
UPSERT_SQL = (
    "INSERT INTO t SELECT seq, seq % 1000, CONCAT('up-', seq), (seq % 1000000) / 100, "
    "TIMESTAMP'2020-01-01 00:00:00' + INTERVAL seq SECOND, seq / 7e0, "
    "DATE'2000-01-01' + INTERVAL (seq % 10000) DAY, NULL FROM seq_{lo}_to_{hi} "
    "ON DUPLICATE KEY UPDATE a = a + 1, e = e + 1, b = CONCAT('u', id)"
)
CPU_TICK = os.sysconf("SC_CLK_TCK")


def load_process(
    port: int, db: str, rate: float, stmts_per_s: float, stop: Any, out: Any, ready: Any
) -> None:
    """`rate` row changes/s as upsert statements, plus the heartbeat every 100 ms, until stopped."""
    rows = max(1, round(rate / stmts_per_s))
    conn = pymysql.connect(host="127.0.0.1", port=port, user="root", database=db, autocommit=True)
    ready.put(db)
    lo = n = beats = 0
    t0 = time.perf_counter()
    next_beat = t0
    with conn.cursor() as cur:
        while not stop.is_set():
            now = time.perf_counter()
            if now >= next_beat:
                cur.execute("UPDATE hb SET ts = %s WHERE id = 1", (time.time(),))
                beats += 1
                next_beat += 0.1
            if rate > 0 and now >= t0 + n / stmts_per_s:
                if lo + rows > KEYS:
                    lo = 0
                cur.execute(UPSERT_SQL.format(lo=lo + 1, hi=lo + rows))
                lo += rows
                n += 1
                continue
            due = min(next_beat, t0 + n / stmts_per_s if rate > 0 else next_beat)
            time.sleep(max(0.0, min(0.01, due - time.perf_counter())))
        elapsed = time.perf_counter() - t0
    conn.close()
    out.put({"rows": n * rows, "elapsed_s": elapsed, "beats": beats})


def cpu_seconds(pid: int) -> float:
    """User + system CPU of a process and its threads (children not included)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CPU_TICK


def runqueue_wait_s(pid: int) -> float:
    """Seconds the process's threads spent runnable but waiting for a CPU (schedstat): high
    means the machine starved the service, not that the service was slow or blocked."""
    total = 0
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            total += int((task / "schedstat").read_text().split()[1])
        except (FileNotFoundError, IndexError, ValueError):
            continue  # a thread that ended meanwhile
    return total / 1e9


def same(src: list[float], dst: list[float]) -> bool:
    """Counts and integer sums exactly; the sum of a DOUBLE column within rounding."""
    return (
        len(src) == len(dst) == 4
        and src[:3] == dst[:3]
        and abs(src[3] - dst[3]) <= 1e-9 * max(1.0, abs(src[3]))
    )


def pct(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


class Bench:
    def __init__(self, args: argparse.Namespace, tmp: Path) -> None:
        self.args = args
        self.tmp = tmp
        small = ("--innodb-buffer-pool-size=32M", "--innodb-log-file-size=32M")
        if args.shared:
            one = MariaDBServer(tmp / "m0", free_port(), server_id=1, extra_args=small)
            self.servers = [one] * args.n
        else:
            self.servers = [
                MariaDBServer(tmp / f"m{i}", free_port(), server_id=i + 1, extra_args=small)
                for i in range(args.n)
            ]
        self.dbs = [f"src{i}" for i in range(args.n)]
        self.serve = Serve(tmp / "wh", tmp / "serve.log", [])
        self.out: dict[str, Any] = {}
        self.first_poll_s = 0.0
        self.pg: psycopg.Connection[Any] | None = None

    def unique(self) -> list[MariaDBServer]:
        return list({id(s): s for s in self.servers}.values())

    def target(self, i: int) -> str:
        return f"t{i}"

    def setup(self) -> None:
        t0 = time.perf_counter()
        for server in self.unique():
            server.start()
            server.create_replication_user()
        for server, db in zip(self.servers, self.dbs, strict=True):
            conn = server.root()
            with conn.cursor() as cur:
                cur.execute(f"CREATE DATABASE {db}")
                cur.execute(TABLE_DDL.format(db=db))
                cur.execute(HB_DDL.format(db=db))
                cur.execute(f"INSERT INTO {db}.hb VALUES (1, 0)")
                cur.execute(f"USE {db}")
                cur.execute(UPSERT_SQL.format(lo=1, hi=KEYS))
            conn.close()
        started = time.perf_counter()
        self.serve.start()
        self.ids = []
        for i, (server, db) in enumerate(zip(self.servers, self.dbs, strict=True)):
            view = self.serve.api(
                "POST",
                "/v1/integrations",
                {
                    "name": f"i{i}",
                    "source": server.url(),
                    "data_filter": f"include: {db}.*",
                    "target_database": self.target(i),
                },
            )
            self.ids.append(view["id"])
        deadline = time.monotonic() + 600
        for ident in self.ids:
            while self.serve.api("GET", f"/v1/integrations/{ident}")["state"] != "active":
                if time.monotonic() > deadline:
                    raise SystemExit(f"integration {ident} not active after 600 s")
                time.sleep(0.2)
        self.out["setup_s"] = round(time.perf_counter() - t0, 1)
        self.out["integrations_active_s"] = round(time.perf_counter() - started, 1)
        # One SQL session polls in every phase: a new session installs its catalog first (seconds
        # on a loaded machine), which once fell inside a phase and left it without a poll.
        t0 = time.perf_counter()
        self.pg = psycopg.connect(self.dsn(), autocommit=True)
        self.out["sql_connect_s"] = round(time.perf_counter() - t0, 2)
        print(f"{self.args.n} integrations active ({self.out['setup_s']} s; SQL session "
              f"{self.out['sql_connect_s']} s)", flush=True)  # fmt: skip

    def poll(
        self,
        stop: threading.Event,
        lags: list[list[float]],
        lows: list[list[float]],
        rtts: list[float],
    ) -> None:
        """One session reads every target's heartbeat in one statement; a changed value's age at
        the end of the poll that first returns it is its lag (upper bound); its age at the
        start of the poll before is the lower bound."""
        sql = " UNION ALL ".join(
            f"SELECT {i} AS i, ts FROM {self.target(i)}.{db}.hb WHERE id = 1"
            for i, db in enumerate(self.dbs)
        )
        last: list[float | None] = [None] * self.args.n
        pg = self.pg
        assert pg is not None
        prev_start: float | None = None
        t0 = time.perf_counter()
        pg.execute(sql).fetchall()  # before the phase's polls: see first_poll_s
        self.first_poll_s = time.perf_counter() - t0
        while not stop.is_set():
            start, t0 = time.time(), time.perf_counter()
            rows = pg.execute(sql).fetchall()
            end = time.time()
            rtts.append(time.perf_counter() - t0)
            for i, ts in rows:
                if ts != last[i] and last[i] is not None and ts and prev_start is not None:
                    lags[i].append(end - ts)
                    lows[i].append(max(0.0, prev_start - ts))
                last[i] = ts
            prev_start = start
            stop.wait(self.args.poll_ms / 1000)

    def dsn(self) -> str:
        pw = (self.serve.warehouse / "sql.password").read_text().strip()
        return f"host=127.0.0.1 port={self.serve.sql_port} user=admin dbname=dev password={pw}"

    def pause_others(self, keep: int, pause: bool) -> None:
        """Pause (or resume, and wait until active again) every integration but `keep`."""
        verb = "pause" if pause else "resume"
        for i, ident in enumerate(self.ids):
            if i != keep:
                self.serve.api("POST", f"/v1/integrations/{ident}/{verb}")
        if pause:
            return
        deadline = time.monotonic() + 120
        for ident in self.ids:
            while self.serve.api("GET", f"/v1/integrations/{ident}")["state"] != "active":
                if time.monotonic() > deadline:
                    raise SystemExit(f"integration {ident} not active after resume")
                time.sleep(0.2)

    def phase(self, name: str, loaded: list[int], silent: bool = False) -> dict[str, Any]:
        """Run the load on the `loaded` sources (heartbeats on every source, on the loaded ones
        only with `silent`) for --seconds."""
        a = self.args
        ctx = mp.get_context("spawn")
        stop, q, ready = ctx.Event(), ctx.Queue(), ctx.Queue()
        procs = [
            ctx.Process(
                target=load_process,
                daemon=True,
                args=(
                    server.port,
                    db,
                    a.rate if i in loaded else 0.0,
                    a.stmts_per_s,
                    stop,
                    q,
                    ready,
                ),
            )
            for i, (server, db) in enumerate(zip(self.servers, self.dbs, strict=True))
            if i in loaded or not silent
        ]
        for p in procs:
            p.start()
        # Spawned interpreters take seconds to start on a loaded machine: the phase starts once
        # every load runs (it once started before any heartbeat had been sent).
        for _ in procs:
            ready.get(timeout=300)
        time.sleep(a.warmup_s)
        lags: list[list[float]] = [[] for _ in range(a.n)]
        poll_stop = threading.Event()
        rtts: list[float] = []  # the poll's own round trips: the resolution of what it sees
        lows: list[list[float]] = [[] for _ in range(a.n)]
        poller = threading.Thread(target=self.poll, args=(poll_stop, lags, lows, rtts), daemon=True)
        assert self.serve.proc is not None
        pid = self.serve.proc.pid
        cpu0, wait0, t0 = cpu_seconds(pid), runqueue_wait_s(pid), time.perf_counter()
        load0 = os.getloadavg()[0]
        poller.start()
        time.sleep(a.seconds)
        cpu1, wait1, t1 = cpu_seconds(pid), runqueue_wait_s(pid), time.perf_counter()
        load1 = os.getloadavg()[0]
        poll_stop.set()
        stop.set()
        poller.join(30)
        gens = [q.get(timeout=60) for _ in procs]
        for p in procs:
            p.join(30)
        rows = sum(g["rows"] for g in gens)
        elapsed = statistics.mean(g["elapsed_s"] for g in gens)
        per = [
            {
                "integration": i,
                "loaded": i in loaded,
                "samples": len(lag),
                "lag_p50_ms": round(1000 * (pct(lag, 0.5) or 0)),
                "lag_p99_ms": round(1000 * (pct(lag, 0.99) or 0)),
                "lag_max_ms": round(1000 * max(lag, default=0)),
                "lag_p99_ms_lower_bound": round(1000 * (pct(low, 0.99) or 0)),
                "lag_p50_ms_lower_bound": round(1000 * (pct(low, 0.5) or 0)),
            }
            for i, (lag, low) in enumerate(zip(lags, lows, strict=True))
        ]
        busy = [p for p in per if p["loaded"]] or [p for p in per if p["samples"]] or per
        cpu = (cpu1 - cpu0) / (t1 - t0)
        res = {
            "loaded_sources": len(loaded),
            "changes_per_s": round(rows / elapsed),
            "service_cpu_cores": round(cpu, 3),
            # threads' time runnable but not running, in cores (starved by the machine)
            "service_runqueue_wait_cores": round((wait1 - wait0) / (t1 - t0), 3),
            "cpu_per_integration_cores": round(cpu / a.n, 3),
            "cpu_per_loaded_integration_cores": round(cpu / max(1, len(loaded)), 3),
            "cpu_us_per_change": round(1e6 * cpu * elapsed / rows, 1) if rows else None,
            "lag_p99_ms_worst": max(p["lag_p99_ms"] for p in busy),
            "lag_p99_ms_median": statistics.median(p["lag_p99_ms"] for p in busy),
            "lag_p50_ms_median": statistics.median(p["lag_p50_ms"] for p in busy),
            "lag_p99_ms_median_lower_bound": statistics.median(
                p["lag_p99_ms_lower_bound"] for p in busy
            ),
            "lag_p50_ms_median_lower_bound": statistics.median(
                p["lag_p50_ms_lower_bound"] for p in busy
            ),
            "samples_median": statistics.median(p["samples"] for p in busy),
            "polls": len(rtts),
            "poll_ms_p50": round(1000 * (pct(rtts, 0.5) or 0), 1),
            "poll_ms_p99": round(1000 * (pct(rtts, 0.99) or 0), 1),
            "load_avg_1m": round(load0, 2),
            "load_avg_1m_end": round(load1, 2),
            "first_poll_s": round(self.first_poll_s, 2),
            "per_integration": per,
        }
        self.out[name] = res
        print(f"{name}: {res['changes_per_s']:,} changes/s over {len(loaded)} source(s); "
              f"lag p50 {res['lag_p50_ms_median']} ms, p99 {res['lag_p99_ms_median']} ms "
              f"(worst {res['lag_p99_ms_worst']}; lower bounds p50/p99 "
              f"{res['lag_p50_ms_median_lower_bound']}/{res['lag_p99_ms_median_lower_bound']} ms, "
              f"{res['samples_median']} samples); poll p50/p99 {res['poll_ms_p50']}/"
              f"{res['poll_ms_p99']} ms ({len(rtts)} polls, the first {self.first_poll_s:.2f} s); service CPU {cpu:.2f} cores, waiting for a CPU "
              f"{res['service_runqueue_wait_cores']:.2f}; "
              f"load {load0:.1f}-{load1:.1f}", flush=True)  # fmt: skip
        return res

    def verify(self) -> None:
        bad = []
        sums = "count(*), sum(id), sum(a), sum(e)"
        deadline = time.monotonic() + 120
        with psycopg.connect(self.dsn(), autocommit=True) as pg:
            for i, (server, db) in enumerate(zip(self.servers, self.dbs, strict=True)):
                conn = server.root(db)
                with conn.cursor() as cur:
                    cur.execute(f"SELECT {sums} FROM t")
                    src = [float(x) for x in cur.fetchone()]
                conn.close()
                while True:  # the last changes may still be on their way
                    got = pg.execute(f"SELECT {sums} FROM {self.target(i)}.{db}.t").fetchone()
                    dst = [float(x) for x in got or ()]
                    if same(src, dst) or time.monotonic() > deadline:
                        break
                    time.sleep(0.2)
                if not same(src, dst):
                    bad.append((i, src, dst))
        if bad:
            raise SystemExit(f"warehouse differs from the source: {bad}")
        self.out["verified"] = True
        print("verified: every target equals its source", flush=True)

    def stop(self) -> None:
        if self.pg is not None:
            self.pg.close()
        if self.serve.proc is not None and self.serve.proc.poll() is None:
            self.serve.proc.terminate()
            self.serve.proc.wait(60)
        for server in self.unique():
            server.stop()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=10, help="integrations (sources)")
    ap.add_argument("--rate", type=float, default=5000.0, help="changes/s per loaded source")
    ap.add_argument("--stmts-per-s", type=float, default=50.0, help="upserts/s per source")
    ap.add_argument("--seconds", type=float, default=20.0, help="measured seconds per phase")
    ap.add_argument("--warmup-s", type=float, default=2.0)
    ap.add_argument("--poll-ms", type=float, default=25.0)
    ap.add_argument("--shared", action="store_true", help="one MariaDB with --n databases")
    ap.add_argument("--out", type=Path, default=Path(__file__).parent / "results")
    args = ap.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="zeroetl-manybench-"))
    bench = Bench(args, tmp)
    t0 = time.perf_counter()
    try:
        bench.setup()
        bench.phase("idle", [])
        bench.pause_others(0, pause=True)
        bench.phase("solo", [0], silent=True)
        bench.pause_others(0, pause=False)
        bench.phase("baseline", [0])
        bench.phase("all", list(range(args.n)))
        bench.verify()
    finally:
        bench.stop()
        shutil.rmtree(tmp, ignore_errors=True)
    out = bench.out
    solo, base, many = out["solo"], out["baseline"], out["all"]

    def cpu_per_change(phase: dict[str, Any]) -> float:
        return float(phase["service_cpu_cores"]) / max(1, phase["changes_per_s"])

    result = {
        "benchmark": "many_integrations_bench",
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {
            "cpus": os.cpu_count(),
            "platform": platform.platform(),
            "load_avg_at_end": os.getloadavg(),
        },
        "settings": {k: v for k, v in vars(args).items() if k != "out"},
        "baseline": "one loaded integration alone in the same service and run (solo phase)",
        "wall_s": round(time.perf_counter() - t0),
        "ratios": {
            "aggregate_changes_per_s_vs_solo": round(
                many["changes_per_s"] / max(1, solo["changes_per_s"]), 2
            ),
            "lag_p99_median_vs_solo": round(
                many["lag_p99_ms_median"] / max(1, solo["lag_p99_ms_median"]), 2
            ),
            # what idle integrations cost a loaded one: baseline against solo
            "one_loaded_lag_p99_idle_others_vs_solo": round(
                base["lag_p99_ms_median"] / max(1, solo["lag_p99_ms_median"]), 2
            ),
            # the service's CPU per change applied, n loaded vs one (1.0: linear scaling)
            "cpu_per_change_vs_solo": round(
                cpu_per_change(many) / max(1e-12, cpu_per_change(solo)), 2
            ),
        },
        **out,
    }
    print(json.dumps(result["ratios"], indent=1))
    args.out.mkdir(parents=True, exist_ok=True)
    path = args.out / "many_integrations_bench.json"
    path.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {path} (whole bench {result['wall_s']} s)")


if __name__ == "__main__":
    main()
