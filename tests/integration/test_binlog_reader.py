"""BinlogReader against a real MariaDB: event order, positions, rotation, GTIDs, heartbeats,
reconnects, failures, and MariaDB's compressed binlog events (log_bin_compress=ON)."""

from __future__ import annotations

import os
import shutil
import signal
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from zeroetl.errors import BinlogPurged, SourceUnavailable
from zeroetl.model import Position
from zeroetl.sandbox.mariadb import MariaDBServer, free_port
from zeroetl.sources.mysql import constants as C
from zeroetl.sources.mysql.binlog import (
    BinlogReader,
    Event,
    binlog_files,
    parse_mariadb_gtid,
    parse_query,
    parse_rotate,
    parse_xid,
    server_binlog_position,
)
from zeroetl.sources.mysql.connection import SourceParams

pytestmark = pytest.mark.integration

SERVER_ID = 4242


def reader_at(url: str, start: Position, **kw: float) -> BinlogReader:
    return BinlogReader(SourceParams.from_url(url), start, server_id=SERVER_ID, **kw)


def read_until(
    reader: BinlogReader, done: Callable[[list[Event]], bool], timeout: float = 20.0
) -> list[Event]:
    """Events (heartbeats dropped) until `done(events)`; the reader needs heartbeats on."""
    events: list[Event] = []
    deadline = time.monotonic() + timeout
    for ev in reader:
        if ev.type != C.HEARTBEAT_LOG_EVENT:
            events.append(ev)
            if done(events):
                return events
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out; got {[e.type for e in events]}")
    raise AssertionError("stream ended")


def count(typ: int, n: int) -> Callable[[list[Event]], bool]:
    return lambda evs: sum(e.type == typ for e in evs) >= n


def position(url: str) -> Position:
    conn = SourceParams.from_url(url).connect()
    try:
        return server_binlog_position(conn)
    finally:
        conn.close()


def test_dml_and_ddl_events(source_url: str, db_conn, test_db: str) -> None:
    start = position(source_url)
    with db_conn.cursor() as cur:
        cur.execute("CREATE TABLE t (id INT PRIMARY KEY, v VARCHAR(20))")
        cur.execute("BEGIN")
        cur.execute("INSERT INTO t VALUES (1, 'a'), (2, 'b')")
        cur.execute("UPDATE t SET v = 'c' WHERE id = 1")
        cur.execute("COMMIT")
        cur.execute("DELETE FROM t WHERE id = 2")
        cur.execute("ALTER TABLE t ADD COLUMN w INT")
    end = position(source_url)
    with reader_at(source_url, start, heartbeat_s=0.2) as reader:
        assert reader.flavor == "mariadb"
        events = read_until(reader, lambda evs: evs[-1].end_pos == end.offset)

    rotate, fde, *rest = events
    assert (rotate.type, rotate.end_pos, rotate.timestamp) == (C.ROTATE_EVENT, 0, 0)
    assert parse_rotate(rotate.body) == (start.file, start.offset)
    assert fde.type == C.FORMAT_DESCRIPTION_EVENT and reader.format_description is not None
    assert all(e.file == start.file for e in events)
    ends = [e.end_pos for e in rest]
    assert ends == sorted(ends) and ends[-1] == end.offset
    # a BINLOG_CHECKPOINT from an earlier FLUSH may land at any time: not ours to check
    types = [e.type for e in rest if e.type != C.BINLOG_CHECKPOINT_EVENT]
    gtid, ann, tm = C.GTID_EVENT, C.ANNOTATE_ROWS_EVENT, C.TABLE_MAP_EVENT
    assert types == [
        gtid,
        C.QUERY_EVENT,  # CREATE TABLE
        gtid,
        ann,
        tm,
        C.WRITE_ROWS_EVENT_V1,
        ann,
        tm,
        C.UPDATE_ROWS_EVENT_V1,
        C.XID_EVENT,
        gtid,
        ann,
        tm,
        C.DELETE_ROWS_EVENT_V1,
        C.XID_EVENT,
        gtid,
        C.QUERY_EVENT,  # ALTER TABLE
    ]
    queries = [parse_query(e.body) for e in rest if e.type == C.QUERY_EVENT]
    assert [q.schema for q in queries] == [test_db, test_db]
    assert queries[0].sql.startswith("CREATE TABLE t") and queries[1].sql.startswith("ALTER TABLE")
    assert all(q.error_code == 0 and q.thread_id > 0 for q in queries)


