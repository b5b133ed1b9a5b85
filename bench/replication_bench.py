"""Replication core, end to end, beside baselines measured in the same run.

On a private MariaDB (temp dir, free port) with an 8-column table of --rows rows:
  snapshot   zeroetl's first snapshot (Replicator, until_caught_up, fresh DuckDB file) vs
             `mariadb -B -N -e 'select * ...' > /dev/null` (best of 2);
  cdc apply  a burst of --changes row changes (UPDATE/INSERT/DELETE ranges, statements of
             --stmt-rows rows) and a burst of many small transactions, each applied by a
             Replicator from the checkpoint (decode + apply + commit) vs mysql-replication's
             BinLogStreamReader decoding the same binlog range (every value materialised);
  catch-up   the same bursts while a Replicator streams live: time from the burst's last source
             commit to the warehouse commit whose checkpoint covers the burst's end;
  lag        a steady trickle of small transactions; each carries its client time.time(), and a
             reader cursor on the destination polls for its arrival (p50/p99).
The warehouse must equal the source at the end (count and column sums), or the bench fails.
Workload generators for the live phases run in a separate process (no GIL sharing).

    .venv/bin/python bench/replication_bench.py [--rows 1000000] [--changes 300000]
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import platform
import shutil
import statistics
import subprocess
import tempfile
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb
import pymysql

from zeroetl.destinations.duckdb.destination import DuckDBDestination
from zeroetl.engine.filters import DataFilter
from zeroetl.engine.runner import Replicator
from zeroetl.engine.settings import EngineSettings, Progress
from zeroetl.model import Position, TableId
from zeroetl.sandbox.mariadb import MariaDBServer, free_port
from zeroetl.service.standalone import open_integration
from zeroetl.sources.mysql.binlog import server_binlog_position
from zeroetl.sources.mysql.connection import SourceParams
from zeroetl.sources.mysql.source import MySqlSource

DB, TABLE = "rbench", "t"
DDL = (
    f"CREATE TABLE {DB}.{TABLE} (id BIGINT PRIMARY KEY, a INT NOT NULL, b VARCHAR(40) NOT NULL, "
    "c DECIMAL(12,2) NOT NULL, d DATETIME(6) NOT NULL, e DOUBLE, f DATE, g TEXT NULL)"
)
# One row per seq value; {e} lets the lag trickle put its client clock into column e.
ROWS_SQL = (
    "SELECT seq, seq % 100000, CONCAT('name-', seq), (seq % 1000000) / 100, "
    "TIMESTAMP'2020-01-01 00:00:00' + INTERVAL seq SECOND + INTERVAL seq MICROSECOND, {e}, "
    "DATE'2000-01-01' + INTERVAL (seq % 10000) DAY, IF(seq % 3 = 0, NULL, REPEAT('x', seq % 50)) "
    "FROM seq_{lo}_to_{hi}"
)
UPDATE_SQL = (
    f"UPDATE {TABLE} SET a = a + 1, b = CONCAT('u', id, '-', a), c = c + 0.01, "
    "d = d + INTERVAL 1 SECOND, e = e + 0.5, g = IF(g IS NULL, 'set', NULL) "
    "WHERE id BETWEEN {lo} AND {hi}"
)
# Sums both sides must agree on (exact types only, plus a float within a tolerance).
CHECKS = {
    "count": "count(*)",
    "sum_id": "sum(id)",
    "sum_a": "sum(a)",
    "sum_b_len": "sum({len}(b))",
    "sum_c": "sum(c)",
    "sum_d_us": "sum({us})",
    "max_d": "max(d)",
    "count_g": "count(g)",
    "sum_g_len": "sum({len}(g))",
    "max_f": "max(f)",
    "sum_e": "sum(e)",
}

Txn = list[str]


class Ids:
    """Which keys the next statements touch: deletes climb from 1, updates cycle through the
    upper half, inserts append above; so every statement changes exactly the rows it names."""

    def __init__(self, rows: int) -> None:
        self.rows = rows
        self.next_insert = rows + 1
        self.next_delete = 1
        self.next_update = rows // 2 + 1

    def update(self, n: int) -> str:
        if self.next_update + n - 1 > self.rows:
            self.next_update = self.rows // 2 + 1
        lo = self.next_update
        self.next_update += n
        return UPDATE_SQL.format(lo=lo, hi=lo + n - 1)

    def insert(self, n: int, e: str = "seq / 7e0") -> str:
        lo = self.next_insert
        self.next_insert += n
        return f"INSERT INTO {TABLE} " + ROWS_SQL.format(e=e, lo=lo, hi=lo + n - 1)

    def delete(self, n: int) -> str:
        lo = self.next_delete
        self.next_delete += n
        if self.next_delete > self.rows // 2:
            raise SystemExit("too many deletes for --rows: raise --rows or lower --changes")
        return f"DELETE FROM {TABLE} WHERE id BETWEEN {lo} AND {lo + n - 1}"


def loaded_server(tmp: Path, rows: int, *, replication_user: bool = False) -> MariaDBServer:
    """A private MariaDB in `tmp` with the bench table of `rows` rows; the caller stops it."""
    server = MariaDBServer(tmp / "mariadb", free_port())
    server.start()
    if replication_user:
        server.create_replication_user()
    conn = server.root()
    with conn.cursor() as cur:
        cur.execute(f"CREATE DATABASE {DB}")
        cur.execute(DDL)
        cur.execute(f"USE {DB}")
        cur.execute(f"INSERT INTO {TABLE} " + ROWS_SQL.format(e="seq / 7e0", lo=1, hi=rows))
    conn.close()
    return server


def bulk_burst(ids: Ids, changes: int, stmt_rows: int) -> list[Txn]:
    """60% updates, 20% inserts, 20% deletes; one autocommit statement per transaction."""
    txns: list[Txn] = []
    for _ in range(max(1, changes // (5 * stmt_rows))):
        txns += [[ids.update(stmt_rows)], [ids.update(stmt_rows)], [ids.update(stmt_rows)]]
        txns += [[ids.insert(stmt_rows)], [ids.delete(stmt_rows)]]
    return txns


def small_burst(ids: Ids, txns: int) -> list[Txn]:
    """Transactions of 5 row changes: update 3 rows, insert 1, delete 1."""
    return [[ids.update(3), ids.insert(1), ids.delete(1)] for _ in range(txns)]


def trickle(ids: Ids, txns: int) -> list[Txn]:
    """Update 2 rows, then insert one row whose `e` is the client clock just before COMMIT."""
    return [[ids.update(2), ids.insert(1, e="{now}")] for _ in range(txns)]


def execute(port: int, txns: list[Txn], rate: float = 0.0) -> dict[str, Any]:
    """Run the transactions (paced at `rate` per second when > 0); report the last commit."""
    conn = pymysql.connect(
        host="127.0.0.1", port=port, user="root", password="", database=DB, autocommit=True
    )
    changes = 0
    first = time.time()
    t0 = time.perf_counter()
    with conn.cursor() as cur:
        for i, txn in enumerate(txns):
            if rate:
                delay = t0 + i / rate - time.perf_counter()
                if delay > 0:
                    time.sleep(delay)
            if len(txn) > 1:
                cur.execute("BEGIN")
            for sql in txn:
                changes += cur.execute(sql.replace("{now}", repr(time.time())))
            if len(txn) > 1:
                cur.execute("COMMIT")
        last = time.time()
    end = server_binlog_position(conn)
    conn.close()
    return {"changes": changes, "first": first, "last_commit": last, "end": (end.file, end.offset)}


def _child(port: int, txns: list[Txn], rate: float, out: Any) -> None:
    out.put(execute(port, txns, rate))


def spawn(port: int, txns: list[Txn], rate: float = 0.0) -> tuple[Any, Any]:
    ctx = mp.get_context("spawn")  # no fork of a process that runs DuckDB threads
    q = ctx.Queue()
    p = ctx.Process(target=_child, args=(port, txns, rate, q), daemon=True)
    p.start()
    return p, q


class Recorder(Progress):
    """Times of snapshot milestones and of every warehouse commit (called on the engine thread
    right after the commit, so it is the exact moment the checkpoint became visible)."""

    def __init__(self) -> None:
        self.snap_started = self.snap_done = 0.0
        self.commits: list[tuple[float, Position, int]] = []

    def snapshot_started(self, tables: dict[TableId, int]) -> None:
        self.snap_started = time.perf_counter()

    def snapshot_table_done(self, table: TableId, total_rows: int) -> None:
        self.snap_done = time.perf_counter()

    def committed(self, position: Position, changes: int, lag_ms: float | None, source_time: Any) -> None:  # fmt: skip
        self.commits.append((time.time(), position, changes))

    def reached(self, end: Position, since: int = 0) -> float | None:
        return next((t for t, pos, _ in self.commits[since:] if pos >= end), None)


class Bench:
    def __init__(self, args: argparse.Namespace, tmp: Path) -> None:
        self.args = args
        self.server = MariaDBServer(tmp / "data", free_port())
        self.wh = tmp / "wh"
        self.dest: DuckDBDestination | None = None
        self.iid = ""
        self.ids = Ids(args.rows)
        self.out: dict[str, Any] = {}

    # -- helpers ----------------------------------------------------------------------------
    def src(self) -> pymysql.connections.Connection:
        return self.server.root(DB)

    def position(self) -> Position:
        conn = self.server.root()
        try:
            return server_binlog_position(conn)
        finally:
            conn.close()

    def replicator(self, progress: Progress, until_caught_up: bool) -> Replicator:
        assert self.dest is not None
        return Replicator(
            MySqlSource(SourceParams.from_url(self.server.url())),
            self.dest,
            integration_id=self.iid,
            data_filter=DataFilter.parse(f"exclude: *.*, include: {DB}.{TABLE}"),
            settings=EngineSettings(until_caught_up=until_caught_up),
            progress=progress,
        )

    # -- phases -----------------------------------------------------------------------------
    def load(self) -> None:
        self.server.start()
        self.server.create_replication_user()
        t0 = time.perf_counter()
        conn = self.server.root()
        with conn.cursor() as cur:
            cur.execute(f"CREATE DATABASE {DB}")
            cur.execute(DDL)
            cur.execute(f"USE {DB}")  # the sequence engine needs a current database
            step = 250_000
            for lo in range(1, self.args.rows + 1, step):
                hi = min(self.args.rows, lo + step - 1)
                cur.execute(f"INSERT INTO {TABLE} " + ROWS_SQL.format(e="seq / 7e0", lo=lo, hi=hi))
        conn.close()
        print(f"loaded {self.args.rows:,} rows in {time.perf_counter() - t0:.1f}s", flush=True)

    def snapshot(self) -> None:
        cmd = ["mariadb", "-B", "-N", "-h127.0.0.1", f"-P{self.server.port}", "-uroot"]
        cmd += ["-e", f"select * from {DB}.{TABLE}"]
        cli = []
        for _ in range(2):
            t0 = time.perf_counter()
            subprocess.run(cmd, stdout=subprocess.DEVNULL, check=True)
            cli.append(time.perf_counter() - t0)
        self.dest, self.iid = open_integration(self.wh, "bench")
        rec = Recorder()
        t0 = time.perf_counter()
        self.replicator(rec, until_caught_up=True).run()
        total = time.perf_counter() - t0
        rows = self.args.rows
        self.out["snapshot"] = {
            "rows": rows,
            "cli_best_s": min(cli),
            "cli_rows_per_s": rows / min(cli),
            "zeroetl_s": total,
            "zeroetl_copy_s": rec.snap_done - rec.snap_started,
            "zeroetl_rows_per_s": rows / total,
            "ratio_vs_cli": min(cli) / total,
        }
        print(f"snapshot: cli {min(cli):.2f}s, zeroetl {total:.2f}s", flush=True)

    def offline(self, name: str, txns: list[Txn]) -> None:
        """A burst with no replicator running, then catch up from the checkpoint; then the
        mysql-replication baseline over the same binlog range."""
        start = self.position()
        gen = execute(self.server.port, txns)
        end = Position(*gen["end"])
        rec = Recorder()
        rep = self.replicator(rec, until_caught_up=True)
        t0 = time.perf_counter()
        rep.run()
        apply_s = time.perf_counter() - t0
        applied = sum(c for _, _, c in rec.commits)
        assert rep.committed is not None and rep.committed >= end, (rep.committed, end)
        if applied != gen["changes"]:
            raise SystemExit(f"{name}: applied {applied} changes, source made {gen['changes']}")
        ref_rows, ref_s, ref_cpu = self.mysql_replication(start, end)
        if ref_rows != gen["changes"]:
            raise SystemExit(f"{name}: mysql-replication saw {ref_rows}, expected {gen['changes']}")
        self.out[f"cdc_{name}"] = {
            "changes": gen["changes"],
            "transactions": len(txns),
            "generate_s": gen["last_commit"] - gen["first"],
            "zeroetl_apply_s": apply_s,
            "zeroetl_changes_per_s": applied / apply_s,
            "warehouse_commits": len(rec.commits),
            "mysql_replication_s": ref_s,
            "mysql_replication_cpu_s": ref_cpu,
            "mysql_replication_rows_per_s": ref_rows / ref_s,
            "ratio_vs_mysql_replication": ref_s / apply_s,
        }
        print(f"cdc {name}: {applied:,} changes, zeroetl {apply_s:.2f}s, "
              f"mysql-replication {ref_s:.2f}s", flush=True)  # fmt: skip

    def mysql_replication(self, start: Position, end: Position) -> tuple[int, float, float]:
        from pymysqlreplication import BinLogStreamReader
        from pymysqlreplication.row_event import DeleteRowsEvent, UpdateRowsEvent, WriteRowsEvent

        stream = BinLogStreamReader(
            connection_settings={"host": "127.0.0.1", "port": self.server.port, "user": "root",
                                 "passwd": ""},
            server_id=4242, log_file=start.file, log_pos=start.offset, resume_stream=True,
            blocking=False, only_events=[WriteRowsEvent, UpdateRowsEvent, DeleteRowsEvent],
            only_schemas=[DB], enable_logging=False,
        )  # fmt: skip
        rows = values = 0
        t0, c0 = time.perf_counter(), time.process_time()
        for ev in stream:
            for row in ev.rows:  # decodes every value of the event
                rows += 1
                for image in row.values():
                    values += len(image)
            if Position(stream.log_file, stream.log_pos) >= end:
                break
        elapsed, cpu = time.perf_counter() - t0, time.process_time() - c0
        stream.close()
        return rows, elapsed, cpu

    def live(self) -> None:
        rec = Recorder()
        rep = self.replicator(rec, until_caught_up=False)
        errors: list[BaseException] = []

        def run() -> None:
            try:
                rep.run()
            except BaseException as exc:  # reported by the main thread
                errors.append(exc)

        thread = threading.Thread(target=run, name="replicator", daemon=True)
        thread.start()
        try:
            time.sleep(1.0)  # let it connect to the binlog first
            for name, txns in (
                ("bulk", bulk_burst(self.ids, self.args.changes, self.args.stmt_rows)),
                ("small_txns", small_burst(self.ids, self.args.small_txns)),
            ):
                since = len(rec.commits)
                p, q = spawn(self.server.port, txns)
                gen = q.get()
                p.join()
                end = Position(*gen["end"])
                reached = self._wait(rec, end, errors, since)
                self.out[f"catchup_{name}"] = {
                    "changes": gen["changes"],
                    "transactions": len(txns),
                    "burst_s": gen["last_commit"] - gen["first"],
                    "catch_up_s": max(0.0, reached - gen["last_commit"]),
                    "changes_per_s_during_burst": gen["changes"] / (reached - gen["first"]),
                }
                print(f"catch-up {name}: {reached - gen['last_commit']:.3f}s after the burst",
                      flush=True)  # fmt: skip
            self.lag(rec, errors)
        finally:
            rep.stop()
            thread.join(timeout=30)
        if errors:
            raise errors[0]

    def _wait(self, rec: Recorder, end: Position, errors: list[BaseException], since: int = 0,
              timeout: float = 120.0) -> float:  # fmt: skip
        deadline = time.monotonic() + timeout
        while (t := rec.reached(end, since)) is None:
            if errors:
                raise errors[0]
            if time.monotonic() > deadline:
                raise SystemExit(f"the warehouse did not reach {end} in {timeout:.0f}s")
            time.sleep(0.005)
        return t

    def lag(self, rec: Recorder, errors: list[BaseException]) -> None:
        assert self.dest is not None
        n = int(self.args.trickle_rate * self.args.trickle_s)
        base = self.ids.next_insert
        p, q = spawn(self.server.port, trickle(self.ids, n), self.args.trickle_rate)
        cur = self.dest.reader()
        sql = f'SELECT id, e FROM "bench"."{DB}"."{TABLE}" WHERE id >= ? ORDER BY id'
        lags: list[float] = []
        seen = base
        deadline = time.monotonic() + self.args.trickle_s + 60
        poll = self.args.poll_ms / 1000
        while len(lags) < n and time.monotonic() < deadline and not errors:
            rows = cur.execute(sql, [seen]).fetchall()
            now = time.time()
            for rid, sent in rows:
                lags.append(now - sent)
                seen = rid + 1
            time.sleep(poll)
        gen = q.get()
        p.join()
        cur.close()
        if len(lags) != n:
            raise SystemExit(f"lag: {len(lags)} of {n} trickle rows arrived")
        self._wait(rec, Position(*gen["end"]), errors)
        qs = statistics.quantiles(lags, n=100)
        self.out["lag"] = {
            "transactions": n,
            "rate_per_s": n / (gen["last_commit"] - gen["first"]),
            "poll_ms": self.args.poll_ms,
            "p50_s": statistics.median(lags),
            "p99_s": qs[98],
            "max_s": max(lags),
        }
        print(f"lag: p50 {self.out['lag']['p50_s'] * 1000:.0f}ms, "
              f"p99 {self.out['lag']['p99_s'] * 1000:.0f}ms", flush=True)  # fmt: skip

    def verify(self) -> None:
        assert self.dest is not None
        mysql = ", ".join(v.format(len="char_length", us="microsecond(d)") for v in CHECKS.values())
        duck = ", ".join(
            v.format(len="length", us="microsecond(d) % 1000000") for v in CHECKS.values()
        )
        conn = self.src()
        with conn.cursor() as cur:
            cur.execute(f"SELECT {mysql} FROM {TABLE}")
            src = cur.fetchone()
        conn.close()
        cur2 = self.dest.reader()
        wh = cur2.execute(f'SELECT {duck} FROM "bench"."{DB}"."{TABLE}"').fetchone()
        cur2.close()
        assert src is not None and wh is not None
        bad = []
        for name, s, w in zip(CHECKS, src, wh, strict=True):
            same = abs(s - w) <= 1e-9 * abs(s) if name == "sum_e" else s == w
            if not same:
                bad.append(f"{name}: source {s!r} warehouse {w!r}")
        self.out["verified"] = {"equal": not bad, "rows": int(src[0])}
        if bad:
            raise SystemExit("warehouse differs from source: " + "; ".join(bad))
        print(f"verified: warehouse equals source ({int(src[0]):,} rows)", flush=True)


def report(out: dict[str, Any]) -> None:
    s = out["snapshot"]
    print(f"\n{'measure':<44}{'zeroetl':>14}{'baseline':>14}{'ratio':>8}")
    print(f"{'snapshot rows/s (vs mariadb CLI read)':<44}{s['zeroetl_rows_per_s']:>14,.0f}"
          f"{s['cli_rows_per_s']:>14,.0f}{s['ratio_vs_cli']:>7.2f}x")  # fmt: skip
    for name in ("bulk", "small_txns"):
        c = out[f"cdc_{name}"]
        label = f"cdc {name} changes/s (vs mysql-replication)"
        print(f"{label:<44}{c['zeroetl_changes_per_s']:>14,.0f}"
              f"{c['mysql_replication_rows_per_s']:>14,.0f}"
              f"{c['ratio_vs_mysql_replication']:>7.1f}x")  # fmt: skip
    for name in ("bulk", "small_txns"):
        c = out[f"catchup_{name}"]
        label = f"catch-up after {c['changes']:,}-change {name} burst"
        print(f"{label:<44}{c['catch_up_s']:>13.3f}s")
    lag = out["lag"]
    print(f"{'lag p50 / p99 at ' + format(lag['rate_per_s'], '.0f') + ' txn/s':<44}"
          f"{lag['p50_s']:>13.3f}s{lag['p99_s']:>13.3f}s")  # fmt: skip


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--changes", type=int, default=300_000, help="row changes per bulk burst")
    ap.add_argument("--stmt-rows", type=int, default=5_000, help="rows per bulk statement")
    ap.add_argument("--small-txns", type=int, default=10_000, help="5-change transactions")
    ap.add_argument("--trickle-rate", type=float, default=200.0, help="lag phase txns/s")
    ap.add_argument("--trickle-s", type=float, default=20.0)
    ap.add_argument("--poll-ms", type=float, default=5.0, help="lag poller interval")
    ap.add_argument("--out", type=Path, default=Path(__file__).parent / "results")
    args = ap.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="zeroetl-replbench-"))
    bench = Bench(args, tmp)
    t0 = time.perf_counter()
    try:
        bench.load()
        bench.snapshot()
        bench.offline("bulk", bulk_burst(bench.ids, args.changes, args.stmt_rows))
        bench.offline("small_txns", small_burst(bench.ids, args.small_txns))
        bench.live()
        bench.verify()
    finally:
        if bench.dest is not None:
            bench.dest.close()
        bench.server.stop()
        shutil.rmtree(tmp, ignore_errors=True)
    result = {
        "benchmark": "replication_bench",
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform()},
        "duckdb": duckdb.__version__,
        "settings": {k: v for k, v in vars(args).items() if k != "out"},
        "engine_settings": "EngineSettings() defaults (batch_rows 50000, batch_ms 200)",
        "wall_s": time.perf_counter() - t0,
        **bench.out,
    }
    report(result)
    args.out.mkdir(parents=True, exist_ok=True)
    path = args.out / "replication_bench.json"
    path.write_text(json.dumps(result, indent=2) + "\n")
    print(f"\nwrote {path} (whole bench {result['wall_s']:.0f}s)")


if __name__ == "__main__":
    main()
