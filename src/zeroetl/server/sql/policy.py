"""What a SQL session may touch: the sandbox policy of the SQL endpoint.

The guard (guard.py) turns a statement into the things it touches (`Touch`): tables it reads or
writes, objects it creates or drops, table functions and functions it calls, statements that act
on the server (ATTACH, COPY, PRAGMA ...) and DuckDB settings it changes. `Policy.decide` rules on
each one for a `Principal`: allowed, or refused with a SQLSTATE and a message that says what was
refused and why (42501; 25006 for writes to replicated data).

Sessions read replicated tables, the system views and the pg_catalog emulation. Writes and DDL
are allowed in one place only, the analysts' workspace `dev` (workspace_store.py), and every one
of them is ruled on by `Policy.workspace`. Replicated databases stay read-only for everyone.

With users and grants (grants.py, given as `access`), reading a table or view of a replicated
database or of dev takes USAGE on its schema and SELECT on it (the session resolves each name a
statement reads and fills in `Touch.database`); the system views and the catalog emulation stay
readable by everyone. Without `access` (bare test hubs) everyone reads everything.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING

from .errors import SqlError

if TYPE_CHECKING:
    from .grants import Access

WORKSPACE = "dev"  # the analysts' workspace database (workspace_store.py)
SUPERUSER = "admin"
METADATA_SCHEMA = "_zeroetl"  # each target database's bookkeeping (checkpoint, table states ...)
EMULATION_SCHEMA = "_zeroetl_pg"  # the catalog emulation (catalog.py): read-only for sessions

DENIED = "42501"  # insufficient_privilege
READ_ONLY = "25006"  # read_only_sql_transaction, as PostgreSQL answers writes on a standby


class Kind(StrEnum):
    READ = "read"  # a table or view
    WRITE = "write"  # INSERT, UPDATE, DELETE, MERGE, TRUNCATE, COPY ... FROM into a table
    DDL = "ddl"  # CREATE, ALTER, DROP, COMMENT, SELECT INTO: objects in a catalog
    TABLE_FUNCTION = "table function"
    FUNCTION = "function"  # scalar, aggregate or window function
    STATEMENT = "statement"  # acts on the server: ATTACH, COPY TO, PRAGMA, INSTALL ...
    SETTING = "setting"  # SET / RESET of a DuckDB option


@dataclass(frozen=True)
class Touch:
    kind: Kind
    name: str  # what, as DuckDB knows it: "read_csv", "UPDATE", "ATTACH", "memory_limit"
    path: tuple[str, ...] = ()  # the object acted on: its name parts, as written or resolved
    database: str | None = None  # the replicated target database it lives in, or WORKSPACE
    side_effects: bool = False  # FUNCTION: DuckDB flags it as having side effects
    # WORKSPACE writes and DDL: the recorded owner of the object acted on (for CREATE: of the
    # schema it is created in; for CREATE SCHEMA: none), filled in by the session; READ of a
    # dev object: its owner
    owner: str | None = None
    # WORKSPACE CREATE (OR REPLACE / IF NOT EXISTS): the object exists already, so the statement
    # acts on it: its owner's right, which CREATE on the schema does not give
    existing: bool = False

    @property
    def target(self) -> str:
        return ".".join(p if p.replace("_", "a").isalnum() else '"' + p + '"' for p in self.path)


@dataclass(frozen=True)
class Principal:
    """Who runs the statement. Privileges join here when users and grants arrive."""

    user: str


class Refused(SqlError):
    """A statement the sandbox does not run; nothing of it was executed."""


# Table functions a session may call: they compute rows and touch nothing outside the query.
TABLE_FUNCTIONS = frozenset(
    {
        "range",
        "generate_series",
        "unnest",
        "generate_subscripts",
        "json_each",
        "json_tree",
        "repeat",
        "repeat_row",
        "pg_timezone_names",
        "icu_calendar_names",
        "duckdb_keywords",
        "duckdb_types",
    }
)
# Functions DuckDB flags with side effects that are harmless here (they touch only the query).
SIDE_EFFECTS_ALLOWED = frozenset(
    {
        "random",
        "setseed",
        "gen_random_uuid",
        "uuid",
        "uuidv4",
        "uuidv7",
        "sleep_ms",
        "error",
        "current_query",
        "current_query_id",
        "current_transaction_id",
        "current_connection_id",
        "stats",
        "vector_type",
    }
)

_FUNCTION_SCHEMAS = {"pg_catalog", "information_schema", EMULATION_SCHEMA}

_FILES = "sessions cannot read or write the server's files"
_WHY_TABLE_FUNCTION: list[tuple[tuple[str, ...], str]] = [
    (("read_", "parquet_", "sniff_csv", "glob", "iceberg", "delta", "arrow_scan", "pandas_scan",
      "python_", "seq_scan"), _FILES),
    (("enable_logging", "disable_logging", "duckdb_log", "truncate_duckdb_logs", "enable_profiling",
      "disable_profiling"), "logging records every session's SQL and is configured by the service"),
    (("checkpoint", "force_checkpoint"), "storage maintenance belongs to the service"),
    (("query", "query_table", "json_execute_serialized_sql"),
     "it runs SQL text that the sandbox cannot inspect"),
    (("duckdb_", "pragma_", "which_secret", "test_", "summary"),
     "DuckDB's internal state (settings, files, other sessions) is not part of the warehouse"),
]  # fmt: skip
_WHY_STATEMENT: dict[str, str] = {
    "ATTACH": "sessions cannot open or close database files",
    "DETACH": "sessions cannot open or close database files",
    "COPY": _FILES + "; read results through the protocol instead",
    "EXPORT": _FILES,
    "IMPORT": _FILES,
    "INSTALL": "extensions are fixed by the service",
    "LOAD": "extensions are fixed by the service",
    "UPDATE EXTENSIONS": "extensions are fixed by the service",
    "PRAGMA": "PRAGMAs change DuckDB settings or read its internal state",
    "CALL": "procedures change DuckDB settings or read its internal state",
    "CHECKPOINT": "storage maintenance belongs to the service",
    "VACUUM": "storage maintenance belongs to the service",
    "ANALYZE": "storage maintenance belongs to the service",
    "USE": "the database is chosen when connecting (dbname=...); use 3-part names in dev",
    "PREPARE": "use the protocol's prepared statements (Parse/Bind) instead",
    "EXECUTE": "use the protocol's prepared statements (Parse/Bind) instead",
    "SET VARIABLE": "DuckDB variables are not part of the warehouse",
    "UNLOAD": _FILES,
    "LOCK": "replicated tables are locked by replication only",
    "GRANT": "users and grants are managed by the service",
    "MULTIPLE STATEMENTS": "one statement at a time: a prepared statement holds exactly one",
    "SET": "DuckDB settings are fixed by the service",
    "MULTI": "only queries run on the SQL endpoint",
    "REVOKE": "users and grants are managed by the service",
}
_METADATA = (
    "_zeroetl holds zeroetl's internal bookkeeping; query the system views (svv_integration,"
    " svv_integration_table_state, sys_integration_activity, sys_integration_table_activity,"
    " sys_integration_table_state_change) instead"
)


def _refuse(sqlstate: str, message: str, hint: str = "") -> Refused:
    return Refused(sqlstate, message, hint=hint)


def _lower(path: tuple[str, ...]) -> list[str]:
    return [p.lower() for p in path]


class Policy:
    """The rules; one instance serves every session."""

    def __init__(self, access: Access | None = None) -> None:
        self.access = access

    def superuser(self, who: Principal) -> bool:
        if self.access is None:
            return who.user == SUPERUSER
        return self.access.is_superuser(who.user)

    def decide(self, touch: Touch, who: Principal) -> Refused | None:
        """None when `who` may do `touch`, else the refusal to raise."""
        kind, name = touch.kind, touch.name
        if kind in (Kind.READ, Kind.WRITE, Kind.DDL) and METADATA_SCHEMA in _lower(touch.path):
            return _refuse(DENIED, f"permission denied for table {touch.target}: {_METADATA}")
        if kind is Kind.READ:
            return self._read(touch) or self.select(touch, who)
        if kind in (Kind.WRITE, Kind.DDL):
            if touch.database == WORKSPACE:
                return self.workspace(touch, who)
            return self._change(touch)
        if kind is Kind.TABLE_FUNCTION:
            if name.lower() in TABLE_FUNCTIONS:
                return None
            return _refuse(
                DENIED, f"permission denied for table function {name}: {_table_function_why(name)}"
            )
        if kind is Kind.FUNCTION:
            if not set(_lower(touch.path)) <= _FUNCTION_SCHEMAS:
                # A qualified name reaches DuckDB's built-ins past the emulation's macros.
                return _refuse(
                    DENIED,
                    f"permission denied for function {touch.target}.{name}: call functions by"
                    " their plain name",
                )
            if touch.side_effects and name.lower() not in SIDE_EFFECTS_ALLOWED:
                return _refuse(
                    DENIED,
                    f"permission denied for function {name}: it acts outside the query"
                    " (side effects)",
                )
            return None
        if kind is Kind.SETTING:
            return _refuse(
                DENIED,
                f'permission denied to set parameter "{name}"',
                hint="DuckDB settings are fixed by the service; session parameters such as"
                " search_path, timezone and statement_timeout can be set",
            )
        why = _WHY_STATEMENT.get(name.upper(), "only queries run on the SQL endpoint")
        return _refuse(DENIED, f"permission denied for {name.upper()}: {why}")

    @staticmethod
    def _read(touch: Touch) -> Refused | None:
        path = _lower(touch.path)
        if not path:
            return None
        last = path[-1]
        if any(c in last for c in "/\\:") or _looks_like_file(last):
            return _refuse(DENIED, f'permission denied for table "{touch.path[-1]}": {_FILES}')
        if (len(path) >= 2 and path[0] == "system") or (len(path) == 3 and path[0] == "temp"):
            # DuckDB's own catalog: its pg_catalog.pg_settings shows every setting (paths too).
            return _refuse(
                DENIED,
                f"permission denied for table {touch.target}: DuckDB's internal catalog is not"
                " part of the warehouse; use pg_catalog and information_schema unqualified",
            )
        if len(path) < 3 and last.startswith("zeroetl_") and path[0] in (last, EMULATION_SCHEMA):
            # The emulation's own building blocks (zeroetl_meta_* read every _zeroetl schema).
            return _refuse(DENIED, f"permission denied for table {touch.target}: {_METADATA}")
        # DuckDB's own views (duckdb_logs, pragma_database_list ...) live in its system catalog;
        # a replicated table of the same name is reached by its 3-part name.
        system = len(path) < 3
        if system and last.startswith(("duckdb_", "pragma_")):
            why = _table_function_why(last)
            return _refuse(DENIED, f"permission denied for view {touch.path[-1]}: {why}")
        return None

    def workspace(self, touch: Touch, who: Principal) -> Refused | None:
        """The one rule for writes and DDL in the workspace `dev`, as on Redshift.

        - The superuser (`admin`) may do everything.
        - An object's owner has every right on it: `touch.owner` is the recorded owner of the
          object acted on (for CREATE, of the schema the object is created in).
        - Anyone else needs a grant (`granted`): CREATE on the schema for CREATE TABLE/VIEW and
          the other DDL in it, CREATE on the database for CREATE SCHEMA, INSERT / UPDATE /
          DELETE (TRUNCATE: DELETE) on the table for writes.
        """
        if self.superuser(who) or (touch.owner is not None and touch.owner == who.user):
            return None
        if self.granted(touch, who):
            return None
        if touch.kind is Kind.WRITE:
            what = f"table {touch.target}"
        elif touch.name.upper() == "CREATE SCHEMA":
            what = f"database {WORKSPACE}"
        elif touch.name.upper().startswith(("CREATE", "SELECT INTO")):
            what = f"schema {'.'.join(touch.path[1:-1]) or touch.target}"
        else:
            what = f"{touch.name.split(' ', 1)[-1].lower()} {touch.target}"
        return _refuse(
            DENIED,
            f"permission denied for {what}: {touch.name} needs ownership or a grant",
            hint="the owner or the superuser can do it, or GRANT the privilege",
        )

    def granted(self, touch: Touch, who: Principal) -> bool:
        """Whether a grant lets `who` do `touch` in the workspace (see `workspace`): CREATE on
        dev for CREATE SCHEMA, CREATE on the schema for a new object in it, INSERT / UPDATE /
        DELETE (and USAGE on the schema) for writes. Dropping, altering, replacing and
        refreshing stay the owner's."""
        if self.access is None or touch.existing:
            return False
        name, path, user = touch.name.upper(), touch.path, who.user
        if name == "CREATE SCHEMA":
            return self.access.holds(user, "CREATE", WORKSPACE)
        if len(path) != 3:
            return False
        db, schema, table = path
        if touch.kind is Kind.DDL:
            return name.startswith(("CREATE", "SELECT INTO")) and self.access.holds(
                user, "CREATE", db, schema
            )
        needs = {"MERGE": ("INSERT", "UPDATE", "DELETE"), "TRUNCATE": ("DELETE",),
                 "COPY": ("INSERT",)}.get(name, (name,))  # fmt: skip
        if not set(needs) <= {"INSERT", "UPDATE", "DELETE"}:
            return False  # REFRESH MATERIALIZED VIEW and the like: the owner's
        return self.access.holds(user, "USAGE", db, schema) and all(
            self.access.holds(user, p, db, schema, table) for p in needs
        )

    def select(self, touch: Touch, who: Principal) -> Refused | None:
        """Reading `touch.path` = (database, schema, name), resolved by the session: the owner,
        a superuser, or USAGE on the schema and SELECT on the relation."""
        if self.access is None or touch.database is None or len(touch.path) != 3:
            return None
        if self.superuser(who) or (touch.owner is not None and touch.owner == who.user):
            return None
        db, schema, name = touch.path
        missing = self.access.can_read(who.user, db, schema, name)
        if missing is None:
            return None
        if missing == "USAGE":
            return _refuse(
                DENIED,
                f"permission denied for schema {schema}",
                hint=f"a superuser or the schema's owner can GRANT USAGE ON SCHEMA {db}.{schema}"
                f" TO {who.user}",
            )
        return _refuse(
            DENIED,
            f"permission denied for table {name}",
            hint=f"a superuser or the table's owner can GRANT SELECT ON {db}.{schema}.{name} TO"
            f" {who.user}",
        )

    @staticmethod
    def _change(touch: Touch) -> Refused | None:
        what = f"{touch.name} {touch.target}".strip()
        if touch.database is not None:
            return _refuse(
                READ_ONLY,
                f'cannot execute {touch.name}: database "{touch.database}" is a read-only'
                " replica maintained by zero-ETL replication",
                hint="change the data on the source MySQL database; it replicates here within"
                " seconds",
            )
        return _refuse(
            DENIED,
            f"permission denied for {what}: sessions cannot create, change or drop objects in"
            " the warehouse (its databases are read-only replicas and its catalog is shared by"
            " every session)",
        )

    def check(self, touches: list[Touch], who: Principal) -> None:
        """Raise the first refusal, if any (touches are in statement order)."""
        for touch in touches:
            refused = self.decide(touch, who)
            if refused is not None:
                raise refused


_FILE_SUFFIXES = (".csv", ".tsv", ".txt", ".parquet", ".json", ".jsonl", ".ndjson", ".gz",
                  ".zst", ".duckdb", ".db", ".sqlite", ".sqlite3", ".arrow", ".xlsx", ".wal")  # fmt: skip


def _looks_like_file(name: str) -> bool:
    """DuckDB reads a file when a table name looks like one (a replacement scan); MySQL table
    names cannot contain '.', so such a name never is a replicated table."""
    return "." in name and name.endswith(_FILE_SUFFIXES)


def _table_function_why(name: str) -> str:
    low = name.lower()
    for prefixes, why in _WHY_TABLE_FUNCTION:
        if low.startswith(prefixes):
            return why
    return "only table functions that compute rows (range, generate_series, unnest ...) are allowed"
