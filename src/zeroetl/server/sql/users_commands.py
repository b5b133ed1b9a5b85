"""The user, group and grant statements as commands (Redshift's syntax; users_sql.py lexes).

CREATE USER name [WITH] PASSWORD { 'pw' | 'md5<hex>' | DISABLE } [option ...]
ALTER USER name [WITH] { option ... | RENAME TO new }
    option: CREATEUSER | NOCREATEUSER | CREATEDB | NOCREATEDB | IN GROUP g [, ...] |
            VALID UNTIL { 'time' | 'infinity' } | CONNECTION LIMIT { n | UNLIMITED } |
            SYSLOG ACCESS { RESTRICTED | UNRESTRICTED } | SESSION TIMEOUT n |
            RESET SESSION TIMEOUT | PASSWORD ...
DROP USER [IF EXISTS] name [, ...]
CREATE GROUP g [[WITH] [USER] name [, ...]]
ALTER GROUP g { ADD USER name [, ...] | DROP USER name [, ...] | RENAME TO new }
DROP GROUP g
GRANT|REVOKE privilege [, ...] | ALL [PRIVILEGES]
    ON { DATABASE d [, ...] | SCHEMA s [, ...] | [TABLE] t [, ...] | ALL TABLES IN SCHEMA s [, ...] }
    TO|FROM { name | GROUP g | PUBLIC } [, ...]
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from .errors import SqlError
from .users_sql import SYNTAX, Tokens

# What ALL means, and what may be granted, per object kind (Redshift's lists, less the ones that
# mean nothing here: DROP, ALTER, TRUNCATE are the owner's).
PRIVILEGES: dict[str, tuple[str, ...]] = {
    "database": ("CREATE", "TEMP", "USAGE"),
    "schema": ("CREATE", "USAGE"),
    "table": ("SELECT", "INSERT", "UPDATE", "DELETE", "REFERENCES"),
}
_ALIASES = {"TEMPORARY": "TEMP"}
_FEATURE = "0A000"  # feature_not_supported
_PASSWORD_CHARS = re.compile(r"^[\x21-\x7e]+$")


@dataclass(frozen=True)
class Password:
    kind: str  # plain | md5 | scram | disable
    value: str = field(default="", repr=False)


@dataclass
class UserOptions:
    password: Password | None = None
    superuser: bool | None = None  # CREATEUSER / NOCREATEUSER
    createdb: bool | None = None
    groups: list[str] = field(default_factory=list)
    valid_until: str | None = None  # '' means infinity (clears it)
    connection_limit: int | None = None  # -1: UNLIMITED
    syslog_access: str | None = None
    session_timeout: int | None = None  # 0: reset
    rename: str | None = None


@dataclass
class CreateUser:
    name: str
    options: UserOptions


@dataclass
class AlterUser:
    name: str
    options: UserOptions


@dataclass
class DropUser:
    names: list[str]
    if_exists: bool


@dataclass
class CreateGroup:
    name: str
    users: list[str]


@dataclass
class AlterGroup:
    name: str
    add: list[str] = field(default_factory=list)
    drop: list[str] = field(default_factory=list)
    rename: str | None = None


@dataclass
class DropGroup:
    names: list[str]
    if_exists: bool


@dataclass
class GrantCmd:
    revoke: bool
    privileges: list[str]  # expanded (ALL -> the kind's list)
    kind: str  # database | schema | table | tables
    objects: list[tuple[str, ...]]  # as written: database names, [db.]schema, [[db.]schema.]table
    grantees: list[tuple[str, str]]  # (user | group | public, name)


Command = CreateUser | AlterUser | DropUser | CreateGroup | AlterGroup | DropGroup | GrantCmd


def parse(code: str) -> Command:
    """The command in `code` (comments stripped; one statement)."""
    t = Tokens(code)
    if t.take("GRANT"):
        return _grant(t, revoke=False)
    if t.take("REVOKE"):
        return _grant(t, revoke=True)
    verb = t.name("CREATE, ALTER or DROP").upper()
    what = t.name("USER or GROUP").upper()
    if what == "ROLE":
        raise SqlError(
            _FEATURE,
            f"{verb} ROLE is not supported",
            hint="use CREATE USER for a login and CREATE GROUP to grant to several users",
        )
    if verb == "DROP":
        if_exists = t.take("IF", "EXISTS")
        names = t.names(f"a {what.lower()} name")
        t.end()
        return DropUser(names, if_exists) if what == "USER" else DropGroup(names, if_exists)
    name = t.name(f"a {what.lower()} name")
    if what == "GROUP":
        return _create_group(t, name) if verb == "CREATE" else _alter_group(t, name)
    t.take("WITH")
    options = _user_options(t, name, creating=verb == "CREATE")
    if verb == "CREATE":
        if options.password is None:
            raise SqlError(SYNTAX, "CREATE USER needs PASSWORD { 'password' | 'md5...' | DISABLE }")
        return CreateUser(name, options)
    return AlterUser(name, options)


def _user_options(t: Tokens, user: str, *, creating: bool) -> UserOptions:
    o = UserOptions()
    while not t.done():
        if t.take("PASSWORD"):
            t.take("=")
            o.password = (
                Password("disable")
                if t.take("DISABLE")
                else check_password(t.string("a password string or DISABLE"), user)
            )
        elif t.take("ENCRYPTED", "PASSWORD") or t.take("UNENCRYPTED", "PASSWORD"):
            o.password = check_password(t.string("a password string"), user)
        elif t.at("CREATEUSER") or t.at("NOCREATEUSER"):
            o.superuser = t.name() == "createuser"
        elif t.at("CREATEDB") or t.at("NOCREATEDB"):
            o.createdb = t.name() == "createdb"
        elif t.take("IN", "GROUP"):
            o.groups.extend(t.names("a group name"))
        elif t.take("VALID", "UNTIL"):
            o.valid_until = _valid_until(t.string("a time ('2027-01-01') or 'infinity'"))
        elif t.take("CONNECTION", "LIMIT"):
            o.connection_limit = -1 if t.take("UNLIMITED") else t.number("a number or UNLIMITED")
            if not -1 <= o.connection_limit <= 65535:
                raise SqlError("22023", "CONNECTION LIMIT must be 0 to 65535 or UNLIMITED")
        elif t.take("SYSLOG", "ACCESS"):
            o.syslog_access = t.name("RESTRICTED or UNRESTRICTED").upper()
            if o.syslog_access not in ("RESTRICTED", "UNRESTRICTED"):
                raise SqlError(SYNTAX, "SYSLOG ACCESS is RESTRICTED or UNRESTRICTED")
        elif t.take("SESSION", "TIMEOUT"):
            o.session_timeout = t.number("a number of seconds")
            if not 60 <= o.session_timeout <= 1_728_000:
                raise SqlError("22023", "SESSION TIMEOUT must be between 60 and 1728000 seconds")
        elif not creating and t.take("RESET", "SESSION", "TIMEOUT"):
            o.session_timeout = 0
        elif not creating and t.take("RENAME", "TO"):
            o.rename = t.name("the new user name")
        elif t.at("SET") or t.at("RESET"):
            raise SqlError(_FEATURE, "per-user parameter defaults (ALTER USER ... SET) are not"
                           " supported", hint="set them in the session (SET name = value)")  # fmt: skip
        else:
            raise t.error("a user option (PASSWORD, CREATEUSER, CREATEDB, VALID UNTIL, ...)")
    return o


def check_password(text: str, user: str) -> Password:
    """Redshift's rules for a clear-text password; 'md5<32 hex>' and PostgreSQL's SCRAM text are
    taken as they are. Messages never contain the password."""
    if re.fullmatch(r"md5[0-9a-fA-F]{32}", text):
        return Password("md5", text.lower())
    if text.startswith("SCRAM-SHA-256$"):
        return Password("scram", text)
    if text.startswith("sha256|"):
        raise SqlError(_FEATURE, "sha256 password hashes are not supported; give the password"
                       " or its 'md5' hash")  # fmt: skip
    problems = []
    if not 8 <= len(text) <= 64:
        problems.append("be 8 to 64 characters long")
    if not re.search(r"[A-Z]", text):
        problems.append("contain an upper-case letter")
    if not re.search(r"[a-z]", text):
        problems.append("contain a lower-case letter")
    if not re.search(r"[0-9]", text):
        problems.append("contain a digit")
    if not _PASSWORD_CHARS.match(text) or any(c in text for c in "'\"\\/@"):
        problems.append("use printable ASCII characters other than ' \" \\ / @ and space")
    if problems:
        raise SqlError(
            "22023",
            f'invalid password for user "{user}": a password must {", ".join(problems)}',
        )
    return Password("plain", text)


def _valid_until(text: str) -> str:
    from datetime import UTC, datetime

    if text.strip().lower() == "infinity":
        return ""
    try:
        when = datetime.fromisoformat(text.strip())
    except ValueError:
        raise SqlError("22007", f"invalid VALID UNTIL time {text!r}: use '2027-01-31 12:00'"
                       " or 'infinity'") from None  # fmt: skip
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return when.astimezone(UTC).isoformat(timespec="seconds")


def _create_group(t: Tokens, name: str) -> CreateGroup:
    users: list[str] = []
    t.take("WITH")
    if t.take("USER") or not t.done():
        users = t.names("a user name")
    t.end()
    return CreateGroup(name, users)


def _alter_group(t: Tokens, name: str) -> AlterGroup:
    if t.take("RENAME", "TO"):
        new = t.name("the new group name")
        t.end()
        return AlterGroup(name, rename=new)
    if t.take("ADD", "USER"):
        cmd = AlterGroup(name, add=t.names("a user name"))
    elif t.take("DROP", "USER"):
        cmd = AlterGroup(name, drop=t.names("a user name"))
    else:
        raise t.error("ADD USER, DROP USER or RENAME TO")
    t.end()
    return cmd


def _grant(t: Tokens, *, revoke: bool) -> GrantCmd:
    if revoke and t.take("GRANT", "OPTION", "FOR"):
        raise SqlError(_FEATURE, "WITH GRANT OPTION is not supported: owners and superusers grant")
    privileges: list[str] = []
    all_ = t.take("ALL")
    if all_:
        t.take("PRIVILEGES")
    else:
        while True:
            word = t.name("a privilege (SELECT, USAGE, CREATE, ...)").upper()
            privileges.append(_ALIASES.get(word, word))
            if not t.take(","):
                break
    t.expect("ON")
    objects: list[tuple[str, ...]]
    if t.take("DATABASE"):
        kind, objects = "database", [(n,) for n in t.names("a database name")]
    elif t.take("SCHEMA"):
        kind, objects = "schema", _dotted_list(t, "a schema name")
    elif t.take("ALL", "TABLES", "IN", "SCHEMA"):
        kind, objects = "tables", _dotted_list(t, "a schema name")
    elif t.at("FUNCTION") or t.at("PROCEDURE") or t.at("LANGUAGE") or t.at("ALL", "FUNCTIONS"):
        raise SqlError(_FEATURE, "grants on functions, procedures and languages are not"
                       " supported: every user may call the allowed functions")  # fmt: skip
    else:
        t.take("TABLE")
        kind, objects = "table", _dotted_list(t, "a table name")
    allowed = PRIVILEGES["table" if kind == "tables" else kind]
    if all_:
        privileges = list(allowed)
    for p in privileges:
        if p not in allowed:
            where = "a table" if kind in ("table", "tables") else f"a {kind}"
            raise SqlError(
                "0LP01",
                f"invalid privilege type {p} for {where}",
                hint=f"on {where}: {', '.join(allowed)} or ALL",
            )
    t.expect("FROM" if revoke else "TO")
    grantees: list[tuple[str, str]] = []
    while True:
        if t.take("PUBLIC"):
            grantees.append(("public", ""))
        elif t.take("GROUP"):
            grantees.append(("group", t.name("a group name")))
        elif t.at("ROLE"):
            raise SqlError(_FEATURE, "roles are not supported: grant to a user or a GROUP")
        else:
            grantees.append(("user", t.name("a user name, GROUP name or PUBLIC")))
        if not t.take(","):
            break
    if t.take("WITH", "GRANT", "OPTION"):
        raise SqlError(_FEATURE, "WITH GRANT OPTION is not supported: owners and superusers grant")
    t.take("RESTRICT") or t.take("CASCADE")
    t.end()
    return GrantCmd(revoke, privileges, kind, objects, grantees)


def _dotted_list(t: Tokens, what: str) -> list[tuple[str, ...]]:
    out = [t.dotted(what)]
    while t.take(","):
        out.append(t.dotted(what))
    return out
