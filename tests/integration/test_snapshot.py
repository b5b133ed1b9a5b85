import datetime as dt
import struct
from decimal import Decimal

import pyarrow as pa
import pytest

from zeroetl.errors import TableFailed
from zeroetl.model import TableId
from zeroetl.sources.mysql.connection import SourceParams
from zeroetl.sources.mysql.discovery import load_schemas
from zeroetl.sources.mysql.snapshot import SnapshotReader, decode_key, encode_key

pytestmark = pytest.mark.integration

UTC = dt.UTC


def _schema(db_conn, db: str, table: str):
    return load_schemas(db_conn, [TableId(db, table)])[TableId(db, table)]


def _read_all(reader, schema, after=None):
    tables, keys = [], []
    for t, k in reader.read_chunks(schema, after):
        tables.append(t)
        keys.append(k)
    return (pa.concat_tables(tables) if tables else schema.arrow_schema().empty_table()), keys


def _f32(x: float) -> float:
    return struct.unpack("<f", struct.pack("<f", x))[0]


ALL_TYPES = """
CREATE TABLE t (
  id INT PRIMARY KEY,
  i8 TINYINT, u8 TINYINT UNSIGNED, i16 SMALLINT, u16 SMALLINT UNSIGNED,
  i24 MEDIUMINT, u24 MEDIUMINT UNSIGNED, i64 BIGINT, u64 BIGINT UNSIGNED,
  d DECIMAL(10,3), dbig DECIMAL(65,30), f FLOAT, g DOUBLE, b BIT(10), b64 BIT(64),
  s VARCHAR(20), l1 VARCHAR(20) CHARACTER SET latin1, txt TEXT,
  bn BINARY(4), vb VARBINARY(10), bl BLOB,
  e ENUM('x','y z'), st SET('a','b','c'),
  dd DATE, dtm DATETIME(6), ts TIMESTAMP(3) NULL, tm TIME(6), y YEAR, j JSON, geo POINT
)"""

ROW1 = (
    "(1, -128, 255, -32768, 65535, -8388608, 16777215, -9223372036854775808, "
    "18446744073709551615, -1234567.891, '-12345678901234567890123456789012345.123456789012345678901234567890', "
    "16777217, 0.30000000000000004, b'1010000001', b'1111111111111111111111111111111111111111111111111111111111111111', "
    "'héllo 😀', 'café', 'a\\ttab\\nnewline', X'00FF', X'', X'DEADBEEF', 'y z', 'a,c', "
    "'2024-02-29', '2024-02-29 23:59:59.999999', '2038-01-19 03:14:07.999', "
    "'23:59:59.999999', 0, '{\"k\": [1, 2]}', ST_GeomFromText('POINT(1 2)'))"
)


def test_every_type_round_trips(db_conn, test_db, source_url) -> None:
    with db_conn.cursor() as cur:
        cur.execute(ALL_TYPES)
        cur.execute(f"INSERT INTO t VALUES {ROW1}")
        cur.execute("INSERT INTO t (id) VALUES (2)")
        cur.execute(
            "INSERT INTO t (id, f, y, tm, ts, dtm) VALUES "
            "(3, 1e-45, 2155, '00:00:00', '1970-01-01 00:00:01', '1000-01-01 00:00:00')"
        )
    schema = _schema(db_conn, test_db, "t")
    with SnapshotReader(SourceParams.from_url(source_url)) as reader:
        table, keys = _read_all(reader, schema)
    assert table.schema == schema.arrow_schema()
    assert keys == [(3,)]
    r1, r2, r3 = table.to_pylist()
    assert r1 == {
        "id": 1,
        "i8": -128,
        "u8": 255,
        "i16": -32768,
        "u16": 65535,
        "i24": -8388608,
        "u24": 16777215,
        "i64": -9223372036854775808,
        "u64": 18446744073709551615,
        "d": Decimal("-1234567.891"),
        "dbig": "-12345678901234567890123456789012345.123456789012345678901234567890",
        "f": _f32(16777217.0),
        "g": 0.30000000000000004,
        "b": 0b1010000001,
        "b64": 2**64 - 1,
        "s": "héllo 😀",
        "l1": "café",
        "txt": "a\ttab\nnewline",
        "bn": b"\x00\xff\x00\x00",
        "vb": b"",
        "bl": b"\xde\xad\xbe\xef",
        "e": "y z",
        "st": "a,c",
        "dd": dt.date(2024, 2, 29),
        "dtm": dt.datetime(2024, 2, 29, 23, 59, 59, 999999),
        "ts": dt.datetime(2038, 1, 19, 3, 14, 7, 999000, tzinfo=UTC),
        "tm": dt.time(23, 59, 59, 999999),
        "y": 0,
        "j": '{"k": [1, 2]}',
        "geo": struct.pack("<BIdd", 1, 1, 1.0, 2.0),
    }
    assert all(v is None for k, v in r2.items() if k != "id")
    assert r3["f"] == _f32(1e-45) and r3["f"] != 0
    assert r3["y"] == 2155 and r3["tm"] == dt.time(0, 0)
    assert r3["ts"] == dt.datetime(1970, 1, 1, 0, 0, 1, tzinfo=UTC)
    assert r3["dtm"] == dt.datetime(1000, 1, 1)


