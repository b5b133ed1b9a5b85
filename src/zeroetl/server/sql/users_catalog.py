"""Users, groups and grants as catalog views: `pg_roles`, `pg_user`, `pg_group`,
`pg_auth_members` (psql's `\\du`), Redshift's `svv_user_info` and the `svv_*_privileges` views.

The views live in the catalog emulation schema (catalog.py) and read four relations a session
registers on its own cursor just before a statement that names one of the views (the pattern of
sysviews.py): the user store's snapshot without any verifier. No view has a password column with
anything in it: `passwd` / `rolpassword` read '********', as PostgreSQL's pg_user does.
`svv_user_info` shows a regular user their own row only, as on Redshift.
"""

from __future__ import annotations

import re

import duckdb
import pyarrow as pa

from .users_store import ADMIN, SUPERUSER, Snapshot

VIEWS = (
    "pg_roles",
    "pg_user",
    "pg_group",
    "pg_auth_members",
    "svv_user_info",
    "svv_database_privileges",
    "svv_schema_privileges",
    "svv_relation_privileges",
)
PINNED = frozenset(VIEWS)
_REFERENCED = re.compile(r"\b(" + "|".join(VIEWS) + r")\b", re.I)
PUBLIC_ID = 0
GROUP_OIDS = 1_000_000  # pg_roles holds users and groups: a group's oid is this + its id

USERS = pa.schema([("name", pa.string()), ("id", pa.int64()), ("superuser", pa.bool_()),
                   ("createdb", pa.bool_()), ("connection_limit", pa.int64()),
                   ("valid_until", pa.timestamp("us", tz="UTC")), ("syslog_access", pa.string()),
                   ("session_timeout", pa.int64()), ("visible", pa.bool_())])  # fmt: skip
GROUPS = pa.schema([("name", pa.string()), ("id", pa.int64())])
MEMBERS = pa.schema([("group_id", pa.int64()), ("user_id", pa.int64())])
GRANTS = pa.schema([("privilege", pa.string()), ("kind", pa.string()), ("db", pa.string()),
                    ("schema_name", pa.string()), ("name", pa.string()),
                    ("identity_id", pa.int64()), ("identity_name", pa.string()),
                    ("identity_type", pa.string())])  # fmt: skip


def referenced(sql: str) -> bool:
    return bool(_REFERENCED.search(sql))


def view_sql(s: str) -> list[str]:
    """The views, in the emulation schema `s`."""
    roles = (
        "SELECT id AS oid, name AS rolname, superuser AS rolsuper, true AS rolinherit,"
        " superuser AS rolcreaterole, createdb AS rolcreatedb, true AS rolcanlogin,"
        " false AS rolreplication, coalesce(connection_limit, -1)::INTEGER AS rolconnlimit,"
        " '********' AS rolpassword, valid_until AS rolvaliduntil, false AS rolbypassrls,"
        " NULL::VARCHAR[] AS rolconfig FROM zeroetl_sql_users"
        f" UNION ALL SELECT id + {GROUP_OIDS}, name, false, true, false, false, false, false,"
        " -1, NULL, NULL, false, NULL FROM zeroetl_sql_groups"
    )
    privileges = "SELECT * FROM zeroetl_sql_grants WHERE kind = "
    return [
        f"CREATE OR REPLACE VIEW {s}.pg_roles AS {roles}",
        f"CREATE OR REPLACE VIEW {s}.pg_user AS SELECT name AS usename, id AS usesysid,"
        " createdb AS usecreatedb, superuser AS usesuper, superuser AS usecatupd, false AS"
        " userepl, false AS usebypassrls, '********' AS passwd, valid_until AS valuntil,"
        " NULL::VARCHAR[] AS useconfig FROM zeroetl_sql_users",
        f"CREATE OR REPLACE VIEW {s}.pg_group AS SELECT g.name AS groname, g.id AS grosysid,"
        " coalesce((SELECT list(m.user_id ORDER BY m.user_id) FROM zeroetl_sql_members m WHERE"
        " m.group_id = g.id), []::BIGINT[]) AS grolist FROM zeroetl_sql_groups g",
        f"CREATE OR REPLACE VIEW {s}.pg_auth_members AS SELECT group_id + {GROUP_OIDS} AS"
        " roleid, user_id AS"
        f" member, {ADMIN.id}::BIGINT AS grantor, false AS admin_option FROM zeroetl_sql_members",
        f"CREATE OR REPLACE VIEW {s}.svv_user_info AS SELECT name AS user_name, id::INTEGER AS"
        " user_id, createdb, superuser, superuser AS catalog_update, coalesce(CAST("
        " connection_limit AS VARCHAR), 'UNLIMITED') AS connection_limit, syslog_access,"
        " NULL::TIMESTAMP AS last_ddl_timestamp, session_timeout::INTEGER AS session_timeout,"
        " NULL::VARCHAR AS external_user_id FROM zeroetl_sql_users WHERE visible",
        f"CREATE OR REPLACE VIEW {s}.svv_database_privileges AS SELECT db AS database_name,"
        " privilege AS privilege_type, identity_id::INTEGER AS identity_id, identity_name,"
        f" identity_type, false AS admin_option FROM ({privileges}'database')",
        f"CREATE OR REPLACE VIEW {s}.svv_schema_privileges AS SELECT schema_name AS"
        " namespace_name, privilege AS privilege_type, identity_id::INTEGER AS identity_id,"
        " identity_name, identity_type, false AS admin_option, db AS database_name FROM"
        f" ({privileges}'schema')",
        # ALL TABLES IN SCHEMA shows as relation_name '*' (it covers tables made later too)
        f"CREATE OR REPLACE VIEW {s}.svv_relation_privileges AS SELECT schema_name AS"
        " namespace_name, CASE WHEN kind = 'tables' THEN '*' ELSE name END AS relation_name,"
        " privilege AS privilege_type, identity_id::INTEGER AS identity_id, identity_name,"
        " identity_type, false AS admin_option, db AS database_name FROM zeroetl_sql_grants"
        " WHERE kind IN ('table', 'tables')",
    ]


