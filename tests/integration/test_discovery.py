import pytest

from zeroetl.model import Kind, LogicalType, TableId
from zeroetl.sources.mysql.connection import SourceParams
from zeroetl.sources.mysql.discovery import SYSTEM_SCHEMAS, list_tables, load_schemas

pytestmark = pytest.mark.integration


@pytest.fixture
def repl_conn(source_url):
    conn = SourceParams.from_url(source_url).connect()
    yield conn
    conn.close()


def test_list_tables_excludes_views_and_system_schemas(db_conn, test_db, repl_conn) -> None:
    with db_conn.cursor() as cur:
        cur.execute("CREATE TABLE b (id INT PRIMARY KEY)")
        cur.execute("CREATE TABLE `A weird-Name` (id INT PRIMARY KEY)")
        cur.execute("CREATE VIEW v AS SELECT * FROM b")
    tables = list_tables(repl_conn)
    mine = [t for t in tables if t.schema == test_db]
    assert mine == [TableId(test_db, "A weird-Name"), TableId(test_db, "b")]
    assert not any(t.schema in SYSTEM_SCHEMAS for t in tables)
    assert tables == sorted(tables, key=lambda t: (t.schema, t.table))


def test_load_schemas_columns_and_keys(db_conn, test_db, repl_conn) -> None:
    with db_conn.cursor() as cur:
        cur.execute(
            "CREATE TABLE orders (z INT NOT NULL, a VARCHAR(10) NOT NULL, "
            "amount DECIMAL(12,2), note TEXT CHARACTER SET latin1, raw VARBINARY(8), "
            "ts TIMESTAMP(3) NULL, big DECIMAL(50,10), PRIMARY KEY (a, z))"
        )
        cur.execute("CREATE TABLE nokey (x INT)")
        cur.execute("CREATE VIEW v AS SELECT z FROM orders")
    schemas = load_schemas(
        repl_conn,
        [
            TableId(test_db, "orders"),
            TableId(test_db, "nokey"),
            TableId(test_db, "v"),
            TableId(test_db, "missing"),
        ],
    )
    assert set(schemas) == {TableId(test_db, "orders"), TableId(test_db, "nokey")}
    orders = schemas[TableId(test_db, "orders")]
    assert orders.names == ("z", "a", "amount", "note", "raw", "ts", "big")
    assert orders.primary_key == ("a", "z")  # key order, not column order
    assert orders.column("z").nullable is False
    assert orders.column("amount").type == LogicalType(Kind.DECIMAL, 12, 2)
    assert orders.column("note").type == LogicalType(Kind.STRING)
    assert orders.column("raw").type == LogicalType(Kind.BINARY)
    assert orders.column("ts").type == LogicalType(Kind.TIMESTAMPTZ)
    assert orders.column("big").type.kind is Kind.DECIMAL_TEXT
    assert orders.problem() is None
    assert schemas[TableId(test_db, "nokey")].problem() == "table has no primary key"
    # One table is looked up by its name: the same answer, and a view is still left out.
    assert load_schemas(repl_conn, [orders.id]) == {orders.id: orders}
    assert load_schemas(repl_conn, [TableId(test_db, "v")]) == {}
    assert load_schemas(repl_conn, [TableId(test_db, "missing")]) == {}


def test_load_schemas_default_is_every_table(db_conn, test_db, repl_conn) -> None:
    with db_conn.cursor() as cur:
        cur.execute("CREATE TABLE t1 (id INT PRIMARY KEY)")
        cur.execute("CREATE TABLE t2 (id BIGINT UNSIGNED PRIMARY KEY, s CHAR(3))")
    schemas = load_schemas(repl_conn)
    assert TableId(test_db, "t1") in schemas and TableId(test_db, "t2") in schemas
    assert schemas[TableId(test_db, "t2")].column("id").type == LogicalType(Kind.UINT64)
    assert load_schemas(repl_conn, []) == {}