def test_timestamp_is_utc_whatever_the_server_zone(mariadb, db_conn, test_db, source_url) -> None:
    with db_conn.cursor() as cur:
        cur.execute("SET time_zone = '+05:00'")
        cur.execute("CREATE TABLE t (id INT PRIMARY KEY, ts TIMESTAMP NULL)")
        cur.execute("INSERT INTO t VALUES (1, '2024-06-01 12:00:00')")  # 07:00 UTC
    with SnapshotReader(SourceParams.from_url(source_url)) as reader:
        table, _ = _read_all(reader, _schema(db_conn, test_db, "t"))
    assert table.column("ts")[0].as_py() == dt.datetime(2024, 6, 1, 7, 0, tzinfo=UTC)


def test_zero_dates_become_null_and_are_counted(db_conn, test_db, source_url) -> None:
    with db_conn.cursor() as cur:
        cur.execute("SET sql_mode = ''")
        cur.execute(
            "CREATE TABLE t (id INT PRIMARY KEY, d DATE NOT NULL, dtm DATETIME, ts TIMESTAMP NULL)"
        )
        cur.execute(
            "INSERT INTO t VALUES (1, '0000-00-00', '0000-00-00 00:00:00', '0000-00-00 00:00:00'),"
            "(2, '2024-00-10', '2024-05-00 10:00:00', NULL), (3, '2024-01-01', NULL, NULL)"
        )
    with SnapshotReader(SourceParams.from_url(source_url)) as reader:
        table, _ = _read_all(reader, _schema(db_conn, test_db, "t"))
        assert reader.zero_dates == 5
    assert table.column("d").to_pylist() == [None, None, dt.date(2024, 1, 1)]
    assert table.column("dtm").null_count == 3


def test_time_out_of_range_fails_the_table(db_conn, test_db, source_url) -> None:
    with db_conn.cursor() as cur:
        cur.execute("CREATE TABLE t (id INT PRIMARY KEY, tm TIME)")
        cur.execute("INSERT INTO t VALUES (1, '10:00:00'), (2, '-01:00:00')")
    schema = _schema(db_conn, test_db, "t")
    with (
        SnapshotReader(SourceParams.from_url(source_url)) as reader,
        pytest.raises(TableFailed) as exc,
    ):
        _read_all(reader, schema)
    assert exc.value.table == f"{test_db}.t"
    assert exc.value.reason.startswith("TIME value out of range: -01:00:00")


def test_table_without_key_fails(db_conn, test_db, source_url) -> None:
    with db_conn.cursor() as cur:
        cur.execute("CREATE TABLE t (x INT)")
    with SnapshotReader(SourceParams.from_url(source_url)) as reader, pytest.raises(TableFailed):
        _read_all(reader, _schema(db_conn, test_db, "t"))


