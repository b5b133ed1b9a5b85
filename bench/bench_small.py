"""Per-event overhead: 100k single-row transactions (GTID, ANNOTATE, TABLE_MAP, WRITE, XID each)."""

import sys
import time

import pymysql

from zeroetl.sources.mysql.binlog import BinlogReader, server_binlog_position
from zeroetl.sources.mysql.connection import SourceParams

PORT = int(sys.argv[1])
N = 100_000
root = pymysql.connect(host="127.0.0.1", port=PORT, user="root", autocommit=True)
cur = root.cursor()
cur.execute("DROP DATABASE IF EXISTS bsmall")
cur.execute("CREATE DATABASE bsmall")
cur.execute("USE bsmall")
cur.execute("CREATE TABLE t (id INT PRIMARY KEY, v INT)")
start = server_binlog_position(root)
cur.execute(f"BEGIN NOT ATOMIC FOR i IN 1..{N} DO INSERT INTO t VALUES (i, i); END FOR; END")
end = server_binlog_position(root)
print(start, end)


def ours():
    p = SourceParams.from_url(f"mysql://zeroetl:zeroetl@127.0.0.1:{PORT}")
    t0 = time.perf_counter()
    c0 = time.process_time()
    n = 0
    nb = 0
    with BinlogReader(p, start, server_id=779) as r:
        for ev in r:
            n += 1
            nb += len(ev.body) + 19
            if ev.end_pos == end.offset and ev.file == end.file:
                break
    dt = time.perf_counter() - t0
    cpu = time.process_time() - c0
    return dict(events=n, mb=nb / 1e6, s=dt, cpu_s=cpu, ev_s=n / dt, ev_per_cpu_s=n / cpu)


def theirs():
    from pymysqlreplication import BinLogStreamReader
    from pymysqlreplication.event import XidEvent

    st = BinLogStreamReader(
        connection_settings=dict(host="127.0.0.1", port=PORT, user="root", passwd=""),
        server_id=780,
        log_file=start.file,
        log_pos=start.offset,
        resume_stream=True,
        blocking=False,
        only_events=[XidEvent],
    )
    t0 = time.perf_counter()
    c0 = time.process_time()
    n = 0
    for _ev in st:
        n += 1
    dt = time.perf_counter() - t0
    cpu = time.process_time() - c0
    return dict(xids=n, s=dt, cpu_s=cpu)


for _ in range(3):
    print("ours", ours())
print("mysql-replication (XidEvent only, nothing decoded but XIDs)", theirs())
