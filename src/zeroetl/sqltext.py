"""Quoting for the DuckDB SQL the product writes as text: identifiers and string literals.

Neutral ground: the DuckDB destination (destinations/duckdb), the service's hub reads and the
SQL endpoint's catalog all write DuckDB SQL, and none of them should import another for it.
"""

from __future__ import annotations


def ident(name: str) -> str:
    """Quote any identifier exactly: case, spaces, quotes, unicode and reserved words survive."""
    if "\x00" in name:
        raise ValueError("identifier contains a NUL character")
    return '"' + name.replace('"', '""') + '"'


def literal(text: str) -> str:
    """A SQL string literal (only for places that cannot take a bound parameter, e.g. PRAGMAs)."""
    return "'" + text.replace("'", "''") + "'"
