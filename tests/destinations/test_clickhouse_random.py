"""The seeded random workload (tests/workload.py: mixed types, awkward names, multi-statement
transactions, key changes, rollbacks, DDL) replicated into embedded ClickHouse by the real
`zeroetl replicate` process, SIGKILLed at random points (during the snapshot too), then caught
up and compared row by row with the source (FINAL reads, docs/clickhouse.md)."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest
from tests.destinations.test_clickhouse_e2e import _catch_up, _cmd
from tests.support import _norm, column_types, source_rows
from tests.workload import TABLES, Workload

from zeroetl.cli.replicate import open_destination_url
from zeroetl.model import TableId

pytestmark = pytest.mark.integration  # ~10 s: not slow, in the default run

SEED = int(os.environ.get("ZEROETL_CH_SEED", "1107"))
ROUNDS = 4


def _dest_rows(dest: Any, db: str, table: str, types: list[str], keys: list[int]) -> list[tuple]:
    """The destination's current rows, normalised like the source's (tests/support.py)."""
    rows = dest.read_table(TableId(db, table)).to_pylist()
    out = [tuple(_norm(v, types[i]) for i, v in enumerate(r.values())) for r in rows]
    return sorted(out, key=lambda r: tuple(repr(r[i]) for i in keys))


class Aux:
    """A fourth table taking the DDL the workload does not do: columns added FIRST/AFTER and
    renamed, the table renamed and truncated, between writes."""

    def __init__(self, conn: Any, rnd: random.Random) -> None:
        self.conn, self.rnd = conn, rnd
        self.name, self.v, self.n, self.next_id = "aux", "v", 0, 1
        self.sql("CREATE TABLE aux (id INT PRIMARY KEY, v VARCHAR(40))")
        self.writes()

    def sql(self, *statements: str) -> None:
        with self.conn.cursor() as cur:
            for s in statements:
                cur.execute(s)

    def writes(self) -> None:
        rows = ", ".join(f"({i}, 'r{i}')" for i in range(self.next_id, self.next_id + 20))
        self.next_id += 20
        t, v, k = f"`{self.name}`", f"`{self.v}`", self.rnd.randint(0, 6)
        self.sql(
            f"INSERT INTO {t} (id, {v}) VALUES {rows}",
            f"UPDATE {t} SET {v} = CONCAT({v}, '+') WHERE id % 7 = {k}",
            f"UPDATE {t} SET id = id + 100000 WHERE id % 11 = {k} AND id < 100000",
            f"DELETE FROM {t} WHERE id % 5 = {k}",
        )

    def ddl(self) -> None:
        self.n += 1
        t, n = f"`{self.name}`", self.n
        choice = self.rnd.randint(0, 3)
        if choice == 0:
            where = self.rnd.choice(["FIRST", "AFTER id", ""])
            self.sql(f"ALTER TABLE {t} ADD COLUMN c{n} INT NULL {where}",
                     f"UPDATE {t} SET c{n} = id WHERE id % 2 = 0")  # fmt: skip
        elif choice == 1:
            self.sql(f"ALTER TABLE {t} RENAME COLUMN `{self.v}` TO v{n}")
            self.v = f"v{n}"
        elif choice == 2:
            self.sql(f"RENAME TABLE {t} TO aux{n}")
            self.name = f"aux{n}"
        else:
            self.sql(f"TRUNCATE TABLE {t}")
        self.writes()


def _compare_all(db_conn: Any, ch: Path, db: str, tables: list[str]) -> None:
    dest, _iid = open_destination_url(f"chdb://{ch}")
    try:
        states = {str(k): v.state.value for k, v in dest.load_table_statuses().items()}
        # nothing left of renamed tables: the destination's tables are the source's
        assert {str(k) for k in dest.recorded_schemas()} == {f"{db}.{t}" for t in tables}
        for table in tables:
            cols = column_types(db_conn, db, table)
            schema = dest.recorded_schema(TableId(db, table))
            assert schema is not None, table
            # the destination follows the source's columns, in order (DDL included)
            assert list(schema.names) == [c for c, _, _ in cols], table
            keys = [i for i, (_, _, pk) in enumerate(cols) if pk]
            want = source_rows(db_conn, db, table)
            got = _dest_rows(dest, db, table, [t for _, t, _ in cols], keys)
            if got != want:
                missing = [r for r in want if r not in got][:3]
                extra = [r for r in got if r not in want][:3]
                raise AssertionError(
                    f"{table}: {len(want)} source rows vs {len(got)} in ClickHouse; "
                    f"missing e.g. {missing}; unexpected e.g. {extra}"
                )
            assert states[f"{db}.{table}"] == "Synced", states
    finally:
        dest.close()


def test_random_workload_with_sigkills_into_clickhouse(
    mariadb, db_conn, test_db, source_url, tmp_path
) -> None:
    rnd = random.Random(SEED)
    wh, ch = tmp_path / "wh", tmp_path / "ch"
    Workload(db_conn, test_db, seed=SEED).create(rows=250)
    writer = Workload(db_conn, test_db, seed=SEED + 1)
    writer.next_id = 50_000
    aux = Aux(db_conn, rnd)
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    for round_ in range(ROUNDS):
        proc = subprocess.Popen(
            _cmd(source_url, wh, ch, test_db), env=env,
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        try:
            # round 0 dies early (inside the snapshot or just after); later rounds mid-stream
            for _ in range(rnd.randint(40, 120)):
                writer.step()
                if rnd.random() < 0.05:
                    time.sleep(rnd.uniform(0.0, 0.2))
            with db_conn.cursor() as cur:
                writer._ddl(cur)  # a DDL round: at least one schema change per run
            aux.ddl()
            for _ in range(rnd.randint(10, 40)):
                writer.step()
            time.sleep(rnd.uniform(0.2, 1.5) if round_ else rnd.uniform(0.05, 0.6))
        finally:
            proc.send_signal(signal.SIGKILL)
            proc.wait()
    _catch_up(source_url, wh, ch, test_db)
    _compare_all(db_conn, ch, test_db, [*TABLES, aux.name])