def test_without_annotate_the_server_leaves_those_events_out(
    source_url: str, db_conn, test_db: str
) -> None:
    """The change stream asks for no ANNOTATE_ROWS: every other event comes, at its position."""
    start = position(source_url)
    with db_conn.cursor() as cur:
        cur.execute("CREATE TABLE a (id INT PRIMARY KEY, v VARCHAR(20))")
        for i in range(3):
            cur.execute("BEGIN")
            cur.execute(f"INSERT INTO a VALUES ({i}, 'x')")
            cur.execute(f"UPDATE a SET v = 'y' WHERE id = {i}")
            cur.execute("COMMIT")
    end = position(source_url)

    def read(**kw: bool) -> list[tuple[int, int]]:
        reader = BinlogReader(
            SourceParams.from_url(source_url), start, server_id=SERVER_ID, heartbeat_s=0.2, **kw
        )
        with reader:
            events = read_until(reader, lambda evs: evs[-1].end_pos == end.offset)
        skip = (C.BINLOG_CHECKPOINT_EVENT, C.ROTATE_EVENT, C.FORMAT_DESCRIPTION_EVENT)
        return [(e.type, e.end_pos) for e in events if e.type not in skip]

    full, lean = read(), read(annotate=False)
    assert sum(t == C.ANNOTATE_ROWS_EVENT for t, _ in full) == 6
    assert lean == [e for e in full if e[0] != C.ANNOTATE_ROWS_EVENT]


def test_gtids_and_xids(source_url: str, db_conn) -> None:
    start = position(source_url)
    with db_conn.cursor() as cur:
        cur.execute("CREATE TABLE t (id INT PRIMARY KEY)")
        for i in range(3):
            cur.execute("INSERT INTO t VALUES (%s)", (i,))
    end = position(source_url)
    with reader_at(source_url, start, heartbeat_s=0.2) as reader:
        events = read_until(reader, count(C.XID_EVENT, 3))
    gtids = [parse_mariadb_gtid(e.body, e.server_id) for e in events if e.type == C.GTID_EVENT]
    assert [g.standalone for g in gtids] == [True, False, False, False]  # DDL has no XID
    assert [g.seq for g in gtids] == list(range(gtids[0].seq, gtids[0].seq + 4))
    assert {(g.domain, g.server_id) for g in gtids} == {(0, 1)}
    assert str(gtids[-1]) == end.gtid_set
    xids = [parse_xid(e.body) for e in events if e.type == C.XID_EVENT]
    assert len(set(xids)) == 3 and all(x > 0 for x in xids)


def test_rotate_across_flush_binary_logs(source_url: str, mariadb: MariaDBServer, db_conn) -> None:
    start = position(source_url)
    with db_conn.cursor() as cur:
        cur.execute("CREATE TABLE t (id INT PRIMARY KEY)")
        cur.execute("FLUSH BINARY LOGS")
        cur.execute("INSERT INTO t VALUES (1)")
    new = position(source_url)
    assert new.file_index == start.file_index + 1
    with reader_at(source_url, start, heartbeat_s=0.2) as reader:
        events = read_until(reader, count(C.XID_EVENT, 1))
    at = next(i for i, e in enumerate(events[1:], 1) if e.type == C.ROTATE_EVENT)
    rot = events[at]
    assert rot.file == start.file and rot.end_pos > start.offset
    assert parse_rotate(rot.body) == (new.file, 4)
    after = events[at + 1 :]
    # MariaDB repeats a fake ROTATE (end_pos 0) before the new file's FORMAT_DESCRIPTION
    assert [(e.type, e.end_pos) for e in after[:2]] == [
        (C.ROTATE_EVENT, 0),
        (C.FORMAT_DESCRIPTION_EVENT, 256),
    ]
    assert all(e.file == new.file for e in after)
    # (<=: MariaDB may write its BINLOG_CHECKPOINT into the new file after the INSERT)
    assert after[-1].type == C.XID_EVENT and after[-1].end_pos <= new.offset
    conn = SourceParams.from_url(source_url).connect()
    files = dict(binlog_files(conn))
    conn.close()
    assert files[start.file] == rot.end_pos and new.file in files


