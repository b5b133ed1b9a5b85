"""Bench: walk a large binlog with BinlogReader vs mysql-replication (same events, same run)."""

import json
import sys
import time
from pathlib import Path

import pymysql

from zeroetl.sources.mysql import constants as C
from zeroetl.sources.mysql.binlog import BinlogReader, server_binlog_position
from zeroetl.sources.mysql.connection import SourceParams

PORT = int(sys.argv[1])
ROWS = int(sys.argv[2]) if len(sys.argv) > 2 else 1_000_000
PER_STMT = 200_000
root = pymysql.connect(host="127.0.0.1", port=PORT, user="root", autocommit=True)
cur = root.cursor()
cur.execute("DROP DATABASE IF EXISTS bench")
cur.execute("CREATE DATABASE bench")
cur.execute("USE bench")
cur.execute("""CREATE TABLE bench.t (id BIGINT PRIMARY KEY, a INT, b VARCHAR(40), c DECIMAL(12,2),
  d DATETIME(6), e DOUBLE, f DATE, g INT)""")
start = server_binlog_position(root)
t = time.time()
for s in range(0, ROWS, PER_STMT):
    cur.execute(f"""INSERT INTO bench.t SELECT seq, seq % 1000, CONCAT('name-', seq), seq / 7,
      TIMESTAMP'2024-01-01 00:00:00' + INTERVAL seq SECOND, seq * 1.5, DATE'2020-01-01' + INTERVAL (seq % 3000) DAY, seq
      FROM seq_{s + 1}_to_{s + PER_STMT}""")
end = server_binlog_position(root)
print(f"loaded {ROWS} rows in {time.time() - t:.1f}s; binlog {start} -> {end}", flush=True)
results = {}


def ours():
    p = SourceParams.from_url(f"mysql://zeroetl:zeroetl@127.0.0.1:{PORT}")
    t0 = time.perf_counter()
    c0 = time.process_time()
    n = 0
    nbytes = 0
    rows_ev = 0
    with BinlogReader(p, start, server_id=777) as r:
        for ev in r:
            n += 1
            nbytes += len(ev.body) + 19
            if ev.type == C.WRITE_ROWS_EVENT_V1:
                rows_ev += 1
            if ev.end_pos == end.offset and ev.file == end.file:
                break
    dt = time.perf_counter() - t0
    cpu = time.process_time() - c0
    return dict(
        cpu_s=cpu,
        events=n,
        rows_events=rows_ev,
        mb=nbytes / 1e6,
        s=dt,
        ev_s=n / dt,
        mb_s=nbytes / 1e6 / dt,
        rows_s=ROWS / dt,
    )


def theirs(decode):
    from pymysqlreplication import BinLogStreamReader
    from pymysqlreplication.event import MariadbGtidEvent, QueryEvent, XidEvent
    from pymysqlreplication.row_event import WriteRowsEvent

    only = (
        [WriteRowsEvent, XidEvent, MariadbGtidEvent, QueryEvent]
        if decode
        else [XidEvent, MariadbGtidEvent, QueryEvent]
    )
    st = BinLogStreamReader(
        connection_settings=dict(host="127.0.0.1", port=PORT, user="root", passwd=""),
        server_id=778,
        log_file=start.file,
        log_pos=start.offset,
        resume_stream=True,
        blocking=False,
        only_events=only,
    )
    t0 = time.perf_counter()
    c0 = time.process_time()
    n = 0
    rows = 0
    for ev in st:
        n += 1
        if decode and isinstance(ev, WriteRowsEvent):
            rows += len(ev.rows)
        if st.log_pos >= end.offset and st.log_file == end.file:
            break
    st.close()
    dt = time.perf_counter() - t0
    cpu = time.process_time() - c0
    return dict(cpu_s=cpu, events_yielded=n, rows=rows, s=dt, rows_s=ROWS / dt)


runs = sorted((ours() for _ in range(5)), key=lambda r: r["s"])
results["zeroetl_reader_median_of_5"] = runs[2]
results["zeroetl_reader_best_of_5"] = runs[0]
print("ours median", runs[2], flush=True)
print("ours best", runs[0], flush=True)
results["mysql_replication_headers"] = theirs(False)
print("mysql-replication (no row decode)", results["mysql_replication_headers"], flush=True)
if "--decode" in sys.argv:
    results["mysql_replication_decode"] = theirs(True)
    print("mysql-replication (decode rows)", results["mysql_replication_decode"], flush=True)
out = Path(__file__).parent / "results" / "binlog_read_bench.json"
out.parent.mkdir(exist_ok=True)
out.write_text(json.dumps(results, indent=1))
