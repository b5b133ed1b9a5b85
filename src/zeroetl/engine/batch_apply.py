"""Sealed change batches into the warehouse: apply them table by table inside the open
transaction, fail a table the destination refuses without stopping the others, and record the
activity the monitoring views show. Functions of the engine's shared state (context.py); the
runner decides when (runner.py).
"""

from __future__ import annotations

from datetime import UTC, datetime

from zeroetl.destinations.base import ChangedColumns, NewKeyInserts
from zeroetl.engine.context import EngineContext
from zeroetl.errors import DestinationError, TableFailed, TransientError, ZeroEtlError
from zeroetl.model import (
    ChangeBatch,
    Position,
    TableActivity,
    TableChanges,
    TableId,
    TableState,
)

CHECKPOINT_TYPE_CDC = "cdc"


class TableReplay(ZeroEtlError):
    """Restart the stream from the committed checkpoint (after failing one table)."""


def apply_batch(ctx: EngineContext, batch: ChangeBatch | None) -> None:
    """Apply a sealed batch inside the open warehouse transaction (no commit)."""
    if not batch:
        return
    ctx.ensure_txn()
    fresh = ctx.dest if isinstance(ctx.dest, NewKeyInserts) else None
    columns = ctx.dest if isinstance(ctx.dest, ChangedColumns) else None
    for table, tc in batch.tables.items():
        try:
            if tc.failure:
                raise TableFailed(str(table), tc.failure)
            assert tc.rows is not None
            if fresh is not None and _new_keys_only(ctx, table, tc):
                fresh.insert_new(tc.schema, tc.rows)
            elif columns is not None and tc.changed is not None and _synced(ctx, table):
                columns.apply_changed(tc.schema, tc.rows, tc.changed)
            else:
                ctx.dest.apply_changes(tc.schema, tc.rows)
        except (DestinationError, TableFailed) as exc:
            if isinstance(exc, TransientError):
                raise  # disk full, I/O error: not this table's fault; retried with backoff
            fail_and_replay(ctx, table, getattr(exc, "reason", None) or str(exc))
    for table, tc in batch.tables.items():
        acc = ctx.activity.setdefault(table, [0, 0, 0, 0])
        acc[0] += tc.inserted
        acc[1] += tc.updated
        acc[2] += tc.deleted
        acc[3] += tc.nbytes
        if tc.zero_dates:
            ctx.book.count_zero_dates(table, tc.zero_dates)


def _new_keys_only(ctx: EngineContext, table: TableId, tc: TableChanges) -> bool:
    """Whether none of the slice's keys can be in the warehouse table: every row is a source
    INSERT's image, and the table is Synced. A Synced table equals the source table as of the
    committed checkpoint, the stream resumes exactly there (a failure rolls the open
    transaction back first), and earlier batches of the open transaction are applied already;
    a key the source inserts had no row just before, so it has none in the warehouse either.
    A table still being copied is not Synced: the stream may replay what its copy holds."""
    if tc.updated or tc.deleted or tc.rows is None or tc.inserted != tc.rows.num_rows:
        return False
    return _synced(ctx, table)


def _synced(ctx: EngineContext, table: TableId) -> bool:
    """Whether the warehouse table equals the source table as of the committed checkpoint plus
    the open transaction's batches (why: `_new_keys_only`): an UPDATE's before image is then
    the warehouse's row, and writing only the columns it changed is exact."""
    st = ctx.book.status.get(table)
    return st is not None and st.state is TableState.SYNCED


def fail_and_replay(ctx: EngineContext, table: TableId, reason: str) -> None:
    """One table's changes cannot be applied: the warehouse has aborted the transaction, so
    fail that table on its own, then replay everything else from the checkpoint."""
    ctx.rollback_open()
    ctx.dest.begin()
    book = ctx.reload_book()
    book.fail(table, f"cannot apply changes: {reason}", ctx.committed)
    book.flush()
    ctx.dest.commit()
    raise TableReplay(f"table {table} failed; replaying from {ctx.committed}")


def record_activity(
    ctx: EngineContext, pos: Position, started: datetime, source_time: datetime | None
) -> int:
    """Write the activity of what is about to commit at `pos` (in the open transaction);
    returns the number of row changes."""
    activity = ctx.activity
    rows = [TableActivity(table, *counts) for table, counts in activity.items()]
    total = sum(a.inserted + a.updated + a.deleted for a in rows)
    nbytes = sum(a.bytes_ingested for a in rows)
    ctx.dest.record_tables_activity(
        checkpoint=pos, transaction_id=pos.gtid_set.rsplit(",", 1)[-1] or str(pos), tables=rows
    )
    if activity:
        ctx.dest.record_activity(
            checkpoint=pos,
            checkpoint_type=CHECKPOINT_TYPE_CDC,
            checkpoint_bytes=nbytes,
            commit_ts=source_time,
            modified_tables=len(activity),
            start=started,
            end=datetime.now(UTC),
        )
    return total
