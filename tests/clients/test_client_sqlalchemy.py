"""SQLAlchemy 2 against the endpoint through its three dialects an analyst picks: sqlalchemy-redshift
(`redshift+psycopg2`, the Redshift dialect: reads reldiststyle, relacl, pg_get_viewdef,
format_encoding(), attencodingtype/attisdistkey/attsortkeyord, adsrc and the svv_external_*
views), PostgreSQL over psycopg2, and PostgreSQL over psycopg 3 (whose connect runs
`TypeInfo.fetch()`, i.e. `to_regtype`). Every inspector call, `MetaData.reflect`,
`pandas.read_sql` with a query and with a table name, as notebooks and BI extracts use them.

TLS belongs to `wire`: sqlalchemy-redshift asks for `sslmode=verify-full` by default, so the
Redshift dialect connects with `sslmode=disable` here.
"""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal

import pandas as pd
import pytest
import sqlalchemy as sa
from tests.client_support import SOURCE, TARGET, Endpoint

pytestmark = pytest.mark.integration

DIALECTS = ["redshift+psycopg2", "postgresql+psycopg2", "postgresql+psycopg"]


@pytest.fixture(scope="module", params=DIALECTS)
def engines(request: pytest.FixtureRequest, endpoint: Endpoint) -> Iterator[dict[str, sa.Engine]]:
    scheme = request.param
    query = "?sslmode=disable" if scheme.startswith("redshift") else ""
    made = {
        db: sa.create_engine(
            f"{scheme}://{endpoint.user}:{endpoint.password}@{endpoint.host}:{endpoint.port}/{db}"
            + query
        )
        for db in (TARGET, "dev")
    }
    yield made
    for e in made.values():
        e.dispose()


def _type(col: dict[str, object]) -> str:
    return str(col["type"]).upper()


def test_inspector_on_replicated_tables(engines: dict[str, sa.Engine]) -> None:
    insp = sa.inspect(engines[TARGET])
    assert SOURCE in insp.get_schema_names()
    assert "_zeroetl" not in insp.get_schema_names()
    assert sorted(insp.get_table_names(SOURCE)) == [
        "category",
        "customers",
        "events",
        "order_lines",
        "svv_integration",
    ]
    assert insp.get_view_names(SOURCE) == []
    cols = insp.get_columns("customers", SOURCE)
    assert [(c["name"], _type(c), c["nullable"]) for c in cols] == [
        ("id", "INTEGER", False),
        ("name", "VARCHAR(30)", False),
        ("email", "VARCHAR(100)", True),
        ("balance", "NUMERIC(10, 2)", True),
        ("created", "TIMESTAMP", True),
        ("flags", "SMALLINT", True),
    ]
    pk = insp.get_pk_constraint("order_lines", SOURCE)
    assert pk["constrained_columns"] == ["order_id", "line_no"]
    assert pk["name"] == "order_lines_pkey"
    assert insp.get_foreign_keys("order_lines", SOURCE) == []
    assert insp.get_indexes("order_lines", SOURCE) == []  # the key's index is the PK, not listed
    assert insp.get_unique_constraints("order_lines", SOURCE) == []
    assert insp.get_check_constraints("order_lines", SOURCE) == []
    assert insp.get_table_comment("customers", SOURCE)["text"] is None
    assert insp.has_table("customers", SOURCE)
    assert not insp.has_table("no_such_table", SOURCE)


def test_inspector_in_the_workspace(engines: dict[str, sa.Engine]) -> None:
    insp = sa.inspect(engines["dev"])
    assert "public" in insp.get_schema_names()
    assert insp.get_table_names("public") == ["notes"]
    assert insp.get_view_names("public") == ["note_view"]
    definition = insp.get_view_definition("note_view", "public")
    assert "notes" in definition and "stars" in definition.lower()
    assert insp.get_pk_constraint("notes", "public")["constrained_columns"] == ["id"]
    cols = insp.get_columns("note_view", "public")
    assert [c["name"] for c in cols] == ["id", "body"]
    assert insp.has_table("notes", "public") and insp.has_table("note_view", "public")


def test_reflect(engines: dict[str, sa.Engine]) -> None:
    md = sa.MetaData()
    md.reflect(engines[TARGET], schema=SOURCE)
    lines = md.tables[f"{SOURCE}.order_lines"]
    assert [c.name for c in lines.primary_key.columns] == ["order_id", "line_no"]
    assert not lines.c.qty.nullable
    with engines[TARGET].connect() as conn:
        got = conn.execute(
            sa.select(lines.c.line_no, lines.c.qty).where(lines.c.order_id == 1).order_by("line_no")
        ).all()
    assert [tuple(r) for r in got] == [(1, 3), (2, 4)]


def test_pandas_read_sql_both_ways(engines: dict[str, sa.Engine]) -> None:
    engine = engines[TARGET]
    df = pd.read_sql(f"select id, name, balance from {SOURCE}.customers order by id", engine)
    assert df["name"].tolist() == ["Ann", "Bob"]
    assert float(df["balance"][0]) == float(Decimal("10.50"))
    df = pd.read_sql(
        sa.text(f"select count(*) as n from {SOURCE}.order_lines where order_id = :o"),
        engine,
        params={"o": 1},
    )
    assert df["n"].tolist() == [2]
    table = pd.read_sql_table("order_lines", engine, schema=SOURCE)
    assert sorted(table["qty"].tolist()) == [1, 3, 4]
    notes = pd.read_sql_table("notes", engines["dev"], schema="public")
    assert notes["body"].tolist() == ["first", "second"]
