"""DuckDB destination (registered as "duckdb"): see destination.py."""

from .destination import CAPABILITIES, DuckDBDestination

__all__ = ["CAPABILITIES", "DuckDBDestination"]
