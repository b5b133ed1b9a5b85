"""Password authentication for the SQL endpoint: SCRAM-SHA-256 (RFC 5802 / RFC 7677) and MD5.

Passwords never travel or get stored in clear on the wire side: each password is turned into
verifiers, the same things PostgreSQL keeps in pg_authid: a SCRAM verifier (salt, iterations,
StoredKey, ServerKey) and PostgreSQL's MD5 verifier (`md5` + md5(password + user)). Configured
values may already be SCRAM verifiers in PostgreSQL's text form
(`SCRAM-SHA-256$<iter>:<salt>$<StoredKey>:<ServerKey>`), so a config file need not hold the
password itself (such a user can then only log in with SCRAM).

Which method a client is asked for: SCRAM-SHA-256 (the strongest PostgreSQL has) unless the
client is one of Amazon's Redshift drivers, which cannot do PostgreSQL's SCRAM (redshift_connector
2.2 keeps the empty item after the mechanism list's last NUL and its SCRAM library then refuses
the list) and which real Redshift asks for MD5. They are told apart by the start-up parameters
only Redshift drivers send (`client_protocol_version`, `driver_version`). A cleartext password
(auth code 3) is never asked for.

Every credential is found through one call, `CredentialLookup(user) -> Credentials | None`:
today a fixed set (`StaticUsers`: `admin`, whose password comes from ZEROETL_SQL_PASSWORD, else
from `<warehouse>/sql.password`, created 0600 with a random password on first start); a user
store plugs in the same way. An unknown user goes through the same exchange against made-up
verifiers and fails with the same message as a wrong password (28P01): no user enumeration.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
import os
import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from zeroetl.errors import ConfigError

log = logging.getLogger("zeroetl.pgwire")

MECHANISM = "SCRAM-SHA-256"
ITERATIONS = 4096  # PostgreSQL's default scram_iterations
ADMIN_USER = "admin"
PASSWORD_ENV = "ZEROETL_SQL_PASSWORD"
PASSWORD_FILE = "sql.password"


class AuthFailed(Exception):
    """Authentication did not succeed; `sqlstate` is 28P01 (bad password) or 08P01 (bad exchange)."""

    def __init__(self, message: str, sqlstate: str = "28P01") -> None:
        super().__init__(message)
        self.sqlstate = sqlstate


def _hmac(key: bytes, msg: bytes) -> bytes:
    return hmac.new(key, msg, hashlib.sha256).digest()


@dataclass(frozen=True)
class ScramVerifier:
    salt: bytes
    iterations: int
    stored_key: bytes
    server_key: bytes

    @classmethod
    def from_password(
        cls, password: str, *, salt: bytes | None = None, iterations: int = ITERATIONS
    ) -> ScramVerifier:
        salt = salt if salt is not None else secrets.token_bytes(16)
        salted = hashlib.pbkdf2_hmac("sha256", password.encode("utf-8"), salt, iterations)
        client_key = _hmac(salted, b"Client Key")
        return cls(
            salt, iterations, hashlib.sha256(client_key).digest(), _hmac(salted, b"Server Key")
        )

    @classmethod
    def parse(cls, text: str) -> ScramVerifier:
        """PostgreSQL's stored form: SCRAM-SHA-256$<iterations>:<salt>$<StoredKey>:<ServerKey>."""
        try:
            mech, params, keys = text.split("$")
            iters, salt = params.split(":")
            stored, server = keys.split(":")
            if mech != MECHANISM:
                raise ValueError(mech)
            return cls(
                base64.b64decode(salt),
                int(iters),
                base64.b64decode(stored),
                base64.b64decode(server),
            )
        except ValueError as exc:
            raise ConfigError("invalid SCRAM-SHA-256 verifier in SQL endpoint users") from exc

    def to_text(self) -> str:
        b64 = base64.b64encode
        return (
            f"{MECHANISM}${self.iterations}:{b64(self.salt).decode()}"
            f"${b64(self.stored_key).decode()}:{b64(self.server_key).decode()}"
        )


def _text(raw: bytes) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        raise AuthFailed("malformed SCRAM message: not valid UTF-8", "08P01") from None


