"""Every schema-change pattern we promise to handle, with writes before, around and after it,
replicated while streaming, after downtime, and replayed onto a warehouse that already holds
the outcome (see tests/ddl_harness.py). Each ends with the warehouse equal to the source."""

from __future__ import annotations

import pytest
from tests.ddl_harness import MODES, harness

pytestmark = pytest.mark.integration


@pytest.fixture(params=MODES)
def mode(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def test_rename_with_new_table_and_writes_around(mariadb, source_url, tmp_path, test_db, mode):
    """The observed wedge: RENAME done while stopped, a new table and writes around it."""
    with harness(mariadb, source_url, tmp_path, test_db, mode) as h:
        h.table("events", rows=20)
        h.table("users", rows=5)
        h.start()
        h.writes("events")
        h.sync()
        h.table("sessions", rows=4)
        h.writes("events")
        h.sql("RENAME TABLE events TO events_v2")
        h.writes("events_v2")
        h.writes("users")
        h.sync()
        h.writes("sessions")
        h.finish()
        h.check()
