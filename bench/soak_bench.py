"""Soak: a real `zeroetl serve` under continuous load for a long time, with analysts querying.

On a private MariaDB (temp dir, free port) with TICKIT at --scale, one integration into one
target database; then, for --minutes (30 by default):
  load       --rate row changes/s (default 20,000) from a separate process: listing price
             updates, new sales, deletes of older new sales (statements of --stmt-rows rows,
             each its own transaction), plus a heartbeat row carrying the client's clock;
  readers    --sessions SQL sessions (default 8) over the SQL endpoint running the TICKIT
             sample queries back to back;
  recorded   the target database's WAL (max, per window), the service's RSS (start, middle,
             end, max), the database file size, lag p50/p99 per --window-min minutes (the
             heartbeat's arrival seen over the SQL endpoint: an analyst's view), the engine's
             own lag (API), the analysts' query count and latency.
At the end, the service is SIGKILLed under load and restarted: time to /healthz and to caught
up (a fresh heartbeat visible). Same-run baselines: lag while idle (heartbeat only, no load, no
readers) before the soak, RSS at the start of the soak, the configured WAL limit, and a clean
restart (SIGTERM, then start) after catching up. The warehouse must equal the source at the
end (row counts and column sums per table), or the bench fails.

    .venv/bin/python bench/soak_bench.py [--minutes 30] [--rate 20000] [--window-min 5]
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import platform
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb
import httpx
import psycopg
import pymysql

from zeroetl.sandbox import tickit
from zeroetl.sandbox.mariadb import MariaDBServer, free_port

DB, TARGET = "demodb", "tickit"
NEW_SALES = 50_000_000  # ids of the sales the load inserts (the generated ones are below)
# pymysql type codes compared by sum as well as count: integers and decimals (exact)
_EXACT = {0, 1, 2, 3, 8, 9, 13, 246}


def pct(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


# --- the load (a process of its own: no GIL shared with the readers or the samplers) ----------


def load_process(port: int, rate: float, stmt_rows: int, stop: Any, out: Any) -> None:
    conn = pymysql.connect(
        host="127.0.0.1", port=port, user="root", password="", database=DB, autocommit=True
    )
    with conn.cursor() as cur:
        cur.execute("SELECT (SELECT max(listid) FROM listing), (SELECT max(salesid) FROM sales)")
        listings, sales = (int(x) for x in cur.fetchone())
    changes = 0
    tick = 0
    inserted = deleted = 0
    keep = 20 * stmt_rows  # new sales kept before the oldest go
    per_tick = 4 * stmt_rows  # 2 update statements, 1 insert, 1 delete
    interval = per_tick / rate if rate > 0 else 1.0
    next_beat = 0.0
    t0 = time.perf_counter()
    with conn.cursor() as cur:
        while not stop.is_set():
            now = time.perf_counter()
            if now >= next_beat:
                cur.execute("UPDATE zz_heartbeat SET ts = %s WHERE id = 1", (time.time(),))
                next_beat = now + 0.2
            due = t0 + tick * interval
            if rate <= 0 or now < due:
                time.sleep(min(0.01, max(0.0, due - now)) if rate > 0 else 0.05)
                continue
            for half in (0, 1):
                lo = ((2 * tick + half) * stmt_rows) % listings
                changes += cur.execute(
                    "UPDATE listing SET numtickets = numtickets %% 8 + 1, totalprice = "
                    "LEAST(priceperticket * (numtickets %% 8 + 1), 999999.99) "
                    "WHERE listid > %s AND listid <= %s",
                    (lo, lo + stmt_rows),
                )
            lo = (tick * stmt_rows) % (sales - stmt_rows)
            changes += cur.execute(
                "INSERT INTO sales SELECT %s + salesid - %s, listid, sellerid, buyerid, eventid, "
                "dateid, qtysold, pricepaid, commission, saletime FROM sales "
                "WHERE salesid > %s AND salesid <= %s",
                (NEW_SALES + inserted, lo, lo, lo + stmt_rows),
            )
            inserted += stmt_rows
            if inserted - deleted > keep:
                changes += cur.execute(
                    "DELETE FROM sales WHERE salesid >= %s AND salesid < %s",
                    (NEW_SALES + deleted, NEW_SALES + deleted + stmt_rows),
                )
                deleted += stmt_rows
            tick += 1
        cur.execute("UPDATE zz_heartbeat SET ts = %s WHERE id = 1", (time.time(),))
    conn.close()
    out.put({"changes": changes, "seconds": time.perf_counter() - t0})


# --- the service ----------------------------------------------------------------------------


class Serve:
    def __init__(self, warehouse: Path, log: Path, args: list[str]) -> None:
        self.warehouse, self.log, self.args = warehouse, log, args
        self.port, self.sql_port = free_port(), free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> float:
        """Start; returns the seconds until /healthz answers."""
        cmd = [
            sys.executable,
            "-m",
            "zeroetl.cli.main",
            "serve",
            "--warehouse",
            str(self.warehouse),
            "--api-port",
            str(self.port),
            "--sql-port",
            str(self.sql_port),
            *self.args,
        ]
        env = {k: v for k, v in os.environ.items() if not k.startswith("ZEROETL_")}
        t0 = time.perf_counter()
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(cmd, stdout=out, stderr=out, env=env)
        while True:
            if self.proc.poll() is not None:
                raise SystemExit(f"serve exited: {self.log.read_text()[-2000:]}")
            try:
                if httpx.get(self.url + "/healthz", timeout=2).status_code == 200:
                    return time.perf_counter() - t0
            except httpx.HTTPError:
                pass
            time.sleep(0.05)

    @property
    def token(self) -> str:
        return (self.warehouse / "api.token").read_text().strip()

    def api(self, method: str, path: str, body: Any = None) -> Any:
        r = httpx.request(
            method,
            self.url + path,
            json=body,
            timeout=60,
            headers={"Authorization": f"Bearer {self.token}"},
        )
        r.raise_for_status()
        return r.json()

    def dsn(self) -> str:
        pw = (self.warehouse / "sql.password").read_text().strip()
        return f"host=127.0.0.1 port={self.sql_port} user=admin dbname={TARGET} password={pw}"

    def rss_mb(self) -> float:
        assert self.proc is not None
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
        return 0.0


# --- the bench ------------------------------------------------------------------------------


class Soak:
    def __init__(self, args: argparse.Namespace, tmp: Path) -> None:
        self.args = args
        self.tmp = tmp
        self.server = MariaDBServer(datadir=tmp / "mariadb", port=free_port(), server_id=1)
        wal = ["--wal-limit-mb", str(args.wal_limit_mb)]
        self.serve = Serve(tmp / "wh", tmp / "serve.log", wal)
        self.wal_path = tmp / "wh" / "databases" / f"{TARGET}.duckdb.wal"
        self.db_path = tmp / "wh" / "databases" / f"{TARGET}.duckdb"
        self.stop = threading.Event()
        self.lags: list[tuple[float, float]] = []  # (time, heartbeat lag s)
        self.engine_lags: list[tuple[float, float]] = []
        self.samples: list[dict[str, float]] = []
        self.queries: list[tuple[float, float]] = []  # (time, seconds)
        self.query_errors: list[str] = []
        self.out: dict[str, Any] = {}

    def setup(self) -> None:
        self.server.start()
        self.server.create_replication_user()
        conn = self.server.root()
        counts = tickit.load(conn, database=DB, scale=self.args.scale, seed=1)
        with conn.cursor() as cur:
            cur.execute(f"CREATE TABLE {DB}.zz_heartbeat (id INT PRIMARY KEY, ts DOUBLE)")
            cur.execute(f"INSERT INTO {DB}.zz_heartbeat VALUES (1, 0)")
        conn.close()
        self.out["tickit_rows"] = counts
        self.serve.start()
        t0 = time.perf_counter()
        view = self.serve.api(
            "POST",
            "/v1/integrations",
            {
                "name": "soak",
                "source": self.server.url(),
                "data_filter": f"include: {DB}.*",
                "target_database": TARGET,
            },
        )
        self.ident = view["id"]
        self.wait_state("active", 600)
        self.out["first_snapshot_s"] = round(time.perf_counter() - t0, 1)

    def wait_state(self, state: str, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while self.serve.api("GET", f"/v1/integrations/{self.ident}")["state"] != state:
            if time.monotonic() > deadline:
                raise SystemExit(f"integration not {state} after {timeout}s")
            time.sleep(0.2)

    # threads

    def poll_heartbeat(self) -> None:
        """Lag as an analyst sees it: when a new heartbeat value becomes visible."""
        with psycopg.connect(self.serve.dsn(), autocommit=True) as pg:
            last = None
            while not self.stop.is_set():
                ts = pg.execute(f"select ts from {DB}.zz_heartbeat where id = 1").fetchone()[0]
                if ts != last and last is not None and ts > 0:
                    self.lags.append((time.monotonic(), time.time() - ts))
                last = ts
                self.stop.wait(self.args.poll_ms / 1000)

    def sample(self) -> None:
        while not self.stop.is_set():
            s = {
                "t": time.monotonic(),
                "rss_mb": self.serve.rss_mb(),
                "wal_mb": _size(self.wal_path) / 2**20,
                "db_mb": _size(self.db_path) / 2**20,
            }
            self.samples.append(s)
            try:
                lag = self.serve.api("GET", f"/v1/integrations/{self.ident}")["lag_seconds"]
                if lag is not None:
                    self.engine_lags.append((s["t"], lag))
            except httpx.HTTPError:
                pass
            self.stop.wait(1.0)

    def analyst(self, n: int) -> None:
        with psycopg.connect(self.serve.dsn(), autocommit=True) as pg:
            pg.execute(f"SET search_path TO {DB}")
            i = n
            while not self.stop.is_set():
                _, sql = tickit.SAMPLE_QUERIES[i % len(tickit.SAMPLE_QUERIES)]
                t0 = time.perf_counter()
                try:
                    pg.execute(sql).fetchall()
                    self.queries.append((time.monotonic(), time.perf_counter() - t0))
                except psycopg.Error as exc:
                    self.query_errors.append(str(exc)[:200])
                i += 1

    # phases

    def idle_baseline(self) -> None:
        """Lag with only the heartbeat flowing: what the soak's lag is compared with."""
        stop, q, proc = self._load(rate=0.0)
        poller = threading.Thread(target=self.poll_heartbeat, daemon=True)
        poller.start()
        time.sleep(self.args.idle_s)
        self.stop.set()
        poller.join(10)
        stop.set()
        proc.join(30)
        q.get(timeout=30)
        self.stop.clear()
        lags = [lag for _, lag in self.lags]
        self.out["idle"] = {
            "lag_p50_s": pct(lags, 0.5),
            "lag_p99_s": pct(lags, 0.99),
            "samples": len(lags),
            "rss_mb": round(self.serve.rss_mb(), 1),
        }
        self.lags.clear()

    def soak(self) -> None:
        a = self.args
        threads = [
            threading.Thread(target=self.poll_heartbeat, daemon=True),
            threading.Thread(target=self.sample, daemon=True),
        ]
        threads += [
            threading.Thread(target=self.analyst, args=(n,), daemon=True) for n in range(a.sessions)
        ]
        stop, q, proc = self._load(rate=a.rate)
        self.t0 = time.monotonic()
        for t in threads:
            t.start()
        time.sleep(a.minutes * 60)
        self.stop.set()
        for t in threads:
            t.join(60)
        # SIGKILL while the load goes on: the restart replays at most the WAL limit
        wal_at_kill = _size(self.wal_path)
        assert self.serve.proc is not None
        self.serve.proc.send_signal(signal.SIGKILL)
        self.serve.proc.wait(30)
        killed = time.monotonic()
        time.sleep(2)
        stop.set()
        proc.join(60)
        load = q.get(timeout=60)
        healthz = self.serve.start()
        caught_up = self.wait_fresh_heartbeat(killed)
        self.out["load"] = {
            "changes": load["changes"],
            "seconds": round(load["seconds"], 1),
            "changes_per_s": round(load["changes"] / load["seconds"]),
        }
        self.out["restart_after_sigkill"] = {
            "wal_at_kill_mb": round(wal_at_kill / 2**20, 1),
            "healthz_s": round(healthz, 2),
            "caught_up_s": round(caught_up, 2),
        }

    def wait_fresh_heartbeat(self, since: float) -> float:
        """Seconds from `since` until the source's last heartbeat is visible in the warehouse."""
        conn = self.server.root(DB)
        with conn.cursor() as cur:
            cur.execute("SELECT ts FROM zz_heartbeat WHERE id = 1")
            want = cur.fetchone()[0]
        conn.close()
        while True:
            try:
                with psycopg.connect(self.serve.dsn(), autocommit=True) as pg:
                    while True:
                        q = f"select ts from {DB}.zz_heartbeat where id = 1"
                        if pg.execute(q).fetchone()[0] >= want:
                            return time.monotonic() - since
                        time.sleep(0.05)
            except psycopg.Error:  # the target database is not attached yet
                time.sleep(0.1)

    def clean_restart(self) -> None:
        assert self.serve.proc is not None
        self.serve.proc.send_signal(signal.SIGTERM)
        self.serve.proc.wait(60)
        self.out["clean_restart_healthz_s"] = round(self.serve.start(), 2)

    def verify(self) -> None:
        """Counts and column sums per table, source vs warehouse (the service stopped)."""
        assert self.serve.proc is not None
        self.serve.proc.send_signal(signal.SIGTERM)
        self.serve.proc.wait(60)
        conn = self.server.root(DB)
        duck = duckdb.connect(str(self.db_path), read_only=True)
        bad = []
        for table in (*tickit.TABLES, "zz_heartbeat"):
            with conn.cursor() as cur:
                cur.execute(f"SELECT * FROM `{table}` LIMIT 0")
                cols = [(d[0], d[1] in _EXACT) for d in cur.description]
                cur.execute(f"SELECT {_aggs(cols, '`')} FROM `{table}`")
                src = [str(x) for x in cur.fetchone()]
            got = duck.execute(f'SELECT {_aggs(cols, chr(34))} FROM {DB}."{table}"').fetchone()
            dst = [str(x) for x in got]
            if src != dst:
                bad.append((table, src[:3], dst[:3]))
        duck.close()
        conn.close()
        if bad:
            raise SystemExit(f"warehouse differs from the source: {bad}")
        self.out["verified"] = True

    def _load(self, rate: float) -> tuple[Any, Any, Any]:
        ctx = mp.get_context("spawn")
        stop, q = ctx.Event(), ctx.Queue()
        proc = ctx.Process(
            target=load_process,
            daemon=True,
            args=(self.server.port, rate, self.args.stmt_rows, stop, q),
        )
        proc.start()
        return stop, q, proc

    def summarise(self) -> None:
        a = self.args
        window = a.window_min * 60
        end = self.t0 + a.minutes * 60
        windows = []
        start = self.t0
        while start < end - 1:
            stop = min(start + window, end)
            lag = [x for t, x in self.lags if start <= t < stop]
            eng = [x for t, x in self.engine_lags if start <= t < stop]
            wal = [s["wal_mb"] for s in self.samples if start <= s["t"] < stop]
            qs = [x for t, x in self.queries if start <= t < stop]
            windows.append(
                {
                    "from_min": round((start - self.t0) / 60, 1),
                    "to_min": round((stop - self.t0) / 60, 1),
                    "lag_p50_s": _r(pct(lag, 0.5)),
                    "lag_p99_s": _r(pct(lag, 0.99)),
                    "engine_lag_p50_s": _r(pct(eng, 0.5)),
                    "engine_lag_p99_s": _r(pct(eng, 0.99)),
                    "wal_max_mb": _r(max(wal, default=0.0), 1),
                    "queries": len(qs),
                    "query_p50_s": _r(pct(qs, 0.5)),
                }
            )
            start = stop
        rss = [s["rss_mb"] for s in self.samples]
        mid = self.samples[len(self.samples) // 2] if self.samples else {"rss_mb": 0.0}
        wal_max = max((s["wal_mb"] for s in self.samples), default=0.0)
        self.out["windows"] = windows
        self.out["rss_mb"] = {
            "start": _r(rss[0] if rss else None, 1),
            "middle": _r(mid["rss_mb"], 1),
            "end": _r(rss[-1] if rss else None, 1),
            "max": _r(max(rss, default=0.0), 1),
            "end_vs_start": _r(rss[-1] / rss[0] if rss else None, 2),
        }
        self.out["wal"] = {
            "max_mb": _r(wal_max, 1),
            "limit_mb": a.wal_limit_mb,
            "max_vs_limit": _r(wal_max / a.wal_limit_mb, 2),
        }
        self.out["series_every_30s"] = [
            {
                "min": round((s["t"] - self.t0) / 60, 1),
                "rss_mb": round(s["rss_mb"]),
                "wal_mb": round(s["wal_mb"], 1),
                "db_mb": round(s["db_mb"], 1),
            }
            for s in self.samples[::30]
        ]
        dbs = [s["db_mb"] for s in self.samples]
        self.out["db_file_mb"] = {
            "start": _r(dbs[0] if dbs else None, 1),
            "end": _r(dbs[-1] if dbs else None, 1),
        }
        lags = [x for _, x in self.lags]
        idle = self.out["idle"]
        self.out["lag"] = {
            "p50_s": _r(pct(lags, 0.5)),
            "p99_s": _r(pct(lags, 0.99)),
            "p99_vs_idle_p99": _r((pct(lags, 0.99) or 0) / idle["lag_p99_s"])
            if idle["lag_p99_s"]
            else None,
        }
        self.out["queries"] = {
            "completed": len(self.queries),
            "errors": len(self.query_errors),
            "first_errors": self.query_errors[:3],
        }


def _aggs(cols: list[tuple[str, bool]], q: str) -> str:
    """count(*), then count() of every column and sum() of the exact numeric ones."""
    out = ["count(*)"]
    for c, exact in cols:
        out.append(f"count({q}{c}{q})")
        if exact:
            out.append(f"sum({q}{c}{q})")
    return ", ".join(out)


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except FileNotFoundError:
        return 0


def _r(v: float | None, digits: int = 3) -> float | None:
    return None if v is None else round(v, digits)


def report(out: dict[str, Any]) -> None:
    ld, rs, w, lag = out["load"], out["rss_mb"], out["wal"], out["lag"]
    rk = out["restart_after_sigkill"]
    print(
        f"\nsoak: {out['settings']['minutes']} min at {ld['changes_per_s']:,} changes/s "
        f"(asked {out['settings']['rate']:,.0f}), {out['settings']['sessions']} SQL sessions, "
        f"{out['queries']['completed']:,} queries ({out['queries']['errors']} errors)"
    )
    print(
        f"{'window (min)':<14}{'lag p50':>9}{'lag p99':>9}{'engine p99':>11}{'WAL max':>9}"
        f"{'queries':>9}"
    )
    for x in out["windows"]:
        print(
            f"{x['from_min']:>5}-{x['to_min']:<8}{_s(x['lag_p50_s']):>9}{_s(x['lag_p99_s']):>9}"
            f"{_s(x['engine_lag_p99_s']):>11}{x['wal_max_mb']:>7} MB{x['queries']:>9}"
        )
    print(f"{'measure':<40}{'soak':>12}{'baseline':>12}{'ratio':>8}")
    print(
        f"{'lag p99 (idle: heartbeat only)':<40}{_s(lag['p99_s']):>12}"
        f"{_s(out['idle']['lag_p99_s']):>12}{lag['p99_vs_idle_p99'] or 0:>7.1f}x"
    )
    print(
        f"{'WAL max (limit)':<40}{w['max_mb']:>9} MB{w['limit_mb']:>9} MB{w['max_vs_limit']:>7.2f}x"
    )
    print(
        f"{'RSS end (start); middle ' + str(rs['middle']) + ' MB':<40}{rs['end']:>9} MB"
        f"{rs['start']:>9} MB{rs['end_vs_start']:>7.2f}x"
    )
    clean = out["clean_restart_healthz_s"]
    print(
        f"{'restart after SIGKILL to /healthz (clean)':<40}{rk['healthz_s']:>11}s{clean:>11}s"
        f"{rk['healthz_s'] / clean:>7.2f}x"
    )
    print(
        f"{'... to caught up (WAL at kill ' + str(rk['wal_at_kill_mb']) + ' MB)':<40}"
        f"{rk['caught_up_s']:>11}s"
    )


def _s(v: float | None) -> str:
    return "-" if v is None else f"{v:.2f}s"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--minutes", type=float, default=30.0)
    ap.add_argument("--rate", type=float, default=20_000.0, help="row changes per second")
    ap.add_argument("--sessions", type=int, default=8, help="SQL sessions running TICKIT queries")
    ap.add_argument("--window-min", type=float, default=5.0, help="lag percentiles per window")
    ap.add_argument("--scale", type=float, default=1.0, help="TICKIT scale")
    ap.add_argument("--stmt-rows", type=int, default=500, help="rows per load statement")
    ap.add_argument("--wal-limit-mb", type=float, default=64.0)
    ap.add_argument("--idle-s", type=float, default=30.0, help="idle baseline duration")
    ap.add_argument("--poll-ms", type=float, default=20.0, help="heartbeat poll interval")
    ap.add_argument("--out", type=Path, default=Path(__file__).parent / "results")
    args = ap.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="zeroetl-soak-"))
    bench = Soak(args, tmp)
    t0 = time.perf_counter()
    try:
        bench.setup()
        bench.idle_baseline()
        bench.soak()
        bench.wait_state("active", 300)
        bench.clean_restart()
        bench.wait_state("active", 300)
        bench.verify()
        bench.summarise()
    finally:
        if bench.serve.proc is not None and bench.serve.proc.poll() is None:
            bench.serve.proc.kill()
        bench.server.stop()
        if not os.environ.get("ZEROETL_BENCH_KEEP"):
            shutil.rmtree(tmp, ignore_errors=True)
    result = {
        "benchmark": "soak_bench",
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {
            "cpus": os.cpu_count(),
            "platform": platform.platform(),
            "loadavg_at_end": os.getloadavg(),
        },
        "duckdb": duckdb.__version__,
        "settings": {k: v for k, v in vars(args).items() if k != "out"},
        "wall_s": round(time.perf_counter() - t0),
        **bench.out,
    }
    report(result)
    args.out.mkdir(parents=True, exist_ok=True)
    path = args.out / "soak_bench.json"
    path.write_text(json.dumps(result, indent=2, default=str) + "\n")
    print(f"\nwrote {path} (whole bench {result['wall_s']}s)")


if __name__ == "__main__":
    main()
