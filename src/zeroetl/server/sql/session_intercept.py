"""The session's statements that never reach the translation (rewrite.intercept): transaction
control, SET/RESET/SHOW and Redshift's CREATE/ALTER/DROP DATABASE; and DuckDB's errors as
PostgreSQL's (SQLSTATE and wording: pgerrors.py)."""

from __future__ import annotations

import re
from collections.abc import Callable

import duckdb
import pyarrow as pa

from . import pgerrors, plancache, redshift, rewrite
from .backend import Backend
from .errors import SqlError
from .params import SessionParams
from .results import Column, Result, _empty


class InterceptedStatements:
    """Mixed into SqlSession (session.py), which provides these attributes."""

    _backend: Backend
    _cur: duckdb.DuckDBPyConnection
    in_transaction: bool
    _failed: bool
    _changed_in_transaction: bool
    _params: SessionParams
    _home: str
    _stopped: Callable[[], SqlError]
    _refresh_catalog: Callable[[list[str]], None]
    _may_manage_databases: Callable[[str], None]

    def _intercepted(self, ic: rewrite.Intercepted, sql: str) -> Result:
        k = ic.kind
        if k in ("create_db", "alter_db", "drop_db"):
            self._may_manage_databases(k)
            if self.in_transaction:
                raise SqlError("25001", f"{ic.kind.split('_')[0].upper()} DATABASE cannot run"
                               " inside a transaction block")  # fmt: skip
            try:
                done = redshift.run(k, sql, self._backend)
            finally:
                plancache.bump()
            self._refresh_catalog(self._backend.databases())
            return _empty(done.tag)
        if k == "begin":
            if not self.in_transaction:
                self._run("BEGIN TRANSACTION")
                self.in_transaction, self._failed = True, False
            return _empty(ic.tag)
        if k in ("commit", "rollback"):
            tag = "ROLLBACK" if self._failed else ic.tag
            if self.in_transaction:
                try:
                    self._cur.execute("ROLLBACK" if self._failed or k == "rollback" else "COMMIT")
                except duckdb.Error as e:
                    if not self._failed:
                        raise self._error(e) from None
            self.in_transaction, self._failed = False, False
            if self._changed_in_transaction:  # its DDL is undone or now seen by all
                self._changed_in_transaction = False
                plancache.bump()
            return _empty(tag)
        if k == "rollback_to" and self._failed:
            raise SqlError(
                "0A000",
                "ROLLBACK TO SAVEPOINT after an error is not supported (DuckDB aborts the whole"
                " transaction); ROLLBACK and start again",
            )
        if self._failed and k not in ("show",):
            raise SqlError("25P02", "current transaction is aborted, commands ignored until end"
                           " of transaction block")  # fmt: skip
        if k == "set":
            self._params.set(ic.name, ic.value, ic.scope)
            return _empty("SET")
        if k == "reset":
            self._params.reset(ic.name)
            return _empty("RESET")
        if k == "show":
            return self._show(ic.name)
        return _empty(ic.tag)

    def _run(self, sql: str) -> None:
        try:
            self._cur.execute(sql)
        except duckdb.Error as e:
            raise self._error(e) from None

    def _show(self, name: str) -> Result:
        if name == "all":
            values = self._params.values
            names = sorted(values)
            table = pa.table({"name": names, "setting": [values[n] for n in names],
                              "description": [""] * len(names)})  # fmt: skip
        else:
            table = pa.table({name: [self._params.show(name)]})
        return Result(
            [Column(f.name, f.type) for f in table.schema], iter(table.to_batches()), "SHOW"
        )

    def _error(self, e: duckdb.Error) -> SqlError:
        if self.in_transaction:
            self._failed = True
        text = str(e)
        msg = re.sub(r"^[A-Za-z ]+ Error: ", "", text).strip()
        if isinstance(e, duckdb.InterruptException):
            return self._stopped()
        if isinstance(e, duckdb.OutOfMemoryException) or "max_temp_directory_size" in text:
            # The session's memory (and the warehouse's temp space) are bounded on purpose.
            full = "max_temp_directory_size" in text or "temp" in text.lower()
            return SqlError(
                "53100" if full else "53200",
                f"out of {'temporary disk space' if full else 'memory'} for this query: {msg}",
                hint="narrow the query (filters, fewer columns, LIMIT); every session has a fixed"
                " share of the service's memory and temp space",
            )
        if isinstance(e, duckdb.PermissionException):  # DuckDB's own sandbox, behind the guard
            return SqlError("42501", f"permission denied: {msg}")
        if "Division by zero" in text:
            return SqlError("22012", "division by zero")
        return pgerrors.translate(e, msg, self._home)
