"""SQL layer of the warehouse endpoint: sessions, pg_catalog emulation, Redshift dialect."""

from .errors import SqlError
from .session import Column, Result, SqlSession

__all__ = ["Column", "Result", "SqlError", "SqlSession"]
