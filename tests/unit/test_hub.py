"""The hub's own DuckDB sandbox, the second line behind the SQL guard: statements sent straight
to a hub cursor (no guard at all) still cannot reach files, extensions or the configuration."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import duckdb
import pytest

from zeroetl.destinations.duckdb.destination import DuckDBDestination
from zeroetl.service.hub import Hub, HubSettings, database_path, open_hub, parse_size


@pytest.fixture
def hub(tmp_path: Path) -> Iterator[Hub]:
    wh = tmp_path / "wh"
    wh.mkdir()
    (wh / "secret.key").write_text("KEY")
    (wh / "api.token").write_text("TOKEN")
    h = open_hub(wh, HubSettings(memory_limit="300MB", temp_limit="100MB"))
    yield h
    h.con.close()


def setting(con: duckdb.DuckDBPyConnection, name: str) -> str:
    return str(con.execute("SELECT current_setting(?)", [name]).fetchall()[0][0])


@pytest.mark.parametrize(
    "sql",
    [
        "SELECT * FROM read_csv('/etc/passwd')",
        "SELECT * FROM read_text('{wh}/secret.key')",
        "SELECT * FROM read_blob('{wh}/*')",
        "SELECT * FROM glob('{wh}/*')",
        "SELECT * FROM read_text('/proc/self/environ')",
        "COPY (SELECT 1) TO '{wh}/out.csv'",
        "ATTACH '{wh}/other.duckdb' AS other",
        "INSTALL httpfs",
        "LOAD httpfs",
        "SET enable_external_access = true",
        "SET allowed_directories = ['/']",
        "SET memory_limit = '100GB'",
        "SET temp_directory = '/tmp'",
        "SET lock_configuration = false",
        "SET autoinstall_known_extensions = true",
        "SELECT * FROM enable_logging(storage='file', storage_path='{wh}/logs')",
        "SELECT * FROM hub",  # a Python variable: replacement scans are off
    ],
)
def test_raw_cursor_is_still_sandboxed(hub: Hub, sql: str) -> None:
    wh = hub.temp_dir.parent
    cur = hub.con.cursor()
    with pytest.raises(duckdb.Error):
        cur.execute(sql.format(wh=wh)).fetchall()
    assert sorted(p.name for p in wh.iterdir()) == ["api.token", "databases", "secret.key", "tmp"]


def test_bounds_and_what_stays_possible(hub: Hub, tmp_path: Path) -> None:
    con = hub.con
    assert abs(hub.memory_bytes - 300_000_000) < 2**20  # DuckDB rounds it to 286.1 MiB
    assert setting(con, "max_temp_directory_size") == "95.3 MiB"
    assert Path(setting(con, "temp_directory")) == hub.temp_dir
    assert setting(con, "enable_external_access") == "False"
    assert setting(con, "lock_configuration") == "True"
    # Target databases attach from the data directory, and writers work through the hub.
    wh = hub.temp_dir.parent
    dest = DuckDBDestination(database_path(wh, "t1"), "iid", hub=con, catalog="t1")
    dest.close()
    cur = con.cursor()
    cur.execute("SET TimeZone = 'Asia/Tokyo'")  # what sessions set on their own cursor
    cur.execute("SET integer_division = true")
    cur.execute("SET operator_memory_limit = '16MB'")
    assert cur.execute("SELECT 7 / 2").fetchall() == [(3,)]
    assert setting(con.cursor(), "TimeZone") != "Asia/Tokyo"


def test_parse_size() -> None:
    assert parse_size("18.8 GiB") == int(18.8 * 2**30)
    assert parse_size("953.6 MiB") == int(953.6 * 2**20)
    assert parse_size("0 bytes") == 0
    assert parse_size("4GB") == 4 * 10**9
    with pytest.raises(ValueError):
        parse_size("lots")
