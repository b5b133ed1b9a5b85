"""Property: apply_changes == a dict model, whatever the slicing, and replays change nothing.

Random workloads of inserts, updates, deletes and primary-key changes (delete old key + image of
the new key, as the source delivers them) on a composite-key table are applied in random slice
sizes inside one transaction (a huge source transaction), then replayed whole and in slices.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import pyarrow as pa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from zeroetl.destinations.duckdb import DuckDBDestination
from zeroetl.model import ColumnSchema, Kind, LogicalType, TableId, TableSchema

SCHEMA = TableSchema(
    TableId("prop db", "T"),
    (
        ColumnSchema("k1", LogicalType(Kind.INT32)),
        ColumnSchema("k2", LogicalType(Kind.STRING)),
        ColumnSchema("v", LogicalType(Kind.INT64)),
        ColumnSchema("w", LogicalType(Kind.STRING)),
    ),
    ("k1", "k2"),
)
ARROW = pa.schema([("__seq", pa.int64()), ("__del", pa.bool_()), *SCHEMA.arrow_schema()])

Key = tuple[int, str]
keys = st.tuples(st.integers(0, 6), st.sampled_from(["a", "B", "b", ""]))
ops = st.lists(
    st.one_of(
        st.tuples(st.just("upsert"), keys, st.integers(-5, 5)),
        st.tuples(st.just("delete"), keys, st.just(0)),
        st.tuples(st.just("rekey"), keys, st.integers(-5, 5), keys),
    ),
    max_size=60,
)


def to_changes(
    workload: list[tuple], model: dict[Key, tuple[int, str | None]]
) -> list[tuple[bool, Key, tuple]]:
    """Turn operations into change entries and apply them to the model (source semantics)."""
    out: list[tuple[bool, Key, tuple]] = []
    for op in workload:
        kind, key, val = op[0], op[1], op[2]
        if kind == "upsert":
            model[key] = (val, None if val % 2 else f"w{val}")
            out.append((False, key, model[key]))
        elif kind == "delete" and key in model:
            del model[key]
            out.append((True, key, (None, None)))
        elif kind == "rekey" and key in model and op[3] not in model:
            new = op[3]
            model[new] = (val, model.pop(key)[1])
            out.append((True, key, (None, None)))
            out.append((False, new, model[new]))
    return out


def arrow(entries: list[tuple[bool, Key, tuple]], seq0: int) -> pa.Table:
    return pa.Table.from_pylist(
        [
            {"__seq": seq0 + i, "__del": d, "k1": k[0], "k2": k[1], "v": r[0], "w": r[1]}
            for i, (d, k, r) in enumerate(entries)
        ],
        ARROW,
    )


def slices(entries: list, sizes: list[int]) -> list[list]:
    out, i = [], 0
    for n in sizes:
        if i >= len(entries):
            break
        out.append(entries[i : i + n])
        i += n
    if i < len(entries):
        out.append(entries[i:])
    return out


def warehouse(d: DuckDBDestination) -> dict[Key, tuple]:
    got = d.reader().execute('SELECT k1, k2, v, w FROM "prop db"."T"').fetchall()
    table = {(r[0], r[1]): (r[2], r[3]) for r in got}
    assert len(table) == len(got), "duplicate keys in the warehouse"
    return table


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    initial=st.dictionaries(keys, st.integers(-5, 5), max_size=10),
    batches=st.lists(ops, min_size=1, max_size=4),
    sizes=st.lists(st.integers(1, 7), max_size=20),
)
def test_apply_matches_model_and_replays(
    initial: dict[Key, int], batches: list[list[tuple]], sizes: list[int]
) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        d = DuckDBDestination(Path(tmp) / "p.duckdb", "prop")
        try:
            d.create_table(SCHEMA)
            model: dict[Key, tuple[int, str | None]] = {k: (v, "init") for k, v in initial.items()}
            chunk = pa.Table.from_pylist(
                [{"k1": k[0], "k2": k[1], "v": v[0], "w": v[1]} for k, v in model.items()],
                SCHEMA.arrow_schema(),
            )
            d.write_chunk(SCHEMA, chunk)
            for workload in batches:
                entries = to_changes(workload, model)
                # one source transaction, applied in slices, committed once
                d.begin()
                seq = 0
                for part in slices(entries, sizes):
                    d.apply_changes(SCHEMA, arrow(part, seq))
                    seq += len(part)
                d.commit()
                assert warehouse(d) == model
                # replay whole, then replay in slices again: nothing changes
                d.apply_changes(SCHEMA, arrow(entries, 0))
                assert warehouse(d) == model
                d.begin()
                for part in slices(entries, list(reversed(sizes))):
                    d.apply_changes(SCHEMA, arrow(part, 0))
                d.commit()
                assert warehouse(d) == model
                # a rolled-back application leaves the previous state
                d.begin()
                d.apply_changes(SCHEMA, arrow(entries, 0))
                d.rollback()
                assert warehouse(d) == model
        finally:
            d.close()
