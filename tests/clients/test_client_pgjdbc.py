"""pgJDBC (Debian's libpostgresql-jdbc-java, the driver DBeaver, Tableau and Metabase use for a
PostgreSQL-type connection) against the endpoint: tests/clients/JdbcMetadata.java, compiled with
javac into a temporary directory, calls DatabaseMetaData (catalogs, schemas, tables, columns,
primary keys, best row identifier, imported/exported keys, index info, type info, table types,
functions, procedures, UDTs, table privileges) and runs a query with a parameter, and prints
every answer as JSON.

Skipped only when Java or the driver's jar is not installed (.ci/run installs both).
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
from tests.client_support import SOURCE, TARGET, Endpoint

JARS = [Path("/usr/share/java/postgresql.jar")]
JAR = next((j for j in JARS if j.exists()), None)
SOURCE_FILE = Path(__file__).with_name("JdbcMetadata.java")

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(
        shutil.which("javac") is None or shutil.which("java") is None,
        reason="Java 17 (default-jdk-headless) not installed",
    ),
    pytest.mark.skipif(JAR is None, reason="pgJDBC (libpostgresql-jdbc-java) not installed"),
]


@pytest.fixture(scope="module")
def classes(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("jdbc")
    subprocess.run(
        ["javac", "-d", str(out), str(SOURCE_FILE)], check=True, capture_output=True, timeout=180
    )
    return out


def run(ep: Endpoint, classes: Path, database: str, schema: str, table: str) -> dict[str, Any]:
    url = f"jdbc:postgresql://{ep.host}:{ep.port}/{database}?sslmode=disable"
    r = subprocess.run(
        ["java", "-cp", f"{JAR}:{classes}", "JdbcMetadata", url, ep.user, ep.password, schema,
         table],
        capture_output=True,
        text=True,
        timeout=180,
    )  # fmt: skip
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)


def rows(answer: dict[str, Any], call: str) -> list[dict[str, Any]]:
    got = answer[call]
    assert "error" not in got, f"{call}: {got.get('error')}"
    return list(got["rows"])


@pytest.fixture(scope="module")
def lines(endpoint: Endpoint, classes: Path) -> dict[str, Any]:
    return run(endpoint, classes, TARGET, SOURCE, "order_lines")


def test_catalogs_schemas_tables(lines: dict[str, Any]) -> None:
    assert [r["table_cat"] for r in rows(lines, "catalogs")] == [TARGET]
    schemas = [r["table_schem"] for r in rows(lines, "schemas")]
    assert SOURCE in schemas and not [s for s in schemas if s.startswith("_zeroetl")]
    tables = {r["table_name"]: r["table_type"] for r in rows(lines, "tables")}
    assert tables["order_lines"] == "TABLE" and tables["customers"] == "TABLE"
    assert "TABLE" in [r["table_type"] for r in rows(lines, "table_types")]
    assert rows(lines, "functions") == []
    assert rows(lines, "procedures") == [] and rows(lines, "udts") == []
    rows(lines, "table_privileges")  # answers (who may do what is the users' and grants' part)


def test_columns(lines: dict[str, Any]) -> None:
    cols = rows(lines, "columns")
    got = [(c["column_name"], c["type_name"], c["column_size"], c["nullable"]) for c in cols]
    assert got == [
        ("order_id", "int8", "19", "0"),
        ("line_no", "int4", "10", "0"),
        ("qty", "int4", "10", "0"),
        ("sku", "varchar", "8", "1"),
    ]
    assert [c["ordinal_position"] for c in cols] == ["1", "2", "3", "4"]


def test_keys_and_indexes(lines: dict[str, Any]) -> None:
    pk = rows(lines, "primary_keys")
    assert [(r["column_name"], r["key_seq"], r["pk_name"]) for r in pk] == [
        ("order_id", "1", "order_lines_pkey"),
        ("line_no", "2", "order_lines_pkey"),
    ]
    best = rows(lines, "best_row_identifier")  # what DBeaver edits rows by: the key
    assert [r["column_name"] for r in best] == ["order_id", "line_no"]
    assert rows(lines, "imported_keys") == []
    assert rows(lines, "exported_keys") == []
    idx = rows(lines, "index_info")
    assert [
        (r["index_name"], r["non_unique"], r["ordinal_position"], r["column_name"]) for r in idx
    ] == [
        ("order_lines_pkey", "false", "1", "order_id"),
        ("order_lines_pkey", "false", "2", "line_no"),
    ]


def test_type_info(lines: dict[str, Any]) -> None:
    types = {r["type_name"]: r for r in rows(lines, "type_info")}
    for name, sql_type in [("int4", "4"), ("int8", "-5"), ("varchar", "12"), ("numeric", "2"),
                           ("timestamp", "93"), ("bool", "-7"), ("date", "91")]:  # fmt: skip
        assert types[name]["data_type"] == sql_type, name


def test_query_with_parameter(lines: dict[str, Any], endpoint: Endpoint, classes: Path) -> None:
    got = rows(lines, "query")
    assert [(r["order_id"], r["line_no"], r["qty"]) for r in got] == [
        ("1", "1", "3"),
        ("1", "2", "4"),
        ("2", "1", "1"),
    ]
    assert lines["product"].startswith("PostgreSQL")


def test_workspace_table_and_view(endpoint: Endpoint, classes: Path) -> None:
    dev = run(endpoint, classes, "dev", "public", "notes")
    tables = {r["table_name"]: r["table_type"] for r in rows(dev, "tables")}
    assert tables == {"notes": "TABLE", "note_view": "VIEW"}
    assert [r["column_name"] for r in rows(dev, "primary_keys")] == ["id"]
    assert [r["column_name"] for r in rows(dev, "columns")] == ["id", "body", "stars"]
