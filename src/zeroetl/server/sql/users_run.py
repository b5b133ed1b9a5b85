"""Running the user, group and grant commands (users_commands.py) against the user store.

Who may do what, as on Redshift: superusers (`admin`, and users created with CREATEUSER) manage
users and groups; a user may change their own password; grants on the workspace's objects are
given by their owner or a superuser, grants on replicated data by a superuser (the replicas
belong to the service). Object names are resolved like a query resolves them (the session's
database and search path) and stored as the catalog spells them.

The commands take effect at once and outside any transaction: a ROLLBACK does not undo them
(they change the service's store, not a database file).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import duckdb

from zeroetl.errors import ZeroEtlError
from zeroetl.server.pgwire.auth import ScramVerifier

from . import workspace_store as ws
from .errors import SqlError
from .grants import Access
from .users_commands import (
    AlterGroup,
    AlterUser,
    Command,
    CreateGroup,
    CreateUser,
    DropGroup,
    DropUser,
    GrantCmd,
    Password,
    UserOptions,
)
from .users_store import SUPERUSER, Grant, User, UserStore, md5_verifier

DENIED = "42501"
UNDEFINED = "42704"


@dataclass
class Context:
    store: UserStore
    access: Access
    user: str
    con: duckdb.DuckDBPyConnection
    catalog: str  # the session's database (dev, or a replicated one)
    databases: list[str]  # replicated target databases
    workspace: bool  # dev exists on this hub
    schemas: list[str]  # search path


def run(cmd: Command, ctx: Context) -> str:
    """Run `cmd` for `ctx.user`; returns the command tag."""
    if isinstance(cmd, CreateUser | AlterUser | DropUser):
        return _users(cmd, ctx)
    if isinstance(cmd, CreateGroup | AlterGroup | DropGroup):
        _need_superuser(ctx, "manage groups")
        return _groups(cmd, ctx)
    return _grant(cmd, ctx)


def _need_superuser(ctx: Context, what: str) -> None:
    if not ctx.access.is_superuser(ctx.user):
        raise SqlError(DENIED, f"permission denied to {what}",
                       hint="only a superuser (admin, or a user created with CREATEUSER) can")  # fmt: skip


def _verifiers(p: Password, name: str) -> tuple[str | None, str | None]:
    if p.kind == "plain":
        return ScramVerifier.from_password(p.value).to_text(), md5_verifier(p.value, name)
    if p.kind == "md5":
        return None, p.value
    if p.kind == "scram":
        try:
            ScramVerifier.parse(p.value)
        except ZeroEtlError:
            raise SqlError("22023", "malformed SCRAM-SHA-256 password verifier") from None
        return p.value, None
    return None, None  # DISABLE


def _apply(user: User, o: UserOptions) -> User:
    changes: dict[str, object] = {}
    if o.password is not None:
        changes["scram"], changes["md5"] = _verifiers(o.password, user.name)
    if o.superuser is not None:
        changes["superuser"] = o.superuser
    if o.createdb is not None:
        changes["createdb"] = o.createdb
    if o.valid_until is not None:
        changes["valid_until"] = o.valid_until or None
    if o.connection_limit is not None:
        changes["connection_limit"] = None if o.connection_limit < 0 else o.connection_limit
    if o.syslog_access is not None:
        changes["syslog_access"] = o.syslog_access
    if o.session_timeout is not None:
        changes["session_timeout"] = o.session_timeout
    return replace(user, **changes)  # type: ignore[arg-type]


def _check_name(name: str, what: str) -> None:
    if name == SUPERUSER or name.lower() == "public" or name.startswith(("pg_", "rdsdb")):
        raise SqlError("42939", f'{what} name "{name}" is reserved')
    if len(name) > 127:
        raise SqlError("42622", f"{what} name is longer than 127 characters")
    if any(ord(c) < 32 or ord(c) == 127 for c in name):
        raise SqlError("42602", f"invalid {what} name: control characters are not allowed")


def _users(cmd: CreateUser | AlterUser | DropUser, ctx: Context) -> str:
    snap = ctx.store.snapshot
    if isinstance(cmd, CreateUser):
        _need_superuser(ctx, "create users")
        _check_name(cmd.name, "user")
        ctx.store.create_user(_apply(User(cmd.name, 0), cmd.options), cmd.options.groups)
        return "CREATE USER"
    if isinstance(cmd, AlterUser):
        own_password = (
            cmd.name == ctx.user
            and cmd.options.password is not None
            and cmd.options == UserOptions(password=cmd.options.password)
        )
        if not own_password:
            _need_superuser(ctx, f'alter user "{cmd.name}"')
        if cmd.name == SUPERUSER:
            raise SqlError(DENIED, 'user "admin" is built in: its password comes from'
                           " ZEROETL_SQL_PASSWORD or <warehouse>/sql.password")  # fmt: skip
        old = snap.users.get(cmd.name)
        if old is None:
            raise SqlError(UNDEFINED, f'user "{cmd.name}" does not exist')
        if cmd.options.groups:
            raise SqlError("42601", "use ALTER GROUP g ADD USER to add a user to a group")
        new = _apply(old, cmd.options)
        if cmd.options.rename:
            _check_name(cmd.options.rename, "user")
            # the MD5 verifier is salted with the user name: it cannot survive a rename
            new = replace(new, name=cmd.options.rename, md5=None)
        ctx.store.alter_user(cmd.name, new)
        return "ALTER USER"
    _need_superuser(ctx, "drop users")
    for name in cmd.names:
        if name == SUPERUSER:
            raise SqlError(DENIED, 'user "admin" is built in and cannot be dropped')
        if name == ctx.user:
            raise SqlError("55006", "current user cannot be dropped")
        if name not in snap.users:
            if cmd.if_exists:
                continue
            raise SqlError(UNDEFINED, f'user "{name}" does not exist')
        owned = _owned(ctx, name)
        if owned:
            raise SqlError("2BP01", f'user "{name}" cannot be dropped because it owns objects in'
                           f" {ws.WORKSPACE}: {', '.join(owned[:5])}",
                           hint="drop those objects first (as their owner or a superuser)")  # fmt: skip
    for name in cmd.names:
        if name in snap.users:
            ctx.store.drop_user(name)
    return "DROP USER"


def _owned(ctx: Context, name: str) -> list[str]:
    if not ctx.workspace:
        return []
    rows = ctx.con.execute(
        f"SELECT schema_name, name FROM {ws.WORKSPACE}.{ws.BOOK}.objects WHERE owner = ?"
        " ORDER BY 1, 2",
        [name],
    ).fetchall()
    return [f"{s}.{n}" if n else f"schema {s}" for s, n in rows]


def _groups(cmd: CreateGroup | AlterGroup | DropGroup, ctx: Context) -> str:
    snap = ctx.store.snapshot
    users = cmd.users if isinstance(cmd, CreateGroup) else getattr(cmd, "add", [])
    for u in users:
        if u not in snap.users:
            raise SqlError(UNDEFINED, f'user "{u}" does not exist')
    if isinstance(cmd, CreateGroup):
        _check_name(cmd.name, "group")
        ctx.store.create_group(cmd.name, cmd.users)
        return "CREATE GROUP"
    if isinstance(cmd, DropGroup):
        for g in cmd.names:
            if g not in snap.groups and not cmd.if_exists:
                raise SqlError(UNDEFINED, f'group "{g}" does not exist')
        for g in cmd.names:
            ctx.store.drop_group(g)
        return "DROP GROUP"
    if cmd.name not in snap.groups:
        raise SqlError(UNDEFINED, f'group "{cmd.name}" does not exist')
    if cmd.rename:
        _check_name(cmd.rename, "group")
        ctx.store.rename_group(cmd.name, cmd.rename)
    else:
        ctx.store.change_members(cmd.name, cmd.add, cmd.drop)
    return "ALTER GROUP"


# --- grants -------------------------------------------------------------------------------


def _grant(cmd: GrantCmd, ctx: Context) -> str:
    snap = ctx.store.snapshot
    for kind, name in cmd.grantees:
        if kind == "user" and name not in snap.users:
            raise SqlError(UNDEFINED, f'user "{name}" does not exist')
        if kind == "group" and name not in snap.groups:
            raise SqlError(UNDEFINED, f'group "{name}" does not exist')
    rows: list[Grant] = []
    for obj in cmd.objects:
        db, schema, name = _resolve(cmd.kind, obj, ctx)
        _may_grant(cmd, ctx, db, schema, name)
        for priv in cmd.privileges:
            for gkind, grantee in cmd.grantees:
                rows.append(Grant(priv, cmd.kind, db, schema, name, gkind, grantee, ctx.user))
    if cmd.revoke:
        ctx.store.revoke(rows)
        return "REVOKE"
    ctx.store.grant(rows)
    return "GRANT"


def _may_grant(cmd: GrantCmd, ctx: Context, db: str, schema: str, name: str) -> None:
    if ctx.access.is_superuser(ctx.user):
        return
    what = {"database": f"database {db}", "schema": f"schema {schema}",
            "tables": f"schema {schema}", "table": f"table {name}"}[cmd.kind]  # fmt: skip
    if db == ws.WORKSPACE and cmd.kind != "database":
        owner = owner_of(ctx.con, schema, name if cmd.kind == "table" else "")
        if owner == ctx.user:
            return
    verb = "revoke" if cmd.revoke else "grant"
    raise SqlError(DENIED, f"permission denied to {verb} privileges on {what}",
                   hint="only its owner or a superuser can")  # fmt: skip


def _known_db(name: str, ctx: Context) -> str | None:
    if ctx.workspace and name.lower() in (ws.WORKSPACE, "postgres"):
        return ws.WORKSPACE
    return next((d for d in ctx.databases if d.lower() == name.lower()), None)


def _resolve(kind: str, obj: tuple[str, ...], ctx: Context) -> tuple[str, str, str]:
    """(database, schema, table) as the catalog spells them; '' for the parts a kind lacks."""
    if kind == "database":
        db = _known_db(obj[0], ctx)
        if db is None:
            raise SqlError("3D000", f'database "{obj[0]}" does not exist')
        return db, "", ""
    here = _known_db(ctx.catalog, ctx) or ctx.catalog
    if kind in ("schema", "tables"):
        if len(obj) > 2:
            raise SqlError("42601", f"improper schema name: {'.'.join(obj)}")
        db = _known_db(obj[0], ctx) if len(obj) == 2 else here
        row = ctx.con.execute(
            "SELECT database_name, schema_name FROM duckdb_schemas() WHERE database_name = ?"
            " AND lower(schema_name) = lower(?) AND schema_name NOT IN ('_zeroetl',"
            " 'information_schema', 'pg_catalog') LIMIT 1",
            [db, obj[-1]],
        ).fetchall()
        if db is None or not row:
            raise SqlError("3F000", f'schema "{".".join(obj)}" does not exist')
        return str(row[0][0]), str(row[0][1]), ""
    found = relation(ctx.con, obj, ctx.catalog, ctx.schemas)
    if found is None or _known_db(found[0], ctx) is None or found[1] == "_zeroetl":
        raise SqlError("42P01", f'relation "{".".join(obj)}" does not exist')
    return found


Index = dict[tuple[str, str, str], tuple[str, str, str]]


def relation_index(con: duckdb.DuckDBPyConnection, databases: list[str] | None = None) -> Index:
    """Every table and view of `databases` (all attached ones when None), by lower-cased name:
    one catalog read serves all the names of a statement."""
    where = "NOT temporary" if databases is None else "list_contains($1, database_name)"
    rows = con.execute(
        f"SELECT database_name, schema_name, table_name FROM duckdb_tables() WHERE {where}"
        " UNION ALL SELECT database_name, schema_name, view_name FROM duckdb_views() WHERE"
        f" {where} AND NOT internal",
        [databases] if databases is not None else None,
    ).fetchall()
    out: Index = {}
    for db, schema, name in rows:
        out.setdefault((db.lower(), schema.lower(), name.lower()), (db, schema, name))
    return out


def relation(
    con: duckdb.DuckDBPyConnection,
    path: tuple[str, ...],
    catalog: str,
    schemas: list[str],
    index: Index | None = None,
) -> tuple[str, str, str] | None:
    """The table or view a name means, as DuckDB resolves it from `catalog` with the search path
    `schemas` (names compared case-insensitively, returned as the catalog spells them)."""
    if len(path) == 3:
        candidates = [path]
    elif len(path) == 2:
        candidates = [(catalog, *path), (path[0], "main", path[1])]
    else:
        candidates = [(catalog, s, path[0]) for s in schemas]
    found = index if index is not None else relation_index(con)
    for db, schema, name in candidates:
        hit = found.get((db.lower(), schema.lower(), name.lower()))
        if hit is not None:
            return hit
    return None


def owner_of(con: duckdb.DuckDBPyConnection, schema: str, name: str = "") -> str | None:
    """workspace_store.owner_of, reading its whole result (a result left open on the session's
    cursor would block the statement that follows)."""
    rows = con.execute(
        f"SELECT owner FROM {ws.WORKSPACE}.{ws.BOOK}.objects WHERE schema_name = ? AND name = ?"
        " ORDER BY created_at DESC",
        [schema, name],
    ).fetchall()
    return str(rows[0][0]) if rows else None
