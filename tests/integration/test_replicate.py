"""End to end in one process: real MariaDB -> Replicator -> real DuckDB file."""

from __future__ import annotations

from pathlib import Path

import pytest
from tests.support import assert_table_equal, open_duck

from zeroetl.engine.filters import DataFilter
from zeroetl.engine.runner import Replicator
from zeroetl.engine.settings import EngineSettings
from zeroetl.model import TableId, TableState
from zeroetl.service.standalone import open_integration
from zeroetl.sources.mysql.connection import SourceParams
from zeroetl.sources.mysql.source import MySqlSource

pytestmark = pytest.mark.integration


def replicate(source_url: str, wh: Path, db: str, **settings: object) -> Replicator:
    dest, iid = open_integration(wh, "target")
    rep = Replicator(
        MySqlSource(SourceParams.from_url(source_url)),
        dest,
        integration_id=iid,
        data_filter=DataFilter.parse(f"exclude: *.*, include: {db}.*"),
        settings=EngineSettings(until_caught_up=True, **settings),  # type: ignore[arg-type]
    )
    try:
        rep.run()
    finally:
        dest.close()
    return rep


def states(wh: Path) -> dict[str, tuple[str, str]]:
    dest, _ = open_integration(wh, "target")
    try:
        return {str(k): (v.state.value, v.reason) for k, v in dest.load_table_statuses().items()}
    finally:
        dest.close()


def check_all(db_conn, wh: Path, db: str, tables: list[str]) -> None:
    duck = open_duck(wh / "databases" / "target.duckdb")
    try:
        for t in tables:
            assert_table_equal(db_conn, duck, db, t)
    finally:
        duck.close()


def test_snapshot_then_cdc(db_conn, test_db, source_url, tmp_path) -> None:
    with db_conn.cursor() as cur:
        cur.execute(
            "CREATE TABLE orders (id INT PRIMARY KEY, customer VARCHAR(40), amount DECIMAL(10,2), placed DATETIME(3))"
        )
        cur.execute(
            "CREATE TABLE `Line Items` (`order` INT, `n°` SMALLINT, sku VARCHAR(20), PRIMARY KEY (`order`, `n°`))"
        )
        cur.executemany(
            "INSERT INTO orders VALUES (%s, %s, %s, %s)",
            [
                (i, f"c{i % 7}", i * 1.25, f"2024-01-{1 + i % 28:02d} 10:00:00.123")
                for i in range(1, 501)
            ],
        )
        cur.executemany(
            "INSERT INTO `Line Items` VALUES (%s, %s, %s)",
            [(i % 50, i, f"sku{i}") for i in range(300)],
        )
    wh = tmp_path / "wh"
    replicate(source_url, wh, test_db, chunk_rows=97)
    check_all(db_conn, wh, test_db, ["orders", "Line Items"])
    assert states(wh)[f"{test_db}.orders"][0] == "Synced"

    with db_conn.cursor() as cur:
        cur.execute("UPDATE orders SET amount = amount + 1 WHERE id % 3 = 0")
        cur.execute("DELETE FROM orders WHERE id % 5 = 0")
        cur.execute("UPDATE orders SET id = id + 1000 WHERE id BETWEEN 10 AND 20")  # key changes
        cur.execute(
            "REPLACE INTO orders VALUES (1, 'replaced', 9.99, NULL), (2000, 'new', 1, NULL)"
        )
        cur.execute(
            "INSERT INTO orders VALUES (2, 'dup', 0, NULL) ON DUPLICATE KEY UPDATE customer = 'upserted'"
        )
        # a multi-table transaction, then one rolled back (absent from the binlog)
        cur.execute("BEGIN")
        cur.execute("INSERT INTO orders VALUES (3000, 'txn', 1, NULL)")
        cur.execute("UPDATE `Line Items` SET sku = 'changed' WHERE `order` = 3")
        cur.execute("DELETE FROM `Line Items` WHERE `order` = 4")
        cur.execute("COMMIT")
        cur.execute("BEGIN")
        cur.execute("DELETE FROM orders")
        cur.execute("ROLLBACK")
        # key swap chain inside one statement
        cur.execute("UPDATE `Line Items` SET `n°` = `n°` + 1 WHERE `order` = 7 ORDER BY `n°` DESC")
    replicate(source_url, wh, test_db, batch_rows=7)
    check_all(db_conn, wh, test_db, ["orders", "Line Items"])


def test_table_without_primary_key_fails_others_flow(
    db_conn, test_db, source_url, tmp_path
) -> None:
    with db_conn.cursor() as cur:
        cur.execute("CREATE TABLE nokey (a INT, b TEXT)")
        cur.execute("CREATE TABLE good (id INT PRIMARY KEY, v TEXT)")
        cur.execute("INSERT INTO nokey VALUES (1, 'x')")
        cur.execute("INSERT INTO good VALUES (1, 'x')")
    wh = tmp_path / "wh"
    replicate(source_url, wh, test_db)
    st = states(wh)
    assert st[f"{test_db}.nokey"] == ("Failed", "table has no primary key")
    with db_conn.cursor() as cur:
        cur.execute("INSERT INTO nokey VALUES (2, 'y')")
        cur.execute("INSERT INTO good VALUES (2, 'y')")
    replicate(source_url, wh, test_db)
    check_all(db_conn, wh, test_db, ["good"])
    assert states(wh)[f"{test_db}.nokey"][0] == "Failed"


