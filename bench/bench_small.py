"""Per-event overhead: --txns single-row transactions (GTID, ANNOTATE, TABLE_MAP, WRITE, XID each).

Starts a private MariaDB (temp dir, free port), commits the transactions server-side (a stored
loop), then times zeroetl's BinlogReader framing every event of that range (best of 3) against
mysql-replication yielding only the XID events of the same range (it still reads and frames every
event). Writes bench/results/bench_small.json.

    .venv/bin/python bench/bench_small.py [--txns 100000]
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
from zeroetl.sources.mysql.binlog import BinlogReader, server_binlog_position
from zeroetl.sources.mysql.connection import SourceParams


def load(server: MariaDBServer, txns: int) -> tuple[Position, Position]:
    conn = server.root()
    with conn.cursor() as cur:
        cur.execute("CREATE DATABASE bsmall")
        cur.execute("CREATE TABLE bsmall.t (id INT PRIMARY KEY, v INT)")
        start = server_binlog_position(conn)
        cur.execute(
            f"BEGIN NOT ATOMIC FOR i IN 1..{txns} DO INSERT INTO bsmall.t VALUES (i, i); "
            "END FOR; END"
        )
        end = server_binlog_position(conn)
    conn.close()
    return start, end


def ours(params: SourceParams, start: Position, end: Position) -> dict[str, Any]:
    t0, c0 = time.perf_counter(), time.process_time()
    n = nb = 0
    with BinlogReader(params, start, server_id=779) as r:
        for ev in r:
            n += 1
            nb += len(ev.body) + 19
            if Position(ev.file, ev.end_pos) >= end:
                break
    dt, cpu = time.perf_counter() - t0, time.process_time() - c0
    return {"s": dt, "cpu_s": cpu, "events": n, "mb": nb / 1e6, "events_per_s": n / dt,
            "events_per_cpu_s": n / cpu if cpu else 0.0}  # fmt: skip


def theirs(port: int, start: Position, end: Position) -> dict[str, Any]:
    from pymysqlreplication import BinLogStreamReader
    from pymysqlreplication.event import XidEvent

    st = BinLogStreamReader(
        connection_settings={"host": "127.0.0.1", "port": port, "user": "root", "passwd": ""},
        server_id=780, log_file=start.file, log_pos=start.offset, resume_stream=True,
        blocking=False, only_events=[XidEvent],
    )  # fmt: skip
    t0, c0 = time.perf_counter(), time.process_time()
    n = 0
    for _ev in st:
        n += 1
        if Position(st.log_file, st.log_pos) >= end:
            break
    st.close()
    dt, cpu = time.perf_counter() - t0, time.process_time() - c0
    return {"s": dt, "cpu_s": cpu, "xids": n}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--txns", type=int, default=100_000)
    ap.add_argument("--out", type=Path, default=Path(__file__).parent / "results")
    args = ap.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="zeroetl-smallbench-"))
    server = MariaDBServer(tmp / "data", free_port())
    try:
        server.start()
        server.create_replication_user()
        t = time.perf_counter()
        start, end = load(server, args.txns)
        print(f"committed {args.txns:,} transactions in {time.perf_counter() - t:.1f}s")
        params = SourceParams.from_url(server.url())
        runs = sorted((ours(params, start, end) for _ in range(3)), key=lambda r: r["s"])
        ref = theirs(server.port, start, end)
    finally:
        server.stop()
        shutil.rmtree(tmp, ignore_errors=True)

    best = runs[0]
    result = {
        "benchmark": "bench_small",
        "transactions": args.txns,
        "zeroetl_reader_best_of_3": best,
        "mysql_replication_xid_only": ref,
        "ratio_vs_mysql_replication": ref["s"] / best["s"],
    }
    print(f"\n{'reader':<36}{'seconds':>9}{'events/s':>12}{'vs m-r':>8}")
    print(f"{'zeroetl BinlogReader (best of 3)':<36}{best['s']:>9.2f}{best['events_per_s']:>12,.0f}"
          f"{result['ratio_vs_mysql_replication']:>7.1f}x")  # fmt: skip
    print(f"{'mysql-replication (XID events only)':<36}{ref['s']:>9.2f}{'-':>12}{1.0:>7.1f}x")
    args.out.mkdir(parents=True, exist_ok=True)
    out = args.out / "bench_small.json"
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