def test_heartbeats_while_idle(source_url: str) -> None:
    start = position(source_url)
    beats: list[Event] = []
    t0 = time.monotonic()
    with reader_at(source_url, start, heartbeat_s=0.2) as reader:
        for ev in reader:
            if ev.type == C.HEARTBEAT_LOG_EVENT:
                beats.append(ev)
                if len(beats) == 3:
                    break
    assert time.monotonic() - t0 < 5
    assert all(b.file == start.file and b.end_pos >= start.offset for b in beats)
    assert bytes(beats[0].body) == start.file.encode()


def test_reconnect_from_saved_position(source_url: str, db_conn) -> None:
    start = position(source_url)
    with db_conn.cursor() as cur:
        cur.execute("CREATE TABLE t (id INT PRIMARY KEY, v TEXT)")
        for i in range(6):
            cur.execute("INSERT INTO t VALUES (%s, REPEAT('x', %s))", (i, 1000 * i))
    with reader_at(source_url, start, heartbeat_s=0.2) as reader:
        first = read_until(reader, count(C.XID_EVENT, 6))
    third_xid = [e for e in first if e.type == C.XID_EVENT][2]
    saved = Position(third_xid.file, third_xid.end_pos)
    with reader_at(source_url, saved, heartbeat_s=0.2) as reader:
        again = read_until(reader, count(C.XID_EVENT, 3))

    def key(e: Event) -> tuple[int, str, int, bytes]:
        return (e.type, e.file, e.end_pos, bytes(e.body))

    expected = [key(e) for e in first if e.end_pos > saved.offset]
    assert [key(e) for e in again[2:]] == expected  # after the fake ROTATE and FDE
    assert parse_rotate(again[0].body) == (saved.file, saved.offset)


def test_stopped_server_times_out(source_url: str, mariadb: MariaDBServer) -> None:
    start = position(source_url)
    pid = mariadb.proc.pid if mariadb.proc else None
    assert pid is not None
    with reader_at(source_url, start, heartbeat_s=0.2, read_timeout_s=1.0) as reader:
        it = iter(reader)
        assert next(it).type == C.ROTATE_EVENT
        os.kill(pid, signal.SIGSTOP)  # no heartbeats, socket stays open
        try:
            with pytest.raises(SourceUnavailable, match="no binlog event or heartbeat") as exc:
                for _ in it:
                    pass
        finally:
            os.kill(pid, signal.SIGCONT)
    assert "zeroetl:***@" in str(exc.value) and ":zeroetl@" not in str(exc.value)


def test_killed_server_is_source_unavailable(source_url: str, mariadb: MariaDBServer) -> None:
    start = position(source_url)
    reader = reader_at(source_url, start, heartbeat_s=0.2)
    seen = []
    try:
        with pytest.raises(SourceUnavailable) as exc:
            for ev in reader:
                seen.append(ev.type)
                if ev.type == C.HEARTBEAT_LOG_EVENT:
                    mariadb.kill()
    finally:
        reader.close()
        mariadb.start()
    assert C.HEARTBEAT_LOG_EVENT in seen
    assert "zeroetl" not in str(exc.value).replace("zeroetl:***", "")


def test_close_ends_iteration(source_url: str) -> None:
    reader = reader_at(source_url, position(source_url), heartbeat_s=0.2)
    n = 0
    for _ in reader:
        n += 1
        if n == 3:
            reader.close()
    assert n == 3


# --- a private server: compressed binlog, and a purge that must not disturb other tests ------


@pytest.fixture(scope="module")
def compressing_server() -> Iterator[MariaDBServer]:
    tmp = Path(tempfile.mkdtemp(prefix="zeroetl-binlog-"))
    server = MariaDBServer(
        datadir=tmp / "data",
        port=free_port(),
        server_id=2,
        extra_args=("--log-bin-compress=ON", "--log-bin-compress-min-len=10"),
    )
    server.start()
    server.create_replication_user()
    try:
        yield server
    finally:
        server.stop()
        shutil.rmtree(tmp, ignore_errors=True)


