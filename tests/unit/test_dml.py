"""Which tables a DML statement logged as a statement writes (binlog_format STATEMENT/MIXED)."""

from __future__ import annotations

import pytest

from zeroetl.model import TableId
from zeroetl.sources.mysql.dml import might_be_dml, statement_dml


def T(name: str) -> TableId:
    schema, _, table = name.rpartition(".")
    return TableId(schema or "shop", table)


CASES = [
    ("INSERT INTO orders VALUES (1)", "INSERT", ["orders"]),
    ("insert low_priority ignore into `my db`.`o``x` (a) values (1)", "INSERT", ["my db.o`x"]),
    ("INSERT orders SELECT * FROM other.src", "INSERT", ["orders"]),
    ("REPLACE INTO a.b SET x = 1", "REPLACE", ["a.b"]),
    ("UPDATE orders SET qty = qty + 1 WHERE id < 5", "UPDATE", ["orders"]),
    ("UPDATE LOW_PRIORITY IGNORE orders AS o SET o.qty = 0", "UPDATE", ["orders"]),
    ("UPDATE orders o JOIN items i ON i.oid = o.id AND (i.x = 1) SET o.qty = i.qty",
     "UPDATE", ["orders", "items"]),
    ("UPDATE orders, inv.stock s SET s.n = 1 WHERE s.id = orders.id", "UPDATE",
     ["orders", "inv.stock"]),
    ("UPDATE (orders JOIN items USING (id)) LEFT JOIN x.y ON 1 SET qty = 1", "UPDATE",
     ["orders", "items", "x.y"]),
    ("UPDATE orders FORCE INDEX (PRIMARY) SET qty = 1", "UPDATE", ["orders"]),
    ("UPDATE orders PARTITION (p0) SET qty = 1", "UPDATE", ["orders"]),
    ("UPDATE orders o, (SELECT id FROM items) d SET o.qty = 1 WHERE o.id = d.id", "UPDATE",
     ["orders"]),
    ("DELETE FROM orders WHERE id = 3", "DELETE", ["orders"]),
    ("DELETE LOW_PRIORITY QUICK IGNORE FROM a.orders ORDER BY id LIMIT 3", "DELETE",
     ["a.orders"]),
    ("DELETE o FROM orders o JOIN items i ON i.oid = o.id WHERE i.id = 2", "DELETE",
     ["orders", "items"]),
    ("DELETE o.*, i FROM orders AS o, items i WHERE 1", "DELETE", ["orders", "items"]),
    ("DELETE FROM o, i USING orders o INNER JOIN items i ON 1", "DELETE", ["orders", "items"]),
    ("LOAD DATA LOCAL INFILE '/tmp/x' REPLACE INTO TABLE orders FIELDS TERMINATED BY ','",
     "LOAD DATA", ["orders"]),
    ("LOAD XML INFILE 'f' INTO TABLE b.c", "LOAD DATA", ["b.c"]),
    ("/* app:checkout */ UPDATE orders SET qty = 1", "UPDATE", ["orders"]),
    ("/*!40000 INSERT INTO orders VALUES (1) */", "INSERT", ["orders"]),
    ("SET STATEMENT max_statement_time = 10 FOR UPDATE orders SET qty = 1", "UPDATE",
     ["orders"]),
    ("WITH d AS (SELECT 1 AS id) UPDATE orders JOIN d USING (id) SET qty = 1", "UPDATE",
     ["orders", "d"]),
]  # fmt: skip


@pytest.mark.parametrize(("sql", "verb", "tables"), CASES)
def test_tables_written(sql: str, verb: str, tables: list[str]) -> None:
    got = statement_dml(sql, "shop")
    assert got is not None and got.verb == verb
    assert got.tables == tuple(T(t) for t in tables)
    assert might_be_dml(sql)


@pytest.mark.parametrize(
    "sql",
    [
        "SELECT shop.bump_counter(1)",  # a writing stored function, logged as its call
        "DO shop.f()",
        "UPDATE",  # truncated
        "DELETE FROM",
        "UPDATE ((orders SET x = 1",
        "WITH x AS (SELECT 1) SELECT * FROM x",
    ],
)
def test_unreadable_statements_name_no_table(sql: str) -> None:
    got = statement_dml(sql, "shop")
    assert got is not None and got.tables is None


def test_unqualified_name_without_default_database_is_unknown() -> None:
    got = statement_dml("UPDATE orders SET a = 1", "")
    assert got is not None and got.tables is None
    got = statement_dml("UPDATE s.orders SET a = 1", "")
    assert got is not None and got.tables == (TableId("s", "orders"),)


@pytest.mark.parametrize(
    "sql",
    [
        "BEGIN",
        "COMMIT",
        "CREATE TABLE t (id INT)",
        "ALTER TABLE orders ADD COLUMN x INT",
        "SET @a = 1",
        "GRANT SELECT ON *.* TO x",
        "CREATE TRIGGER tr AFTER INSERT ON t FOR EACH ROW INSERT INTO log VALUES (1)",
        "XA START 'x'",
        "",
    ],
)
def test_other_statements_are_not_dml(sql: str) -> None:
    assert statement_dml(sql, "shop") is None


def test_pre_check_skips_common_control_statements() -> None:
    assert not might_be_dml("BEGIN")
    assert not might_be_dml("ALTER TABLE t ADD x INT")


def test_huge_statements_are_read_from_their_head() -> None:
    values = ",".join(f"({i}, 'x')" for i in range(20_000))  # ~200 kB
    got = statement_dml(f"INSERT INTO orders VALUES {values}", "shop")
    assert got is not None and got.tables == (T("orders"),)
    refs = ", ".join(f"t{i}" for i in range(20_000))  # the table list itself is cut
    got = statement_dml(f"UPDATE {refs} SET a = 1", "shop")
    assert got is not None and got.tables is None
