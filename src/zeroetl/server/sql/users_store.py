"""The SQL endpoint's users, groups and grants, kept with the service's other state.

They live in the warehouse catalog file (`<warehouse>/catalog.sqlite3`, catalog/store.py), in
tables of their own opened on a connection of their own. That file is outside everything the
hub's DuckDB may open (sessions are sandboxed to the database files), so no SQL session can read
it, and it survives restarts like the integrations do. A user row holds verifiers only: a
SCRAM-SHA-256 verifier and the MD5 verifier `md5(password + user name)` Redshift drivers use; the
password itself is never stored, logged or returned.

Every read of the policy (one per table a statement touches) is served from an in-memory
`Snapshot`, rebuilt after each change: the store is written by a handful of statements a day.
`admin` is not a row: it is the built-in superuser whose password comes from the environment or
`<warehouse>/sql.password` (pgwire/auth.py).
"""

from __future__ import annotations

import hashlib
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from zeroetl.catalog.sqlite_tx import transaction

from .errors import SqlError

CATALOG_FILE = "catalog.sqlite3"  # catalog/store.py's file
SUPERUSER = "admin"
ADMIN_ID = 100  # Redshift numbers the first user 100
PUBLIC = "public"  # the grantee every user belongs to

_DDL = """
CREATE TABLE IF NOT EXISTS sql_users (
    name TEXT PRIMARY KEY,
    id INTEGER NOT NULL UNIQUE,
    scram TEXT,                                -- SCRAM-SHA-256 verifier (PostgreSQL's text form)
    md5 TEXT,                                  -- 'md5' || md5(password || name)
    superuser INTEGER NOT NULL DEFAULT 0,      -- CREATEUSER (Redshift: a superuser)
    createdb INTEGER NOT NULL DEFAULT 0,
    connection_limit INTEGER,                  -- NULL: unlimited
    valid_until TEXT,                          -- ISO time; NULL: forever
    syslog_access TEXT NOT NULL DEFAULT 'RESTRICTED',
    session_timeout INTEGER NOT NULL DEFAULT 0,
    created_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS sql_groups (name TEXT PRIMARY KEY, id INTEGER NOT NULL UNIQUE);
CREATE TABLE IF NOT EXISTS sql_group_members (
    group_name TEXT NOT NULL,
    user_name TEXT NOT NULL,
    PRIMARY KEY (group_name, user_name)
);
CREATE TABLE IF NOT EXISTS sql_grants (
    privilege TEXT NOT NULL,       -- USAGE | SELECT | CREATE | INSERT | UPDATE | DELETE | TEMP
    kind TEXT NOT NULL,            -- database | schema | table | tables (all tables in a schema)
    db TEXT NOT NULL,
    schema_name TEXT NOT NULL,     -- '' for a database
    name TEXT NOT NULL,            -- '' unless kind = table
    grantee_kind TEXT NOT NULL,    -- user | group | public
    grantee TEXT NOT NULL,         -- '' for public
    grantor TEXT NOT NULL,
    PRIMARY KEY (privilege, kind, db, schema_name, name, grantee_kind, grantee)
);
CREATE TABLE IF NOT EXISTS sql_users_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
"""

# Redshift's defaults for a new cluster's `dev.public`: every user may use it and create in it.
DEFAULT_GRANTS = [
    ("USAGE", "schema", "dev", "public", ""),
    ("CREATE", "schema", "dev", "public", ""),
]


@dataclass(frozen=True)
class User:
    name: str
    id: int
    scram: str | None = field(default=None, repr=False)
    md5: str | None = field(default=None, repr=False)
    superuser: bool = False
    createdb: bool = False
    connection_limit: int | None = None
    valid_until: str | None = None
    syslog_access: str = "RESTRICTED"
    session_timeout: int = 0
    created_at: str = ""

    def expired(self, now: datetime | None = None) -> bool:
        if not self.valid_until:
            return False
        until = datetime.fromisoformat(self.valid_until)
        if until.tzinfo is None:
            until = until.replace(tzinfo=UTC)
        return (now or datetime.now(UTC)) >= until


@dataclass(frozen=True)
class Grant:
    privilege: str
    kind: str
    db: str
    schema: str
    name: str
    grantee_kind: str
    grantee: str
    grantor: str = ""


ADMIN = User(SUPERUSER, ADMIN_ID, superuser=True, createdb=True, syslog_access="UNRESTRICTED")


@dataclass(frozen=True)
class Snapshot:
    """Everything the policy and the views read, as of the last change."""

    users: dict[str, User]
    groups: dict[str, int]
    members: dict[str, frozenset[str]]  # group -> user names
    grants: frozenset[Grant]

    def groups_of(self, user: str) -> list[str]:
        return sorted(g for g, users in self.members.items() if user in users)


