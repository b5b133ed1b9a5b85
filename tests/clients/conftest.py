"""One real `zeroetl serve` for every client test of the session (tests/client_support.py says
what its warehouse holds). Each client is then driven the way its tool does it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from tests.client_support import DEV_DDL, SOURCE, SOURCE_DDL, TARGET, Endpoint
from tests.sandbox_support import Warehouse


@pytest.fixture(scope="session")
def endpoint(mariadb_server, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Endpoint]:  # type: ignore[no-untyped-def]
    w = Warehouse.start(
        mariadb_server, tmp_path_factory.mktemp("clients"), source_db=SOURCE, target=TARGET
    )
    try:
        w.source(*SOURCE_DDL)
        w.wait_source_rows("customers", 2)
        w.wait_source_rows("order_lines", 3)
        with w.connect("dev") as dev:
            for sql in DEV_DDL:
                dev.execute(sql)
        yield Endpoint(w, "127.0.0.1", w.serve.sql_port, w.serve.sql_password)
        w.stop()
    finally:
        w.serve.kill()
