"""The snapshot phase: the first copy, its resumption after a restart, and keeping the set of
replicated tables in line with the data filter.

Functions of the engine's shared state (context.py), so that `runner.py` keeps the streaming
loop and this file the copy orchestration; `copier.py` holds the chunk-level mechanics and the
correctness argument.
"""

from __future__ import annotations

import logging
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import UTC, datetime

from zeroetl.engine.context import EngineContext
from zeroetl.errors import TransientError
from zeroetl.model import Position, TableId, TableSchema, TableState

log = logging.getLogger("zeroetl.engine.runner")

CHECKPOINT_TYPE_SNAPSHOT = "snapshot"


def snapshot_with_retries(rep: EngineContext) -> None:
    backoff = 0.5
    while not rep.stop_event.is_set():
        rep.phase = "snapshot"
        try:
            rep.committed = rep.dest.load_checkpoint()
            if rep.committed is None:
                first_snapshot(rep)
            else:
                resume_snapshot(rep)
            rep.last_error = ""
            return
        except TransientError as exc:
            backoff = rep.wait_after(exc, backoff)


def _estimates(rep: EngineContext, tables: list[TableId]) -> dict[TableId, int]:
    """Row estimates for the progress report: none rather than a failed snapshot."""
    try:
        return rep.source.row_estimates(tables)
    except Exception as exc:  # the copy reads the tables anyway and reports its own errors
        log.info("no row estimates: %s", exc)
        return {}


def first_snapshot(rep: EngineContext) -> None:
    source = rep.source
    # The row estimates (information_schema.TABLES: MariaDB opens every table for them, ~4 s
    # at 10,000 tables) are read on the source's connection while the warehouse tables are
    # created; nothing else uses that connection meanwhile.
    pool = ThreadPoolExecutor(1, thread_name_prefix="zeroetl-estimates")
    try:
        before = source.position()
        reader = rep.copier.reader()
        snap = reader.begin_consistent()
        start = snap or before
        # Tables are listed after the start position is fixed: a table created or renamed
        # before it is in the list, and every later DDL is in the stream from it.
        tables = [t for t in source.list_tables() if rep.wanted(t)]
        schemas = source.load_schemas(tables)
        session_hw = snap or source.position()
        estimated = pool.submit(_estimates, rep, list(schemas))
        to_copy = _begin_first(rep, start, schemas, estimated)
    finally:
        pool.shutdown(wait=True)
        source.close()
    try:
        rep.copier.copy_tables(to_copy, session_hw, start, rep.stop_event, fresh=True)
    finally:
        reader.end()
    finish_snapshot_commit(rep, CHECKPOINT_TYPE_SNAPSHOT)


def _begin_first(
    rep: EngineContext,
    start: Position,
    schemas: dict[TableId, TableSchema],
    estimated: Future[dict[TableId, int]],
) -> list[TableId]:
    """Record the start and create the tables to copy (one transaction); those tables."""
    log.info("first snapshot of %d tables, consistent at %s", len(schemas), start)
    rep.dest.begin()
    rep.dest.save_checkpoint(start)
    rep.dest.kv_set("snapshot_start", str(start))
    to_copy = []
    for table, schema in sorted(schemas.items(), key=lambda kv: str(kv[0])):
        problem = schema.problem()
        if problem:
            rep.book.fail(table, problem, start)
            continue
        if rep.book.start_copy(schema, "", start) is not None:
            to_copy.append(table)
    rep.book.flush()
    rep.dest.commit()
    rep.committed = rep.position = start
    estimates = estimated.result()
    rep.progress.snapshot_started({t: estimates.get(t, 0) for t in to_copy})
    return to_copy


def resume_snapshot(rep: EngineContext) -> None:
    """After a restart: copy what an interrupted snapshot left, and reconcile the filter."""
    assert rep.committed is not None
    rep.position = rep.committed
    rep.dest.begin()
    reconcile_filter(rep, restart=True)
    rep.book.flush()
    rep.dest.commit()
    unfinished = [
        s.id
        for s in rep.book.status.values()
        if s.state is TableState.RESYNC_INITIATED and not s.snapshot_done
    ]
    if not unfinished:
        return
    log.info("resuming the snapshot of %d tables", len(unfinished))
    reader = rep.copier.reader()
    snap = reader.begin_consistent()
    hw = snap or rep.source.position()
    try:
        rep.copier.copy_tables(unfinished, hw, rep.committed, rep.stop_event)
    finally:
        reader.end()
    finish_snapshot_commit(rep, CHECKPOINT_TYPE_SNAPSHOT)


def finish_snapshot_commit(rep: EngineContext, kind: str) -> None:
    assert rep.committed is not None
    rep.dest.begin()
    rep.book.promote_synced(rep.committed)
    rep.book.flush()
    now = datetime.now(UTC)
    rep.dest.record_activity(
        checkpoint=rep.committed,
        checkpoint_type=kind,
        checkpoint_bytes=0,
        commit_ts=None,
        modified_tables=0,
        start=now,
        end=now,
    )
    rep.dest.commit()


def reconcile_filter(rep: EngineContext, *, restart: bool = False) -> None:
    """Drop tables the filter now excludes; queue a copy of those it now includes.

    On `restart`, a table the warehouse lacks may also have been created or renamed on the
    source while we were stopped: its DDL is ahead in the stream, and replaying it (a RENAME
    of a Synced table, a CREATE TABLE ... LIKE) makes the table without copying it. So the copy
    waits until the stream has passed the position read after listing the tables; by then it
    has been made, or it really needs the copy."""
    for st in list(rep.book.tracked()):
        if not rep.wanted(st.id):
            rep.discard(st.id)
            rep.book.drop(st.id, "excluded by the data filter", rep.committed)
    try:
        existing = rep.source.list_tables()
        listed_at = rep.source.position() if restart else None
    finally:
        rep.source.close()
    for table in sorted(existing, key=str):
        known = rep.book.get(table)
        if rep.wanted(table) and (known is None or known.state is TableState.DELETED):
            rep.book.require_resync(
                table, "newly included by the data filter", rep.committed, not_before=listed_at
            )
