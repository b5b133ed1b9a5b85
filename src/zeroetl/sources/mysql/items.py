"""The items `ChangeStream.items()` (stream.py) makes of binlog events: what the engine's side
of the stream (source.py) reads. Kept apart from the stream's loop; stream.py re-exports them."""

from __future__ import annotations

from dataclasses import dataclass

from zeroetl.model import Position, TableId, TableSchema
from zeroetl.sources.mysql.faults import FaultItem
from zeroetl.sources.mysql.gtid import maria_text
from zeroetl.sources.mysql.rows import RowsImage


@dataclass(slots=True)
class RowsItem:
    table: TableId
    schema: TableSchema  # the schema in force at this event (from its TABLE_MAP)
    image: RowsImage
    timestamp: int


@dataclass(slots=True)
class DdlItem:
    schema: str  # the statement's default database
    sql: str
    timestamp: int


class CommitItem:
    """A source transaction ended here; everything before `position` is complete.

    `timestamp` is the best estimate of when the source committed, in epoch seconds: MySQL 8's
    microsecond commit time when the GTID event has one; otherwise the event header's whole
    second `ts` narrowed by when we received the event, `min(ts + 1, received)` (the commit
    happened in [ts, ts + 1) and before we read it). Live, that is the receive time; while
    catching up, `ts + 1`: lag estimates are then never more than a second short, and never
    inflated by the header's rounding.

    On MariaDB the reader keeps the GTID state's entries of the moment and `position` (the
    GTID set's text and the Position) is made when first read: the engine reads it for the
    last transaction of each run it takes (source.py: `_run_end`), one in tens of small ones."""

    __slots__ = ("_at", "_position", "timestamp")

    def __init__(self, position: Position, timestamp: float) -> None:
        self._position: Position | None = position
        self._at: tuple[str, int, tuple[tuple[int, tuple[int, int]], ...]] | None = None
        self.timestamp = timestamp

    @property
    def position(self) -> Position:
        pos = self._position
        if pos is None:
            assert self._at is not None
            file, offset, latest = self._at
            pos = self._position = _position(file, offset, maria_text(latest))
        return pos

    def __eq__(self, other: object) -> bool:
        if type(other) is not CommitItem:
            return NotImplemented
        return (self.position, self.timestamp) == (other.position, other.timestamp)

    __hash__ = None  # type: ignore[assignment]  # mutable, compared by value (as a dataclass)

    def __repr__(self) -> str:
        return f"CommitItem(position={self.position!r}, timestamp={self.timestamp!r})"


@dataclass(slots=True)
class IdleItem:
    """Nothing open: the stream stands at `position` (a heartbeat or a rotate between txns)."""

    position: Position


@dataclass(slots=True)
class TableErrorItem:
    table: TableId
    reason: str


Item = RowsItem | DdlItem | CommitItem | IdleItem | TableErrorItem | FaultItem


def _position(file: str, offset: int, gtid_set: str) -> Position:
    """`Position(file, offset, gtid_set)` without the frozen dataclass's three
    `object.__setattr__` calls (~1 us a transaction here; events.make_event does the same)."""
    pos = _new(Position)
    pos.__dict__.update(file=file, offset=offset, gtid_set=gtid_set)
    return pos


_new = object.__new__

__all__ = [
    "CommitItem",
    "DdlItem",
    "IdleItem",
    "Item",
    "RowsItem",
    "TableErrorItem",
]
