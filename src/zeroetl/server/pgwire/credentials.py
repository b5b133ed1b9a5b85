"""What the wire layer needs to authenticate a user: the stored verifiers, never a password.

The SQL endpoint's users live in the service's user store (server/sql/users_store.py); the wire
layer sees them only through a `Lookup`, so it never imports the SQL layer and never touches a
password. Either verifier may be missing: a password given to CREATE USER as a SCRAM verifier has
no MD5 form, one given as 'md5<hex>' has no SCRAM form, and a user with PASSWORD DISABLE (or past
VALID UNTIL) has no credentials at all: it cannot log in, like an unknown user.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class Credentials:
    # PostgreSQL's stored text form: SCRAM-SHA-256$<iter>:<salt>$<StoredKey>:<ServerKey>
    scram: str | None = None
    # PostgreSQL's (and Redshift's) MD5 form: 'md5' + hex(md5(password + user name))
    md5: str | None = None


Lookup = Callable[[str], Credentials | None]


def md5_verifier(password: str, user: str) -> str:
    """The stored MD5 verifier: what clients hash again with the server's salt (auth code 5)."""
    return "md5" + hashlib.md5((password + user).encode("utf-8")).hexdigest()
