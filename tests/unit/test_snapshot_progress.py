from rich.console import Console
from rich.progress import Progress, TextColumn

from zeroetl.cli.progress import SnapshotBars, rate_text


def test_rate_text() -> None:
    assert rate_text(0, 100, 0.0) == "0 rows"
    assert rate_text(1_000, 0, 2.0) == "1,000 rows  500 rows/s"
    assert rate_text(1_000, 4_000, 2.0) == "1,000 rows  500 rows/s  ETA 0:00:06"
    assert rate_text(1_000, 3_601_000, 1.0).endswith("ETA 1:00:00")


def test_bars_per_table_and_overall() -> None:
    bar = Progress(
        TextColumn("{task.description} {task.fields[info]}"),
        console=Console(file=None, force_terminal=False),
    )
    bars = SnapshotBars(bar)
    bars.started({"db.a": 100, "db.b": 0})
    bars.chunk("db.a", 40)
    bars.chunk("db.b", 10)  # no estimate: the copied rows are the total so far
    tasks = {t.description: t for t in bar.tasks}
    assert tasks["copy db.a"].completed == 40 and tasks["copy db.a"].total == 100
    assert tasks["copy db.b"].total == 10
    bars.done("db.a", 100)
    tasks = {t.description: t for t in bar.tasks}
    assert "copy db.a" not in tasks  # a finished table's bar goes away
    assert tasks["snapshot"].completed == 1 and "1 of 2 tables" in tasks["snapshot"].fields["info"]
