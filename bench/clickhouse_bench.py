"""ClickHouse (embedded chDB) vs DuckDB as the destination, on the same work, in one run.

  apply     identical change batches (apply_bench.py's generator: 60% updates, 20% inserts,
            20% deletes, keys repeating within a batch) applied by each destination's
            apply_changes + save_checkpoint, one transaction per batch, after the same initial
            --apply-rows rows loaded through apply_changes; both must end with the same rows.
  snapshot  a fresh first copy of a --rows-row MariaDB table by the real engine (Replicator,
            until_caught_up) into each destination.
  lag       a Replicator streams while another process drives --rate upserts/s (INSERT ... ON
            DUPLICATE KEY UPDATE, --txn-rows rows per transaction) and a heartbeat row every
            --heartbeat-ms carrying its client time.time(); after every destination commit the
            heartbeat rows are read back FROM THE DESTINATION (the moment a commit lands is
            the first moment a new row can be seen); lag = that time - the row's client time.
            Also: data commits per second while the load runs (each one an insert per touched
            table: the ClickHouse insert rate per table), and the lag the engine itself reports
            (`Replicator.current_lag_ms`, sampled every 50 ms), beside the measured one.

ClickHouse paces its commits (`min_commit_interval_s`, engine/pacing.py): chDB's default is
200 ms; `--ch-interval-ms N` sets the URL's `min_insert_interval_ms` (1000: a server's default).

DuckDB is the same-run baseline: ratios are ClickHouse / DuckDB. chDB runs one engine per
process, so each destination runs in its own child process; the load generator is the parent.

    .venv/bin/python bench/clickhouse_bench.py [--rows 300000] [--apply-rows 300000]
        [--batch 20000] [--batches 10] [--rate 10000] [--lag-s 20] [--ch-interval-ms N]
        [--no-apply]
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import platform
import random
import shutil
import statistics
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

sys.path.insert(0, str(Path(__file__).resolve().parent))
from apply_bench import SCHEMA as APPLY_SCHEMA
from apply_bench import Workload

from zeroetl.destinations import base as destinations
from zeroetl.engine.filters import DataFilter
from zeroetl.engine.runner import Replicator
from zeroetl.engine.settings import EngineSettings, Progress
from zeroetl.model import Position, TableId
from zeroetl.sandbox.mariadb import MariaDBServer, free_port
from zeroetl.sources.mysql.binlog import server_binlog_position
from zeroetl.sources.mysql.connection import SourceParams
from zeroetl.sources.mysql.source import MySqlSource

DB = "chbench"
KINDS = ("duckdb", "clickhouse")
DDL = (
    f"CREATE TABLE {DB}.t (id BIGINT PRIMARY KEY, a INT NOT NULL, b VARCHAR(40) NOT NULL, "
    "c DECIMAL(12,2) NOT NULL, d DATETIME(6) NOT NULL, e DOUBLE)",
    f"CREATE TABLE {DB}.hb (id BIGINT PRIMARY KEY, sent DOUBLE NOT NULL)",
)
FILL = (
    "INSERT INTO t SELECT seq, seq % 1000, CONCAT('name-', seq), (seq % 100000) / 100, "
    "TIMESTAMP'2020-01-01 00:00:00' + INTERVAL seq SECOND, seq / 7e0 FROM seq_{lo}_to_{hi}"
)


def _url(kind: str, d: Path, interval_ms: int | None = None) -> str:
    if kind == "duckdb":
        return f"duckdb://{d / 'bench.duckdb'}"
    return f"chdb://{d / 'ch'}" + (
        "" if interval_ms is None else f"?min_insert_interval_ms={interval_ms}"
    )


def _table_fingerprint(kind: str, dest: Any, table: TableId, cols: str) -> tuple[int, int]:
    """(rows, sum of column b) of the current rows, read from the destination."""
    if kind == "duckdb":
        cur = dest.reader()
        try:
            q = f'SELECT count(*), sum({cols})::BIGINT FROM "bench"."{table.schema}"."{table.table}"'
            n, s = cur.execute(q).fetchone()
        finally:
            cur.close()
        return int(n), int(s or 0)
    data = dest.read_table(table)
    return data.num_rows, int(pc.sum(data[cols]).as_py() or 0)


# -- children: one destination each ------------------------------------------------------------


def apply_child(kind: str, d: str, args: dict[str, Any], out: Any) -> None:
    w = Workload(args["apply_rows"], args["seed"])
    fill = w.batch(0, 0)  # schema only
    ids = list(range(args["apply_rows"]))
    batches = [w.batch(args["batch"], 0) for _ in range(args["batches"])]
    dest = destinations.open_url(_url(kind, Path(d)), "bench")
    try:
        dest.create_table(APPLY_SCHEMA)
        t0 = time.perf_counter()
        step = 100_000
        for lo in range(0, len(ids), step):
            part = ids[lo : lo + step]
            n = len(part)
            fill = pa.Table.from_pydict(
                {"__seq": list(range(n)), "__del": [False] * n, "id": part,
                 "a": [k % 1000 for k in part], "b": [k * 7 for k in part],
                 "c": [k / 3 for k in part], "d": [f"name-{k}" for k in part],
                 "e": [datetime(2020, 1, 1)] * n, "f": [None] * n,
                 "g": [str(k) for k in part]},
                fill.schema,
            )  # fmt: skip
            dest.begin()
            dest.apply_changes(APPLY_SCHEMA, fill)
            dest.save_checkpoint(Position("mysql-bin.000001", lo))
            dest.commit()
        load_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        for i, b in enumerate(batches):
            dest.begin()
            dest.apply_changes(APPLY_SCHEMA, b)
            dest.save_checkpoint(Position("mysql-bin.000002", i))
            dest.commit()
        apply_s = time.perf_counter() - t0
        rows, sum_b = _table_fingerprint(kind, dest, APPLY_SCHEMA.id, "b")
    finally:
        dest.close()
    changes = args["batch"] * args["batches"]
    out.send({"load_s": load_s, "apply_s": apply_s, "changes_per_s": changes / apply_s,
              "rows": rows, "sum_b": sum_b})  # fmt: skip


class Lags(Progress):
    """After each commit (engine thread): heartbeat rows now visible in the destination."""

    def __init__(self, kind: str, hb0: int) -> None:
        self.kind = kind
        self.hb0 = hb0  # heartbeats of this run start here (older ones came with the snapshot)
        self.dest: Any = None
        self.active = False
        self.seen: set[int] = set()
        self.lags: list[float] = []
        self.last: Position | None = None
        self.commits = 0
        self.data_commits: list[float] = []  # monotonic times of commits with changes (active)

    def committed(self, position: Position, changes: int, lag_ms: float | None, source_time: Any) -> None:  # fmt: skip
        self.last = position
        self.commits += 1
        if not self.active:
            return
        if changes:
            self.data_commits.append(time.monotonic())
        if self.kind == "duckdb":
            cur = self.dest.reader()
            try:
                rows = cur.execute(f'SELECT id, sent FROM "bench"."{DB}"."hb"').fetchall()
            finally:
                cur.close()
        else:
            data = self.dest.read_table(TableId(DB, "hb"))
            rows = list(zip(data["id"].to_pylist(), data["sent"].to_pylist(), strict=True))
        now = time.time()
        for rid, sent in rows:
            if rid >= self.hb0 and rid not in self.seen:
                self.seen.add(rid)
                self.lags.append(now - sent)


def replication_child(kind: str, d: str, source_url: str, args: dict[str, Any], conn: Any) -> None:
    dest = destinations.open_url(_url(kind, Path(d), args.get("ch_interval_ms")), "bench")
    flt = DataFilter.parse(f"exclude: *.*, include: {DB}.*")
    src = SourceParams.from_url(source_url)
    try:
        t0 = time.perf_counter()
        Replicator(MySqlSource(src), dest, integration_id="bench", data_filter=flt,
                   settings=EngineSettings(until_caught_up=True)).run()  # fmt: skip
        snap_s = time.perf_counter() - t0
        rows, _ = _table_fingerprint(kind, dest, TableId(DB, "t"), "a")
        lags = Lags(kind, args["hb0"])
        lags.dest = dest
        rep = Replicator(MySqlSource(src), dest, integration_id="bench", data_filter=flt,
                         settings=EngineSettings(), progress=lags)  # fmt: skip
        errors: list[BaseException] = []

        def run() -> None:
            try:
                rep.run()
            except BaseException as e:  # reported to the parent
                errors.append(e)

        th = threading.Thread(target=run, daemon=True)
        th.start()
        while rep.phase != "streaming" and not errors:
            time.sleep(0.01)
        lags.active = True
        reported: list[float] = []
        sampling = threading.Event()

        def sample() -> None:  # the lag the engine reports, as a monitoring view would read it
            while not sampling.wait(0.05):
                lag = rep.current_lag_ms()
                if lag is not None:
                    reported.append(lag / 1000)

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        started = time.monotonic()
        conn.send({"snapshot_s": snap_s, "rows": rows})
        end = Position(*conn.recv())  # the generator's last position
        deadline = time.monotonic() + 120
        while (lags.last is None or lags.last < end) and not errors:
            if time.monotonic() > deadline:
                raise SystemExit(f"{kind}: did not reach {end}")
            time.sleep(0.01)
        sampling.set()
        sampler.join()
        rep.stop()
        th.join(60)
        if errors:
            raise errors[0]
        window = [t for t in lags.data_commits if t >= started]
        span = (window[-1] - started) if window else 0.0
        conn.send({"lags": lags.lags, "commits": lags.commits, "reported": reported,
                   "data_commits": len(window), "data_commits_per_s": len(window) / span if span else 0.0,
                   "interval_s": dest.capabilities.min_commit_interval_s})  # fmt: skip
    finally:
        dest.close()


# -- the parent: source, generator, report ------------------------------------------------------


def generate(
    server: MariaDBServer, rows: int, args: argparse.Namespace, hb0: int
) -> dict[str, Any]:
    """--rate upserts/s in --txn-rows transactions plus a heartbeat every --heartbeat-ms."""
    conn, hb = server.root(DB), server.root(DB)
    rng = random.Random(args.seed)
    txns = int(args.rate * args.lag_s / args.txn_rows)
    interval = args.txn_rows / args.rate
    hb_every = args.heartbeat_ms / 1000
    t0 = time.time()
    next_hb, hb_id, late = t0, hb0, 0.0
    with conn.cursor() as cur, hb.cursor() as hcur:
        for i in range(txns):
            due = t0 + i * interval
            now = time.time()
            if now < due:
                time.sleep(due - now)
            else:
                late = max(late, now - due)
            vals = ", ".join(
                f"({k}, {rng.randrange(1000)}, 'u{i}', 1.5, '2024-01-01', {rng.random()})"
                for k in rng.sample(range(1, rows + 1), args.txn_rows)
            )
            cur.execute(f"INSERT INTO t VALUES {vals} ON DUPLICATE KEY UPDATE a = VALUES(a), "
                        "b = VALUES(b), e = VALUES(e)")  # fmt: skip
            if time.time() >= next_hb:
                hcur.execute("INSERT INTO hb VALUES (%s, %s)", (hb_id, time.time()))
                hb_id += 1
                next_hb += hb_every
        elapsed = time.time() - t0
        end = server_binlog_position(conn)
    conn.close()
    hb.close()
    return {"changes": txns * args.txn_rows, "rate_per_s": txns * args.txn_rows / elapsed,
            "heartbeats": hb_id - hb0, "max_late_s": late, "end": (end.file, end.offset)}  # fmt: skip


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=300_000, help="source rows (snapshot, lag)")
    ap.add_argument("--apply-rows", type=int, default=300_000)
    ap.add_argument("--batch", type=int, default=20_000)
    ap.add_argument("--batches", type=int, default=10)
    ap.add_argument("--rate", type=float, default=10_000.0, help="lag phase changes/s")
    ap.add_argument("--txn-rows", type=int, default=100)
    ap.add_argument("--heartbeat-ms", type=float, default=100.0)
    ap.add_argument("--lag-s", type=float, default=20.0)
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--ch-interval-ms", type=int, default=None,
                    help="ClickHouse commit interval (URL min_insert_interval_ms); default: chDB's")  # fmt: skip
    ap.add_argument("--no-apply", action="store_true", help="skip the apply phase")
    ap.add_argument("--out", type=Path, default=Path(__file__).parent / "results")
    args = ap.parse_args()
    ctx = mp.get_context("spawn")
    tmp = Path(tempfile.mkdtemp(prefix="zeroetl-chbench-"))
    server = MariaDBServer(tmp / "data", free_port())
    res: dict[str, dict[str, Any]] = {k: {} for k in KINDS}
    t_all = time.perf_counter()
    try:
        cfg = {"apply_rows": args.apply_rows, "batch": args.batch, "batches": args.batches,
               "seed": args.seed}  # fmt: skip
        for kind in () if args.no_apply else KINDS:
            r, w = ctx.Pipe(duplex=False)
            p = ctx.Process(target=apply_child, args=(kind, str(tmp / f"apply-{kind}"), cfg, w))
            p.start()
            w.close()  # a child that dies closes the pipe: recv raises instead of hanging
            res[kind]["apply"] = r.recv()
            p.join()
            print(f"apply {kind}: {res[kind]['apply']['changes_per_s']:,.0f} changes/s", flush=True)
        server.start()
        server.create_replication_user()
        conn = server.root()
        with conn.cursor() as cur:
            cur.execute(f"CREATE DATABASE {DB}")
            for s in DDL:
                cur.execute(s)
            cur.execute(f"USE {DB}")
            for lo in range(1, args.rows + 1, 250_000):
                cur.execute(FILL.format(lo=lo, hi=min(args.rows, lo + 249_999)))
        conn.close()
        for n, kind in enumerate(KINDS):
            hb0 = 1_000_000 * (n + 1)
            here, there = ctx.Pipe()
            p = ctx.Process(target=replication_child,
                            args=(kind, str(tmp / f"repl-{kind}"), server.url(), {**vars_(args), "hb0": hb0}, there))  # fmt: skip
            p.start()
            there.close()
            snap = here.recv()
            gen = generate(server, args.rows, args, hb0=hb0)
            here.send(gen["end"])
            got = here.recv()
            p.join()
            lags = got["lags"]
            if len(lags) != gen["heartbeats"]:
                raise SystemExit(f"{kind}: {len(lags)} of {gen['heartbeats']} heartbeats seen")
            res[kind]["snapshot"] = {**snap, "rows_per_s": snap["rows"] / snap["snapshot_s"]}
            res[kind]["lag"] = {
                **{k: v for k, v in gen.items() if k != "end"},
                "commits": got["commits"],
                "interval_s": got["interval_s"],
                "data_commits": got["data_commits"],
                "data_commits_per_s": got["data_commits_per_s"],
                "reported_p50_s": statistics.median(got["reported"]),
                "reported_p99_s": statistics.quantiles(got["reported"], n=100)[98],
                "p50_s": statistics.median(lags),
                "p99_s": statistics.quantiles(lags, n=100)[98],
                "max_s": max(lags),
            }
            print(f"{kind}: snapshot {res[kind]['snapshot']['rows_per_s']:,.0f} rows/s, lag p50 "
                  f"{res[kind]['lag']['p50_s'] * 1000:.0f} ms at "
                  f"{gen['rate_per_s']:,.0f} changes/s", flush=True)  # fmt: skip
    finally:
        server.stop()
        shutil.rmtree(tmp, ignore_errors=True)
    d, c = res["duckdb"], res["clickhouse"]
    if args.no_apply:
        d["apply"] = c["apply"] = {"changes_per_s": float("nan"), "rows": 0, "sum_b": 0}
    same = (d["apply"]["rows"], d["apply"]["sum_b"]) == (c["apply"]["rows"], c["apply"]["sum_b"])
    import chdb
    import duckdb

    result = {
        "benchmark": "clickhouse_bench",
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {
            "cpus": os.cpu_count(),
            "platform": platform.platform(),
            "loadavg_at_end": os.getloadavg(),
        },
        "duckdb": duckdb.__version__,
        "chdb": getattr(chdb, "__version__", "?"),
        "settings": vars_(args),
        "wall_s": time.perf_counter() - t_all,
        "identical_apply_result": same,
        "duckdb_baseline": d,
        "clickhouse": c,
        "ratios_clickhouse_over_duckdb": {
            "apply_changes_per_s": c["apply"]["changes_per_s"] / d["apply"]["changes_per_s"],
            "snapshot_rows_per_s": c["snapshot"]["rows_per_s"] / d["snapshot"]["rows_per_s"],
            "lag_p50": c["lag"]["p50_s"] / d["lag"]["p50_s"],
            "lag_p99": c["lag"]["p99_s"] / d["lag"]["p99_s"],
        },
    }
    args.out.mkdir(parents=True, exist_ok=True)
    path = args.out / "clickhouse_bench.json"
    path.write_text(json.dumps(result, indent=2) + "\n")
    print(f"\n{'measure':<36}{'DuckDB':>14}{'ClickHouse':>14}{'CH/DuckDB':>11}")
    rat = result["ratios_clickhouse_over_duckdb"]
    rows = (
        ("apply changes/s", d["apply"]["changes_per_s"], c["apply"]["changes_per_s"], rat["apply_changes_per_s"]),
        ("snapshot rows/s", d["snapshot"]["rows_per_s"], c["snapshot"]["rows_per_s"], rat["snapshot_rows_per_s"]),
    )  # fmt: skip
    for name, a, b, r in rows:
        print(f"{name:<36}{a:>14,.0f}{b:>14,.0f}{r:>10.2f}x")
    for q in ("p50", "p99"):
        print(f"{'lag ' + q + ' s at ' + format(d['lag']['rate_per_s'], ',.0f') + '/s':<36}"
              f"{d['lag'][q + '_s']:>14.3f}{c['lag'][q + '_s']:>14.3f}{rat['lag_' + q]:>10.2f}x")  # fmt: skip
    print(f"{'data commits/s (inserts/s per table)':<36}{d['lag']['data_commits_per_s']:>14.1f}"
          f"{c['lag']['data_commits_per_s']:>14.1f}")  # fmt: skip
    for q in ("p50", "p99"):
        print(f"{'lag ' + q + ' s the engine reports':<36}{d['lag']['reported_' + q + '_s']:>14.3f}"
              f"{c['lag']['reported_' + q + '_s']:>14.3f}")  # fmt: skip
    print(f"load average {os.getloadavg()[0]:.1f}; ClickHouse interval {c['lag']['interval_s']} s")
    print(f"identical apply result: {same}; wrote {path} ({result['wall_s']:.0f}s)")
    if not same:
        raise SystemExit("apply results differ")


def vars_(args: argparse.Namespace) -> dict[str, Any]:
    return {k: v for k, v in vars(args).items() if k != "out"}


if __name__ == "__main__":
    main()
