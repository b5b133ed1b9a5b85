"""Shared fixtures: a private MariaDB server with the binlog options, one database per test.

The server runs in a temp dir on a free port for the whole session; tests that kill or restart
it use `mariadb_server` directly (and must leave it running). Set ZEROETL_TEST_KEEP=1 to keep
the data directory for a post-mortem.
"""

from __future__ import annotations

import itertools
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pymysql
import pytest

from zeroetl.sandbox.mariadb import MariaDBServer, free_port

_counter = itertools.count(1)


@pytest.fixture(scope="session")
def mariadb_server() -> Iterator[MariaDBServer]:
    tmp = Path(tempfile.mkdtemp(prefix="zeroetl-mariadb-"))
    server = MariaDBServer(datadir=tmp / "data", port=free_port(), server_id=1)
    server.start()
    server.create_replication_user()
    try:
        yield server
    finally:
        server.stop()
        if not os.environ.get("ZEROETL_TEST_KEEP"):
            shutil.rmtree(tmp, ignore_errors=True)


@pytest.fixture
def mariadb(mariadb_server: MariaDBServer) -> MariaDBServer:
    """The session server, started again if an earlier test left it down."""
    if not mariadb_server.running():
        mariadb_server.start()
    return mariadb_server


@pytest.fixture
def test_db(mariadb: MariaDBServer, request: pytest.FixtureRequest) -> Iterator[str]:
    """A fresh, empty MySQL database named after the test."""
    raw = request.node.name.split("[")[0][:40]
    name = f"t{next(_counter)}_{raw}"
    conn = mariadb.root()
    with conn.cursor() as cur:
        cur.execute(f"CREATE DATABASE `{name}`")
    conn.close()
    yield name
    if mariadb.running():
        conn = mariadb.root()
        with conn.cursor() as cur:
            cur.execute(f"DROP DATABASE IF EXISTS `{name}`")
        conn.close()


@pytest.fixture
def db_conn(mariadb: MariaDBServer, test_db: str) -> Iterator[pymysql.connections.Connection]:
    """Root connection (autocommit) to the test's database."""
    conn = mariadb.root(test_db)
    yield conn
    conn.close()


@pytest.fixture
def source_url(mariadb: MariaDBServer) -> str:
    """URL of the least-privileged replication user."""
    return mariadb.url()
