"""Progress display for long CLI steps: a rich bar on terminals, nothing otherwise.

The bar goes to stderr, so stdout stays what scripts parse; when stderr is not a terminal
(a pipe, a log file, CI) no bar is drawn at all.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

TableProgress = Callable[[str, int, int], None]  # (table, rows done, rows in that table)


@contextmanager
def load_progress(sizes: dict[str, int]) -> Iterator[TableProgress | None]:
    """One bar over every table's rows; yields the callback for tickit.load (None off a
    terminal)."""
    console = Console(stderr=True)
    if not console.is_terminal:
        yield None
        return
    columns = (
        TextColumn("{task.description:<18}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("rows"),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
    )
    with Progress(*columns, console=console) as bar:
        task = bar.add_task("generating rows", total=sum(sizes.values()))
        done: dict[str, int] = {}

        def update(table: str, rows: int, _of: int) -> None:
            done[table] = rows
            bar.update(task, completed=sum(done.values()), description=f"loading {table}")

        yield update
        bar.update(task, description="loaded")


class SnapshotBars:
    """`zeroetl replicate`'s snapshot display: a bar per table being copied (rows of the
    source's estimate, rows/s, ETA) and one over all tables. A finished table's bar goes away,
    so thousands of tables stay one screen."""

    def __init__(self, bar: Progress) -> None:
        self.bar = bar
        self._tasks: dict[str, TaskID] = {}
        self._copied: dict[str, int] = {}
        self._started: dict[str, float] = {}
        self._totals: dict[str, int] = {}
        self._all: TaskID | None = None
        self._done = 0

    def started(self, totals: dict[str, int]) -> None:
        self._totals = dict(totals)
        self._all = self.bar.add_task(
            "snapshot", total=max(1, len(totals)), info=f"0 of {len(totals):,} tables"
        )

    def chunk(self, table: str, rows: int) -> None:
        now = time.monotonic()
        start = self._started.setdefault(table, now)
        copied = self._copied[table] = self._copied.get(table, 0) + rows
        total = max(self._totals.get(table, 0), copied)
        if table not in self._tasks:
            self._tasks[table] = self.bar.add_task(f"copy {table}", total=total or None, info="")
        self.bar.update(self._tasks[table], total=total or None, completed=copied,
                        info=rate_text(copied, total, now - start))  # fmt: skip

    def done(self, table: str, rows: int) -> None:
        task = self._tasks.pop(table, None)
        if task is not None:
            self.bar.remove_task(task)
        self._done += 1
        if self._all is not None:
            n = len(self._totals)
            self.bar.update(self._all, completed=self._done, info=f"{self._done:,} of {n:,} tables")


def rate_text(copied: int, total: int, seconds: float) -> str:
    """'1,200,000 rows  410,000 rows/s  ETA 0:00:07' (no ETA before a rate is known)."""
    text = f"{copied:,} rows"
    if seconds <= 0 or copied <= 0:
        return text
    rate = copied / seconds
    text += f"  {rate:,.0f} rows/s"
    if total > copied:
        left = int((total - copied) / rate)
        text += f"  ETA {left // 3600}:{left // 60 % 60:02d}:{left % 60:02d}"
    return text
