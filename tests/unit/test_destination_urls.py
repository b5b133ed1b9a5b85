"""An integration's destination URL as the service checks it (service/destination_urls.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from zeroetl.catalog.errors import InvalidParameter
from zeroetl.service import destination_urls as d


def test_urls_are_kept_in_one_form(tmp_path: Path) -> None:
    wh = tmp_path / "wh"
    assert d.check(f"chdb://{tmp_path}/x/../ch", wh) == f"chdb://{tmp_path}/ch"
    assert d.check(f"CHDB://{wh}/clickhouse", wh) == f"chdb://{wh}/clickhouse"
    assert d.check("clickhouse://zeroetl@ch1/", wh) == "clickhouse://zeroetl@ch1:8123/"
    assert (
        d.check("clickhouse://ch1:9000/?secure=1&cluster=prod", wh)
        == "clickhouse://default@ch1:9000/?cluster=prod&secure=1"
    )
    # the commit interval: kept when it differs from the server default, or given for chDB
    assert (
        d.check("clickhouse://u@ch1/?min_insert_interval_ms=250", wh)
        == "clickhouse://u@ch1:8123/?min_insert_interval_ms=250"
    )
    assert d.check("clickhouse://u@ch1/?min_insert_interval_ms=1000", wh) == (
        "clickhouse://u@ch1:8123/"
    )
    assert d.check(f"chdb://{wh}/ch?min_insert_interval_ms=0", wh) == (
        f"chdb://{wh}/ch?min_insert_interval_ms=0"
    )


def test_the_insert_interval_comes_from_the_url(tmp_path: Path) -> None:
    from zeroetl.destinations.clickhouse.conn import ServerParams, chdb_url_parts

    assert ServerParams.from_url("clickhouse://u@h/").insert_interval_ms == 1000
    assert (
        ServerParams.from_url("clickhouse://u@h/?min_insert_interval_ms=50").insert_interval_ms
        == 50
    )
    assert chdb_url_parts("chdb:///x/ch") == ("/x/ch", 200)
    assert chdb_url_parts("chdb:///x/ch?min_insert_interval_ms=0") == ("/x/ch", 0)


@pytest.mark.parametrize(
    ("url", "why"),
    [
        ("clickhouse://u:s3cret@h:8123/", "password"),
        ("clickhouse://u@h:notaport/", "bad port"),
        ("clickhouse://u@h/?user=x", "unknown ClickHouse URL option"),
        ("clickhouse:///", "not a ClickHouse URL"),
        ("kafka://h:9092/", "unknown destination"),
        ("duckdb:///x.duckdb", "DuckDB by default"),
        ("ch1:8123", "not a destination URL"),
        ("chdb://relative", "absolute directory"),
        ("chdb:///tmp/ch?x=1", "unknown chDB URL option"),
        ("chdb:///tmp/ch?min_insert_interval_ms=-1", "bad min_insert_interval_ms"),
        ("clickhouse://u@h/?min_insert_interval_ms=1.5", "bad min_insert_interval_ms"),
        ("clickhouse://u@h/?min_insert_interval_ms=600000", "bad min_insert_interval_ms"),
        ("chdb://{wh}", "warehouse's own files"),
        ("chdb://{wh}/databases", "warehouse's own files"),
        ("chdb://{wh}/tmp/ch", "warehouse's own files"),
        ("chdb://{file}", "is a file"),
        ("chdb:///a\0b", "invalid destination URL"),
    ],
)
def test_bad_urls_are_refused_with_the_reason(tmp_path: Path, url: str, why: str) -> None:
    wh = tmp_path / "wh"
    (tmp_path / "f").write_text("")
    url = url.format(wh=wh, file=tmp_path / "f")
    with pytest.raises(InvalidParameter) as err:
        d.check(url, wh)
    assert why in err.value.message
    assert "s3cret" not in err.value.message + (err.value.hint or "")


def test_one_integration_per_destination_and_one_chdb_directory() -> None:
    live = [("a", "chdb:///ch"), ("b", "clickhouse://u@h:8123/"), ("c", None)]
    d.check_unique("clickhouse://u@other:8123/", live)  # another server is fine
    for url, why in (
        ("chdb:///ch", "already replicates"),
        ("clickhouse://u@h:8123/", "already replicates"),
        ("chdb:///ch2", "one engine per process"),
    ):
        with pytest.raises(InvalidParameter, match=why):
            d.check_unique(url, live)
    # a deleted integration whose target database is still served keeps chDB's engine
    d.check_unique("chdb:///ch", [], [("gone", "chdb:///ch")])
    with pytest.raises(InvalidParameter, match="one engine per process"):
        d.check_unique("chdb:///ch2", [], [("gone", "chdb:///ch")])
    with pytest.raises(InvalidParameter, match="already replicates"):  # options aside
        d.check_unique("chdb:///ch?min_insert_interval_ms=0", live)


def test_a_server_that_does_not_answer_is_refused_up_front() -> None:
    from zeroetl.sandbox.mariadb import free_port

    url = f"clickhouse://zeroetl@127.0.0.1:{free_port()}/"  # nothing listens there
    with pytest.raises(InvalidParameter) as err:
        d.check_reachable(url)
    assert "cannot be used" in err.value.message
    assert "ZEROETL_CLICKHOUSE_PASSWORD" in err.value.hint
    d.check_reachable("chdb:///not/opened/here")  # chDB: the worker reports what goes wrong
