"""Every schema-change pattern we promise to handle, with writes before, around and after it,
replicated while streaming, after downtime, and replayed onto a warehouse that already holds
the outcome (see tests/ddl_harness.py). Each ends with the warehouse equal to the source,
value by value and in the source's column order, every table Synced and nothing left over."""

from __future__ import annotations

import pytest
from tests.ddl_harness import MODES, Harness, harness, q

pytestmark = pytest.mark.integration


@pytest.fixture(params=MODES)
def mode(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def h(mariadb, source_url, tmp_path, test_db, mode):  # type: ignore[no-untyped-def]
    with harness(mariadb, source_url, tmp_path, test_db, mode) as h:
        yield h


def no_copy_unless_replayed(h: Harness, *tables: str) -> None:
    """Streaming or after downtime, these tables were changed in place, never copied again.
    (A replay onto a warehouse that is ahead may legitimately resync them.)"""
    if h.mode != "replay":
        for t in tables:
            assert h.copies(t) == [], t


def test_rename_with_new_table_and_writes_around(h: Harness) -> None:
    """The observed wedge: RENAME done while stopped, a new table and writes around it."""
    h.table("events", rows=20)
    h.table("users", rows=5)
    h.start()
    h.writes("events")
    h.sync()
    h.table("sessions", rows=4)
    h.writes("events")
    h.sql("RENAME TABLE events TO events_v2")
    h.writes("events_v2")
    h.writes("users")
    h.sync()
    h.writes("sessions")
    h.finish()
    h.check()


def test_ghost_cut_over(h: Harness) -> None:
    """gh-ost: changelog table, shadow table created LIKE the original, altered, filled by
    copy chunks and applied binlog writes, sentry table, atomic two-way RENAME cut-over."""
    h.table("t", rows=30)
    h.start()
    h.sql(
        "CREATE TABLE _t_ghc (id BIGINT AUTO_INCREMENT, last_update TIMESTAMP NOT NULL DEFAULT "
        "CURRENT_TIMESTAMP ON UPDATE CURRENT_TIMESTAMP, hint VARCHAR(64) CHARSET ascii NOT NULL, "
        "value VARCHAR(4096) CHARSET ascii NOT NULL, PRIMARY KEY (id), UNIQUE KEY hint_uidx (hint)"
        ") AUTO_INCREMENT=256",
        "CREATE TABLE _t_gho LIKE t",
        "ALTER TABLE _t_gho ADD COLUMN note VARCHAR(20) AFTER id, ADD INDEX v_idx (v)",
        "INSERT INTO _t_ghc (hint, value) VALUES ('state', 'GhostTableMigrated')",
    )
    h.writes("t")
    h.sql("INSERT IGNORE INTO _t_gho (id, v) SELECT id, v FROM t WHERE id <= 15")
    h.sync()
    h.writes("t")
    h.sql("INSERT IGNORE INTO _t_gho (id, v) SELECT id, v FROM t WHERE id > 15")
    # gh-ost applies the writes it reads from the binlog to the shadow table.
    h.sql(
        "REPLACE INTO _t_gho (id, v) SELECT id, v FROM t",
        "DELETE FROM _t_gho WHERE id NOT IN (SELECT id FROM t)",
        "REPLACE INTO _t_ghc (hint, value) VALUES ('heartbeat', NOW())",
    )
    h.sql(
        "CREATE TABLE _t_del (id INT AUTO_INCREMENT PRIMARY KEY) ENGINE=InnoDB "
        "COMMENT='ghost-cut-over-sentry'",
        "DROP TABLE IF EXISTS _t_del",
        "RENAME TABLE t TO _t_del, _t_gho TO t",
    )
    h.writes("t")
    h.sql("UPDATE t SET note = CONCAT('n', id) WHERE id % 2 = 0")
    h.sync()
    h.sql("DROP TABLE IF EXISTS _t_del", "DROP TABLE IF EXISTS _t_ghc")
    h.writes("t")
    h.finish()
    h.check()
    no_copy_unless_replayed(h, "t", "_t_gho")


def test_pt_online_schema_change_swap(h: Harness) -> None:
    """pt-online-schema-change: new table, triggers (their effects are row events), chunked
    INSERT ... SELECT, RENAME t TO _t_old, _t_new TO t, DROP _t_old."""
    h.table("t", rows=30)
    h.start()
    h.sql(
        "CREATE TABLE `_t_new` (`id` int(11) NOT NULL, `v` varchar(40) DEFAULT NULL, "
        "PRIMARY KEY (`id`)) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4",
        "ALTER TABLE `_t_new` ADD COLUMN extra INT",
        "CREATE TRIGGER `pt_osc_t_del` AFTER DELETE ON `t` FOR EACH ROW "
        "DELETE IGNORE FROM `_t_new` WHERE `_t_new`.`id` <=> OLD.`id`",
        "CREATE TRIGGER `pt_osc_t_upd` AFTER UPDATE ON `t` FOR EACH ROW BEGIN "
        "DELETE IGNORE FROM `_t_new` WHERE !(OLD.`id` <=> NEW.`id`) AND `_t_new`.`id` <=> OLD.`id`;"
        " REPLACE INTO `_t_new` (`id`, `v`) VALUES (NEW.`id`, NEW.`v`); END",
        "CREATE TRIGGER `pt_osc_t_ins` AFTER INSERT ON `t` FOR EACH ROW "
        "REPLACE INTO `_t_new` (`id`, `v`) VALUES (NEW.`id`, NEW.`v`)",
    )
    h.writes("t")
    h.sql(
        "INSERT LOW_PRIORITY IGNORE INTO `_t_new` (`id`, `v`) SELECT `id`, `v` FROM `t` "
        "FORCE INDEX(`PRIMARY`) WHERE `id` >= 1 AND `id` <= 20 LOCK IN SHARE MODE"
    )
    h.sync()
    h.writes("t")
    h.sql(
        "INSERT LOW_PRIORITY IGNORE INTO `_t_new` (`id`, `v`) SELECT `id`, `v` FROM `t` "
        "FORCE INDEX(`PRIMARY`) WHERE `id` > 20 LOCK IN SHARE MODE",
        "ANALYZE TABLE `_t_new`",
        "RENAME TABLE `t` TO `_t_old`, `_t_new` TO `t`",
        "DROP TABLE IF EXISTS `_t_old`",
        "DROP TRIGGER IF EXISTS `pt_osc_t_del`",
    )
    h.writes("t")
    h.sql("UPDATE t SET extra = id * 2 WHERE id % 3 = 0")
    h.finish()
    h.check()


def test_drop_and_recreate(h: Harness) -> None:
    h.table("t", rows=10)
    h.table("u", rows=10)
    h.start()
    h.writes("t")
    h.sql("DROP TABLE t", "CREATE TABLE t (id INT PRIMARY KEY, w INT, v VARCHAR(40))")
    h.writes("t")
    h.sync()
    h.writes("u")
    h.sql("CREATE OR REPLACE TABLE u (id BIGINT PRIMARY KEY, v TEXT)")
    h.writes("u")
    h.sql("DROP TABLE t", "CREATE TABLE t (id INT PRIMARY KEY, v VARCHAR(40))")
    h.finish()
    h.check()


def test_rename_chains_and_swaps(h: Harness) -> None:
    h.table("a", rows=6, extra="a_only INT")
    h.table("b", rows=4)
    h.table("c", rows=3)
    h.start()
    h.writes("a")
    h.sql("RENAME TABLE a TO tmp, b TO a, tmp TO b")  # swap: a and b trade places
    h.writes("a")
    h.writes("b")
    h.sync()
    h.sql("RENAME TABLE c TO c1, c1 TO c2", "RENAME TABLE c2 TO c3")  # chain
    h.writes("c3")
    h.sql("RENAME TABLE a TO c, c3 TO a")  # onto a freed name
    h.writes("a")
    h.writes("c")
    h.finish()
    h.check()
    no_copy_unless_replayed(h, "a", "b", "c", "c3")


def test_create_table_like(h: Harness) -> None:
    h.table("t", rows=5)
    h.sql("CREATE TABLE outside_src (id INT PRIMARY KEY, v VARCHAR(40))")
    h.start()
    h.sql("CREATE TABLE t2 LIKE t")
    h.writes("t2")
    h.sql("ALTER TABLE t ADD COLUMN n INT", "CREATE TABLE t3 LIKE t")
    h.writes("t3")
    h.sync()
    h.sql("CREATE TABLE IF NOT EXISTS t2 LIKE t")  # exists: changes nothing
    h.writes("t2")
    h.sql(f"CREATE TABLE {q(h.dbs[0])}.t4 LIKE {q(h.dbs[0])}.outside_src")
    h.writes("t4")
    h.finish()
    h.check()
    no_copy_unless_replayed(h, "t", "t2", "t3")


def test_positional_add_column(h: Harness) -> None:
    h.table("t", rows=12, extra="w INT")
    h.start()
    h.writes("t")
    h.sql("ALTER TABLE t ADD COLUMN a INT FIRST")
    h.writes("t")
    h.sql("UPDATE t SET a = id * 10 WHERE id % 2 = 1")
    h.sync()
    h.sql(
        "ALTER TABLE t ADD COLUMN b VARCHAR(5) AFTER id, ADD COLUMN c DECIMAL(8,2) AFTER b, "
        "ADD COLUMN d DATE FIRST, ADD COLUMN e TEXT",
        "UPDATE t SET b = 'x', c = id / 3, d = '2024-02-29', e = REPEAT('e', id) WHERE id % 3 = 0",
    )
    h.writes("t")
    h.sql(
        "ALTER TABLE t DROP COLUMN a, RENAME COLUMN b TO bb, ADD COLUMN f BIGINT UNSIGNED AFTER v"
    )
    h.writes("t")
    h.sql("UPDATE t SET f = 18446744073709551615, bb = 'y' WHERE id % 4 = 0")
    h.finish()
    h.check()
    no_copy_unless_replayed(h, "t")


def test_drop_database(mariadb, source_url, tmp_path, test_db, mode) -> None:
    with harness(mariadb, source_url, tmp_path, test_db, mode, extra_dbs=("other",)) as h:
        other = q(h.dbs[1])
        h.table("t", rows=5)
        h.table(f"{other}.x", rows=5)
        h.table(f"{other}.y", rows=5)
        h.start()
        h.writes(f"{other}.x")
        h.sql(f"DROP DATABASE {other}")
        h.writes("t")
        h.sync()
        h.sql(f"CREATE DATABASE {other}")
        h.table(f"{other}.x", rows=2, extra="z INT")
        h.writes(f"{other}.x")
        h.finish()
        h.check()


def test_renames_across_databases(mariadb, source_url, tmp_path, test_db, mode) -> None:
    with harness(mariadb, source_url, tmp_path, test_db, mode, extra_dbs=("archive",)) as h:
        db, archive = q(h.dbs[0]), q(h.dbs[1])
        h.table("t", rows=8)
        h.table("u", rows=8)
        h.start()
        h.writes("t")
        h.sql(f"RENAME TABLE {db}.t TO {archive}.t")
        h.writes(f"{archive}.t")
        h.sync()
        h.sql(f"ALTER TABLE {db}.u RENAME TO {archive}.u2", f"RENAME TABLE {archive}.t TO {db}.t2")
        h.writes(f"{archive}.u2")
        h.writes("t2")
        h.finish()
        h.check()
        no_copy_unless_replayed(h, "t2")


def test_renames_out_of_and_into_the_filter(mariadb, source_url, tmp_path, test_db, mode) -> None:
    """Filter: only `db.*`, minus `db.tmp_*`. Renames across its edge: out of it (the table
    goes), into it (the table is copied), and onto names it newly includes."""
    flt = "exclude: *.*, include: `{0}`.*, exclude: `{0}`.tmp_*"
    with harness(
        mariadb, source_url, tmp_path, test_db, mode, extra_dbs=("archive",), data_filter=flt
    ) as h:
        db, archive = q(h.dbs[0]), q(h.dbs[1])
        h.table("t", rows=6)
        h.table("tmp_x", rows=6)
        h.table(f"{archive}.old", rows=6)
        h.table("y", rows=6)
        h.start()
        h.writes("t")
        h.writes("tmp_x")
        h.sql(f"RENAME TABLE {db}.t TO {archive}.t")  # leaves the filter
        h.writes(f"{archive}.t")
        h.sql(f"RENAME TABLE {archive}.old TO {db}.old")  # enters it
        h.writes("old")
        h.sync()
        h.sql("RENAME TABLE tmp_x TO x, y TO tmp_y")  # a newly included name, an excluded one
        h.writes("x")
        h.writes("tmp_y")
        h.sql(f"ALTER TABLE {db}.x RENAME TO {archive}.x")
        h.finish()
        h.check()


def test_alter_table_rename_to(h: Harness) -> None:
    h.table("t", rows=6)
    h.start()
    h.writes("t")
    h.sql("ALTER TABLE t RENAME TO t2")
    h.writes("t2")
    h.sync()
    h.sql("ALTER TABLE t2 ADD COLUMN n INT AFTER id, RENAME TO t3")
    h.writes("t3")
    h.sql("ALTER TABLE t3 RENAME AS t4, ADD INDEX (v)")
    h.writes("t4")
    h.finish()
    h.check()
    no_copy_unless_replayed(h, "t3", "t4")


def test_drop_several_and_unknown_tables(h: Harness) -> None:
    for name in ("a", "b", "c", "d"):
        h.table(name, rows=4)
    h.start()
    h.writes("a")
    h.sql("DROP TABLE a, b")
    h.writes("c")
    h.sync()
    h.sql("DROP TABLE IF EXISTS c, nothere, `also not`", "DROP TABLE IF EXISTS gone.nowhere")
    h.writes("d")
    h.sql("CREATE TABLE a (id INT PRIMARY KEY, v VARCHAR(40))")  # the name comes back
    h.writes("a")
    h.finish()
    h.check()


def test_truncate(h: Harness) -> None:
    h.table("t", rows=20)
    h.table("u", rows=5)
    h.start()
    h.writes("t")
    h.sql("TRUNCATE TABLE t")
    h.writes("t")
    h.sync()
    h.sql("TRUNCATE u", "CREATE TABLE fresh (id INT PRIMARY KEY, v VARCHAR(40))")
    h.writes("fresh")
    h.sql("TRUNCATE TABLE fresh")
    h.writes("fresh")
    h.writes("u")
    h.finish()
    h.check()


def test_ddl_on_tables_outside_the_filter(mariadb, source_url, tmp_path, test_db, mode) -> None:
    flt = "exclude: *.*, include: `{0}`.*, exclude: `{0}`.skip_*"
    with harness(
        mariadb, source_url, tmp_path, test_db, mode, extra_dbs=("elsewhere",), data_filter=flt
    ) as h:
        other = q(h.dbs[1])
        h.table("kept", rows=5)
        h.table("skip_a", rows=5)
        h.table(f"{other}.e", rows=5)
        h.start()
        h.sql(
            "ALTER TABLE skip_a ADD COLUMN z INT FIRST, MODIFY v TEXT",
            "TRUNCATE skip_a",
            "RENAME TABLE skip_a TO skip_b",
            "CREATE TABLE skip_c LIKE skip_b",
            f"ALTER TABLE {other}.e ADD COLUMN n INT",
            f"CREATE TABLE {other}.f LIKE kept",
            f"DROP TABLE {other}.e",
        )
        h.writes("skip_b")
        h.writes("kept")
        h.sync()
        h.sql("DROP TABLE skip_b, skip_c", f"DROP DATABASE {other}")
        h.writes("kept")
        h.finish()
        h.check()
        no_copy_unless_replayed(h, "kept")


def test_ddl_while_the_table_is_being_copied(mariadb, source_url, tmp_path, test_db, mode):
    """A type change starts a copy of a table, chunk by chunk; more DDL and writes arrive
    while the copy is under way (a positional ADD COLUMN, a TRUNCATE, a RENAME)."""
    with harness(mariadb, source_url, tmp_path, test_db, mode, chunk_rows=5) as h:
        h.table("big", rows=150)
        h.table("small", rows=5)
        h.start()
        h.sql("ALTER TABLE big MODIFY v VARCHAR(80)")  # a copy of big starts
        h.writes("big")
        h.sql("ALTER TABLE big ADD COLUMN early INT FIRST")
        h.writes("big")
        h.writes("small")
        h.sync()
        h.sql("ALTER TABLE small MODIFY v VARCHAR(90)", "TRUNCATE small")
        h.writes("small")
        h.sql("RENAME TABLE big TO big2")
        h.writes("big2")
        h.finish()
        h.check()
