"""The one error the SQL layer raises: a PostgreSQL SQLSTATE plus message, detail and hint."""

from __future__ import annotations


class SqlError(Exception):
    """An error the wire layer sends as an ErrorResponse (`sqlstate` is the 5-character code)."""

    def __init__(self, sqlstate: str, message: str, detail: str = "", hint: str = "") -> None:
        super().__init__(message)
        self.sqlstate = sqlstate
        self.message = message
        self.detail = detail
        self.hint = hint

    def __str__(self) -> str:
        return f"{self.sqlstate}: {self.message}"
