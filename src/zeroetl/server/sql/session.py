"""One SQL session over the warehouse hub: the interface the wire protocol server calls.

A session owns one DuckDB cursor on the hub (FACTS.md: keep one instance per session; cursors
see committed snapshots). `dbname=<target database>` makes that database current (`demodb.sales`
resolves); `dev` (or `postgres`) is the hub itself, where target databases are reached by
3-part names. Statements run in autocommit unless BEGIN. Each statement goes: interception
(transactions, SET/SHOW, Redshift DATABASE statements) -> text normalisation -> parse (Redshift,
then PostgreSQL) -> read-only and table-state checks -> pg_catalog and dialect rewrites ->
DuckDB.
"""

from __future__ import annotations

import contextlib
import re
import warnings
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import duckdb
import pyarrow as pa
from sqlglot import exp

from zeroetl.server.readgate import NO_GATE, ReadGate

from . import catalog, dialect, redshift, rewrite, sysviews
from .backend import Backend
from .errors import SqlError

__all__ = ["Backend", "Column", "Result", "SqlError", "SqlSession"]

HUB_DATABASES = ("dev", "postgres")
BATCH_ROWS = 8192

SHOW_DEFAULTS: dict[str, str] = {
    "server_version": catalog.SERVER_VERSION, "server_version_num": "150000",
    "server_encoding": "UTF8", "client_encoding": "UTF8", "standard_conforming_strings": "on",
    "transaction isolation level": "repeatable read", "transaction_isolation": "repeatable read",
    "default_transaction_isolation": "repeatable read", "timezone": "UTC",
    "datestyle": "ISO, MDY", "intervalstyle": "postgres", "integer_datetimes": "on",
    "is_superuser": "off", "max_identifier_length": "63", "application_name": "",
    "default_transaction_read_only": "on", "transaction_read_only": "on",
    "lc_collate": "C.UTF-8", "lc_ctype": "C.UTF-8", "extra_float_digits": "1",
    "statement_timeout": "0", "bytea_output": "hex", "query_all_states": "off",
}  # fmt: skip


@dataclass
class Column:
    name: str
    type: pa.DataType


@dataclass
class Result:
    columns: list[Column] | None
    batches: Iterator[pa.RecordBatch]
    command_tag: str


def _empty(tag: str) -> Result:
    return Result(None, iter(()), tag)


def _q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


