"""One write transaction on a SQLite connection shared by threads (the catalog, the SQL users).

`BEGIN IMMEDIATE` takes the write lock up front, so two writers never both read and then fail to
upgrade (SQLITE_BUSY mid-transaction); the Python lock serialises the threads of this process
that share the connection.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def transaction(db: sqlite3.Connection, lock: threading.Lock | threading.RLock) -> Iterator[None]:
    with lock:
        db.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            db.execute("ROLLBACK")
            raise
        db.execute("COMMIT")
