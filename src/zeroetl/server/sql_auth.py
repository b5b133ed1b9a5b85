"""The SQL endpoint's users for the wire layer: `admin` and the user store behind one lookup.

The wire layer (pgwire/auth.py) runs the authentication exchanges; the user store
(sql/users_store.py) keeps the verifiers of the users made with CREATE USER. `authenticator`
joins them without the wire layer knowing the store: configured users (`admin`) first, then the
store; an unknown user, a disabled one (PASSWORD DISABLE) and one past VALID UNTIL are all
unknown to the wire layer, so they fail like a wrong password (28P01).

The wire layer finds every user through one call (`Authenticator(lookup)` with
`lookup(user) -> Credentials(scram, md5) | None`); the store is part of that lookup.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from pathlib import Path
from typing import Any

from zeroetl.server.pgwire import auth as wire
from zeroetl.server.sql.users_store import User

StoreLookup = Callable[[str], User | None]


def authenticator(
    warehouse: Path, store: StoreLookup, configured: str | None = None
) -> wire.Authenticator:
    """`admin` (its configured password, else `<warehouse>/sql.password`), then the store."""
    users = {wire.ADMIN_USER: wire.admin_password(warehouse, configured)}
    return wire.Authenticator(_lookup(wire.StaticUsers(users), store))


def _lookup(static: Callable[[str], Any], store: StoreLookup) -> Callable[[str], Any]:
    def lookup(user: str) -> Any:
        found = static(user)
        if found is not None:
            return found
        u = store(user)
        if u is None:
            return None
        # a user given only an MD5 hash has no SCRAM verifier: one no password matches
        scram = wire.ScramVerifier.parse(u.scram) if u.scram else _unusable_verifier()
        return wire.Credentials(scram, u.md5)

    return lookup


def _unusable_verifier() -> wire.ScramVerifier:
    return wire.ScramVerifier(
        secrets.token_bytes(16), wire.ITERATIONS, secrets.token_bytes(32), secrets.token_bytes(32)
    )