class SqlSession:
    def __init__(self, backend: Backend, *, database: str, user: str) -> None:
        self._backend = backend
        self.database = database
        self.user = user
        self.in_transaction = False
        self._failed = False
        self._open: pa.RecordBatchReader | None = None
        # Statements count as readers until their result is read (a checkpoint that must
        # reclaim deleted rows waits for none: server/readgate.py).
        self._gate: ReadGate = getattr(backend, "read_gate", NO_GATE)
        self._reading = False
        dbs = backend.databases()
        if database not in dbs and database not in HUB_DATABASES:
            raise SqlError(
                "3D000",
                f'database "{database}" does not exist',
                hint="connect to dev, or to a target database created with CREATE DATABASE ..."
                " FROM INTEGRATION",
            )
        self._dbs: list[str] = []
        self._refresh_catalog(dbs)
        self._cur = backend.cursor()
        self._home = catalog.home_catalog(self._cur)
        self._catalog = database if database in dbs else self._home
        self._schemas = ["main"]
        self._settings: dict[str, str] = dict(SHOW_DEFAULTS)
        try:
            self._cur.execute(f"USE {_q(self._catalog)}")
            self._cur.execute("SET TimeZone = 'UTC'")
            self._cur.execute("SET integer_division = true")
            self._apply_search_path()
        except duckdb.Error as e:
            self._cur.close()
            raise SqlError("3D000", f'database "{database}" cannot be opened: {e}') from None

    # --- public interface --------------------------------------------------------------

    def split(self, sql: str) -> list[str]:
        return rewrite.split(sql)

    def cancel(self) -> None:
        with contextlib.suppress(duckdb.Error):
            self._cur.interrupt()

    def close(self) -> None:
        self._done_reading()
        try:
            if self.in_transaction:
                self._cur.execute("ROLLBACK")
        except duckdb.Error:
            pass
        self._cur.close()

    def execute(self, sql: str, params: Sequence[object] | None = None) -> Result:
        self._drop_open_result()
        ic = rewrite.intercept(sql)
        if ic is not None:
            return self._intercepted(ic, sql)
        if self._failed:
            raise SqlError(
                "25P02",
                "current transaction is aborted, commands ignored until end of transaction block",
            )
        # The whole statement is a reader of the hub, its result stream included.
        self._gate.enter()
        self._reading = True
        try:
            result = self._execute(sql, params)
        except BaseException:
            self._done_reading()
            raise
        if self._open is None:  # materialised: nothing left reading
            self._done_reading()
        return result

    def _execute(self, sql: str, params: Sequence[object] | None) -> Result:
        duck, tag, is_query = self._translate(sql)
        args = list(params) if params else None
        try:
            if not is_query:
                self._cur.execute(duck, args)
                if self._cur.description is None:
                    return _empty(tag)
                with warnings.catch_warnings():  # small results (EXPLAIN...): a copy is fine
                    warnings.simplefilter("ignore")
                    table: pa.Table = self._cur.to_arrow_table()  # type: ignore[assignment]
                cols = [Column(f.name, f.type) for f in table.schema]
                return Result(cols, iter(table.to_batches()), tag)
            # a relation streams: batches are produced as the client reads them
            reader = self._cur.sql(duck, params=args).to_arrow_reader(BATCH_ROWS)
        except duckdb.Error as e:
            raise self._error(e) from None
        self._open = reader
        columns = [Column(f.name, f.type) for f in reader.schema]
        return Result(columns, self._stream(reader), tag)

    def _drop_open_result(self) -> None:
        """A result the client stopped reading must not block the next statement."""
        reader, self._open = self._open, None
        if reader is not None:
            with contextlib.suppress(Exception):
                reader.close()
        self._done_reading()

    def _done_reading(self) -> None:
        if self._reading:
            self._reading = False
            self._gate.leave()

    def describe(self, sql: str) -> tuple[list[int], list[Column] | None]:
        self._drop_open_result()
        ic = rewrite.intercept(sql)
        if ic is not None:
            cols = [Column(ic.name or "setting", pa.string())] if ic.kind == "show" else None
            return [], cols
        with self._gate.reading():
            duck, _tag, is_query = self._translate(sql)
            types = self._param_types(sql)
            if not is_query:
                return types, None
            try:
                reader = self._cur.sql(
                    f"SELECT * FROM ({duck}) AS zq_describe LIMIT 0",
                    params=[None] * len(types) or None,
                ).to_arrow_reader(1)
                columns = [Column(f.name, f.type) for f in reader.schema]
                reader.close()
            except duckdb.Error as e:
                raise self._error(e) from None
        return types, columns

    # --- pipeline ----------------------------------------------------------------------

    def _translate(self, sql: str) -> tuple[str, str, bool]:
        """DuckDB text, command tag, and whether it returns rows."""
        self._refresh_catalog(self._backend.databases())
        norm = rewrite.normalize(sql)
        first = rewrite.strip_comments(norm).strip().split(None, 1)[0].upper()
        if first in redshift.WRITE_WORDS:
            redshift.check_read_only(exp.Select(), first, self.database)
        tree = dialect.parse(norm)
        redshift.check_read_only(tree, first, self.database)
        redshift.check_states(
            tree,
            self._resolve,
            lambda db: redshift.table_states(self._cur, db),
            self._query_all_states,
        )
        rewrite.pg_rewrite(tree, database=self.database, user=self.user)
        dialect.translate(tree, lambda c: self._column_type(tree, c))
        is_query = isinstance(tree, exp.Query)
        if is_query:
            rewrite.name_columns(tree)
        duck = dialect.generate(tree)
        if sysviews.referenced(norm):
            try:
                sysviews.register(self._cur, self._backend, self._dbs, norm)
            except duckdb.Error as e:
                raise self._error(e) from None
        tag = "SELECT" if is_query or first in ("WITH", "VALUES", "TABLE") else first
        return duck, tag, is_query or tag in ("EXPLAIN", "DESCRIBE", "SUMMARIZE")

    def _stream(self, reader: pa.RecordBatchReader) -> Iterator[pa.RecordBatch]:
        try:
            yield from reader
        except (duckdb.Error, pa.ArrowException) as e:
            if isinstance(e, duckdb.Error):
                raise self._error(e) from None
            raise SqlError("XX000", str(e)) from None
        finally:
            self._done_reading()

    def _refresh_catalog(self, dbs: list[str]) -> None:
        if getattr(self, "_dbs", None) == dbs and getattr(self, "_installed", False):
            return
        con = self._backend.cursor()
        try:
            catalog.install(con, dbs)
        except duckdb.Error as e:
            raise SqlError("XX000", f"cannot prepare the catalog emulation: {e}") from None
        finally:
            con.close()
        self._dbs = list(dbs)
        self._installed = True

    def _apply_search_path(self) -> None:
        parts = [f"{_q(self._catalog)}.{_q(s)}" for s in self._schemas]
        parts.append(f"{_q(self._home)}.{_q(catalog.SCHEMA)}")
        self._cur.execute("SET search_path = " + "'" + ",".join(parts).replace("'", "''") + "'")

    def _query_all_states(self, db: str) -> bool:
        try:
            return bool(self._backend.database_options(db).get("query_all_states", False))
        except Exception:
            return False

    def _resolve(self, table: exp.Table) -> tuple[str, str, str] | None:
        name = table.name
        if not name or isinstance(table.this, exp.Func):
            return None
        cat, db = table.catalog, table.db
        if cat:
            return (cat, db, name)
        if db:
            if db in self._dbs and self._catalog == self._home:
                return None  # `x.t` = catalog x, schema main: never a replicated table
            return (self._catalog, db, name)
        if self._catalog == self._home:
            return None
        states = redshift.table_states(self._cur, self._catalog)
        for schema in self._schemas:
            if (schema, name) in states:
                return (self._catalog, schema, name)
        return None

    def _column_type(self, tree: exp.Expression, col: exp.Column) -> str | None:
        tables = list(tree.find_all(exp.Table))
        if col.table:
            tables = [t for t in tables if t.alias_or_name == col.table]
        found: set[str] = set()
        for t in tables:
            where = self._resolve_any(t)
            if where is None:
                continue
            rows = self._cur.execute(
                "SELECT data_type FROM duckdb_columns() WHERE database_name = ? AND schema_name"
                " = ? AND table_name = ? AND column_name = ?",
                [*where, col.name],
            ).fetchall()
            found.update(r[0] for r in rows)
        return found.pop() if len(found) == 1 else None

    def _resolve_any(self, table: exp.Table) -> tuple[str, str, str] | None:
        if table.catalog:
            return (table.catalog, table.db, table.name)
        if table.db:
            return (self._catalog, table.db, table.name)
        row = self._cur.execute(
            "SELECT database_name, schema_name FROM duckdb_tables() WHERE database_name = ? AND"
            " table_name = ? AND list_contains(?, schema_name) LIMIT 1",
            [self._catalog, table.name, self._schemas],
        ).fetchone()
        return None if row is None else (row[0], row[1], table.name)

    def _param_types(self, sql: str) -> list[int]:
        from .catalog import TYPE_OIDS

        code = "".join(t for c, t in rewrite.segments(sql) if c)
        nums = [int(n) for n in re.findall(r"\$(\d+)", code)]
        types = [0] * (max(nums) if nums else 0)
        for m in re.finditer(r"\$(\d+)\s*::\s*([A-Za-z_ ]+?)(?:\b|\()", code):
            name = m.group(2).strip().upper()
            alias = {"VARCHAR": "VARCHAR", "TEXT": "VARCHAR", "INT": "INTEGER", "INT4": "INTEGER",
                     "INT8": "BIGINT", "INT2": "SMALLINT", "BOOL": "BOOLEAN",
                     "NUMERIC": "DECIMAL", "FLOAT8": "DOUBLE", "FLOAT4": "FLOAT"}  # fmt: skip
            oid = TYPE_OIDS.get(alias.get(name, name), 0)
            if name == "TEXT":
                oid = 25
            types[int(m.group(1)) - 1] = oid
        return types

    # --- intercepted statements --------------------------------------------------------

    def _intercepted(self, ic: rewrite.Intercepted, sql: str) -> Result:
        k = ic.kind
        if k in ("create_db", "alter_db", "drop_db"):
            if self.in_transaction:
                raise SqlError("25001", f"{ic.kind.split('_')[0].upper()} DATABASE cannot run"
                               " inside a transaction block")  # fmt: skip
            done = redshift.run(k, sql, self._backend)
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
            self._set(ic.name, ic.value)
            return _empty("SET")
        if k == "reset":
            if ic.name in ("all", "search_path"):
                self._schemas = ["main"]
                self._apply_search_path()
            return _empty("RESET")
        if k == "show":
            return self._show(ic.name)
        return _empty(ic.tag)

    def _run(self, sql: str) -> None:
        try:
            self._cur.execute(sql)
        except duckdb.Error as e:
            raise self._error(e) from None

    def _set(self, name: str, value: str) -> None:
        raw = value.strip()
        items = [rewrite._unquote(v) for v in re.split(r"\s*,\s*", raw) if v]
        if name == "search_path":
            schemas = []
            for s in items:
                if s in ('"$user"', "$user"):
                    continue
                schemas.append("main" if s.lower() == "public" else s)
            self._schemas = schemas or ["main"]
            self._apply_search_path()
            self._settings["search_path"] = raw
            return
        if name == "timezone":
            tz = rewrite._unquote(raw)
            tz = "UTC" if tz.lower() in ("local", "default") else tz
            try:
                self._cur.execute("SET TimeZone = '" + tz.replace("'", "''") + "'")
            except duckdb.Error as e:
                raise SqlError("22023", f'invalid value for parameter "TimeZone": "{tz}"') from e
            self._settings["timezone"] = tz
            return
        self._settings[name] = ", ".join(items) if len(items) > 1 else (items[0] if items else "")

    def _show(self, name: str) -> Result:
        if name == "all":
            names = sorted(self._settings)
            table = pa.table({"name": names, "setting": [self._settings[n] for n in names],
                              "description": [""] * len(names)})  # fmt: skip
        else:
            if name == "search_path" and "search_path" not in self._settings:
                value = ", ".join(self._schemas)
            elif name in self._settings:
                value = self._settings[name]
            else:
                raise SqlError("42704", f'unrecognized configuration parameter "{name}"')
            table = pa.table({name: [value]})
        return Result(
            [Column(f.name, f.type) for f in table.schema], iter(table.to_batches()), "SHOW"
        )

    # --- errors --------------------------------------------------------------------------

    def _error(self, e: duckdb.Error) -> SqlError:
        if self.in_transaction:
            self._failed = True
        text = str(e)
        msg = re.sub(r"^[A-Za-z ]+ Error: ", "", text).strip()
        if isinstance(e, duckdb.InterruptException):
            return SqlError("57014", "canceling statement due to user request")
        if "Division by zero" in text:
            return SqlError("22012", "division by zero")
        if isinstance(e, duckdb.CatalogException):
            if "Function" in text or "function" in text:
                return SqlError("42883", msg)
            if "Schema" in text:
                return SqlError("3F000", msg)
            return SqlError("42P01", msg)
        if isinstance(e, duckdb.ParserException):
            return SqlError("42601", msg)
        if isinstance(e, duckdb.BinderException):
            return SqlError("42703" if "column" in text.lower() else "42804", msg)
        if isinstance(e, duckdb.ConversionException):
            return SqlError("22P02", msg)
        if isinstance(e, duckdb.OutOfRangeException):
            return SqlError("22003", msg)
        if isinstance(e, duckdb.TransactionException):
            return SqlError("40001", msg)
        return SqlError("XX000", msg)
