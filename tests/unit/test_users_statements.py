"""The user, group and grant statements as the endpoint parses them (Redshift's syntax), the
password rules, redaction of passwords from statement text, and the store's verifiers: no
password in any error, record, repr or view."""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
from pathlib import Path
from typing import Any

import pytest

from zeroetl.server.pgwire.auth import AuthFailed, ScramVerifier
from zeroetl.server.sql.errors import SqlError
from zeroetl.server.sql.users_commands import (
    AlterGroup,
    AlterUser,
    CreateGroup,
    CreateUser,
    DropUser,
    GrantCmd,
    parse,
)
from zeroetl.server.sql.users_sql import is_user_statement, redact
from zeroetl.server.sql.users_store import User, md5_verifier
from zeroetl.server.sql_auth import authenticator

PW = "Secret123x"


def test_detection_by_first_words() -> None:
    for sql in ("CREATE USER a PASSWORD 'x'", "alter  user a", "drop user a", "create group g",
                "ALTER GROUP g ADD USER a", "drop group g", "grant select on t to a",
                "REVOKE ALL ON t FROM a", "create role r", "Create\nUser a"):  # fmt: skip
        assert is_user_statement(sql), sql
    for sql in ("create table users (a int)", "select * from grants", "create view user_v as"
                " select 1", "drop table grant_log", "creates user"):  # fmt: skip
        assert not is_user_statement(sql), sql


def test_create_alter_drop_user() -> None:
    c = parse(f"CREATE USER Ann WITH PASSWORD '{PW}' CREATEDB NOCREATEUSER IN GROUP a, b"
              " VALID UNTIL '2030-06-01 12:00' CONNECTION LIMIT 4 SYSLOG ACCESS UNRESTRICTED"
              " SESSION TIMEOUT 3600")  # fmt: skip
    assert isinstance(c, CreateUser) and c.name == "ann"
    o = c.options
    assert o.password is not None and o.password.kind == "plain"
    assert (o.createdb, o.superuser, o.groups, o.connection_limit) == (True, False, ["a", "b"], 4)
    assert o.valid_until == "2030-06-01T12:00:00+00:00" and o.syslog_access == "UNRESTRICTED"
    assert parse('create user "Mixed Case" password disable').name == "Mixed Case"  # type: ignore[union-attr]
    a = parse("ALTER USER ann CONNECTION LIMIT UNLIMITED VALID UNTIL 'infinity'")
    assert isinstance(a, AlterUser) and a.options.connection_limit == -1
    assert a.options.valid_until == ""
    assert parse("alter user ann rename to bea").options.rename == "bea"  # type: ignore[union-attr]
    md5 = "md5" + hashlib.md5(b"Secret123xann").hexdigest()
    assert parse(f"alter user ann password '{md5}'").options.password.kind == "md5"  # type: ignore[union-attr]
    d = parse("DROP USER IF EXISTS a, b;")
    assert isinstance(d, DropUser) and d.names == ["a", "b"] and d.if_exists


