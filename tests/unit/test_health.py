"""The fault policy of engine/health.py with a fake clock and hand-made check reports (the real
checks and faults run against MariaDB in tests/integration/test_source_faults.py)."""

from __future__ import annotations

from zeroetl.engine.health import SourceHealth
from zeroetl.model import TableId
from zeroetl.sources.mysql.faults import INCIDENT_FAULT, ROW_IMAGE, STATEMENTS, FaultItem
from zeroetl.sources.mysql.prereq import Check, CheckReport

ORDERS, ITEMS, OTHER = TableId("s", "orders"), TableId("s", "items"), TableId("s", "other")


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


class Source:
    """What the prerequisite check would find; `calls` counts the checks."""

    def __init__(self) -> None:
        self.values = {"binlog_format": "ROW", "binlog_row_image": "FULL"}
        self.privileges_ok = True
        self.reachable = True
        self.calls = 0

    def check(self) -> CheckReport:
        self.calls += 1
        report = CheckReport("mysql://u@h:3306")
        report.checks.append(Check("connect", self.reachable, "mariadb 10.11"))
        if not self.reachable:
            return report
        for name, value in self.values.items():
            want = "ROW" if name == "binlog_format" else "FULL"
            report.checks.append(
                Check(name, value == want, f"{name}={value}", f"SET GLOBAL {name} = '{want}'")
            )
        report.checks.append(
            Check("privileges", self.privileges_ok, "global: USAGE", "GRANT REPLICATION CLIENT")
        )
        return report


def _health() -> tuple[SourceHealth, Source, Clock]:
    src, clock = Source(), Clock()
    return SourceHealth(src.check, interval_s=60, quiet_s=10, clock=clock), src, clock


def _statement(ts: int = 1_700_000_000) -> FaultItem:
    return FaultItem(STATEMENTS, (ORDERS,), "the source wrote UPDATE on s.orders ...", ts)


def test_fault_holds_until_quiet_and_the_setting_passes() -> None:
    h, src, clock = _health()
    src.values["binlog_format"] = "STATEMENT"
    h.check_now()
    h.record(_statement(), [ORDERS])
    assert h.held(ORDERS) and h.held(ITEMS)  # a failing binlog_format holds every resync
    assert "binlog_format is STATEMENT on the source" in h.attention()
    assert "1 table(s) wait for a resync" in h.attention()
    clock.now += 60
    h.check_now()
    assert h.update() == [] and h.held(ORDERS)  # quiet, but the setting still fails
    src.values["binlog_format"] = "ROW"
    h.update()
    assert h.held(ORDERS)  # no check since: the source has not told us yet
    h.check_now()
    assert h.update() == ["statements"]
    assert not h.held(ORDERS) and h.attention() == ""


def test_a_new_fault_restarts_the_quiet_period() -> None:
    h, _src, clock = _health()
    h.check_now()
    h.record(_statement(), [ORDERS])
    clock.now += 9
    h.record(_statement(), [ITEMS])  # a session still logs statements
    clock.now += 5
    h.check_now()
    assert h.update() == [] and h.held(ORDERS) and h.held(ITEMS) and not h.held(OTHER)
    attention = h.attention()
    assert "the global binlog_format is right, so a session still uses another value" in attention
    assert "2 table(s) wait" in attention
    clock.now += 6
    h.check_now()
    assert h.update() == ["statements"] and not h.held(ITEMS)


def test_without_a_watcher_quiet_alone_clears() -> None:
    clock = Clock()
    h = SourceHealth(None, interval_s=60, quiet_s=10, clock=clock)
    h.record(FaultItem(INCIDENT_FAULT, None, "the source logged an incident", 1), [ORDERS])
    assert h.held(ORDERS) and "the tables are re-copied" in h.attention()
    clock.now += 10
    assert h.update() == ["incident"] and not h.held(ORDERS)


def test_other_failing_checks_show_but_hold_nothing() -> None:
    h, src, _clock = _health()
    src.privileges_ok = False
    h.check_now()
    assert not h.held(ORDERS)
    assert h.attention() == (
        "source prerequisite privileges fails: global: USAGE; fix: GRANT REPLICATION CLIENT"
    )
    src.privileges_ok = True
    h.check_now()
    assert h.attention() == ""


def test_an_unreachable_source_keeps_the_last_verdict() -> None:
    h, src, _clock = _health()
    src.values["binlog_row_image"] = "MINIMAL"
    h.check_now()
    src.reachable = False
    h.check_now()
    assert "binlog_row_image=MINIMAL" in h.attention()


def test_stale_since_counts_from_the_first_missed_change_until_current() -> None:
    h, _src, clock = _health()
    h.check_now()
    h.record(FaultItem(ROW_IMAGE, (ORDERS,), "partial row image", 1000), [ORDERS])
    h.record(FaultItem(ROW_IMAGE, (ORDERS,), "partial row image", 1005), [ORDERS, ITEMS])
    synced: set[TableId] = set()
    assert h.stale_since(synced.__contains__) == 1000.0
    synced.add(ORDERS)  # not forgotten while its fault holds it
    assert h.stale_since(synced.__contains__) == 1000.0
    clock.now += 11
    h.check_now()
    h.update()
    assert h.stale_since(synced.__contains__) == 1005.0  # orders is current again
    synced.add(ITEMS)
    assert h.stale_since(synced.__contains__) is None


def test_a_new_fault_asks_for_a_check_at_once_but_repeats_do_not() -> None:
    h, _src, _clock = _health()
    h.record(_statement(), [ORDERS])
    assert h._wake.is_set()
    h._wake.clear()
    h.record(_statement(), [ORDERS])
    assert not h._wake.is_set()
