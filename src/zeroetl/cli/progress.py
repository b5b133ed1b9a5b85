"""Progress display for long CLI steps: a rich bar on terminals, nothing otherwise.

The bar goes to stderr, so stdout stays what scripts parse; when stderr is not a terminal
(a pipe, a log file, CI) no bar is drawn at all.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
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
