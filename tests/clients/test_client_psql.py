"""Debian's psql 15 meta-commands against the endpoint, as an analyst types them: `\\l`, `\\dn`,
`\\dt`, `\\d+ <table>`, `\\di`, `\\dv`, `\\df`, in the replicated database and in the workspace.
(`\\du` lists users: tested with the users and grants; `\\copy` with the wire protocol.)

Skipped only when psql is not installed (.ci/run installs postgresql-client).
"""

from __future__ import annotations

import os
import shutil
import subprocess

import pytest
from tests.client_support import SOURCE, TARGET, Endpoint

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(
        shutil.which("psql") is None, reason="psql (postgresql-client) not installed"
    ),
]


def psql(ep: Endpoint, database: str, command: str) -> list[str]:
    """Unaligned output lines of one meta-command; any error fails the test."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
    env.update(PGPASSWORD=ep.password, PGCONNECT_TIMEOUT="10", PGSSLMODE="disable")
    r = subprocess.run(
        ["psql", f"host={ep.host} port={ep.port} user={ep.user} dbname={database}", "-X",
         "-A", "-v", "ON_ERROR_STOP=1", "-c", command],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )  # fmt: skip
    assert r.returncode == 0 and not r.stderr, f"{command}: {r.stderr}"
    return r.stdout.splitlines()


def test_list_databases_and_schemas(endpoint: Endpoint) -> None:
    names = [line.split("|")[0] for line in psql(endpoint, TARGET, r"\l")]
    assert TARGET in names and "dev" in names
    schemas = psql(endpoint, TARGET, r"\dn")
    assert f"{SOURCE}|admin" in schemas
    assert not [s for s in schemas if s.startswith("_zeroetl")]


def test_list_tables_and_indexes(endpoint: Endpoint) -> None:
    tables = psql(endpoint, TARGET, rf"\dt {SOURCE}.*")
    for t in ("customers", "order_lines", "category"):
        assert f"{SOURCE}|{t}|table|admin" in tables
    indexes = psql(endpoint, TARGET, rf"\di {SOURCE}.*")
    assert f"{SOURCE}|order_lines_pkey|index|admin|order_lines" in indexes


def test_describe_table(endpoint: Endpoint) -> None:
    out = psql(endpoint, TARGET, rf"\d+ {SOURCE}.customers")
    assert out[0] == f'Table "{SOURCE}.customers"'
    rows = {line.split("|")[0]: line.split("|") for line in out[2:8]}
    assert rows["id"][1:4] == ["integer", "", "not null"]
    assert rows["name"][1:4] == ["character varying(30)", "", "not null"]
    assert rows["email"][1:4] == ["character varying(100)", "", ""]
    assert rows["balance"][1] == "numeric(10,2)"
    assert rows["created"][1] == "timestamp without time zone"
    assert '    "customers_pkey" PRIMARY KEY, btree (id)' in out
    keyed = psql(endpoint, TARGET, rf"\d {SOURCE}.order_lines")
    assert '    "order_lines_pkey" PRIMARY KEY, btree (order_id, line_no)' in keyed


def test_workspace_views_functions_and_table(endpoint: Endpoint) -> None:
    # (owners are the users' part: only that there is one)
    assert [v for v in psql(endpoint, "dev", r"\dv") if v.startswith("public|note_view|view|")]
    assert [t for t in psql(endpoint, "dev", r"\dt") if t.startswith("public|notes|table|")]
    assert psql(endpoint, "dev", r"\df")[-1] == "(0 rows)"
    out = psql(endpoint, "dev", r"\d+ note_view")
    assert out[0] == 'View "public.note_view"'
    assert any(line.startswith("View definition:") for line in out)
    notes = psql(endpoint, "dev", r"\d notes")
    assert '    "notes_pkey" PRIMARY KEY, btree (id)' in notes
