"""UPDATEs of wide tables applied as the columns they changed (row_diff.py, apply_columns.py),
end to end: real MariaDB -> Replicator -> real DuckDB, against the source table."""

from __future__ import annotations

import random

import pytest
from tests.integration.test_replicate import check_all, replicate, states

from zeroetl.destinations.duckdb import apply_columns

pytestmark = pytest.mark.integration

TYPES = ["INT", "DOUBLE", "VARCHAR(12)", "DECIMAL(10,2)", "DATETIME(3)", "BLOB", "FLOAT"]
NCOLS = 30


def _value(rng: random.Random, i: int) -> object:
    if rng.random() < 0.15:
        return None
    kind = TYPES[i % len(TYPES)]
    pick = rng.randrange(4)
    if kind == "INT":
        return pick
    if kind in ("DOUBLE", "FLOAT"):
        return [0.0, -0.0, 1.5, 2.0][pick]
    if kind.startswith("VARCHAR"):
        return ["", "a", "b ", "é"][pick]
    if kind.startswith("DECIMAL"):
        return ["0.00", "1.25", "-3.50", "2.00"][pick]
    if kind.startswith("DATETIME"):
        return f"2024-01-0{pick + 1} 10:00:00.123"
    return [b"", b"\x00", b"xyz", b"\xff" * 40][pick]


@pytest.mark.parametrize("keys", [1, 2])
def test_random_updates_of_a_wide_table(
    db_conn, test_db, source_url, tmp_path, keys, monkeypatch
) -> None:
    rng = random.Random(keys)
    updates: list[tuple[str, ...]] = []  # the column sets written by UPDATE
    run_update = apply_columns._run_update

    def counted(con, catalog, schema, cols, rows, reader) -> None:  # type: ignore[no-untyped-def]
        updates.append(cols)
        run_update(con, catalog, schema, cols, rows, reader)

    monkeypatch.setattr(apply_columns, "_run_update", counted)
    key_cols = ["k0", "k1"][:keys]
    cols = [f"c{i}" for i in range(NCOLS)]
    ddl = ", ".join(
        [
            *(f"{k} INT NOT NULL" for k in key_cols),
            *(f"{c} {TYPES[i % len(TYPES)]}" for i, c in enumerate(cols)),
        ]
    )
    all_cols = [*key_cols, *cols]
    marks = ", ".join(["%s"] * len(all_cols))
    with db_conn.cursor() as cur:
        cur.execute(f"CREATE TABLE w ({ddl}, PRIMARY KEY ({', '.join(key_cols)}))")

        def row(key: tuple[int, ...]) -> list[object]:
            return [*key, *(_value(rng, i) for i in range(NCOLS))]

        live = {tuple(rng.randrange(40) for _ in key_cols) for _ in range(60)}
        cur.executemany(f"INSERT INTO w VALUES ({marks})", [row(k) for k in live])
    wh = tmp_path / "wh"
    replicate(source_url, wh, test_db)
    assert states(wh)[f"{test_db}.w"][0] == "Synced"

    def where(key: tuple[int, ...]) -> str:
        return " AND ".join(f"{k} = {v}" for k, v in zip(key_cols, key, strict=True))

    for _round in range(3):
        with db_conn.cursor() as cur:
            for _txn in range(6):
                cur.execute("BEGIN")
                for _ in range(rng.randrange(5, 40)):
                    op = rng.random()
                    key = tuple(rng.randrange(40) for _ in key_cols)
                    if key not in live:
                        cur.execute(f"INSERT INTO w VALUES ({marks})", row(key))
                        live.add(key)
                    elif op < 0.1:
                        cur.execute(f"DELETE FROM w WHERE {where(key)}")
                        live.discard(key)
                    elif op < 0.2:  # the key moves
                        new = tuple(rng.randrange(40) for _ in key_cols)
                        if new in live:
                            continue
                        cur.execute(
                            f"UPDATE w SET {key_cols[-1]} = %s WHERE {where(key)}", [new[-1]]
                        )
                        live.discard(key)
                        live.add((*key[:-1], new[-1]))
                    elif op < 0.25:  # several rows at once, one column
                        cur.execute(f"UPDATE w SET c0 = c0 + 1 WHERE {key_cols[0]} < {key[0]}")
                    else:  # a few columns, sometimes every one, sometimes to the same values
                        many = NCOLS if op > 0.95 else rng.randrange(1, 4)
                        picked = rng.sample(range(NCOLS), many)
                        sets = ", ".join(f"c{i} = %s" for i in picked)
                        cur.execute(
                            f"UPDATE w SET {sets} WHERE {where(key)}",
                            [_value(rng, i) for i in picked],
                        )
                cur.execute("COMMIT")
        replicate(source_url, wh, test_db, batch_rows=rng.choice([7, 50, 10_000]))
        check_all(db_conn, wh, test_db, ["w"])
    assert states(wh)[f"{test_db}.w"][0] == "Synced"
    assert updates and all(len(c) <= apply_columns.WHOLE_SHARE * (NCOLS + keys) for c in updates)
