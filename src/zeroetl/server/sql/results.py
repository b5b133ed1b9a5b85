"""What a SQL session answers: result columns (with the PostgreSQL type the SQL layer knows
beyond Arrow) and a result's batches and command tag. Apart from session.py so the statement
mixins (workspace_session, users_session) build results without importing the session."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import pyarrow as pa


@dataclass
class Column:
    name: str
    type: pa.DataType
    pg_type: str = ""  # 'varchar(30)' / 'bpchar(4)' when the length is known (shapes.py)


@dataclass
class Result:
    columns: list[Column] | None
    batches: Iterator[pa.RecordBatch]
    command_tag: str
    # a kept result's (resultcache.py): the wire keeps its encoding of the rows here, so a
    # result served again is not encoded again
    wire_memo: dict[object, object] | None = None


def _empty(tag: str) -> Result:
    return Result(None, iter(()), tag)
