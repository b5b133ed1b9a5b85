"""Secrets kept in the warehouse directory: the key that encrypts source passwords in the
catalog, and the API bearer token. Both live in files only the owner can read (0600)."""

from __future__ import annotations

import contextlib
import hmac
import os
import secrets
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken

from zeroetl.errors import ConfigError

KEY_FILE = "secret.key"
TOKEN_FILE = "api.token"
TOKEN_ENV = "ZEROETL_API_TOKEN"


def _read_or_create(path: Path, make: bytes) -> bytes:
    """Read `path`, or create it with `make` readable by its owner only (never wider, even for
    a moment: the mode is set by open(2), not by a later chmod)."""
    with contextlib.suppress(FileNotFoundError):
        return path.read_bytes().strip()
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:  # another process won the race: use its file
        return path.read_bytes().strip()
    with os.fdopen(fd, "wb") as f:
        f.write(make + b"\n")
    return make


class SecretBox:
    """Fernet encryption (AES-128-CBC + HMAC-SHA256) of source passwords with the warehouse key."""

    def __init__(self, warehouse: Path) -> None:
        self.path = warehouse / KEY_FILE
        self._fernet = Fernet(_read_or_create(self.path, Fernet.generate_key()))

    def encrypt(self, secret: str) -> bytes:
        return self._fernet.encrypt(secret.encode())

    def decrypt(self, token: bytes | None) -> str:
        if not token:
            return ""
        try:
            return self._fernet.decrypt(token).decode()
        except InvalidToken:
            raise ConfigError(
                "cannot decrypt a stored source password",
                hint=f"{self.path} was replaced; modify the integration with the password again",
            ) from None


def api_token(warehouse: Path, configured: str | None = None) -> str:
    """The API bearer token: the configured one (config.py: ZEROETL_API_TOKEN, its file or
    zeroetl.toml), else the warehouse's token file (made once)."""
    configured = (configured or "").strip()
    if configured:
        return configured
    return _read_or_create(warehouse / TOKEN_FILE, secrets.token_urlsafe(32).encode()).decode()


def read_token_file(warehouse: Path) -> str | None:
    try:
        return (warehouse / TOKEN_FILE).read_text().strip() or None
    except OSError:
        return None


def token_matches(given: str, expected: str) -> bool:
    return hmac.compare_digest(given.encode(), expected.encode())
