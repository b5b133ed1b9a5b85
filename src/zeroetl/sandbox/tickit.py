"""The TICKIT sample database (Redshift's sample data): schema, bulk load and live traffic.

The seven tables of Redshift's sample database, in a MySQL database (`demodb` by default), each
with its id as primary key. Redshift types map to MySQL ones: BOOLEAN -> BOOLEAN (TINYINT(1),
replicated as TINYINT), TIMESTAMP -> DATETIME (wall clock, as in Redshift), CHAR/VARCHAR/DECIMAL
as they are. `load` generates the rows (tickit_data) and sends them as multi-row INSERTs, which
needs no server or client option (LOAD DATA LOCAL would need local_infile on both sides).
"""

from __future__ import annotations

import datetime as dt
import random
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from decimal import Decimal
from typing import Any

from zeroetl.sandbox.tickit_data import LIKES, PRICES, dateid_of, generate
from zeroetl.sandbox.tickit_queries import SAMPLE_QUERIES

__all__ = ["SAMPLE_QUERIES", "TABLES", "create_schema", "load", "traffic"]

_LIKE_COLS = ",\n".join(f"  {c} BOOLEAN" for c in LIKES)
DDL = {
    "users": f"""(
  userid INTEGER NOT NULL PRIMARY KEY,
  username CHAR(8),
  firstname VARCHAR(30),
  lastname VARCHAR(30),
  city VARCHAR(30),
  state CHAR(2),
  email VARCHAR(100),
  phone CHAR(14),
{_LIKE_COLS})""",
    "venue": """(
  venueid SMALLINT NOT NULL PRIMARY KEY,
  venuename VARCHAR(100),
  venuecity VARCHAR(30),
  venuestate CHAR(2),
  venueseats INTEGER)""",
    "category": """(
  catid SMALLINT NOT NULL PRIMARY KEY,
  catgroup VARCHAR(10),
  catname VARCHAR(10),
  catdesc VARCHAR(50))""",
    "date": """(
  dateid SMALLINT NOT NULL PRIMARY KEY,
  caldate DATE NOT NULL,
  day CHAR(3) NOT NULL,
  week SMALLINT NOT NULL,
  month CHAR(5) NOT NULL,
  qtr CHAR(5) NOT NULL,
  year SMALLINT NOT NULL,
  holiday BOOLEAN DEFAULT FALSE)""",
    "event": """(
  eventid INTEGER NOT NULL PRIMARY KEY,
  venueid SMALLINT NOT NULL,
  catid SMALLINT NOT NULL,
  dateid SMALLINT NOT NULL,
  eventname VARCHAR(200),
  starttime DATETIME)""",
    "listing": """(
  listid INTEGER NOT NULL PRIMARY KEY,
  sellerid INTEGER NOT NULL,
  eventid INTEGER NOT NULL,
  dateid SMALLINT NOT NULL,
  numtickets SMALLINT NOT NULL,
  priceperticket DECIMAL(8,2),
  totalprice DECIMAL(8,2),
  listtime DATETIME)""",
    "sales": """(
  salesid INTEGER NOT NULL PRIMARY KEY,
  listid INTEGER NOT NULL,
  sellerid INTEGER NOT NULL,
  buyerid INTEGER NOT NULL,
  eventid INTEGER NOT NULL,
  dateid SMALLINT NOT NULL,
  qtysold SMALLINT NOT NULL,
  pricepaid DECIMAL(8,2),
  commission DECIMAL(8,2),
  saletime DATETIME)""",
}
TABLES = tuple(DDL)
_BATCH = 2000  # rows per INSERT: ~200-400 KB statements, well under max_allowed_packet

Progress = Callable[[str, int, int], None]  # (table, rows done, rows total)


def _q(name: str) -> str:
    return "`" + name.replace("`", "``") + "`"


