"""The row decoder's share of a small transaction, in process: decode + gather + seal.

Synthetic rows events of the lag bench's small table (id BIGINT key, a INT, b VARCHAR(20)), in
transactions of 5 changes (an insert of 2 rows, an update of 2 rows keeping their keys, a
delete of 1 row), sealed every 200 transactions as the engine's batches are. Runs the compiled
decoder and the Python one (ZEROETL_NATIVE=0) alternately in the same process and prints the
CPU time per transaction of each (best of `--rounds`). No server, no warehouse: what this
measures is the decoder's and the batch's work alone.

`--shape bulk`: the replication and lag benches' 8-column table (BIGINT key, INT, VARCHAR(40),
DECIMAL(12,2), DATETIME(6), DOUBLE, DATE, TEXT) in update events of 1,000 rows, sealed every 20
events: CPU per row change, split into gathering and sealing (raw images -> Arrow). Run it
under another tree (`PYTHONPATH=<copy of src> .venv/bin/python bench/rows_micro_bench.py ...`)
for a before/after.

    .venv/bin/python bench/rows_micro_bench.py [--txns 20000] [--rounds 5] [--cols 3]
    .venv/bin/python bench/rows_micro_bench.py --shape bulk [--events 200]
"""

from __future__ import annotations

import argparse
import os
import struct
import time

from zeroetl import native
from zeroetl.model import TableId
from zeroetl.sources.mysql import coltypes as T
from zeroetl.sources.mysql.changes import Batch
from zeroetl.sources.mysql.rows import RowsDecoder
from zeroetl.sources.mysql.tablemap import TableMap

UTF8 = 45


def table_map(ncols: int) -> TableMap:
    """id BIGINT, a INT, b VARCHAR(20), then (ncols - 3) columns INT / DOUBLE / VARCHAR(12)."""
    types = [T.LONGLONG, T.LONG, T.VARCHAR] + [
        (T.LONG, T.DOUBLE, T.VARCHAR)[i % 3] for i in range(ncols - 3)
    ]
    metas = [0, 0, 80] + [(0, 8, 48)[i % 3] for i in range(ncols - 3)]
    return TableMap(
        table_id=1, schema="bench", table="t", column_types=tuple(types), column_meta=tuple(metas),
        nullable=(False,) + (True,) * (ncols - 1), column_names=tuple(f"c{i}" for i in range(ncols)),
        primary_key=(0,), unsigned=(False,) * ncols,
        collations=tuple(UTF8 if t == T.VARCHAR else None for t in types),
        enum_values=(None,) * ncols, geometry_types=(None,) * ncols,
    )  # fmt: skip


