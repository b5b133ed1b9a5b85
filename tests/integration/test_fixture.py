import pytest

pytestmark = pytest.mark.integration


def test_server_has_binlog_settings(db_conn) -> None:
    with db_conn.cursor() as cur:
        cur.execute(
            "SELECT @@log_bin, @@binlog_format, @@binlog_row_image, @@binlog_row_metadata, @@server_id"
        )
        assert cur.fetchone() == (1, "ROW", "FULL", "FULL", 1)


def test_kill_and_restart(mariadb, test_db) -> None:
    conn = mariadb.root(test_db)
    with conn.cursor() as cur:
        cur.execute("CREATE TABLE t (id INT PRIMARY KEY)")
        cur.execute("INSERT INTO t VALUES (1)")
    conn.close()
    mariadb.kill()
    assert not mariadb.running()
    mariadb.start()
    conn = mariadb.root(test_db)
    with conn.cursor() as cur:
        cur.execute("SELECT id FROM t")
        assert cur.fetchall() == ((1,),)
    conn.close()