def create_schema(conn: Any, database: str = "demodb", *, drop: bool = True) -> None:
    """Create `database` and the seven tables (replacing existing ones unless drop=False)."""
    with conn.cursor() as cur:
        cur.execute(f"CREATE DATABASE IF NOT EXISTS {_q(database)}")
        for table, cols in DDL.items():
            if drop:
                cur.execute(f"DROP TABLE IF EXISTS {_q(database)}.{_q(table)}")
            cur.execute(
                f"CREATE TABLE IF NOT EXISTS {_q(database)}.{_q(table)} {cols}"
                " ENGINE=InnoDB DEFAULT CHARSET=utf8mb4"
            )


def _lit(v: object) -> str:
    """A MySQL literal for the value types the generator produces."""
    if v is None:
        return "NULL"
    if isinstance(v, int | Decimal):
        return str(v)
    if isinstance(v, dt.datetime | dt.date):
        return f"'{v.isoformat(' ')}'" if isinstance(v, dt.datetime) else f"'{v.isoformat()}'"
    s = str(v).replace("\\", "\\\\").replace("'", "\\'")
    return f"'{s}'"


def _insert(cur: Any, db: str, table: str, rows: Sequence[tuple[object, ...]],
            progress: Progress | None) -> None:  # fmt: skip
    head = f"INSERT INTO {_q(db)}.{_q(table)} VALUES "
    for i in range(0, len(rows), _BATCH):
        chunk = rows[i : i + _BATCH]
        cur.execute(head + ",".join("(" + ",".join(map(_lit, r)) + ")" for r in chunk))
        if progress:
            progress(table, min(i + _BATCH, len(rows)), len(rows))


def load(
    conn: Any,
    *,
    database: str = "demodb",
    scale: float = 1.0,
    seed: int = 0,
    progress: Progress | None = None,
) -> dict[str, int]:
    """(Re)create the TICKIT tables in `database` and fill them; returns rows per table.

    Deterministic: the same scale and seed give the same rows. Each table is loaded in one
    transaction, so a replica sees it appear whole.
    """
    data = generate(scale, seed)
    create_schema(conn, database)
    counts: dict[str, int] = {}
    with conn.cursor() as cur:
        for table in TABLES:
            rows = getattr(data, table)
            cur.execute("START TRANSACTION")
            _insert(cur, database, table, rows, progress)
            cur.execute("COMMIT")
            counts[table] = len(rows)
    return counts


