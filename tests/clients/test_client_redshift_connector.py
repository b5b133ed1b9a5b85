"""AWS's redshift_connector 2.2 (the official Python driver) against the endpoint: connect, a
query with parameters, its metadata API (get_catalogs/get_schemas/get_tables/get_columns/
get_primary_keys/get_procedures) and fetch_dataframe, as a notebook or a BI extract uses them.

The endpoint sends no `show_discovery` parameter, so the driver takes its pg_catalog path: the
statements it builds in redshift_connector/cursor.py run against svv_tables, svv_columns,
svv_external_schemas, pg_proc_info, `FROM current_database()`, `pg_get_late_binding_view_cols()
AS t(col NAME, ...)` and pg_attribute rows of primary-key indexes.

Connected as the driver comes, with no client-side change (MD5 authentication, the plain
server_version); TLS is off here (`ssl=False`): tests/e2e/test_pgwire_redshift_connector.py
drives its default TLS settings.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from decimal import Decimal

import pytest
import redshift_connector
from tests.client_support import SOURCE, TARGET, Endpoint

pytestmark = pytest.mark.integration

Connect = Callable[..., redshift_connector.Connection]


def _open(ep: Endpoint, database: str = TARGET) -> redshift_connector.Connection:
    return redshift_connector.connect(
        host=ep.host,
        port=ep.port,
        user=ep.user,
        password=ep.password,
        database=database,
        ssl=False,
        timeout=30,
    )


@pytest.fixture
def connect(endpoint: Endpoint) -> Iterator[Connect]:
    opened: list[redshift_connector.Connection] = []

    def new(database: str = TARGET) -> redshift_connector.Connection:
        con = _open(endpoint, database)
        opened.append(con)
        return con

    yield new
    for con in opened:
        con.close()


def test_query_with_parameters_and_fetch_dataframe(connect: Connect) -> None:
    cur = connect().cursor()
    cur.execute(
        f"select id, name, balance from {SOURCE}.customers where id >= %s order by id", (1,)
    )
    df = cur.fetch_dataframe()
    assert list(df.columns) == ["id", "name", "balance"]
    assert df["name"].tolist() == ["Ann", "Bob"]
    assert df["balance"].tolist()[0] == Decimal("10.50")
    cur.execute(f"select count(*) from {SOURCE}.order_lines where sku = %s", ("A-1",))
    assert cur.fetchone() == [1]


def test_get_catalogs_and_schemas(connect: Connect) -> None:
    cur = connect().cursor()
    assert [list(r) for r in cur.get_catalogs()] == [[TARGET]]
    schemas = [tuple(r) for r in connect().cursor().get_schemas()]
    assert (SOURCE, TARGET) in schemas
    assert not [s for s, _ in schemas if s.startswith("_zeroetl")]  # bookkeeping stays hidden
    assert [tuple(r) for r in connect().cursor().get_schemas(schema_pattern="sh%")] == [
        (SOURCE, TARGET)
    ]


def test_get_tables_local_and_universal(connect: Connect) -> None:
    # a schema pattern: the driver asks svv_external_schemas, then reads pg_class
    local = connect().cursor().get_tables(None, SOURCE, "%")
    names = {(r[1], r[2]): r[3] for r in local}
    assert names[(SOURCE, "customers")] == "TABLE"
    assert names[(SOURCE, "order_lines")] == "TABLE"
    # no schema pattern: the driver reads svv_tables
    everything = connect().cursor().get_tables()
    found = {(r[0], r[1], r[2]): r[3] for r in everything}
    assert found[(TARGET, SOURCE, "customers")] == "TABLE"
    # (the driver's pg_catalog path leaves the type filter to the SHOW path: all kinds come)
    dev = connect("dev").cursor().get_tables(None, "public", "%")
    kinds = {r[2]: r[3] for r in dev}
    assert kinds == {"note_view": "VIEW", "notes": "TABLE", "notes_pkey": "INDEX"}


def test_get_columns_local_and_universal(connect: Connect) -> None:
    cols = connect().cursor().get_columns(None, SOURCE, "customers")
    # TABLE_CAT, TABLE_SCHEM, TABLE_NAME, COLUMN_NAME, DATA_TYPE, TYPE_NAME, COLUMN_SIZE,
    # BUFFER_LENGTH, DECIMAL_DIGITS, NUM_PREC_RADIX, NULLABLE, ... ORDINAL_POSITION, IS_NULLABLE
    got = [(r[3], r[4], r[5], r[6], r[8], r[10]) for r in cols]
    assert got == [
        ("id", 4, "int4", 10, 0, 0),
        ("name", 12, "varchar", 30, 0, 0),
        ("email", 12, "varchar", 100, 0, 1),
        ("balance", 2, "numeric", 10, 2, 1),
        ("created", 93, "timestamp", 29, 6, 1),
        ("flags", 5, "int2", 5, 0, 1),
    ]
    assert [r[16] for r in cols] == [1, 2, 3, 4, 5, 6]
    assert [r[17] for r in cols] == ["NO", "NO", "YES", "YES", "YES", "YES"]
    # no schema pattern: svv_columns
    every = connect().cursor().get_columns(tablename_pattern="order_lines")
    assert [(r[1], r[2], r[3], r[5]) for r in every] == [
        (SOURCE, "order_lines", "order_id", "int8"),
        (SOURCE, "order_lines", "line_no", "int4"),
        (SOURCE, "order_lines", "qty", "int4"),
        (SOURCE, "order_lines", "sku", "varchar"),
    ]


def test_get_primary_keys(connect: Connect) -> None:
    keys = connect().cursor().get_primary_keys(None, SOURCE, "order_lines")
    assert [tuple(r) for r in keys] == [
        (TARGET, SOURCE, "order_lines", "order_id", 1, "order_lines_pkey"),
        (TARGET, SOURCE, "order_lines", "line_no", 2, "order_lines_pkey"),
    ]
    dev = connect("dev").cursor().get_primary_keys(None, "public", "notes")
    assert [tuple(r) for r in dev] == [("dev", "public", "notes", "id", 1, "notes_pkey")]


def test_get_procedures_answers(connect: Connect) -> None:
    assert list(connect().cursor().get_procedures()) == []