def md5_verifier(password: str, user: str) -> str:
    """PostgreSQL's and Redshift's stored MD5 form: 'md5' + hex(md5(password + user name))."""
    return "md5" + hashlib.md5((password + user).encode("utf-8")).hexdigest()


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


class UserStore:
    """Users, groups and grants in the warehouse catalog file."""

    def __init__(self, warehouse: Path) -> None:
        self.path = Path(warehouse) / CATALOG_FILE
        self._lock = threading.RLock()
        self._db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA busy_timeout = 5000")
        self._db.executescript(_DDL)
        with self._tx() as db:
            seeded = db.execute("SELECT 1 FROM sql_users_meta WHERE key = 'defaults'").fetchone()
            if not seeded:  # once: a REVOKE of a default must survive restarts
                for priv, kind, d, s, n in DEFAULT_GRANTS:
                    db.execute(
                        "INSERT OR IGNORE INTO sql_grants VALUES (?, ?, ?, ?, ?, 'public', '', ?)",
                        [priv, kind, d, s, n, SUPERUSER],
                    )
                db.execute("INSERT INTO sql_users_meta VALUES ('defaults', ?)", [_now()])
        self.snapshot = self._load()

    def close(self) -> None:
        with self._lock:
            self._db.close()

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        with self._lock:  # an RLock: held across the reload too
            with transaction(self._db, self._lock):
                yield self._db
            self.snapshot = self._load()

    def _load(self) -> Snapshot:
        db = self._db
        users = {SUPERUSER: ADMIN}
        for r in db.execute(
            "SELECT name, id, scram, md5, superuser, createdb, connection_limit, valid_until,"
            " syslog_access, session_timeout, created_at FROM sql_users"
        ):
            users[r[0]] = User(r[0], r[1], r[2], r[3], bool(r[4]), bool(r[5]), *r[6:])
        groups = {r[0]: int(r[1]) for r in db.execute("SELECT name, id FROM sql_groups")}
        members: dict[str, set[str]] = {g: set() for g in groups}
        for g, u in db.execute("SELECT group_name, user_name FROM sql_group_members"):
            members.setdefault(g, set()).add(u)
        grants = frozenset(Grant(*r) for r in db.execute("SELECT * FROM sql_grants"))
        return Snapshot(users, groups, {g: frozenset(u) for g, u in members.items()}, grants)

    # --- users ----------------------------------------------------------------------------

    def _next_id(self, db: sqlite3.Connection, table: str) -> int:
        row = db.execute(f"SELECT max(id) FROM {table}").fetchone()
        return max(ADMIN_ID, int(row[0] or 0)) + 1

    def create_user(self, user: User, groups: list[str]) -> None:
        self._exists_not(user.name)
        with self._tx() as db:
            self._known_groups(db, groups)
            uid = self._next_id(db, "sql_users")
            db.execute(
                "INSERT INTO sql_users VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [user.name, uid, user.scram, user.md5, int(user.superuser), int(user.createdb),
                 user.connection_limit, user.valid_until, user.syslog_access,
                 user.session_timeout, _now()],
            )  # fmt: skip
            for g in groups:
                db.execute("INSERT OR IGNORE INTO sql_group_members VALUES (?, ?)", [g, user.name])

    def alter_user(self, name: str, new: User) -> None:
        """Replace `name`'s row by `new` (a rename when new.name differs: grants and group
        memberships follow it)."""
        if new.name != name:
            self._exists_not(new.name)
        with self._tx() as db:
            db.execute(
                "UPDATE sql_users SET name = ?, scram = ?, md5 = ?, superuser = ?, createdb = ?,"
                " connection_limit = ?, valid_until = ?, syslog_access = ?, session_timeout = ?"
                " WHERE name = ?",
                [new.name, new.scram, new.md5, int(new.superuser), int(new.createdb),
                 new.connection_limit, new.valid_until, new.syslog_access, new.session_timeout,
                 name],
            )  # fmt: skip
            if new.name != name:
                db.execute(
                    "UPDATE sql_group_members SET user_name = ? WHERE user_name = ?",
                    [new.name, name],
                )
                db.execute(
                    "UPDATE sql_grants SET grantee = ? WHERE grantee_kind = 'user' AND grantee = ?",
                    [new.name, name],
                )

    def drop_user(self, name: str) -> None:
        with self._tx() as db:
            db.execute("DELETE FROM sql_users WHERE name = ?", [name])
            db.execute("DELETE FROM sql_group_members WHERE user_name = ?", [name])
            db.execute("DELETE FROM sql_grants WHERE grantee_kind = 'user' AND grantee = ?", [name])

    def _exists_not(self, name: str) -> None:
        if name in self.snapshot.users:
            raise SqlError("42710", f'user "{name}" already exists')

    # --- groups ---------------------------------------------------------------------------

    def _known_groups(self, db: sqlite3.Connection, groups: list[str]) -> None:
        for g in groups:
            if db.execute("SELECT 1 FROM sql_groups WHERE name = ?", [g]).fetchone() is None:
                raise SqlError("42704", f'group "{g}" does not exist')

    def create_group(self, name: str, users: list[str]) -> None:
        if name in self.snapshot.groups:
            raise SqlError("42710", f'group "{name}" already exists')
        with self._tx() as db:
            db.execute(
                "INSERT INTO sql_groups VALUES (?, ?)", [name, self._next_id(db, "sql_groups")]
            )
            for u in users:
                db.execute("INSERT OR IGNORE INTO sql_group_members VALUES (?, ?)", [name, u])

    def change_members(self, group: str, add: list[str], drop: list[str]) -> None:
        with self._tx() as db:
            for u in add:
                db.execute("INSERT OR IGNORE INTO sql_group_members VALUES (?, ?)", [group, u])
            for u in drop:
                db.execute(
                    "DELETE FROM sql_group_members WHERE group_name = ? AND user_name = ?",
                    [group, u],
                )

    def rename_group(self, name: str, new: str) -> None:
        if new in self.snapshot.groups:
            raise SqlError("42710", f'group "{new}" already exists')
        with self._tx() as db:
            db.execute("UPDATE sql_groups SET name = ? WHERE name = ?", [new, name])
            db.execute(
                "UPDATE sql_group_members SET group_name = ? WHERE group_name = ?", [new, name]
            )
            db.execute(
                "UPDATE sql_grants SET grantee = ? WHERE grantee_kind = 'group' AND grantee = ?",
                [new, name],
            )

    def drop_group(self, name: str) -> None:
        with self._tx() as db:
            db.execute("DELETE FROM sql_groups WHERE name = ?", [name])
            db.execute("DELETE FROM sql_group_members WHERE group_name = ?", [name])
            db.execute(
                "DELETE FROM sql_grants WHERE grantee_kind = 'group' AND grantee = ?", [name]
            )

    # --- grants ---------------------------------------------------------------------------

    def grant(self, grants: list[Grant]) -> None:
        with self._tx() as db:
            for g in grants:
                db.execute(
                    "INSERT OR IGNORE INTO sql_grants VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                    [g.privilege, g.kind, g.db, g.schema, g.name, g.grantee_kind, g.grantee,
                     g.grantor],
                )  # fmt: skip

    def revoke(self, grants: list[Grant]) -> None:
        """Remove each grant; one on kind 'tables' also removes the grants on the tables of that
        schema (PostgreSQL's REVOKE ... ON ALL TABLES IN SCHEMA acts on each of them)."""
        with self._tx() as db:
            for g in grants:
                kinds = ("tables", "table") if g.kind == "tables" else (g.kind,)
                for kind in kinds:
                    where = "privilege = ? AND kind = ? AND db = ? AND schema_name = ? AND"
                    args: list[object] = [g.privilege, kind, g.db, g.schema]
                    if kind == g.kind:
                        where += " name = ? AND"
                        args.append(g.name)
                    db.execute(
                        f"DELETE FROM sql_grants WHERE {where} grantee_kind = ? AND grantee = ?",
                        [*args, g.grantee_kind, g.grantee],
                    )

    def forget_object(self, kind: str, db_name: str, schema: str, name: str = "") -> None:
        """An object is gone: its grants go with it (a new object of the same name starts
        with none, as in PostgreSQL)."""
        with self._tx() as db:
            if kind == "schema":
                db.execute(
                    "DELETE FROM sql_grants WHERE db = ? AND schema_name = ? AND kind <>"
                    " 'database'",
                    [db_name, schema],
                )
            else:
                db.execute(
                    "DELETE FROM sql_grants WHERE kind = 'table' AND db = ? AND schema_name = ?"
                    " AND name = ?",
                    [db_name, schema, name],
                )

    def rename_object(self, db_name: str, schema: str, old: str, new: str) -> None:
        with self._tx() as db:
            db.execute(
                "UPDATE OR REPLACE sql_grants SET name = ? WHERE kind = 'table' AND db = ? AND"
                " schema_name = ? AND name = ?",
                [new, db_name, schema, old],
            )