def traffic(
    conn: Any,
    *,
    database: str = "demodb",
    rate_per_s: float = 10.0,
    seconds: float | None = None,
    seed: int = 0,
    stop_event: threading.Event | None = None,
) -> dict[str, int]:
    """A steady stream of small transactions against loaded TICKIT tables until `seconds` pass
    or `stop_event` is set: new listings, sales of listed tickets, price changes of listings and
    cancelled sales (deletes). `rate_per_s` is transactions per second (1-3 changes each).
    Returns counts: transactions, listings_inserted, sales_inserted, listings_updated,
    sales_deleted, rows_changed."""
    if rate_per_s <= 0:
        raise ValueError("rate_per_s must be positive")
    rng = random.Random(seed)
    db = _q(database)
    stats = dict.fromkeys(
        ("transactions", "listings_inserted", "sales_inserted", "listings_updated",
         "sales_deleted", "rows_changed"), 0)  # fmt: skip
    with conn.cursor() as cur:
        cur.execute(
            f"SELECT (SELECT COALESCE(MAX(listid), 0) FROM {db}.listing),"
            f" (SELECT COALESCE(MAX(salesid), 0) FROM {db}.sales),"
            f" (SELECT COALESCE(MAX(userid), 1) FROM {db}.users),"
            f" (SELECT COUNT(*) FROM {db}.event)"
        )
        next_list, next_sale, n_users, n_events = (int(x) for x in cur.fetchone())
        if n_events == 0:
            raise ValueError(f"no TICKIT events in {database}: run load() first")
        cur.execute(f"SELECT eventid, catid, starttime FROM {db}.event")
        events = cur.fetchall()
    started = time.monotonic()
    interval = 1.0 / rate_per_s
    due = started
    while not (stop_event and stop_event.is_set()):
        now = time.monotonic()
        if seconds is not None and now - started >= seconds:
            break
        if now < due:
            wait = due - now
            if stop_event:
                stop_event.wait(wait)
            else:
                time.sleep(wait)
            continue
        due += interval
        ops = [rng.choices(("list", "sell", "reprice", "cancel"), (3, 4, 2, 1))[0]
               for _ in range(rng.randint(1, 3))]  # fmt: skip
        with conn.cursor() as cur:
            cur.execute("START TRANSACTION")
            for op in ops:
                if op == "list":
                    next_list += 1
                    eid, catid, _start = rng.choice(events)
                    median, spread = PRICES[int(catid)]
                    price = Decimal(max(5, round(median * rng.lognormvariate(0, spread))))
                    num = rng.randint(1, 8)
                    now_dt = _now_2008(None)
                    cur.execute(
                        f"INSERT INTO {db}.listing VALUES (%s,%s,%s,%s,%s,%s,%s,%s)",
                        (next_list, rng.randint(1, n_users), eid, dateid_of(now_dt.date()), num,
                         price, price * num, now_dt),
                    )  # fmt: skip
                    stats["listings_inserted"] += 1
                    stats["rows_changed"] += 1
                elif op == "sell":
                    lid = rng.randint(1, max(1, next_list))
                    cur.execute(
                        f"SELECT sellerid, eventid, priceperticket, numtickets, listtime"
                        f" FROM {db}.listing WHERE listid = %s",
                        (lid,),
                    )
                    row = cur.fetchone()
                    if row is None:
                        continue
                    seller, eid, price, num, listtime = row
                    qty = rng.randint(1, max(1, min(4, int(num))))
                    when = _now_2008(listtime)
                    buyer = rng.randint(1, n_users)
                    next_sale += 1
                    paid = price * qty
                    cur.execute(
                        f"INSERT INTO {db}.sales VALUES (%s,%s,%s,%s,%s,%s,%s,%s,%s,%s)",
                        (next_sale, lid, seller, buyer, eid, dateid_of(when.date()), qty, paid,
                         (paid * Decimal("0.15")).quantize(Decimal("0.01")), when),
                    )  # fmt: skip
                    stats["sales_inserted"] += 1
                    stats["rows_changed"] += 1
                elif op == "reprice":
                    lid = rng.randint(1, max(1, next_list))
                    factor = Decimal(rng.choice(("0.80", "0.90", "0.95", "1.05", "1.10")))
                    n = cur.execute(
                        f"UPDATE {db}.listing SET priceperticket = LEAST(ROUND(priceperticket"
                        f" * %s, 2), 9999.99), totalprice = LEAST(ROUND(priceperticket * %s, 2)"
                        f" * numtickets, 999999.99) WHERE listid = %s",
                        (factor, factor, lid),
                    )
                    stats["listings_updated"] += n
                    stats["rows_changed"] += n
                else:
                    n = cur.execute(
                        f"DELETE FROM {db}.sales WHERE salesid = %s",
                        (rng.randint(1, max(1, next_sale)),),
                    )
                    stats["sales_deleted"] += n
                    stats["rows_changed"] += n
            cur.execute("COMMIT")
        stats["transactions"] += 1
    return stats


def _now_2008(not_before: object) -> dt.datetime:
    """Today's wall-clock time of day, on a date in 2008 no earlier than `not_before` (TICKIT's
    date table only covers 2008)."""
    now = dt.datetime.now().replace(microsecond=0)
    day = min(dt.date(2008, 12, 30), dt.date(2008, now.month, min(now.day, 28)))
    when = dt.datetime.combine(day, now.time())
    if isinstance(not_before, dt.datetime) and when < not_before:
        when = min(not_before, dt.datetime(2008, 12, 30, 23, 59, 59))
    return when


def row_counts(
    conn: Any, database: str = "demodb", tables: Iterable[str] = TABLES
) -> dict[str, int]:
    with conn.cursor() as cur:
        out = {}
        for t in tables:
            cur.execute(f"SELECT COUNT(*) FROM {_q(database)}.{_q(t)}")
            out[t] = int(cur.fetchone()[0])
        return out
