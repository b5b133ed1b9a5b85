"""Rows-event decoding speed: zeroetl's RowsDecoder vs mysql-replication, same events, same run.

Starts a private MariaDB (binlog_format=ROW, FULL image and metadata), writes ~1M row changes to an
8-column table (inserts, updates, deletes), then
  * zeroetl: reads the binlog files directly, decodes every rows event into Arrow record batches;
  * mysql-replication: BinLogStreamReader over the same binlog range, materialising every row.
Times are this process's CPU time (robust on a shared 2-core machine). Prints a small table
and writes bench/results/decode_bench.json.

    .venv/bin/python bench/decode_bench.py [--rows 400000] [--ref-limit 0]
"""

from __future__ import annotations

import argparse
import json
import platform
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "integration"))

from test_rows_decoder import file_events

from zeroetl import native
from zeroetl.sandbox.mariadb import MariaDBServer, free_port
from zeroetl.sources.mysql.rows import RowsDecoder, parse_table_map, rows_table_id

TABLE = """CREATE TABLE bench.orders (
  id BIGINT NOT NULL PRIMARY KEY, customer INT NOT NULL, name VARCHAR(64) NOT NULL,
  price DECIMAL(10,2) NOT NULL, created DATETIME(6) NOT NULL, score DOUBLE,
  note VARCHAR(255), flag TINYINT NOT NULL)"""


binrows = native.binrows


def workload(server: MariaDBServer, rows: int) -> tuple[tuple[str, int], tuple[str, int], int]:
    conn = server.root()
    with conn.cursor() as cur:
        cur.execute("CREATE DATABASE bench")
        cur.execute(TABLE)
        cur.execute("SHOW MASTER STATUS")
        start = cur.fetchone()[:2]
        step = 50_000
        for lo in range(1, rows + 1, step):
            hi = min(rows, lo + step - 1)
            cur.execute(
                "INSERT INTO bench.orders SELECT seq, seq % 5000, CONCAT('customer-', seq), "
                "(seq % 100000) / 100, TIMESTAMP'2024-01-01 00:00:00' + INTERVAL seq * 1000 MICROSECOND, "
                "IF(seq % 10 = 0, NULL, seq / 7), IF(seq % 3 = 0, NULL, REPEAT('n', seq % 40)), seq % 2 "
                f"FROM mysql.seq_{lo}_to_{hi}"
            )
        updates, deletes = rows * 6 // 10, rows // 4
        for lo in range(1, updates + 1, step):
            hi = min(updates, lo + step - 1)
            cur.execute(
                "UPDATE bench.orders SET price = price + 1, note = 'updated', score = NULL "
                f"WHERE id BETWEEN {lo} AND {hi}"
            )
        cur.execute(f"DELETE FROM bench.orders WHERE id > {rows - deletes}")
        cur.execute("SHOW MASTER STATUS")
        stop = cur.fetchone()[:2]
    conn.close()
    return (start[0], int(start[1])), (stop[0], int(stop[1])), rows + updates + deletes


def run_ours(
    datadir: Path, start: tuple[str, int], stop: tuple[str, int], arrow: bool = True
) -> tuple[int, float, float]:
    """Decode every rows event; with `arrow` also build each event's Arrow batch (without it,
    only what the reader thread does: the raw values the engine's batches finish later)."""
    events = list(file_events(datadir, start, stop))  # read the files before timing
    t0 = time.process_time()
    walked = 0
    for etype, _body in events:
        if etype in (23, 24, 25, 30, 31, 32):
            walked += 1
    t_walk = time.process_time() - t0
    maps, decoders = {}, {}
    changes = 0
    t0 = time.process_time()
    for etype, body in events:
        if etype == 19:
            tm = parse_table_map(body)
            maps[tm.table_id] = tm
        elif etype in (23, 24, 25, 30, 31, 32):
            tid = rows_table_id(body)
            dec = decoders.get(tid)
            if dec is None:
                dec = decoders[tid] = RowsDecoder(maps[tid])
            img = dec.decode(etype, body)
            if arrow:
                changes += (img.after or img.before).num_rows
            else:
                changes += img.num_rows
    return changes, time.process_time() - t0, t_walk


def run_reference(server: MariaDBServer, start: tuple[str, int], limit: int) -> tuple[int, float]:
    from pymysqlreplication import BinLogStreamReader
    from pymysqlreplication.row_event import DeleteRowsEvent, UpdateRowsEvent, WriteRowsEvent

    stream = BinLogStreamReader(
        connection_settings={"host": "127.0.0.1", "port": server.port, "user": "root", "password": ""},
        server_id=4343, log_file=start[0], log_pos=start[1], resume_stream=True, blocking=False,
        only_events=[WriteRowsEvent, UpdateRowsEvent, DeleteRowsEvent], only_schemas=["bench"],
        enable_logging=False,
    )  # fmt: skip
    changes = 0
    t0 = time.process_time()
    for ev in stream:
        changes += len(ev.rows)  # .rows decodes every value
        if limit and changes >= limit:
            break
    elapsed = time.process_time() - t0
    stream.close()
    return changes, elapsed


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=540_000, help="rows inserted (changes = 1.85x)")
    ap.add_argument(
        "--ref-limit", type=int, default=0, help="stop mysql-replication after N changes"
    )
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="zeroetl-bench-"))
    server = MariaDBServer(datadir=tmp / "data", port=free_port(), server_id=1)
    server.start()
    try:
        start, stop, expected = workload(server, args.rows)
        n, secs, _walk = run_ours(server.datadir, start, stop)
        assert n == expected, (n, expected)
        # The compiled walker against the Python one (ZEROETL_NATIVE=0), alternated.
        paths: dict[str, list[float]] = {}
        for _round in range(3):
            for name, mod in (("native", binrows), ("python", None)):
                native.binrows = mod
                for arrow in (False, True):
                    k, s, _ = run_ours(server.datadir, start, stop, arrow)
                    assert k == expected, (k, expected)
                    paths.setdefault(f"{name}_{'arrow' if arrow else 'raw'}", []).append(s)
        native.binrows = binrows
        rn, rsecs = run_reference(server, start, args.ref_limit)
    finally:
        server.stop()
        shutil.rmtree(tmp, ignore_errors=True)
    result = {
        "table": "8 columns: bigint, int, varchar, decimal(10,2), datetime(6), double, varchar, tinyint",
        "changes": n,
        "zeroetl_seconds": round(secs, 3),
        "zeroetl_rows_per_s": round(n / secs),
        "timing": "process CPU time (time.process_time); the machine is shared",
        "mysql_replication_changes": rn,
        "mysql_replication_seconds": round(rsecs, 3),
        "mysql_replication_rows_per_s": round(rn / rsecs),
        "speedup": round((n / secs) / (rn / rsecs), 1),
        "paths_best_seconds": {k: round(min(v), 3) for k, v in paths.items()},
        "paths_rows_per_s": {k: round(n / min(v)) for k, v in paths.items()},
        "python": platform.python_version(),
        "machine": platform.machine(),
    }
    print(f"{'decoder':<20}{'changes':>10}{'seconds':>10}{'rows/s':>12}")
    print(f"{'zeroetl RowsDecoder':<20}{n:>10}{secs:>10.2f}{n / secs:>12,.0f}")
    print(f"{'mysql-replication':<20}{rn:>10}{rsecs:>10.2f}{rn / rsecs:>12,.0f}")
    print(f"speedup x{result['speedup']}")
    for k, v in paths.items():
        print(f"{k:<20}{n / min(v):>12,.0f} rows/s (best of {len(v)}, CPU)")
    out = Path(__file__).parent / "results" / "decode_bench.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
