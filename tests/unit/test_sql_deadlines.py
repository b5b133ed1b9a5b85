"""Statement deadlines on one shared thread (deadlines.py): they fire in order, a cancelled one
never fires, cancelled ones do not pile up, and a statement_timeout still interrupts."""

from __future__ import annotations

import threading
import time

from zeroetl.server.sql.deadlines import Deadlines
from zeroetl.server.sql.limits import StatementRun


def test_fire_in_order_and_cancel() -> None:
    d = Deadlines()
    fired: list[str] = []
    done = threading.Event()
    d.add(0.2, lambda: (fired.append("late"), done.set()))
    d.add(0.05, lambda: fired.append("early"))
    gone = d.add(0.1, lambda: fired.append("cancelled"))
    d.cancel(gone)
    assert done.wait(5)
    assert fired == ["early", "late"]


def test_cancelled_deadlines_do_not_pile_up() -> None:
    d = Deadlines()
    for _ in range(5000):
        d.cancel(d.add(3600, lambda: None))  # a long timeout, statements that end at once
    assert len(d._heap) <= 2100 and len(d) == 0


def test_a_statement_run_times_out_once_and_a_finished_one_never() -> None:
    hits: list[StatementRun] = []
    slow = StatementRun(50, hits.append).arm()
    quick = StatementRun(50, hits.append).arm()
    quick.finish()
    deadline = time.monotonic() + 5
    while not hits and time.monotonic() < deadline:
        time.sleep(0.01)
    time.sleep(0.1)
    assert hits == [slow]
    slow.finish()