def test_groups_and_grants() -> None:
    assert parse("create group g with user a, b") == CreateGroup("g", ["a", "b"])
    assert parse("create group g user a") == CreateGroup("g", ["a"])
    assert parse("alter group g drop user a") == AlterGroup("g", drop=["a"])
    g = parse("GRANT SELECT, INSERT ON TABLE s.t, db.s.u TO bob, GROUP g, PUBLIC")
    assert g == GrantCmd(False, ["SELECT", "INSERT"], "table", [("s", "t"), ("db", "s", "u")],
                         [("user", "bob"), ("group", "g"), ("public", "")])  # fmt: skip
    r = parse("revoke all privileges on all tables in schema s from group g")
    assert isinstance(r, GrantCmd) and r.revoke and r.kind == "tables"
    assert r.privileges == ["SELECT", "INSERT", "UPDATE", "DELETE", "REFERENCES"]
    assert parse("grant temporary, create on database dev to a").privileges == ["TEMP", "CREATE"]  # type: ignore[union-attr]
    assert parse("grant all on schema s to a").privileges == ["CREATE", "USAGE"]  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("sql", "state", "words"),
    [
        ("create user a password 'Sh0rt'", "22023", "8 to 64 characters"),
        ("create user a password 'nouppercase1'", "22023", "upper-case"),
        ("create user a password 'NOLOWERCASE1'", "22023", "lower-case"),
        ("create user a password 'NoDigitsHere'", "22023", "digit"),
        ("create user a password 'Has space1A'", "22023", "printable ASCII"),
        ("create user a password 'Quote\"1abcA'", "22023", "printable ASCII"),
        ("create user a password '" + "Aa1" * 22 + "'", "22023", "8 to 64"),
        ("create user a createdb", "42601", "PASSWORD"),
        ("create user a password 'Unterminated1", "42601", "unterminated"),
        ("create user a password 'Secret123x' bogus", "42601", "bogus"),
        ('create user a password "Secret123x"', "42601", "the password"),
        ("create user a password Secret123x", "42601", "the password"),
        ("alter user a set search_path to x", "0A000", "not supported"),
        ("grant select on schema s to a", "0LP01", "SELECT"),
        ("grant usage on table t to a", "0LP01", "USAGE"),
        ("grant select on t to role r", "0A000", "roles"),
        ("grant select on t to a with grant option", "0A000", "GRANT OPTION"),
        ("grant execute on function f() to a", "0A000", "functions"),
        ("create role r login", "0A000", "CREATE USER"),
        ("create user a password disable connection limit 99999999999999999999", "22023", "65535"),
        ("create user a password disable session timeout 5", "22023", "between 60"),
    ],
)
def test_refusals_are_clear_and_never_echo_the_password(sql: str, state: str, words: str) -> None:
    with pytest.raises(SqlError) as e:
        parse(sql)
    assert e.value.sqlstate == state
    assert words in e.value.message + e.value.hint
    for secret in ("Sh0rt", "nouppercase1", "NOLOWERCASE1", "NoDigitsHere", "Has space1A",
                   "Unterminated1", "Secret123x", "Aa1Aa1Aa1"):  # fmt: skip
        assert secret not in e.value.message + e.value.hint + repr(e.value)


def test_redact() -> None:
    assert redact(f"CREATE USER a PASSWORD '{PW}' CREATEDB") == (
        "CREATE USER a PASSWORD '********' CREATEDB"
    )
    assert redact("alter user a with password = 'It''s;Secret1'") == (
        "alter user a with password = '********'"
    )
    assert redact("alter user a encrypted password 'Unterminated1") == (
        "alter user a encrypted password '********'"
    )
    assert redact("select 'password' as x") == "select 'password' as x"
    assert redact("alter user a password /* new */ 'Secret1x'") == (
        "alter user a password /* new */ '********'"
    )
    # a parsed command does not show its password either
    assert PW not in repr(parse(f"create user a password '{PW}'"))


def test_authenticator_takes_store_users_after_admin(tmp_path: Path) -> None:
    """A real SCRAM exchange, client side computed here, for a user found in the store; admin
    from the environment first; unknown users get the decoy and fail alike."""
    ann = User("ann", 101, ScramVerifier.from_password(PW).to_text(), md5_verifier(PW, "ann"))
    asked: list[str] = []

    def store(user: str) -> User | None:
        asked.append(user)
        return ann if user == "ann" else None

    auth = authenticator(tmp_path, store, "Admin123pw")
    assert _scram_login(auth, "ann", PW)
    assert not _scram_login(auth, "ann", "Wrong123pw")
    assert not _scram_login(auth, "nobody", PW)
    assert _scram_login(auth, "admin", "Admin123pw")
    assert "admin" not in asked  # configured users never reach the store
    assert md5_verifier(PW, "ann") == "md5" + hashlib.md5(b"Secret123xann").hexdigest()


def _scram_login(auth: Any, user: str, password: str) -> bool:
    """The client's side of SCRAM-SHA-256 (RFC 5802), against the server's exchange."""
    ex = auth.exchange(user)
    nonce = base64.b64encode(os.urandom(18)).decode()
    first_bare = f"n={user},r={nonce}"
    server_first = ex.first(("n,," + first_bare).encode()).decode()
    attrs = dict(p.split("=", 1) for p in server_first.split(","))
    salted = hashlib.pbkdf2_hmac("sha256", password.encode(), base64.b64decode(attrs["s"]),
                                 int(attrs["i"]))  # fmt: skip
    client_key = hmac.new(salted, b"Client Key", hashlib.sha256).digest()
    stored = hashlib.sha256(client_key).digest()
    without_proof = f"c={base64.b64encode(b'n,,').decode()},r={attrs['r']}"
    message = f"{first_bare},{server_first},{without_proof}".encode()
    signature = hmac.new(stored, message, hashlib.sha256).digest()
    proof = bytes(a ^ b for a, b in zip(client_key, signature, strict=True))
    try:
        ex.final(f"{without_proof},p={base64.b64encode(proof).decode()}".encode())
    except AuthFailed:
        return False
    return True