def image(tm: TableMap, key: int, salt: int = 0) -> bytes:
    out = bytes((len(tm.column_types) + 7) // 8)
    for i, t in enumerate(tm.column_types):
        if t == T.LONGLONG:
            out += struct.pack("<q", key)
        elif t == T.LONG:
            out += struct.pack("<i", (key * 7 + i + salt) % 2**31)
        elif t == T.DOUBLE:
            out += struct.pack("<d", key / (i + 1))
        else:
            v = f"v{key % (i + 7)}".encode()
            out += bytes([len(v)]) + v
    return out


def event(tm: TableMap, images: list[bytes], update: bool) -> memoryview:
    n = len(tm.column_types)
    present = ((1 << n) - 1).to_bytes((n + 7) // 8, "little")
    packed = bytes([n]) if n < 251 else b"\xfc" + n.to_bytes(2, "little")
    head = (1).to_bytes(6, "little") + b"\x01\x00\x02\x00" + packed
    return memoryview(head + present * (2 if update else 1) + b"".join(images))


def run(tm: TableMap, txns: list[tuple[memoryview, memoryview, memoryview]]) -> float:
    dec = RowsDecoder(tm)
    tid = TableId("bench", "t")
    schema = dec.table_schema
    t0 = time.process_time()
    batch = Batch()
    for k, (ins, upd, dele) in enumerate(txns):
        for etype, body in ((30, ins), (31, upd), (32, dele)):
            batch.add(tid, schema, dec.decode(etype, body))
        if k % 200 == 199:
            batch.seal()
            batch = Batch()
    batch.seal()
    return (time.process_time() - t0) / len(txns) * 1e6


BULK_TYPES = (T.LONGLONG, T.LONG, T.VARCHAR, T.NEWDECIMAL, T.DATETIME2, T.DOUBLE, T.DATE, T.BLOB)


def bulk_map() -> TableMap:
    n = len(BULK_TYPES)
    return TableMap(
        table_id=1, schema="bench", table="t", column_types=BULK_TYPES,
        column_meta=(0, 0, 160, 12 << 8 | 2, 6, 8, 0, 2), nullable=(False,) * 5 + (True,) * 3,
        column_names=("id", "a", "b", "c", "d", "e", "f", "g"), primary_key=(0,),
        unsigned=(False,) * n, collations=tuple(UTF8 if t in (T.VARCHAR, T.BLOB) else None
                                                for t in BULK_TYPES),
        enum_values=(None,) * n, geometry_types=(None,) * n,
    )  # fmt: skip


def bulk_image(k: int, salt: int) -> bytes:
    """One row as the replication bench writes it (seq k): DECIMAL(12,2) packed as 1 + 4 + 1
    bytes, DATETIME(6) as 5 + 3, DATE as 3."""
    name, text = f"up-{k}".encode(), b"x" * (k % 50)
    whole, cents = divmod(k % 1_000_000, 100)
    dec = bytearray(bytes([whole // 10**9]) + (whole % 10**9).to_bytes(4, "big") + bytes([cents]))
    dec[0] ^= 0x80
    secs = k + salt
    ymd = ((2020 * 13 + 1 + secs // 2_419_200 % 12) << 5) | (1 + secs // 86_400 % 28)
    hms = (secs // 3600 % 24) << 12 | (secs // 60 % 60) << 6 | secs % 60
    dt2 = ((ymd << 17 | hms) + (1 << 39)).to_bytes(5, "big") + (k % 1_000_000).to_bytes(3, "big")
    date = (1 + k % 28 | (1 + k % 12) << 5 | (2000 + k % 20) << 9).to_bytes(3, "little")
    return (b"\x00" + struct.pack("<qi", k, (k + salt) % 100_000) + bytes([len(name)]) + name
            + bytes(dec) + dt2 + struct.pack("<d", k / 7) + date + struct.pack("<H", len(text))
            + text)  # fmt: skip


def bulk(args: argparse.Namespace) -> None:
    tm = bulk_map()
    events = []
    for e in range(args.events):
        keys = range(e * 1000, e * 1000 + 1000)
        events.append(event(tm, [im for k in keys for im in (bulk_image(k, 0), bulk_image(k, 1))],
                            True))  # fmt: skip
    tid = TableId("bench", "t")
    best = (float("inf"), float("inf"))
    for _ in range(args.rounds):
        dec = RowsDecoder(tm)
        schema = dec.table_schema
        gather = seal = 0.0
        for lo in range(0, len(events), 20):
            t0 = time.process_time()
            batch = Batch()
            for body in events[lo : lo + 20]:
                batch.add(tid, schema, dec.decode(31, body))
            t1 = time.process_time()
            batch.seal()
            gather, seal = gather + t1 - t0, seal + time.process_time() - t1
        best = min(best, (gather, seal), key=sum)
    rows = 1000 * len(events)
    load = os.getloadavg()[0]
    print(f"bulk: {rows:,} row updates in events of 1,000, best of {args.rounds}, load {load:.1f}, "
          f"native={native.binrows is not None}")  # fmt: skip
    print(f"  gather {best[0] / rows * 1e9:6.0f} ns, seal {best[1] / rows * 1e9:6.0f} ns a row "
          f"({rows / sum(best):,.0f} rows/s)")  # fmt: skip


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--txns", type=int, default=20_000)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--cols", type=int, default=3)
    ap.add_argument("--shape", choices=["small", "bulk"], default="small")
    ap.add_argument("--events", type=int, default=200, help="bulk: update events of 1,000 rows")
    args = ap.parse_args()
    if args.shape == "bulk":
        bulk(args)
        return
    tm = table_map(args.cols)
    txns = []
    for k in range(args.txns):
        a, b = 2 * k + 1, 2 * k + 2
        txns.append((
            event(tm, [image(tm, a), image(tm, b)], False),
            event(tm, [image(tm, a), image(tm, a, 1), image(tm, b), image(tm, b, 1)], True),
            event(tm, [image(tm, a)], False),
        ))  # fmt: skip
    compiled = native.binrows
    if compiled is None:
        raise SystemExit("zeroetl.native._binrows is not built")
    best: dict[str, float] = {}
    for _ in range(args.rounds):
        for name, mod in (("compiled", compiled), ("python", None)):
            native.binrows = mod
            us = run(tm, txns)
            best[name] = min(best.get(name, us), us)
    load = os.getloadavg()
    print(f"{args.cols} columns, {args.txns} transactions of 5 changes, best of {args.rounds}, "
          f"load average {load[0]:.1f}")  # fmt: skip
    for name, us in best.items():
        print(f"  {name:<9} {us:7.1f} us CPU per transaction ({5e6 / us:,.0f} changes/s)")
    print(f"  compiled / python: {best['compiled'] / best['python']:.2f}x")


if __name__ == "__main__":
    main()
