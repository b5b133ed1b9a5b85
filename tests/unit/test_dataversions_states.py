"""The table-states version (zeroetl.dataversions.states): the SQL endpoint keeps a database's
`_zeroetl.tables` across commits that change only data, checkpoints and activity, and reads
them again after any commit that wrote a table state or a recorded schema."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.unit.test_duckdb_destination import changes, table

from zeroetl import dataversions
from zeroetl.destinations.duckdb import DuckDBDestination
from zeroetl.model import Position, TableId, TableState, TableStatus
from zeroetl.server.sql import session_cache


@pytest.fixture
def dest(tmp_path: Path) -> Iterator[DuckDBDestination]:
    d = DuckDBDestination(tmp_path / "statesdb.duckdb", "integ-1")
    yield d
    d.close()


def test_data_commits_keep_states_state_writes_move_them(dest: DuckDBDestination) -> None:
    s = table()
    dest.begin()
    dest.create_table(s)
    dest.save_table_status(TableStatus(s.id, TableState.SYNCED))
    dest.commit()
    states, meta = dataversions.states("statesdb"), dataversions.meta("statesdb")
    for i in range(3):  # what a heartbeat commit writes: data, checkpoint, activity
        dest.begin()
        dest.apply_changes(s, changes(s, [(False, {"id": i, "v": "x"})]))
        dest.save_checkpoint(Position("mysql-bin.000001", 100 + i, ""))
        dest.commit()
    assert dataversions.meta("statesdb") != meta
    assert dataversions.states("statesdb") == states

    dest.save_table_status(TableStatus(s.id, TableState.FAILED, reason="boom"))
    assert dataversions.states("statesdb") != states


def test_a_state_written_in_a_rolled_back_transaction_moves_nothing_it_must_not(
    dest: DuckDBDestination,
) -> None:
    s = table()
    dest.begin()
    dest.create_table(s)
    dest.commit()
    before = dataversions.states("statesdb")
    dest.begin()
    dest.save_table_status(TableStatus(s.id, TableState.FAILED, reason="boom"))
    dest.rollback()  # never written: the kept states stay right
    cur = dest.reader()
    kept = session_cache.table_catalog(cur, "statesdb", in_transaction=False)[0]
    assert kept[(s.id.schema, s.id.table)] == (None, "")  # recorded schema, no state yet
    assert dataversions.states("statesdb") == before


def test_sessions_see_a_new_state_at_once_and_keep_it_across_data_commits(
    dest: DuckDBDestination,
) -> None:
    s = table()
    dest.begin()
    dest.create_table(s)
    dest.save_table_status(TableStatus(s.id, TableState.SYNCED))
    dest.commit()
    cur = dest.reader()
    first = session_cache.table_catalog(cur, "statesdb", in_transaction=False)
    assert first[0][(s.id.schema, s.id.table)][0] == "Synced"

    dest.begin()
    dest.apply_changes(s, changes(s, [(False, {"id": 1, "v": "x"})]))
    dest.commit()
    assert session_cache.table_catalog(cur, "statesdb", in_transaction=False) is first

    dest.save_table_status(TableStatus(s.id, TableState.FAILED, reason="boom"))
    now = session_cache.table_catalog(cur, "statesdb", in_transaction=False)
    assert now[0][(s.id.schema, s.id.table)] == ("Failed", "boom")


def test_a_destination_opening_a_file_moves_the_states(tmp_path: Path) -> None:
    """Another file attached under a name the endpoint kept states for: read them again."""
    d = DuckDBDestination(tmp_path / "reopened.duckdb", "integ-1")
    d.close()
    before = dataversions.states("reopened")
    d = DuckDBDestination(tmp_path / "reopened.duckdb", "integ-1")
    try:
        assert dataversions.states("reopened") != before
    finally:
        d.close()


def test_ddl_moves_the_states_even_without_a_recorded_schema(dest: DuckDBDestination) -> None:
    """What names mean (the relation index behind grants) changes with DDL: every DDL of the
    destination moves the version, recorded schema or not."""
    s = table()
    before = dataversions.states("statesdb")
    dest.create_table(s)
    after_create = dataversions.states("statesdb")
    assert after_create != before
    dest._con.execute('CREATE TABLE "statesdb"."db"."bare" (id BIGINT, v VARCHAR)')
    dest.rename_column(TableId("db", "bare"), "v", "w")  # no recorded schema to update
    assert dataversions.states("statesdb") != after_create
    moved = dataversions.states("statesdb")
    dest.drop_table(TableId("db", "bare"))
    assert dataversions.states("statesdb") != moved