def tables(snap: Snapshot, viewer: str) -> dict[str, pa.Table]:
    """The registered relations for `viewer` (who sees every svv_user_info row if superuser)."""
    users = dict(snap.users)
    users.setdefault(SUPERUSER, ADMIN)
    super_viewer = bool(users.get(viewer) and users[viewer].superuser)
    ordered = sorted(users.values(), key=lambda u: u.id)
    u_cols = {
        "name": [u.name for u in ordered],
        "id": [u.id for u in ordered],
        "superuser": [u.superuser for u in ordered],
        "createdb": [u.createdb for u in ordered],
        "connection_limit": [u.connection_limit for u in ordered],
        "valid_until": [_time(u.valid_until) for u in ordered],
        "syslog_access": [u.syslog_access for u in ordered],
        "session_timeout": [u.session_timeout for u in ordered],
        "visible": [super_viewer or u.name == viewer for u in ordered],
    }
    ids = {u.name: u.id for u in ordered}
    groups = sorted(snap.groups.items(), key=lambda g: g[1])
    members = [(snap.groups[g], ids[u]) for g, us in snap.members.items() for u in us
               if g in snap.groups and u in ids]  # fmt: skip
    grants = sorted(snap.grants, key=lambda g: (g.db, g.schema, g.name, g.privilege, g.grantee))
    g_rows = []
    for g in grants:
        ident = (
            ids.get(g.grantee) if g.grantee_kind == "user"
            else snap.groups.get(g.grantee) if g.grantee_kind == "group" else PUBLIC_ID
        )  # fmt: skip
        label = g.grantee if g.grantee_kind != "public" else "public"
        g_rows.append((g.privilege, g.kind, g.db, g.schema, g.name, ident, label, g.grantee_kind))
    return {
        "zeroetl_sql_users": pa.table(u_cols, schema=USERS),
        "zeroetl_sql_groups": pa.table(
            {"name": [g for g, _ in groups], "id": [i for _, i in groups]}, schema=GROUPS
        ),
        "zeroetl_sql_members": pa.table(
            {"group_id": [m[0] for m in members], "user_id": [m[1] for m in members]},
            schema=MEMBERS,
        ),
        "zeroetl_sql_grants": pa.table(
            {f.name: [r[i] for r in g_rows] for i, f in enumerate(GRANTS)}, schema=GRANTS
        ),
    }


def _time(text: str | None) -> object:
    from datetime import datetime

    return datetime.fromisoformat(text) if text else None


def register(con: duckdb.DuckDBPyConnection, snap: Snapshot | None, viewer: str) -> None:
    """Register the relations the views read on `con` (a session's cursor)."""
    empty = Snapshot({SUPERUSER: ADMIN}, {}, {}, frozenset())
    for name, table in tables(snap or empty, viewer).items():
        con.register(name, table)


def install(con: duckdb.DuckDBPyConnection, schema: str) -> None:
    """Create the views (inside catalog.install's transaction, on its connection)."""
    register(con, None, SUPERUSER)
    for sql in view_sql(schema):
        con.execute(sql)