def test_ddl_while_streaming(db_conn, test_db, source_url, tmp_path) -> None:
    with db_conn.cursor() as cur:
        cur.execute("CREATE TABLE a (id INT PRIMARY KEY, v VARCHAR(10))")
        cur.execute("CREATE TABLE b (id INT PRIMARY KEY, v VARCHAR(10))")
        cur.execute("CREATE TABLE gone (id INT PRIMARY KEY)")
        cur.execute("CREATE TABLE t (id INT PRIMARY KEY, x INT)")
        cur.execute("INSERT INTO a VALUES (1,'a'),(2,'b')")
        cur.execute("INSERT INTO b VALUES (1,'a')")
        cur.execute("INSERT INTO t VALUES (1, 1), (2, 2)")
    wh = tmp_path / "wh"
    replicate(source_url, wh, test_db)
    with db_conn.cursor() as cur:
        cur.execute("ALTER TABLE a ADD COLUMN note TEXT")
        cur.execute("INSERT INTO a VALUES (3, 'c', 'hello')")
        cur.execute("ALTER TABLE a RENAME COLUMN v TO val")
        cur.execute("UPDATE a SET val = 'z' WHERE id = 1")
        cur.execute("ALTER TABLE b MODIFY COLUMN v VARCHAR(200)")  # resync
        cur.execute("INSERT INTO b VALUES (2, 'long value after modify')")
        cur.execute("ALTER TABLE b ADD COLUMN n INT NOT NULL DEFAULT 7")  # resync (fills rows)
        cur.execute("DROP TABLE gone")
        cur.execute("CREATE TABLE created (id BIGINT PRIMARY KEY, s TEXT)")
        cur.execute("INSERT INTO created VALUES (1, 'new')")
        cur.execute("RENAME TABLE t TO t2")
        cur.execute("INSERT INTO t2 VALUES (3, 3)")
        cur.execute("TRUNCATE TABLE a")
        cur.execute("INSERT INTO a VALUES (9, 'after', 'truncate')")
        cur.execute("ALTER TABLE a DROP COLUMN note")
        cur.execute("INSERT INTO a VALUES (10, 'x')")
    replicate(source_url, wh, test_db)
    check_all(db_conn, wh, test_db, ["a", "b", "created", "t2"])
    st = states(wh)
    assert st[f"{test_db}.gone"][0] == "Deleted"
    assert st[f"{test_db}.t"][0] == "Deleted"
    for name in ("a", "b", "created", "t2"):
        assert st[f"{test_db}.{name}"][0] == "Synced", st


def test_table_state_ids_are_table_ids(db_conn, test_db, source_url, tmp_path) -> None:
    with db_conn.cursor() as cur:
        cur.execute("CREATE TABLE `select` (`Key` INT PRIMARY KEY, `weird ``name`` ☃` TEXT)")
        cur.execute("INSERT INTO `select` VALUES (1, 'snow ☃ 🎉')")
    wh = tmp_path / "wh"
    rep = replicate(source_url, wh, test_db)
    assert rep.book.status[TableId(test_db, "select")].state is TableState.SYNCED
    check_all(db_conn, wh, test_db, ["select"])


@pytest.mark.parametrize(
    "mode", [{}, {"snapshot_processes": True, "snapshot_readers": 2}], ids=["inproc", "procs"]
)
def test_enum_primary_key_is_copied_whole(db_conn, test_db, source_url, tmp_path, mode) -> None:
    """ENUM keys sort by index but compare as text: paging over them would lose rows."""
    with db_conn.cursor() as cur:
        cur.execute(
            "CREATE TABLE sizes (s ENUM('zz', 'aa', 'mm') NOT NULL, n INT, PRIMARY KEY (s, n))"
        )
        cur.executemany(
            "INSERT INTO sizes VALUES (%s, %s)",
            [(s, n) for s in ("zz", "aa", "mm") for n in range(40)],
        )
    replicate(source_url, tmp_path / "wh", test_db, chunk_rows=7, **mode)
    check_all(db_conn, tmp_path / "wh", test_db, ["sizes"])


def test_many_tables_view_and_file_renewed(
    monkeypatch, db_conn, test_db, source_url, tmp_path
) -> None:
    # The snapshot's consistent view begun again and the warehouse file opened again every
    # two tables: every table copied whole and Synced, the keyless one Failed without
    # stopping the others, and changes after the snapshot replicated once.
    from zeroetl.engine import copier
    from zeroetl.sources.mysql import snapshot

    monkeypatch.setattr(snapshot, "VIEW_TABLES", 2)
    monkeypatch.setattr(copier, "RELEASE_TABLES", 2)
    names = [f"m{i}" for i in range(7)]
    with db_conn.cursor() as cur:
        for n in names:
            cur.execute(f"CREATE TABLE {n} (id INT PRIMARY KEY, v VARCHAR(10))")
            cur.execute(f"INSERT INTO {n} SELECT seq, CONCAT('{n}-', seq) FROM seq_1_to_5")
        cur.execute("CREATE TABLE m_nokey (a INT)")
    wh = tmp_path / "wh"
    replicate(source_url, wh, test_db)
    st = states(wh)
    assert {n: st[f"{test_db}.{n}"][0] for n in names} == {n: "Synced" for n in names}
    assert st[f"{test_db}.m_nokey"] == ("Failed", "table has no primary key")
    with db_conn.cursor() as cur:
        cur.execute("UPDATE m3 SET v = 'changed' WHERE id = 2")
        cur.execute("INSERT INTO m6 VALUES (6, 'new')")
    replicate(source_url, wh, test_db)
    check_all(db_conn, wh, test_db, names)
