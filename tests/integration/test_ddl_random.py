"""Seeded random schema changes with writes around them, while `zeroetl replicate` runs, is
stopped (SIGTERM) or is SIGKILLed at random points, and stays down for a while; at the end the
warehouse must equal the source.

Every round draws from the patterns the engine promises to handle (tests/integration/
test_ddl_patterns.py has one test for each): CREATE TABLE (plain, LIKE), DROP TABLE (one,
several, IF EXISTS of unknown ones), RENAME TABLE (one, chains, swaps, across databases, out of
and into the data filter), ALTER TABLE ... RENAME TO, ADD COLUMN (last, FIRST, AFTER, with a
default), DROP/RENAME/MODIFY COLUMN, TRUNCATE, DROP DATABASE, drop and recreate, gh-ost's
cut-over, pt-online-schema-change's swap with triggers, and DDL on tables outside the filter.

Replay a failure with ZEROETL_DDL_SEED=<seed> (printed, and named in the failure); run longer
with ZEROETL_DDL_ROUNDS=<n> (default 48, about a minute).
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pymysql
import pytest
from tests.ddl_harness import Harness, q

pytestmark = [pytest.mark.integration, pytest.mark.slow]

ADDED_TYPES = [
    "INT", "BIGINT UNSIGNED", "VARCHAR(10)", "DECIMAL(8,2)", "DATE", "DATETIME(3)", "DOUBLE",
    "TEXT",
]  # fmt: skip


class Source:
    """The source databases and the random operations on them."""

    def __init__(self, conn: pymysql.connections.Connection, dbs: list[str], rnd: random.Random):
        self.conn = conn
        self.main, self.other, self.out = dbs
        self.rnd = rnd
        self.n = 0
        self.log: list[str] = []

    def fresh(self, prefix: str = "t") -> str:
        self.n += 1
        return f"{prefix}{self.n}"

    def sql(self, *statements: str) -> None:
        with self.conn.cursor() as cur:
            for s in statements:
                self.log.append(s)
                cur.execute(s)

    def tables(self, db: str, prefix: str = "t") -> list[str]:
        with self.conn.cursor() as cur:
            cur.execute(
                "SELECT table_name FROM information_schema.tables WHERE table_schema = %s "
                "AND table_type = 'BASE TABLE' ORDER BY table_name",
                (db,),
            )
            return [r[0] for r in cur.fetchall() if r[0].startswith(prefix)]

    def columns(self, db: str, table: str) -> list[tuple[str, str]]:
        with self.conn.cursor() as cur:
            cur.execute(
                "SELECT column_name, data_type FROM information_schema.columns WHERE "
                "table_schema = %s AND table_name = %s ORDER BY ordinal_position",
                (db, table),
            )
            return [(r[0], r[1]) for r in cur.fetchall()]

    def pick(self, db: str | None = None) -> tuple[str, str] | None:
        db = db or self.rnd.choice([self.main, self.main, self.other])
        names = self.tables(db)
        return (db, self.rnd.choice(names)) if names else None

    def create(self, db: str, name: str | None = None, rows: int = 0) -> str:
        name = name or self.fresh()
        self.sql(f"CREATE TABLE {q(db)}.{q(name)} (id INT PRIMARY KEY, v VARCHAR(40))")
        self.insert(db, name, rows or self.rnd.randint(0, 12))
        return name

    # -- writes -------------------------------------------------------------------------------
    def value(self, data_type: str) -> str:
        r = self.rnd
        if "int" in data_type:
            return str(r.randint(0, 10**6))
        if data_type in ("decimal", "double"):
            return f"{r.randint(-99999, 99999)}.{r.randint(0, 99):02d}"
        if data_type == "date":
            return f"'2024-{r.randint(1, 12):02d}-{r.randint(1, 28):02d}'"
        if data_type == "datetime":
            return f"'2024-05-{r.randint(1, 28):02d} 10:11:12.{r.randint(0, 999):03d}'"
        return repr(r.choice(["x", "é", "🎉", "", "ten chars!"]))

    def insert(self, db: str, table: str, n: int) -> None:
        if n <= 0:
            return
        ids = [self.fresh("") for _ in range(n)]
        values = ", ".join(f"({i}, 'v{i}')" for i in ids)
        self.sql(f"INSERT INTO {q(db)}.{q(table)} (id, v) VALUES {values}")

    def writes(self, db: str, table: str) -> None:
        r = self.rnd
        self.insert(db, table, r.randint(1, 4))
        extra = [(c, t) for c, t in self.columns(db, table) if c not in ("id", "v")]
        sets = ["v = CONCAT(v, '+')"]
        if extra:
            c, t = r.choice(extra)
            sets.append(f"{q(c)} = {self.value(t)}")
        name = f"{q(db)}.{q(table)}"
        self.sql(f"UPDATE {name} SET {', '.join(sets)} WHERE id % 3 = {r.randint(0, 2)}")
        if r.random() < 0.5:
            self.sql(f"DELETE FROM {name} WHERE id % 7 = {r.randint(0, 6)}")

    def some_writes(self) -> None:
        for _ in range(self.rnd.randint(1, 4)):
            picked = self.pick()
            if picked:
                self.writes(*picked)

    # -- schema changes ------------------------------------------------------------------------
    def step(self) -> None:
        op = self.rnd.choice(
            [
                self.op_create, self.op_create_like, self.op_drop, self.op_rename,
                self.op_swap, self.op_rename_across, self.op_filter_edge, self.op_add_column,
                self.op_add_column, self.op_column_change, self.op_truncate,
                self.op_drop_database, self.op_recreate, self.op_ghost, self.op_pt_osc,
                self.op_outside,
            ]
        )  # fmt: skip
        op()

    def op_create(self) -> None:
        self.create(self.rnd.choice([self.main, self.other]))

    def op_create_like(self) -> None:
        picked = self.pick()
        if picked:
            db, t = picked
            new = self.fresh()
            self.sql(f"CREATE TABLE {q(db)}.{q(new)} LIKE {q(db)}.{q(t)}")
            self.insert(db, new, self.rnd.randint(0, 5))

    def op_drop(self) -> None:
        names = self.tables(self.main)
        victims = self.rnd.sample(names, min(len(names), self.rnd.randint(1, 2)))
        targets = [f"{q(self.main)}.{q(t)}" for t in victims] + ["nothere"]
        self.sql(f"DROP TABLE IF EXISTS {', '.join(targets)}")

    def op_rename(self) -> None:
        picked = self.pick()
        if not picked:
            return
        db, t = picked
        a, b = self.fresh(), self.fresh()
        if self.rnd.random() < 0.5:  # a chain in one statement, then ALTER ... RENAME
            self.sql(
                f"RENAME TABLE {q(db)}.{q(t)} TO {q(db)}.{q(a)}, {q(db)}.{q(a)} TO {q(db)}.{q(b)}"
            )
            self.writes(db, b)
            self.sql(f"ALTER TABLE {q(db)}.{q(b)} RENAME TO {q(db)}.{q(t)}")
        else:
            self.sql(f"RENAME TABLE {q(db)}.{q(t)} TO {q(db)}.{q(a)}")
            self.writes(db, a)

    def op_swap(self) -> None:
        names = self.tables(self.main)
        if len(names) < 2:
            return
        a, b = self.rnd.sample(names, 2)
        tmp = self.fresh("tmp")
        self.sql(f"RENAME TABLE {q(a)} TO {q(tmp)}, {q(b)} TO {q(a)}, {q(tmp)} TO {q(b)}")
        self.writes(self.main, a)

    def op_rename_across(self) -> None:
        src, dst = self.rnd.sample([self.main, self.other], 2)
        picked = self.pick(src)
        if picked:
            new = self.fresh()
            self.sql(f"RENAME TABLE {q(src)}.{q(picked[1])} TO {q(dst)}.{q(new)}")
            self.writes(dst, new)

    def op_filter_edge(self) -> None:
        """Out of the filter (another database, an excluded name) and back in."""
        picked = self.pick(self.main)
        if not picked:
            return
        t = picked[1]
        away = self.rnd.choice([f"{q(self.out)}.{q(t)}", f"{q(self.main)}.{q('skip_' + t)}"])
        self.sql(f"RENAME TABLE {q(self.main)}.{q(t)} TO {away}")
        self.sql(f"UPDATE {away} SET v = 'while away'")
        if self.rnd.random() < 0.7:
            self.sql(f"RENAME TABLE {away} TO {q(self.main)}.{q(t)}")

    def op_add_column(self) -> None:
        picked = self.pick()
        if not picked:
            return
        db, t = picked
        cols = [c for c, _ in self.columns(db, t)]
        where = self.rnd.choice(["", " FIRST", f" AFTER {q(self.rnd.choice(cols))}"])
        default = " NOT NULL DEFAULT 7" if self.rnd.random() < 0.15 else ""
        ctype = "INT" if default else self.rnd.choice(ADDED_TYPES)
        self.sql(f"ALTER TABLE {q(db)}.{q(t)} ADD COLUMN {self.fresh('c')} {ctype}{default}{where}")
        self.writes(db, t)

    def op_column_change(self) -> None:
        picked = self.pick()
        if not picked:
            return
        db, t = picked
        extra = [c for c, _ in self.columns(db, t) if c.startswith("c")]
        if not extra:
            return
        c = self.rnd.choice(extra)
        name = f"{q(db)}.{q(t)}"
        kind = self.rnd.random()
        if kind < 0.4:
            self.sql(f"ALTER TABLE {name} DROP COLUMN {q(c)}")
        elif kind < 0.8:
            self.sql(f"ALTER TABLE {name} RENAME COLUMN {q(c)} TO {self.fresh('c')}")
        else:
            self.sql(f"ALTER TABLE {name} MODIFY {q(c)} TEXT")
        self.writes(db, t)

    def op_truncate(self) -> None:
        picked = self.pick()
        if picked:
            self.sql(f"TRUNCATE TABLE {q(picked[0])}.{q(picked[1])}")
            self.writes(*picked)

    def op_drop_database(self) -> None:
        self.sql(f"DROP DATABASE {q(self.other)}", f"CREATE DATABASE {q(self.other)}")
        self.create(self.other, rows=3)

    def op_recreate(self) -> None:
        picked = self.pick()
        if picked:
            db, t = picked
            self.sql(
                f"DROP TABLE {q(db)}.{q(t)}",
                f"CREATE TABLE {q(db)}.{q(t)} (id INT PRIMARY KEY, w INT, v VARCHAR(40))",
            )
            self.insert(db, t, 3)

    def op_ghost(self) -> None:
        picked = self.pick(self.main)
        if not picked:
            return
        t = picked[1]
        gho, ghc, dele = f"_{t}_gho", f"_{t}_ghc", f"_{t}_del"
        cols = ", ".join(q(c) for c, _ in self.columns(self.main, t))
        self.sql(
            f"CREATE TABLE {q(ghc)} (id BIGINT AUTO_INCREMENT PRIMARY KEY, hint VARCHAR(64), "
            "value VARCHAR(255))",
            f"CREATE TABLE {q(gho)} LIKE {q(t)}",
            f"ALTER TABLE {q(gho)} ADD COLUMN {self.fresh('c')} INT AFTER id",
            f"INSERT IGNORE INTO {q(gho)} ({cols}) SELECT {cols} FROM {q(t)}",
        )
        self.writes(self.main, t)
        self.sql(
            f"REPLACE INTO {q(gho)} ({cols}) SELECT {cols} FROM {q(t)}",
            f"DELETE FROM {q(gho)} WHERE id NOT IN (SELECT id FROM {q(t)})",
            f"INSERT INTO {q(ghc)} (hint, value) VALUES ('state', 'cut-over')",
            f"CREATE TABLE {q(dele)} (id INT AUTO_INCREMENT PRIMARY KEY) COMMENT='sentry'",
            f"DROP TABLE IF EXISTS {q(dele)}",
            f"RENAME TABLE {q(t)} TO {q(dele)}, {q(gho)} TO {q(t)}",
            f"DROP TABLE IF EXISTS {q(dele)}",
            f"DROP TABLE IF EXISTS {q(ghc)}",
        )
        self.writes(self.main, t)

    def op_pt_osc(self) -> None:
        picked = self.pick(self.main)
        if not picked:
            return
        t = picked[1]
        new, old, trg = f"_{t}_new", f"_{t}_old", self.fresh("pt_osc_")
        cols = [c for c, _ in self.columns(self.main, t)]
        names = ", ".join(q(c) for c in cols)
        new_vals = ", ".join(f"NEW.{q(c)}" for c in cols)
        self.sql(
            f"CREATE TABLE {q(new)} LIKE {q(t)}",
            f"ALTER TABLE {q(new)} ADD COLUMN {self.fresh('c')} VARCHAR(10)",
            f"CREATE TRIGGER {trg}_del AFTER DELETE ON {q(t)} FOR EACH ROW "
            f"DELETE IGNORE FROM {q(new)} WHERE {q(new)}.id <=> OLD.id",
            f"CREATE TRIGGER {trg}_upd AFTER UPDATE ON {q(t)} FOR EACH ROW "
            f"REPLACE INTO {q(new)} ({names}) VALUES ({new_vals})",
            f"CREATE TRIGGER {trg}_ins AFTER INSERT ON {q(t)} FOR EACH ROW "
            f"REPLACE INTO {q(new)} ({names}) VALUES ({new_vals})",
        )
        self.writes(self.main, t)
        self.sql(
            f"INSERT LOW_PRIORITY IGNORE INTO {q(new)} ({names}) SELECT {names} FROM {q(t)} "
            "LOCK IN SHARE MODE",
        )
        self.writes(self.main, t)
        self.sql(
            f"RENAME TABLE {q(t)} TO {q(old)}, {q(new)} TO {q(t)}",
            f"DROP TABLE IF EXISTS {q(old)}",
        )

    def op_outside(self) -> None:
        """DDL and writes on tables the filter excludes, sometimes moved into it."""
        name = self.create(self.out, rows=3)
        self.sql(f"ALTER TABLE {q(self.out)}.{q(name)} ADD COLUMN {self.fresh('c')} INT FIRST")
        if self.rnd.random() < 0.5:
            self.sql(f"RENAME TABLE {q(self.out)}.{q(name)} TO {q(self.main)}.{q(name)}")


def replicate_cmd(url: str, wh: Path, flt: str, *extra: str) -> list[str]:
    return [
        sys.executable, "-m", "zeroetl.cli.main", "replicate", "--source", url, "--warehouse",
        str(wh), "--database", "target", "--data-filter", flt, "--chunk-rows", "7",
        "--batch-ms", "30", *extra,
    ]  # fmt: skip


def test_random_ddl_with_downtime_and_crashes(mariadb, source_url, tmp_path, test_db) -> None:
    seed = int(os.environ.get("ZEROETL_DDL_SEED") or random.randrange(1 << 30))
    rounds = int(os.environ.get("ZEROETL_DDL_ROUNDS", "48"))
    print(f"ZEROETL_DDL_SEED={seed} ZEROETL_DDL_ROUNDS={rounds}")
    rnd = random.Random(seed)
    dbs = [test_db, f"{test_db}_o", f"{test_db}_out"]
    root = mariadb.root()
    with root.cursor() as cur:
        for db in dbs[1:]:
            cur.execute(f"CREATE DATABASE {q(db)}")
    flt = f"exclude: *.*, include: {q(dbs[0])}.*, include: {q(dbs[1])}.*, exclude: *.skip_*"
    wh = tmp_path / "wh"
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    conn = mariadb.root(test_db)
    src = Source(conn, dbs, rnd)
    logs: list[Path] = []
    proc: subprocess.Popen[bytes] | None = None

    def start() -> subprocess.Popen[bytes]:
        log = tmp_path / f"replicate-{len(logs)}.log"
        logs.append(log)
        with log.open("wb") as out:
            return subprocess.Popen(
                replicate_cmd(source_url, wh, flt), env=env, stdout=out, stderr=subprocess.STDOUT
            )

    def caught_up_and_equal() -> None:
        out = subprocess.run(
            replicate_cmd(source_url, wh, flt, "--until-caught-up"),
            env=env,
            capture_output=True,
            timeout=600,
        )
        assert out.returncode == 0, out.stderr.decode()[-3000:]
        Harness(mariadb, source_url, wh, dbs[:2], mode="downtime", data_filter=flt).check()

    try:
        for _ in range(6):
            src.create(rnd.choice(dbs[:2]), rows=rnd.randint(5, 40))
        proc = start()
        for n in range(rounds):
            src.some_writes()
            src.step()
            src.some_writes()
            time.sleep(rnd.uniform(0, 0.3))
            if proc is not None and proc.poll() is not None:
                raise AssertionError(f"replicate exited by itself:\n{logs[-1].read_text()[-3000:]}")
            roll = rnd.random()
            if proc is not None and roll < 0.35:
                proc.send_signal(signal.SIGKILL if roll < 0.2 else signal.SIGTERM)
                proc.wait(timeout=60)
                proc = None
            elif proc is None and roll < 0.7:
                proc = start()
            if n % 8 == 7:  # compare along the way too: a later copy must not hide a bug
                if proc is not None:
                    proc.send_signal(signal.SIGTERM)
                    proc.wait(timeout=60)
                caught_up_and_equal()
                proc = start() if rnd.random() < 0.7 else None
        if proc is not None:
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=60)
            proc = None
        caught_up_and_equal()
    except BaseException as exc:
        recent = "\n".join(src.log[-40:])
        raise AssertionError(
            f"ZEROETL_DDL_SEED={seed} ZEROETL_DDL_ROUNDS={rounds} failed: {exc}\n"
            f"last statements:\n{recent}"
        ) from exc
    finally:
        if proc is not None:
            proc.kill()
            proc.wait()
        conn.close()
        with root.cursor() as cur:
            for db in dbs[1:]:
                cur.execute(f"DROP DATABASE IF EXISTS {q(db)}")
        root.close()
