"""The row decoder's share of a small transaction, in process: decode + gather + seal.

Synthetic rows events of the lag bench's small table (id BIGINT key, a INT, b VARCHAR(20)), in
transactions of 5 changes (an insert of 2 rows, an update of 2 rows keeping their keys, a
delete of 1 row), sealed every 200 transactions as the engine's batches are. Runs the compiled
decoder and the Python one (ZEROETL_NATIVE=0) alternately in the same process and prints the
CPU time per transaction of each (best of `--rounds`). No server, no warehouse: what this
measures is the decoder's and the batch's work alone.

    .venv/bin/python bench/rows_micro_bench.py [--txns 20000] [--rounds 5] [--cols 3]
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


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--txns", type=int, default=20_000)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--cols", type=int, default=3)
    args = ap.parse_args()
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