WORKLOAD = [
    "CREATE TABLE t (id INT PRIMARY KEY, v VARCHAR(500), n INT)",
    "INSERT INTO t SELECT seq, REPEAT(CHAR(65 + seq % 26), 200), seq FROM seq_1_to_300",
    "UPDATE t SET v = REPEAT('z', 150), n = n + 1 WHERE id % 3 = 0",
    "DELETE FROM t WHERE id > 250",
    "ALTER TABLE t ADD COLUMN extra_column_with_a_long_name VARCHAR(100) DEFAULT 'a default'",
]


def run_workload(server: MariaDBServer, db: str) -> tuple[Position, Position]:
    conn = server.root()
    with conn.cursor() as cur:
        cur.execute(f"CREATE DATABASE `{db}`")
        start = server_binlog_position(conn)
        cur.execute(f"USE `{db}`")
        for sql in WORKLOAD:
            cur.execute(sql)
        end = server_binlog_position(conn)
    conn.close()
    return start, end


def test_mariadb_compressed_events(
    compressing_server: MariaDBServer, mariadb: MariaDBServer
) -> None:
    got: dict[str, list[Event]] = {}
    for name, server in (("compressed", compressing_server), ("plain", mariadb)):
        start, end = run_workload(server, "zcomp")
        with reader_at(server.url(), start, heartbeat_s=0.2) as reader:
            got[name] = read_until(reader, lambda evs, e=end: evs[-1].end_pos == e.offset)
        conn = server.root()
        with conn.cursor() as cur:
            cur.execute("SHOW BINLOG EVENTS IN %s FROM %s", (start.file, start.offset))
            kinds = {row[2] for row in cur.fetchall()}
            cur.execute("DROP DATABASE zcomp")
        conn.close()
        if name == "compressed":  # the server really wrote compressed events
            assert {
                "Query_compressed",
                "Write_rows_compressed_v1",
                "Update_rows_compressed_v1",
                "Delete_rows_compressed_v1",
            } <= kinds

    comp, plain = got["compressed"], got["plain"]
    compressed_types = range(C.QUERY_COMPRESSED_EVENT, C.DELETE_ROWS_COMPRESSED_EVENT_V1 + 1)
    assert not any(e.type in compressed_types for e in comp)
    data_types = {C.QUERY_EVENT, *C.ROWS_EVENTS_V1}
    c = [e for e in comp if e.type in data_types]
    p = [e for e in plain if e.type in data_types]
    assert [e.type for e in c] == [e.type for e in p]
    assert {e.type for e in c} == data_types
    for a, b in zip(c, p, strict=True):
        if a.type == C.QUERY_EVENT:
            assert parse_query(a.body).sql == parse_query(b.body).sql
        else:  # same rows: everything after the table id (which differs between servers)
            assert bytes(a.body[6:]) == bytes(b.body[6:])


def test_purged_binlog(compressing_server: MariaDBServer) -> None:
    server = compressing_server
    url = server.url()
    old = position(url)
    conn = server.root()
    with conn.cursor() as cur:
        cur.execute("FLUSH BINARY LOGS")
        cur.execute("FLUSH BINARY LOGS")
        current = server_binlog_position(conn)
        # MariaDB keeps a file until its binlog checkpoint has passed it (InnoDB has flushed
        # its transactions), which may take a moment after the FLUSH: purge until it is gone.
        deadline = time.monotonic() + 10
        while True:
            cur.execute("PURGE BINARY LOGS TO %s", (current.file,))
            remaining = [f for f, _ in binlog_files(conn)]
            if old.file not in remaining or time.monotonic() > deadline:
                break
            time.sleep(0.1)
    conn.close()
    assert old.file not in remaining
    with pytest.raises(BinlogPurged) as exc, reader_at(url, old, heartbeat_s=0.2) as reader:
        for _ in reader:
            pass
    assert str(old) in str(exc.value) and "resync" in str(exc.value)
    assert ":zeroetl@" not in str(exc.value)
