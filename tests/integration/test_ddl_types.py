"""ADD COLUMN in place must give the column the type the server gives it: every spelling the
classifier reads is added on the real server, compared with INFORMATION_SCHEMA's mapping, and
replicated while streaming (a TABLE_MAP that disagreed with the warehouse would force a copy)."""

from __future__ import annotations

import pytest
from tests.ddl_harness import harness
from tests.unit.test_ddl_columns import SPELLINGS

from zeroetl.model import TableId
from zeroetl.sources.mysql.ddl import AddColumn, AlterTable, classify
from zeroetl.sources.mysql.discovery import load_schemas

pytestmark = pytest.mark.integration


def test_added_column_types_agree_with_the_server(mariadb, source_url, tmp_path, test_db) -> None:
    known = [(s, lt) for s, lt in SPELLINGS if lt is not None]
    sql = "ALTER TABLE t " + ", ".join(f"ADD COLUMN c{i} {s}" for i, (s, _) in enumerate(known))
    (action,) = classify(sql, test_db)
    assert isinstance(action, AlterTable)
    parsed = {op.name: op.column for op in action.ops if isinstance(op, AddColumn)}
    with harness(mariadb, source_url, tmp_path, test_db, "streaming") as h:
        h.table("t", rows=3)
        h.start()
        h.sql(sql)
        h.writes("t")
        server = load_schemas(h.conn, [TableId(test_db, "t")])[TableId(test_db, "t")]
        for i, (spelling, expected) in enumerate(known):
            col = parsed[f"c{i}"]
            assert col is not None and col.type == expected, spelling
            assert server.column(f"c{i}").type == expected, (spelling, server.column(f"c{i}"))
        h.finish()
        h.check()
        assert h.copies("t") == []  # every TABLE_MAP agreed with the columns added in place
