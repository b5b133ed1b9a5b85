"""GTID sets for both flavours, kept as plain values and printed the way each server prints them.

MySQL: ``uuid:1-5:7,uuid2:1-3`` (intervals per source uuid).
MariaDB: ``domain-server-seq`` per replication domain (only the latest per domain matters, which
is what ``@@gtid_binlog_pos`` shows and what ``@slave_connect_state`` accepts).
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, field


@dataclass
class MysqlGtidSet:
    intervals: dict[str, list[list[int]]] = field(default_factory=dict)

    @classmethod
    def parse(cls, text: str) -> MysqlGtidSet:
        out = cls()
        for part in filter(None, (p.strip() for p in text.replace("\n", "").split(","))):
            uuid, *ranges = part.split(":")
            for r in ranges:
                lo, _, hi = r.partition("-")
                out.intervals.setdefault(uuid.lower(), []).append([int(lo), int(hi or lo)])
        for ivs in out.intervals.values():
            ivs.sort()
        return out

    def add(self, uuid: str, gno: int) -> None:
        ivs = self.intervals.setdefault(uuid, [])
        if ivs and ivs[-1][1] + 1 == gno:  # the common case: the next number in sequence
            ivs[-1][1] = gno
            return
        for iv in ivs:
            if iv[0] <= gno <= iv[1]:
                return
        ivs.append([gno, gno])
        ivs.sort()
        merged: list[list[int]] = []
        for iv in ivs:
            if merged and merged[-1][1] + 1 >= iv[0]:
                merged[-1][1] = max(merged[-1][1], iv[1])
            else:
                merged.append(iv)
        self.intervals[uuid] = merged

    def __str__(self) -> str:
        return ",".join(
            uuid + "".join(f":{lo}" if lo == hi else f":{lo}-{hi}" for lo, hi in ivs)
            for uuid, ivs in sorted(self.intervals.items())
        )


@dataclass
class MariaGtidState:
    latest: dict[int, tuple[int, int]] = field(default_factory=dict)  # domain -> (server, seq)

    @classmethod
    def parse(cls, text: str) -> MariaGtidState:
        out = cls()
        for part in filter(None, (p.strip() for p in text.split(","))):
            domain, server, seq = (int(x) for x in part.split("-"))
            out.latest[domain] = (server, seq)
        return out

    def add(self, domain: int, server: int, seq: int) -> None:
        self.latest[domain] = (server, seq)

    def __str__(self) -> str:
        return maria_text(self.latest.items())


def maria_text(entries: Collection[tuple[int, tuple[int, int]]]) -> str:
    """The text of a MariaDB GTID state's (domain, (server, seq)) entries, domains in order."""
    if len(entries) == 1:  # the common case, once per transaction: no sort, no join
        for d, (s, n) in entries:
            return f"{d}-{s}-{n}"
    return ",".join(f"{d}-{s}-{n}" for d, (s, n) in sorted(entries))