def _attrs(msg: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for part in msg.split(","):
        if len(part) < 2 or part[1] != "=":
            raise AuthFailed("malformed SCRAM message", "08P01")
        out.setdefault(part[0], part[2:])
    return out


class ScramExchange:
    """One server-side SCRAM-SHA-256 conversation (two round trips)."""

    def __init__(self, verifier: ScramVerifier, *, known_user: bool, nonce: str = "") -> None:
        self._v = verifier
        self._server_nonce = nonce  # fixed only in tests (RFC 7677 vectors)
        self._known = known_user
        self._client_first_bare = ""
        self._server_first = ""
        self._nonce = ""
        self._gs2 = ""

    def first(self, client_first: bytes) -> bytes:
        """Answer the client-first-message with the server-first-message."""
        text = _text(client_first)
        parts = text.split(",", 2)
        if len(parts) != 3 or parts[0] not in ("n", "y"):
            # 'p=...' asks for channel binding, which we do not advertise (no SCRAM-SHA-256-PLUS).
            raise AuthFailed("unsupported SCRAM channel binding request", "08P01")
        self._gs2 = f"{parts[0]},{parts[1]},"
        self._client_first_bare = parts[2]
        client_nonce = _attrs(parts[2]).get("r", "")
        if not client_nonce:
            raise AuthFailed("SCRAM client nonce missing", "08P01")
        server_nonce = self._server_nonce or base64.b64encode(secrets.token_bytes(18)).decode()
        self._nonce = client_nonce + server_nonce
        salt = base64.b64encode(self._v.salt).decode()
        self._server_first = f"r={self._nonce},s={salt},i={self._v.iterations}"
        return self._server_first.encode()

    def final(self, client_final: bytes) -> bytes:
        """Check the client's proof; return the server-final-message (server signature)."""
        text = _text(client_final)
        without_proof, sep, proof_part = text.rpartition(",p=")
        if not sep:
            raise AuthFailed("SCRAM client proof missing", "08P01")
        attrs = _attrs(without_proof)
        if attrs.get("r") != self._nonce:
            raise AuthFailed("SCRAM nonce mismatch", "08P01")
        try:
            binding = base64.b64decode(attrs.get("c", ""), validate=True)
        except ValueError:
            binding = b""
        if binding != self._gs2.encode():
            raise AuthFailed("SCRAM channel binding mismatch", "08P01")
        auth_message = f"{self._client_first_bare},{self._server_first},{without_proof}".encode()
        try:
            proof = base64.b64decode(proof_part, validate=True)
        except ValueError as exc:
            raise AuthFailed("malformed SCRAM proof", "08P01") from exc
        signature = _hmac(self._v.stored_key, auth_message)
        if len(proof) != len(signature):
            raise AuthFailed("malformed SCRAM proof", "08P01")
        client_key = bytes(a ^ b for a, b in zip(proof, signature, strict=True))
        ok = hmac.compare_digest(hashlib.sha256(client_key).digest(), self._v.stored_key)
        if not (ok and self._known):
            raise AuthFailed("password authentication failed")
        server_sig = _hmac(self._v.server_key, auth_message)
        return b"v=" + base64.b64encode(server_sig)


def md5_verifier(user: str, password: str) -> str:
    """PostgreSQL's stored MD5 form: 'md5' + hex md5(password + user name)."""
    return "md5" + hashlib.md5((password + user).encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class Credentials:
    """What the endpoint keeps of one user's password: verifiers only, never the password."""

    scram: ScramVerifier
    md5: str | None = None  # None: the user was configured by a SCRAM verifier alone

    @classmethod
    def from_password(cls, user: str, password: str) -> Credentials:
        if not password:
            raise ConfigError(f"SQL endpoint user {user!r} has an empty password")
        return cls(ScramVerifier.from_password(password), md5_verifier(user, password))

    @classmethod
    def from_secret(cls, user: str, secret: str) -> Credentials:
        """A password, or a SCRAM verifier in PostgreSQL's text form."""
        if secret.startswith(MECHANISM + "$"):
            return cls(ScramVerifier.parse(secret))
        return cls.from_password(user, secret)


CredentialLookup = Callable[[str], "Credentials | None"]


class StaticUsers:
    """A fixed set of users (name -> password or SCRAM verifier text), made into verifiers once."""

    def __init__(self, users: Mapping[str, str]) -> None:
        self._creds = {name: Credentials.from_secret(name, s) for name, s in users.items()}
        for name, creds in self._creds.items():
            if creds.md5 is None:
                log.warning(
                    "SQL endpoint user %s is configured by a SCRAM verifier only: Redshift drivers"
                    " (which log in with MD5) cannot log in as %s",
                    name,
                    name,
                )

    @property
    def names(self) -> list[str]:
        return sorted(self._creds)

    def __call__(self, user: str) -> Credentials | None:
        return self._creds.get(user)


class Md5Exchange:
    """PostgreSQL's MD5 challenge: the client answers 'md5' + md5(md5(password + user) + salt)."""

    def __init__(self, verifier: str | None) -> None:
        self.salt = secrets.token_bytes(4)
        self._verifier = verifier  # None: unknown user (or no MD5 verifier): always fails

    def check(self, answer: bytes) -> None:
        # The decoy keeps the work (and the time) the same for unknown users.
        stored = self._verifier or "md5" + secrets.token_hex(16)
        expected = "md5" + hashlib.md5(stored[3:].encode() + self.salt).hexdigest()
        ok = hmac.compare_digest(expected.encode(), answer.rstrip(b"\x00"))
        if not (ok and self._verifier is not None):
            raise AuthFailed("password authentication failed")


# Start-up parameters that only Amazon's Redshift drivers send (redshift_connector sends both;
# Amazon's JDBC and ODBC drivers are not available here to check): they get MD5, as on Redshift.
REDSHIFT_DRIVER_PARAMS = ("client_protocol_version", "driver_version")


def wants_md5(params: Mapping[str, str]) -> bool:
    """Whether a client (by its start-up parameters) must be asked for MD5 rather than SCRAM."""
    return any(k in params for k in REDSHIFT_DRIVER_PARAMS)


class Authenticator:
    """Finds credentials through one lookup and runs the exchange the client can do."""

    def __init__(self, users: Mapping[str, str] | CredentialLookup) -> None:
        """users: a lookup `user -> Credentials | None`, or a mapping name -> password (or
        PostgreSQL SCRAM verifier text) for a fixed set of users."""
        self.lookup: CredentialLookup = StaticUsers(users) if isinstance(users, Mapping) else users
        # Unknown users get a full exchange against a made-up verifier, so timing and messages
        # do not reveal which user names exist.
        self._decoy_key = secrets.token_bytes(32)

    @property
    def users(self) -> list[str]:
        """Names of a fixed set of users (empty for another lookup: it is not enumerable)."""
        return self.lookup.names if isinstance(self.lookup, StaticUsers) else []

    def exchange(self, user: str) -> ScramExchange:
        creds = self.lookup(user)
        if creds is not None:
            return ScramExchange(creds.scram, known_user=True)
        salt = _hmac(self._decoy_key, user.encode())[:16]
        decoy = ScramVerifier(salt, ITERATIONS, secrets.token_bytes(32), secrets.token_bytes(32))
        return ScramExchange(decoy, known_user=False)

    def md5_exchange(self, user: str) -> Md5Exchange:
        creds = self.lookup(user)
        return Md5Exchange(creds.md5 if creds is not None else None)

    @classmethod
    def for_warehouse(
        cls,
        warehouse: Path,
        users: Mapping[str, str] | None = None,
        configured: str | None = None,
    ) -> Authenticator:
        """The configured users plus `admin` (its configured password, else the warehouse
        file)."""
        all_users = dict(users or {})
        all_users.setdefault(ADMIN_USER, admin_password(warehouse, configured))
        return cls(all_users)


def admin_password(warehouse: Path, configured: str | None = None, *, create: bool = True) -> str:
    """The admin user's password: the configured one (config.py: ZEROETL_SQL_PASSWORD, its file
    or zeroetl.toml), else `<warehouse>/sql.password`.

    The file is created (mode 0600, random password) when missing and `create` is true.
    """
    if configured:
        return configured
    path = Path(warehouse) / PASSWORD_FILE
    if path.exists():
        if path.stat().st_mode & 0o077:
            path.chmod(0o600)  # someone loosened it; a password file must stay private
        text = path.read_text().strip()
        if not text:
            raise ConfigError(f"{path} is empty", hint=f"delete it or set {PASSWORD_ENV}")
        return text
    if not create:
        raise ConfigError(
            f"no SQL password: {path} does not exist",
            hint=f"start `zeroetl serve` once or set {PASSWORD_ENV}",
        )
    path.parent.mkdir(parents=True, exist_ok=True)
    password = secrets.token_urlsafe(18)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:  # another process won the race: use its password
        return path.read_text().strip()
    with os.fdopen(fd, "w") as f:
        f.write(password + "\n")
    return password
