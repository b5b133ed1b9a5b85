"""A seeded random workload: mixed types, awkward names, multi-statement transactions, key
updates, rollbacks and DDL mixed in. Used by the crash and equality tests."""

from __future__ import annotations

import contextlib
import random
import threading

import pymysql

TABLES = {
    "plain": "CREATE TABLE plain (id INT PRIMARY KEY, n BIGINT, s VARCHAR(50), d DECIMAL(12,3), ts DATETIME(6), f DOUBLE)",
    "Mixed Case ☃": (
        "CREATE TABLE `Mixed Case ☃` (`Order` BIGINT UNSIGNED, `k2` VARCHAR(10), `select` TEXT, "
        "`when` TIMESTAMP(3) NULL, b VARBINARY(16), e ENUM('x','y','z'), j JSON, PRIMARY KEY (`Order`, `k2`))"
    ),
    "wide": (
        "CREATE TABLE wide (id BIGINT PRIMARY KEY, t TINYINT, u SMALLINT UNSIGNED, m MEDIUMINT, "
        "dt DATE, tm TIME(2), y YEAR, bt BIT(12), big DECIMAL(50,10), fl FLOAT, st SET('a','b','c'), "
        "lt VARCHAR(20) CHARACTER SET latin1)"
    ),
}


def _q(name: str) -> str:
    return "`" + name.replace("`", "``") + "`"


class Workload:
    def __init__(
        self, conn: pymysql.connections.Connection, db: str, seed: int, ddl: bool = True
    ) -> None:
        self.conn = conn
        self.db = db
        self.rnd = random.Random(seed)
        self.ddl = ddl
        self.next_id = 1
        self.extra_cols = 0

    def create(self, rows: int = 200) -> None:
        with self.conn.cursor() as cur:
            cur.execute(f"USE {_q(self.db)}")
            for ddl in TABLES.values():
                cur.execute(ddl)
        for _ in range(rows):
            self._insert_all()

    def _row(self, table: str) -> tuple[str, tuple]:
        r = self.rnd
        i = self.next_id
        self.next_id += 1
        if table == "plain":
            return (
                "INSERT INTO plain (id, n, s, d, ts, f) VALUES (%s,%s,%s,%s,%s,%s)",
                (
                    i,
                    r.randint(-(2**62), 2**62),
                    r.choice(["a", "é", "𝄞", "", "x" * 50]),
                    f"{r.randint(-(10**8), 10**8)}.{r.randint(0, 999):03d}",
                    f"2024-0{r.randint(1, 9)}-1{r.randint(0, 9)} 1{r.randint(0, 9)}:3{r.randint(0, 9)}:00.{r.randint(0, 999999):06d}",
                    r.uniform(-1e9, 1e9),
                ),
            )
        if table == "Mixed Case ☃":
            return (
                "INSERT INTO `Mixed Case ☃` (`Order`, k2, `select`, `when`, b, e, j) VALUES (%s,%s,%s,%s,%s,%s,%s)",
                (
                    r.choice([i, 2**64 - i]),
                    r.choice(["a", "b", "ß"]),
                    r.choice([None, "text", "日本"]),
                    r.choice([None, "2020-02-29 23:59:59.999"]),
                    bytes(r.randrange(256) for _ in range(r.randint(0, 16))),
                    r.choice(["x", "y", "z", None]),
                    r.choice([None, '{"a": [1, 2, {"b": null}]}', "[]"]),
                ),
            )
        return (
            "INSERT INTO wide (id, t, u, m, dt, tm, y, bt, big, fl, st, lt) VALUES (%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s)",
            (
                i,
                r.randint(-128, 127),
                r.randint(0, 65535),
                r.randint(-8388608, 8388607),
                r.choice([None, "1999-12-31", "2038-01-19"]),
                r.choice(["00:00:00", "23:59:59.99", "12:30:00.5"]),
                r.choice([1901, 2155, 2024]),
                r.randint(0, 4095),
                f"{r.randint(-(10**30), 10**30)}.{r.randint(0, 10**10 - 1):010d}",
                r.choice([0.5, -1.25, 3.0e10]),
                r.choice(["", "a", "a,c", "a,b,c"]),
                r.choice(["café", "naïve", "plain", None]),
            ),
        )

    def _insert_all(self) -> None:
        with self.conn.cursor() as cur:
            for t in TABLES:
                sql, args = self._row(t)
                with contextlib.suppress(pymysql.err.IntegrityError):
                    cur.execute(sql, args)

    def step(self) -> None:
        """One random transaction (or DDL)."""
        r = self.rnd
        with self.conn.cursor() as cur:
            cur.execute(f"USE {_q(self.db)}")
            roll = r.random()
            if self.ddl and roll < 0.02:
                self._ddl(cur)
                return
            cur.execute("BEGIN")
            for _ in range(r.randint(1, 6)):
                op = r.random()
                table = r.choice(list(TABLES))
                if op < 0.45:
                    sql, args = self._row(table)
                    with contextlib.suppress(pymysql.err.IntegrityError):
                        cur.execute(sql, args)
                elif op < 0.7:
                    if table == "plain":
                        cur.execute(
                            "UPDATE plain SET n = n DIV 2, s = %s WHERE id %% 7 = %s",
                            (r.choice(["u", "ü"]), r.randint(0, 6)),
                        )
                    elif table == "wide":
                        cur.execute(
                            "UPDATE wide SET fl = fl * 2, st = 'b' WHERE id %% 11 = %s",
                            (r.randint(0, 10),),
                        )
                    else:
                        cur.execute(
                            "UPDATE `Mixed Case ☃` SET `select` = CONCAT(IFNULL(`select`, ''), '!') WHERE k2 = %s LIMIT 5",
                            (r.choice("ab"),),
                        )
                elif op < 0.8:
                    # primary key update
                    if table == "plain":
                        with contextlib.suppress(pymysql.err.IntegrityError):
                            cur.execute(
                                "UPDATE plain SET id = id + 100000 WHERE id %% 13 = %s LIMIT 3",
                                (r.randint(0, 12),),
                            )
                    else:
                        cur.execute(
                            "UPDATE IGNORE `Mixed Case ☃` SET k2 = %s WHERE k2 = %s LIMIT 2",
                            (r.choice("ab"), r.choice(["ß", "a"])),
                        )
                else:
                    cur.execute(
                        f"DELETE FROM {_q(table)} ORDER BY RAND({r.randint(0, 10**6)}) LIMIT {r.randint(1, 3)}"
                    )
            if r.random() < 0.1:
                cur.execute("ROLLBACK")
            else:
                cur.execute("COMMIT")

    def _ddl(self, cur) -> None:  # type: ignore[no-untyped-def]
        r = self.rnd
        choice = r.randint(0, 2)
        if choice == 0:
            self.extra_cols += 1
            cur.execute(f"ALTER TABLE plain ADD COLUMN extra{self.extra_cols} VARCHAR(10)")
        elif choice == 1 and self.extra_cols:
            cur.execute(f"ALTER TABLE plain DROP COLUMN extra{self.extra_cols}")
            self.extra_cols -= 1
        else:
            cur.execute("ALTER TABLE wide MODIFY COLUMN lt VARCHAR(30) CHARACTER SET latin1")

    def run(self, stop: threading.Event, max_steps: int = 100_000, pause_s: float = 0.0) -> int:
        n = 0
        while not stop.is_set() and n < max_steps:
            self.step()
            n += 1
            if pause_s:
                stop.wait(pause_s)
        return n
