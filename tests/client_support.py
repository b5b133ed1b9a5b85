"""The client matrix's warehouse (tests/clients/): what is in it and where clients connect.

A MySQL database `shop` in the session's MariaDB is replicated into the target database
`analytics` (tables with one- and two-column primary keys, NOT NULL columns, varchar lengths,
decimals, datetimes), and the workspace `dev` holds a table with a declared primary key and a
view, so each client's metadata calls have something of every kind to describe.
"""

from __future__ import annotations

from dataclasses import dataclass

from tests.sandbox_support import Warehouse

SOURCE = "shop"
TARGET = "analytics"

SOURCE_DDL = [
    "CREATE TABLE customers (id INT PRIMARY KEY, name VARCHAR(30) NOT NULL, email VARCHAR(100),"
    " balance DECIMAL(10,2), created DATETIME, flags TINYINT)",
    "INSERT INTO customers VALUES (1, 'Ann', 'ann@example.com', 10.50, '2024-01-01 10:00:00', 1),"
    " (2, 'Bob', NULL, NULL, NULL, 0)",
    "CREATE TABLE order_lines (order_id BIGINT, line_no INT, qty INT NOT NULL, sku CHAR(8),"
    " PRIMARY KEY (order_id, line_no))",
    "INSERT INTO order_lines VALUES (1, 1, 3, 'A-1'), (1, 2, 4, 'B-2'), (2, 1, 1, NULL)",
]

DEV_DDL = [
    "CREATE TABLE public.notes (id INTEGER PRIMARY KEY, body VARCHAR NOT NULL, stars SMALLINT)",
    "INSERT INTO public.notes VALUES (1, 'first', 5), (2, 'second', NULL)",
    "CREATE VIEW public.note_view AS SELECT id, body FROM public.notes WHERE stars IS NOT NULL",
]


@dataclass
class Endpoint:
    """Where the clients connect."""

    warehouse: Warehouse
    host: str
    port: int
    password: str
    user: str = "admin"

    def dsn(self, dbname: str) -> str:
        """libpq keyword form (psql, psycopg)."""
        return self.warehouse.dsn(dbname)