@pytest.mark.parametrize(
    ("ddl", "values"),
    [
        ("a INT, b VARCHAR(10)", "(seq % 7, CONCAT('k', seq))"),
        (
            "a VARCHAR(10), b DATETIME(6)",
            "(CONCAT('Ä', seq % 5), '2024-01-01' + INTERVAL seq SECOND)",
        ),
        ("a VARBINARY(4), b DECIMAL(30,5)", "(UNHEX(HEX(seq % 3)), seq / 7)"),
        ("a DATE, b TIMESTAMP(6)", "('2024-01-01' + INTERVAL seq % 4 DAY, FROM_UNIXTIME(seq))"),
        ("a BIGINT UNSIGNED, b DOUBLE", "(18446744073709551615 - seq % 3, seq / 3e0)"),
    ],
)
def test_chunks_cover_every_key_once_in_order(db_conn, test_db, source_url, ddl, values) -> None:
    with db_conn.cursor() as cur:
        cur.execute(f"CREATE TABLE t ({ddl}, v INT, PRIMARY KEY (a, b))")
        cur.execute(f"INSERT IGNORE INTO t SELECT {values[1:-1]}, seq FROM seq_1_to_997")
        cur.execute("SELECT COUNT(*) FROM t")
        total = cur.fetchone()[0]
    schema = _schema(db_conn, test_db, "t")
    with SnapshotReader(SourceParams.from_url(source_url), chunk_rows=100) as reader:
        table, keys = _read_all(reader, schema)
        assert table.num_rows == total
        assert sorted(table.column("v").to_pylist()) == sorted(set(table.column("v").to_pylist()))
        assert len(keys) == -(-total // 100)
        # Resume from a persisted cursor: exactly the rows after it.
        cursor = decode_key(encode_key(keys[3]), schema)
        assert cursor == keys[3]
        rest, _ = _read_all(reader, schema, cursor)
        assert rest.num_rows == total - 400
        assert rest.column("v").to_pylist() == table.column("v").to_pylist()[400:]
        # read_range stops at (and includes) the upper key.
        part = [t for t, _ in reader.read_range(schema, keys[0], keys[2])]
        assert sum(t.num_rows for t in part) == 200


def test_key_cursor_json_is_exact() -> None:
    from zeroetl.model import ColumnSchema, Kind, LogicalType, TableSchema

    cols = [
        ("i", LogicalType(Kind.UINT64)),
        ("d", LogicalType(Kind.DECIMAL, 38, 10)),
        ("s", LogicalType(Kind.STRING)),
        ("b", LogicalType(Kind.BINARY)),
        ("dd", LogicalType(Kind.DATE)),
        ("t", LogicalType(Kind.TIMESTAMP)),
        ("tz", LogicalType(Kind.TIMESTAMPTZ)),
        ("tm", LogicalType(Kind.TIME)),
        ("f", LogicalType(Kind.FLOAT64)),
    ]
    schema = TableSchema(
        TableId("d", "t"), tuple(ColumnSchema(n, t) for n, t in cols), tuple(n for n, _ in cols)
    )
    key = (
        2**64 - 1,
        Decimal("-1234567890123456789012345678.0000000001"),
        'quo"te ✓',
        b"\x00\xff",
        dt.date(1000, 1, 1),
        dt.datetime(2024, 1, 2, 3, 4, 5, 6),
        dt.datetime(2024, 1, 2, 3, 4, 5, 600000, tzinfo=UTC),
        dt.time(23, 59, 59, 999999),
        0.1,
    )
    assert decode_key(encode_key(key), schema) == key


def test_consistent_snapshot_position_and_isolation(mariadb, db_conn, test_db, source_url) -> None:
    with db_conn.cursor() as cur:
        cur.execute("CREATE TABLE t (id INT PRIMARY KEY)")
        cur.execute("INSERT INTO t VALUES (1), (2)")
        cur.execute("SHOW MASTER STATUS")
        file, pos = cur.fetchone()[:2]
        cur.execute("SELECT @@gtid_binlog_pos")
        gtid = cur.fetchone()[0]
    schema = _schema(db_conn, test_db, "t")
    reader = SnapshotReader(SourceParams.from_url(source_url))
    try:
        position = reader.begin_consistent()
        assert (position.file, position.offset, position.gtid_set) == (file, pos, gtid)
        with db_conn.cursor() as cur:
            cur.execute("INSERT INTO t VALUES (3)")
        table, _ = _read_all(reader, schema)
        assert table.column("id").to_pylist() == [1, 2]  # the later insert is not visible
        reader.end()
        table, _ = _read_all(reader, schema)
        assert table.column("id").to_pylist() == [1, 2, 3]
    finally:
        reader.close()


def test_row_over_16mib_spans_packets(mariadb, db_conn, test_db, source_url) -> None:
    root = mariadb.root()
    with root.cursor() as cur:
        cur.execute("SELECT @@max_allowed_packet")
        old = cur.fetchone()[0]
        cur.execute("SET GLOBAL max_allowed_packet = 64 * 1024 * 1024")
    root.close()
    try:
        conn = mariadb.root(test_db)
        big = bytes(range(256)) * (17 * 4096)  # 17 MiB
        with conn.cursor() as cur:
            cur.execute("CREATE TABLE t (id INT PRIMARY KEY, b LONGBLOB, s VARCHAR(5))")
            cur.execute("INSERT INTO t VALUES (1, 'x', 'a'), (2, %s, 'b'), (3, NULL, 'c')", (big,))
        conn.close()
        with SnapshotReader(SourceParams.from_url(source_url)) as reader:
            table, _ = _read_all(reader, _schema(db_conn, test_db, "t"))
        assert table.column("b").to_pylist() == [b"x", big, None]
        assert table.column("s").to_pylist() == ["a", "b", "c"]
    finally:
        root = mariadb.root()
        with root.cursor() as cur:
            cur.execute(f"SET GLOBAL max_allowed_packet = {old}")
        root.close()


def test_gone_table_fails_only_that_table(db_conn, test_db, source_url) -> None:
    with db_conn.cursor() as cur:
        cur.execute("CREATE TABLE t (id INT PRIMARY KEY)")
        cur.execute("CREATE TABLE u (id INT PRIMARY KEY)")
        cur.execute("INSERT INTO u VALUES (1)")
    schema = _schema(db_conn, test_db, "t")
    with db_conn.cursor() as cur:
        cur.execute("DROP TABLE t")
    with SnapshotReader(SourceParams.from_url(source_url)) as reader:
        with pytest.raises(TableFailed, match="gone"):
            _read_all(reader, schema)
        table, _ = _read_all(reader, _schema(db_conn, test_db, "u"))  # connection still usable
        assert table.num_rows == 1


def test_chunks_are_bounded_in_bytes(db_conn, test_db, source_url) -> None:
    # 40 rows of 50 KB under a 200 KB budget: chunks of a few rows, never all of them, and
    # every row exactly once, in key order.
    with db_conn.cursor() as cur:
        cur.execute("CREATE TABLE big (id INT PRIMARY KEY, v LONGBLOB)")
        cur.execute("INSERT INTO big SELECT seq, REPEAT('x', 50000) FROM seq_1_to_40")
        cur.execute("CREATE TABLE narrow (id INT PRIMARY KEY, v INT)")
        cur.execute("INSERT INTO narrow SELECT seq, seq FROM seq_1_to_1000")
    params = SourceParams.from_url(source_url)
    with SnapshotReader(params, chunk_rows=500, chunk_bytes=200_000) as reader:
        chunks = list(reader.read_chunks(_schema(db_conn, test_db, "big"), None))
        sizes = [t.num_rows for t, _ in chunks]
        assert sum(sizes) == 40 and max(sizes) <= 4 and len(sizes) >= 10, sizes
        ids = pa.concat_tables([t for t, _ in chunks]).column("id").to_pylist()
        assert ids == list(range(1, 41))
        # Narrow rows: chunks grow to chunk_rows once the bytes per row are known.
        narrow = [
            t.num_rows for t, _ in reader.read_chunks(_schema(db_conn, test_db, "narrow"), None)
        ]
        assert narrow == [500, 500], narrow


def test_first_chunk_rows_from_column_types() -> None:
    from zeroetl.model import ColumnSchema, Kind, LogicalType, TableSchema
    from zeroetl.sources.mysql.snapshot import first_chunk_rows, next_chunk_rows

    i64 = LogicalType(Kind.INT64)
    s = TableSchema(
        TableId("d", "t"),
        (
            ColumnSchema("id", i64, source_type="bigint"),
            ColumnSchema("b", None, source_type="longblob"),
        ),
        ("id",),
    )
    assert first_chunk_rows(s, 50_000, 32 * 2**20) == 32
    wide = TableSchema(
        TableId("d", "w"),
        tuple(ColumnSchema(f"c{i}", i64, source_type="varchar(100)") for i in range(500)),
        ("c0",),
    )
    assert first_chunk_rows(wide, 50_000, 32 * 2**20) < 200
    assert next_chunk_rows(1_000_000, 1000, 50_000, 32 * 2**20) == 33554
    assert next_chunk_rows(10, 1000, 50_000, 32 * 2**20) == 50_000


@pytest.mark.parametrize("processes", [False, True], ids=["threads", "processes"])
def test_parallel_table_chunks(db_conn, test_db, source_url, processes) -> None:
    # Three readers over a split big table, a small one and a table keyed by text: every row
    # once, each table's cursor only moving over keys all written, one `done` per table.
    from zeroetl.sources.mysql.source import MySqlSource

    with db_conn.cursor() as cur:
        cur.execute("CREATE TABLE big (id BIGINT PRIMARY KEY, v VARCHAR(10))")
        cur.execute("INSERT INTO big SELECT seq * 3, seq FROM seq_1_to_5000")
        cur.execute("CREATE TABLE small (id INT PRIMARY KEY)")
        cur.execute("INSERT INTO small VALUES (1), (2)")
        cur.execute("CREATE TABLE txt (k VARCHAR(10) PRIMARY KEY)")
        cur.execute("INSERT INTO txt SELECT CONCAT('k', seq) FROM seq_1_to_700")
    names = ("big", "small", "txt")
    schemas = {n: _schema(db_conn, test_db, n) for n in names}
    snap = MySqlSource(SourceParams.from_url(source_url)).snapshot(300)
    try:
        at = snap.begin_consistent()
        assert at is not None
        items = [(schemas[n], None) for n in names]
        expected = {
            "big": [3 * i for i in range(1, 5001)],
            "small": [1, 2],
            "txt": sorted(f"k{i}" for i in range(1, 701)),
        }
        got: dict[str, list] = {n: [] for n in names}
        cursors: dict[str, list] = {n: [] for n in names}
        done = []
        for c in snap.table_chunks(items, at=at, readers=3, processes=processes):
            name = c.table.table
            assert c.error is None
            if c.rows is not None:
                assert c.position == at
                got[name] += c.rows.column(0).to_pylist()
            if c.cursor is not None:
                key = decode_key(c.cursor, schemas[name])[0]
                written = set(got[name])
                # every key up to the cursor is handed out already
                assert all(k in written for k in expected[name] if k <= key), (name, key)
                cursors[name].append(key)
            if c.done:
                done.append(name)
        assert sorted(done) == sorted(names)
        assert {n: sorted(got[n]) for n in names} == expected
        assert cursors["big"] == sorted(cursors["big"])
        # Resumed from a cursor: only the keys after it.
        resumed = [
            k
            for c in snap.table_chunks(
                [(schemas["big"], encode_key((7500,)))], at=at, readers=3, processes=processes
            )
            if c.rows is not None
            for k in c.rows.column(0).to_pylist()
        ]
        assert sorted(resumed) == [3 * i for i in range(2501, 5001)]
    finally:
        snap.close()


def test_view_begun_again_every_view_tables(monkeypatch, db_conn, test_db, source_url) -> None:
    # A consistent view is begun again after VIEW_TABLES tables: on a quiet source at the
    # same position; after a write, each later table's chunks carry the new view's position
    # and show that write, and the tables read before it keep theirs.
    from zeroetl.sources.mysql import snapshot as snapshot_mod
    from zeroetl.sources.mysql.source import MySqlSource

    monkeypatch.setattr(snapshot_mod, "VIEW_TABLES", 2)
    names = [f"v{i}" for i in range(5)]
    with db_conn.cursor() as cur:
        for n in names:
            cur.execute(f"CREATE TABLE {n} (id INT PRIMARY KEY)")
            cur.execute(f"INSERT INTO {n} VALUES (1)")
    schemas = [_schema(db_conn, test_db, n) for n in names]
    snap = MySqlSource(SourceParams.from_url(source_url)).snapshot(100)
    try:
        at = snap.begin_consistent()
        assert at is not None
        got = {}
        for c in snap.table_chunks([(s, None) for s in schemas[:3]], at=at):
            if c.rows is not None:
                got[c.table.table] = (c.position, c.rows.column(0).to_pylist())
        # v2 was read in a view begun again, with nothing written since: the same position
        assert got == {n: (at, [1]) for n in names[:3]}
        with db_conn.cursor() as cur:
            for n in names:
                cur.execute(f"INSERT INTO {n} VALUES (2)")
        got = {}
        for c in snap.table_chunks([(s, None) for s in schemas[3:]], at=at):
            if c.rows is not None:
                got[c.table.table] = (c.position, c.rows.column(0).to_pylist())
        # v3 is still in the view of v2; v4 in a new one, after the inserts
        assert got["v3"] == (at, [1])
        later, rows = got["v4"]
        assert later > at and rows == [1, 2]
    finally:
        snap.close()
