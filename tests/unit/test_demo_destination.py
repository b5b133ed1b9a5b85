"""`zeroetl demo --destination chdb`: the integration's destination as the service takes it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from zeroetl.cli.demo import demo, destination_kwargs, destination_url
from zeroetl.errors import ConfigError


class WithDestination:
    def create_integration(self, *, name: str, destination: str | None = None, **kw: Any) -> None:
        """A service that takes the field."""


class WithoutDestination:
    def create_integration(self, *, name: str, target_database: str | None = None) -> None:
        """A service that predates ClickHouse integrations."""


def test_destination_url(tmp_path: Path) -> None:
    assert destination_url(tmp_path, "duckdb") is None
    assert destination_url(tmp_path, "chdb") == f"chdb://{tmp_path.resolve()}/clickhouse"


def test_destination_field_or_a_clear_refusal(tmp_path: Path) -> None:
    url = destination_url(tmp_path, "chdb")
    assert destination_kwargs(WithDestination(), None) == {}
    assert destination_kwargs(WithDestination(), url) == {"destination": url}
    assert destination_kwargs(WithoutDestination(), None) == {}
    with pytest.raises(ConfigError, match="cannot replicate into ClickHouse"):
        destination_kwargs(WithoutDestination(), url)


def test_flag_is_offered() -> None:
    out = CliRunner().invoke(demo, ["--help"]).output
    assert "--destination [duckdb|chdb]" in out
    bad = CliRunner().invoke(demo, ["--destination", "clickhouse"])
    assert bad.exit_code == 2
