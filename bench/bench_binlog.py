"""Walking a large binlog: zeroetl's BinlogReader vs mysql-replication, same events, same run.

Starts a private MariaDB (temp dir, free port), inserts --rows rows into an 8-column table with
the sequence engine (statements of 200k rows), then times
  * zeroetl's BinlogReader framing every event of that range (best and median of 5);
  * mysql-replication's BinLogStreamReader over the same range, yielding only GTID/QUERY/XID
    events (it still reads and frames every event) and, with --decode, also decoding rows.
Writes bench/results/binlog_read_bench.json.

    .venv/bin/python bench/bench_binlog.py [--rows 1000000] [--decode]
"""

from __future__ import annotations

import argparse
import json
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

from zeroetl.model import Position
from zeroetl.sandbox.mariadb import MariaDBServer, free_port
from zeroetl.sources.mysql import constants as C
from zeroetl.sources.mysql.binlog import BinlogReader, server_binlog_position
from zeroetl.sources.mysql.connection import SourceParams

PER_STMT = 200_000
TABLE = """CREATE TABLE bench.t (id BIGINT PRIMARY KEY, a INT, b VARCHAR(40), c DECIMAL(12,2),
  d DATETIME(6), e DOUBLE, f DATE, g INT)"""
FILL = """INSERT INTO bench.t SELECT seq, seq % 1000, CONCAT('name-', seq), seq / 7,
  TIMESTAMP'2024-01-01 00:00:00' + INTERVAL seq SECOND, seq * 1.5,
  DATE'2020-01-01' + INTERVAL (seq % 3000) DAY, seq FROM seq_{lo}_to_{hi}"""


def load(server: MariaDBServer, rows: int) -> tuple[Position, Position]:
    conn = server.root()
    with conn.cursor() as cur:
        cur.execute("CREATE DATABASE bench")
        cur.execute("USE bench")  # the sequence engine needs a current database
        cur.execute(TABLE)
        start = server_binlog_position(conn)
        for s in range(0, rows, PER_STMT):
            cur.execute(FILL.format(lo=s + 1, hi=min(rows, s + PER_STMT)))
        end = server_binlog_position(conn)
    conn.close()
    return start, end


def ours(params: SourceParams, start: Position, end: Position, rows: int) -> dict[str, Any]:
    t0, c0 = time.perf_counter(), time.process_time()
    n = nbytes = rows_ev = 0
    with BinlogReader(params, start, server_id=777) as r:
        for ev in r:
            n += 1
            nbytes += len(ev.body) + 19
            if ev.type == C.WRITE_ROWS_EVENT_V1:
                rows_ev += 1
            if Position(ev.file, ev.end_pos) >= end:
                break
    dt, cpu = time.perf_counter() - t0, time.process_time() - c0
    return {"s": dt, "cpu_s": cpu, "events": n, "rows_events": rows_ev, "mb": nbytes / 1e6,
            "events_per_s": n / dt, "mb_per_s": nbytes / 1e6 / dt, "rows_per_s": rows / dt}  # fmt: skip


def theirs(port: int, start: Position, end: Position, rows: int, decode: bool) -> dict[str, Any]:
    from pymysqlreplication import BinLogStreamReader
    from pymysqlreplication.event import MariadbGtidEvent, QueryEvent, XidEvent
    from pymysqlreplication.row_event import WriteRowsEvent

    only: list[type] = [XidEvent, MariadbGtidEvent, QueryEvent]
    if decode:
        only.append(WriteRowsEvent)
    st = BinLogStreamReader(
        connection_settings={"host": "127.0.0.1", "port": port, "user": "root", "passwd": ""},
        server_id=778, log_file=start.file, log_pos=start.offset, resume_stream=True,
        blocking=False, only_events=only,
    )  # fmt: skip
    t0, c0 = time.perf_counter(), time.process_time()
    n = decoded = 0
    for ev in st:
        n += 1
        if decode and isinstance(ev, WriteRowsEvent):
            decoded += len(ev.rows)
        if Position(st.log_file, st.log_pos) >= end:
            break
    st.close()
    dt, cpu = time.perf_counter() - t0, time.process_time() - c0
    return {"s": dt, "cpu_s": cpu, "events_yielded": n, "rows_decoded": decoded,
            "rows_per_s": rows / dt}  # fmt: skip


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--decode", action="store_true", help="also time mysql-replication decoding")
    ap.add_argument("--out", type=Path, default=Path(__file__).parent / "results")
    args = ap.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="zeroetl-binlogbench-"))
    server = MariaDBServer(tmp / "data", free_port())
    results: dict[str, Any] = {"benchmark": "bench_binlog", "rows": args.rows}
    try:
        server.start()
        server.create_replication_user()
        t = time.perf_counter()
        start, end = load(server, args.rows)
        print(f"loaded {args.rows:,} rows in {time.perf_counter() - t:.1f}s; {start} -> {end}")
        params = SourceParams.from_url(server.url())
        runs = sorted((ours(params, start, end, args.rows) for _ in range(5)), key=lambda r: r["s"])
        results["zeroetl_reader_best_of_5"] = runs[0]
        results["zeroetl_reader_median_of_5"] = runs[2]
        results["mysql_replication_headers"] = theirs(server.port, start, end, args.rows, False)
        if args.decode:
            results["mysql_replication_decode"] = theirs(server.port, start, end, args.rows, True)
    finally:
        server.stop()
        shutil.rmtree(tmp, ignore_errors=True)

    base = results["mysql_replication_headers"]["s"]
    results["ratio_vs_mysql_replication_headers"] = base / results["zeroetl_reader_best_of_5"]["s"]
    print(f"\n{'reader':<40}{'seconds':>9}{'MB/s':>9}{'vs m-r':>8}")
    for name, key in (("zeroetl BinlogReader (best of 5)", "zeroetl_reader_best_of_5"),
                      ("zeroetl BinlogReader (median of 5)", "zeroetl_reader_median_of_5"),
                      ("mysql-replication, no row decode", "mysql_replication_headers"),
                      ("mysql-replication, rows decoded", "mysql_replication_decode")):  # fmt: skip
        if key in results:
            r = results[key]
            mbs = f"{r['mb_per_s']:.0f}" if "mb_per_s" in r else "-"
            print(f"{name:<40}{r['s']:>9.2f}{mbs:>9}{base / r['s']:>7.1f}x")
    args.out.mkdir(parents=True, exist_ok=True)
    out = args.out / "binlog_read_bench.json"
    out.write_text(json.dumps(results, indent=2) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
