"""Every type of PRODUCT.md section 6, edge values included, through both paths (snapshot
and binlog) into DuckDB, compared with what the source returns."""

from __future__ import annotations

import pytest
from tests.integration.test_replicate import check_all, replicate, states

pytestmark = pytest.mark.integration

DDL = """CREATE TABLE every (
  id INT PRIMARY KEY,
  ti TINYINT, tiu TINYINT UNSIGNED, si SMALLINT, siu SMALLINT UNSIGNED,
  mi MEDIUMINT, miu MEDIUMINT UNSIGNED, i INT, iu INT UNSIGNED, bi BIGINT, biu BIGINT UNSIGNED,
  d52 DECIMAL(5,2), d3810 DECIMAL(38,10), d6530 DECIMAL(65,30), du DECIMAL(10,4) UNSIGNED,
  f FLOAT, db DOUBLE,
  b1 BIT(1), b64 BIT(64),
  c CHAR(10), vc VARCHAR(100), tx TEXT, lt VARCHAR(20) CHARACTER SET latin1, mt MEDIUMTEXT,
  bn BINARY(4), vb VARBINARY(20), bl BLOB,
  e ENUM('small','medium','large'), st SET('a','b','c','d'),
  dt DATE, dtm DATETIME, dtm6 DATETIME(6), ts TIMESTAMP(3) NULL, tm TIME, tm3 TIME(3), y YEAR,
  js JSON, g GEOMETRY
)"""

ROWS = [
    "(1, -128, 0, -32768, 0, -8388608, 0, -2147483648, 0, -9223372036854775808, 0,"
    " -999.99, -9999999999999999999999999999.9999999999,"
    " -99999999999999999999999999999999999.999999999999999999999999999999, 0,"
    " -3.4e38, -1.7976931348623157e308, 0, 0, '', '', '', '', '', '', '', '',"
    " 'small', '', '1000-01-01', '1000-01-01 00:00:00', '1000-01-01 00:00:00.000000',"
    " '1970-01-01 00:00:01.000', '00:00:00', '00:00:00.000', 1901, '{}', ST_GeomFromText('POINT(0 0)'))",
    "(2, 127, 255, 32767, 65535, 8388607, 16777215, 2147483647, 4294967295,"
    " 9223372036854775807, 18446744073709551615, 999.99, 9999999999999999999999999999.9999999999,"
    " 99999999999999999999999999999999999.999999999999999999999999999999, 999999.9999,"
    " 3.4e38, 1.7976931348623157e308, 1, 18446744073709551615, 'abcdefghij', '😀 emoji 𝄞',"
    " 'naïve café ∑', 'café crème ÿ', REPEAT('long ', 1000), 'ab', X'00FF00', X'DEADBEEF',"
    " 'large', 'a,b,c,d', '9999-12-31', '9999-12-31 23:59:59', '9999-12-31 23:59:59.999999',"
    " '2038-01-19 03:14:07.999', '23:59:59', '23:59:59.999', 2155,"
    ' \'{"a": [1, 2.5, "x", null, true], "b": {"c": {"d": []}}}\','
    " ST_GeomFromText('LINESTRING(0 0, 1 1, 2 3)'))",
    "(3, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0.01, 0.0000000001, 0.000000000000000000000000000001,"
    " 0.0001, 1.17549435e-38, 4.9e-324, 0, 1, 'x', ' lead', 'tab\\there', 'x', 'y', 'a', 'b', 'c',"
    " 'medium', 'b,d', '2024-02-29', '2024-02-29 12:34:56', '2024-02-29 12:34:56.123456',"
    " '2024-02-29 12:34:56.789', '12:00:00', '01:02:03.456', 0, '[1, [2, [3]]]', NULL)",
    "(4" + ", NULL" * 37 + ")",
]


def _insert(db_conn, rows: list[str], id_shift: int = 0) -> None:
    with db_conn.cursor() as cur:
        cur.execute("SET SESSION sql_mode = ''")  # YEAR 0 and friends
        for r in rows:
            if id_shift:
                r = r.replace("(", f"({id_shift} + ", 1)
            cur.execute(f"INSERT INTO every VALUES {r}")


# The snapshot read in this process, and in reader processes (Arrow IPC between them).
MODES = pytest.mark.parametrize(
    "mode", [{}, {"snapshot_processes": True, "snapshot_readers": 2}], ids=["inproc", "procs"]
)


@MODES
def test_every_type_snapshot_and_binlog(db_conn, test_db, source_url, tmp_path, mode) -> None:
    with db_conn.cursor() as cur:
        cur.execute(DDL)
    _insert(db_conn, ROWS)  # these arrive through the snapshot
    wh = tmp_path / "wh"
    replicate(source_url, wh, test_db, **mode)
    check_all(db_conn, wh, test_db, ["every"])
    _insert(db_conn, ROWS, id_shift=100)  # the same values through the binlog
    with db_conn.cursor() as cur:
        cur.execute("UPDATE every SET vc = CONCAT(IFNULL(vc, ''), '!'), b64 = 5 WHERE id > 100")
    replicate(source_url, wh, test_db)
    check_all(db_conn, wh, test_db, ["every"])
    assert states(wh)[f"{test_db}.every"][0] == "Synced"


@MODES
def test_zero_dates_become_null(db_conn, test_db, source_url, tmp_path, mode) -> None:
    with db_conn.cursor() as cur:
        cur.execute("SET SESSION sql_mode = ''")
        cur.execute("CREATE TABLE z (id INT PRIMARY KEY, d DATE, t DATETIME, ts TIMESTAMP NULL)")
        cur.execute(
            "INSERT INTO z VALUES (1, '0000-00-00', '0000-00-00 00:00:00', '0000-00-00 00:00:00')"
        )
    wh = tmp_path / "wh"
    replicate(source_url, wh, test_db, **mode)
    with db_conn.cursor() as cur:
        cur.execute("SET SESSION sql_mode = ''")
        cur.execute("INSERT INTO z VALUES (2, '0000-00-00', '2024-00-00 00:00:00', NULL)")
    replicate(source_url, wh, test_db)
    from tests.support import open_duck

    duck = open_duck(wh / "databases" / "target.duckdb")
    try:
        rows = duck.execute(f'SELECT id, d, t, ts FROM "{test_db}".z ORDER BY id').fetchall()
    finally:
        duck.close()
    assert rows == [(1, None, None, None), (2, None, None, None)]


def test_time_out_of_range_fails_only_that_table(db_conn, test_db, source_url, tmp_path) -> None:
    with db_conn.cursor() as cur:
        cur.execute("CREATE TABLE durations (id INT PRIMARY KEY, t TIME)")
        cur.execute("CREATE TABLE fine (id INT PRIMARY KEY)")
        cur.execute("INSERT INTO durations VALUES (1, '10:00:00')")
        cur.execute("INSERT INTO fine VALUES (1)")
    wh = tmp_path / "wh"
    replicate(source_url, wh, test_db)
    with db_conn.cursor() as cur:
        cur.execute("INSERT INTO durations VALUES (2, '-838:59:59')")
        cur.execute("INSERT INTO fine VALUES (2)")
    replicate(source_url, wh, test_db)
    st = states(wh)
    assert st[f"{test_db}.durations"][0] == "Failed"
    assert "TIME value out of range" in st[f"{test_db}.durations"][1]
    check_all(db_conn, wh, test_db, ["fine"])
