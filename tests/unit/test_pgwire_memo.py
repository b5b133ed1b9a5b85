"""A kept result (server/sql/resultcache.py) served again is not encoded again: the wire keeps
its DataRow bytes with it, per result formats and column codecs; and a small result that was
read ahead with its statement is encoded without another trip to the worker, nor closed with
one."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pyarrow as pa

from zeroetl.server.pgwire.portals import RowSource
from zeroetl.server.pgwire.session import Session
from zeroetl.server.sql.results import Column

COLUMNS = [Column("a", pa.int64()), Column("b", pa.string())]
BATCH = pa.record_batch([pa.array([1, 2, None]), pa.array(["x", None, "z"])], names=["a", "b"])


def session() -> Session:
    return Session(None, None, None, ThreadPoolExecutor(1))  # type: ignore[arg-type]


def encode(s: Session, memo: dict[object, object], formats: list[int]) -> Any:
    src = RowSource(COLUMNS, iter([BATCH]))
    src.memo = memo
    src.read_ahead()
    assert src.inline(4096)
    out = s._encode_slice(src, formats, 4096)
    assert src.exhausted and src.position == 3 and src.next_slice(10) is None
    return out


def test_a_kept_result_is_encoded_once_per_format() -> None:
    s, memo = session(), {}
    text = encode(s, memo, [0, 0])
    assert text[1:] == (3, True) and len(memo) == 1
    assert encode(s, memo, [0, 0]) is text  # served from the memo, the very same bytes
    binary = encode(s, memo, [1, 1])
    assert binary[0] != text[0] and len(memo) == 2
    fresh = RowSource(COLUMNS, iter([BATCH]))  # no memo: encoded as before
    assert s._encode_slice(fresh, [0, 0], 4096) == text


def test_a_result_larger_than_one_slice_is_not_inline() -> None:
    src = RowSource(COLUMNS, iter([BATCH, BATCH]))
    src.read_ahead()
    assert not src.inline(4096)  # another batch follows: the worker reads it
    assert src.next_slice(10) is not None and src.next_slice(10) is not None


class CountingPool(ThreadPoolExecutor):
    def __init__(self) -> None:
        super().__init__(1)
        self.submitted = 0

    def submit(self, *args: Any, **kwargs: Any) -> Any:  # type: ignore[override]
        self.submitted += 1
        return super().submit(*args, **kwargs)


def test_a_portal_read_to_its_end_closes_without_a_worker_trip() -> None:
    from zeroetl.server.pgwire.portals import Outcome, Portal

    pool = CountingPool()
    s = Session(None, None, None, pool)  # type: ignore[arg-type]
    closed: list[str] = []

    def batches(name: str) -> Any:
        try:
            yield BATCH
        finally:
            closed.append(name)

    done, open_ = RowSource(COLUMNS, batches("done")), RowSource(COLUMNS, batches("open"))
    done.read_ahead()  # one batch, then the end: exhausted
    assert open_.next_slice(1) is not None  # a client stopped reading after one row
    assert done.exhausted and not open_.exhausted
    for name, src in (("", done), ("c", open_)):
        s.portals[name] = Portal(name, "select 1", [], (), outcome=Outcome("SELECT", src))
    s.end_of_transaction_cleanup()
    assert s.portals == {} and pool.submitted == 1  # only the open one went to the worker
    pool.shutdown(wait=True)
    assert sorted(closed) == ["done", "open"]
