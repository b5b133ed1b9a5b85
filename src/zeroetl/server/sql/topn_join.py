"""A Top N over a join reads the first rows of its driving table, not the whole join.

`SELECT ... FROM sales JOIN listing USING (listid) ORDER BY salesid LIMIT 50`: DuckDB builds a
hash table of every `listing` row and joins all of `sales` before it keeps 50 rows (TICKIT x10:
hundreds of milliseconds where MariaDB reads 50 rows by key). Every output row's first sort key
is a column of the FROM table, so the rows whose key sorts at or before a threshold `t` are a
prefix of the join's sorted output, whatever `t` is. The fast form adds that filter, with `t` the
(N + OFFSET)-th key of the FROM table alone, read in the same statement (one snapshot):

    ... WHERE <the query's own filter> AND sales.salesid <= (SELECT salesid FROM sales
        [WHERE <its conjuncts on sales alone>] ORDER BY salesid LIMIT 1 OFFSET N - 1)

DuckDB then skips every row group past `t` by its zone maps and joins a handful of rows. The
prefix answers the query exactly when it holds LIMIT + OFFSET rows, which is exactly when the
fast form returns LIMIT rows; when it returns fewer (the join or a filter on another table
dropped rows, or `t` is NULL), the session runs the original query (session.py). Ties of the
first key are all inside the prefix, so later keys of any table keep their meaning.

Only this shape is rewritten: a plain SELECT with a literal LIMIT (<= MAX_ROWS with its offset),
FROM one table with at least one inner, cross or LEFT join (the FROM table never on the null
side), no DISTINCT, GROUP BY, HAVING, QUALIFY, WITH, aggregate, window or set-returning function,
and a first ORDER BY key that is a column known to belong to the FROM table alone (qualified by
its name or alias, or unqualified and found in no other joined table). NULL keys follow the
ORDER BY's own placement: sorted last, they are past any threshold; sorted first (Redshift's
DESC), the form also asks that the FROM table hold no NULL key (else it returns nothing).
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import duckdb
import pyarrow as pa
from sqlglot import exp

from . import duckstream, topn

MAX_ROWS = 10_000  # LIMIT + OFFSET
MAX_BYTES = 32 << 20  # the fast result is read whole to count it: past this, the query runs
# every Select argument but these blocks the rewrite (sqlglot's names: `from_`, `with_`)
_ALLOWED = frozenset({"expressions", "from_", "from", "joins", "where", "order", "limit",
                      "offset", "hint"})  # fmt: skip

# runs answered by the fast form, runs that fell back, runs that did not try it (`run`)
STATS = {"fast": 0, "fallback": 0, "skipped": 0}
RETRY_EVERY = 16
MAX_FORMS = 1024  # forms whose last runs came short (least recently missed first out)
# form -> (runs in a row that came short, runs not tried since the last try)
_missed: OrderedDict[str, tuple[int, int]] = OrderedDict()
_lock = threading.Lock()
# a FROM or JOIN table's columns (lower-case name -> nullable); None when it is not known
Columns = Callable[[exp.Table], dict[str, bool] | None]


@dataclass(frozen=True)
class Fast:
    tree: exp.Select  # the query with the threshold filter
    rows: int  # the LIMIT: a fast result this long is the exact answer


def threshold(tree: exp.Expression, columns: Columns) -> Fast | None:
    """The fast form of `tree` (left unchanged), or None when its shape does not qualify."""
    if not isinstance(tree, exp.Select) or any(
        v for k, v in tree.args.items() if k not in _ALLOWED
    ):
        return None
    source = tree.args.get("from_") or tree.args.get("from")
    table = source.this if isinstance(source, exp.From) else None
    joins = tree.args.get("joins") or []
    if not isinstance(table, exp.Table) or not isinstance(table.this, exp.Identifier) or not joins:
        return None
    if any(table.args.get(a) for a in ("joins", "pivots", "sample", "laterals")):
        return None
    if not all(_joinable(j) for j in joins):
        return None
    limit, offset = _count(tree.args.get("limit")), _count(tree.args.get("offset"), default=0)
    if limit is None or offset is None or limit < 1 or limit + offset > MAX_ROWS:
        return None
    if not all(_plain(e) for e in tree.expressions):
        return None
    order = tree.args.get("order")
    if not isinstance(order, exp.Order) or not order.expressions:
        return None
    if not all(_plain(e) for e in order.expressions):
        return None
    first = order.expressions[0]
    if not isinstance(first, exp.Ordered):
        return None
    own = columns(table)
    if own is None:
        return None
    key = _key_column(tree, first.this, table, joins, own, columns)
    if key is None:
        return None
    nullable = own[key.name.lower()]
    ref = exp.Column(this=key.this.copy(), table=_alias_identifier(table))
    sub = exp.Select(expressions=[ref.copy()]).from_(table.copy(), copy=False)
    alone = [c for c in _conjuncts(tree.args.get("where")) if _on_table_alone(c, table)]
    for c in alone:
        sub = sub.where(c.copy(), copy=False)
    desc, nulls_first = bool(first.args.get("desc")), bool(first.args.get("nulls_first"))
    ordered = first.copy()  # its direction and NULL placement, as written
    ordered.set("this", ref.copy())
    sub.set("order", exp.Order(expressions=[ordered]))
    sub.set("limit", exp.Limit(expression=exp.Literal.number(1)))
    sub.set("offset", exp.Offset(expression=exp.Literal.number(limit + offset - 1)))
    bound = exp.Subquery(this=sub)
    cond: exp.Expression = (exp.GTE if desc else exp.LTE)(this=ref.copy(), expression=bound)
    if nullable and nulls_first:
        # The NULL keys come first, so they belong to the prefix, and `k IS NULL OR k >= t`
        # stops DuckDB pushing the bound into the scan (slower than the query itself). The
        # form answers only while the table holds no NULL key (DuckDB knows that from its
        # statistics, ~0.4 ms); with one, it returns nothing and the query runs as written.
        nulls = exp.Select(expressions=[exp.Literal.number(1)]).from_(table.copy(), copy=False)
        nulls = nulls.where(exp.Is(this=ref.copy(), expression=exp.Null()), copy=False)
        for c in alone:
            nulls = nulls.where(c.copy(), copy=False)
        cond = exp.And(this=cond, expression=exp.Not(this=exp.Exists(this=nulls)))
    fast = tree.copy()
    fast.where(cond, copy=False)
    return Fast(fast, limit)


def run(
    cur: duckdb.DuckDBPyConnection,
    text: str,
    rows: int,
    args: Sequence[object] | None,
    batch_rows: int,
) -> pa.RecordBatchReader | None:
    """The fast form's rows when they are the answer (`rows` of them), else None: the caller
    runs the query itself. Read whole, within MAX_BYTES. A form that came short twice in a row
    is tried again only every RETRY_EVERY-th run (a join that drops most rows would otherwise
    pay for both runs every time)."""
    with _lock:
        misses, skipped = _missed.get(text, (0, 0))
        if misses >= 2 and skipped + 1 < RETRY_EVERY:
            _missed[text] = (misses, skipped + 1)
            STATS["skipped"] += 1
            return None
    reader = duckstream.reader(cur, text, args, batch_rows)
    batches: list[pa.RecordBatch] = []
    size = count = 0
    try:
        for batch in reader:
            batches.append(batch)
            size, count = size + batch.nbytes, count + batch.num_rows
            if size > MAX_BYTES:
                break
    finally:
        reader.close()
    with _lock:
        if count < rows or size > MAX_BYTES:
            STATS["fallback"] += 1
            _missed[text] = (misses + 1, 0)
            _missed.move_to_end(text)
            while len(_missed) > MAX_FORMS:
                _missed.popitem(last=False)
            return None
        STATS["fast"] += 1
        _missed.pop(text, None)
    return pa.RecordBatchReader.from_batches(reader.schema, batches)


def _joinable(join: exp.Join) -> bool:
    """An inner, cross or LEFT join (the FROM table is never on its null side)."""
    kind = (join.args.get("kind") or "").upper()
    side = (join.args.get("side") or "").upper()
    if join.args.get("method") or kind not in ("", "INNER", "CROSS") or side not in ("", "LEFT"):
        return False
    return not isinstance(join.this, exp.Lateral | exp.Unnest)


def _count(node: exp.Expression | None, default: int | None = None) -> int | None:
    if node is None:
        return default
    value = node.args.get("expression")
    if isinstance(value, exp.Literal) and not value.is_string and value.this.isdigit():
        return int(value.this)
    return None


def _plain(e: exp.Expression) -> bool:
    """No aggregate, window or set-returning call (each would see only the prefix's rows)."""
    for node in e.walk():
        if isinstance(node, exp.AggFunc | exp.Window | exp.UDTF | exp.Explode | exp.Unnest):
            return False
        if isinstance(node, exp.Anonymous) and str(node.name).lower() in topn.SET_RETURNING:
            return False
    return True


def _alias_identifier(table: exp.Table) -> exp.Identifier:
    alias = table.args.get("alias")
    if isinstance(alias, exp.TableAlias) and isinstance(alias.this, exp.Identifier):
        return alias.this.copy()
    return table.this.copy()


def _key_column(
    tree: exp.Select,
    key: exp.Expression,
    table: exp.Table,
    joins: list[exp.Join],
    own: dict[str, bool],
    columns: Columns,
) -> exp.Column | None:
    """The first sort key as a column of the FROM table, or None when it is anything else."""
    selects = tree.expressions
    if isinstance(key, exp.Literal) and not key.is_string and key.this.isdigit():
        at = int(key.this) - 1  # ORDER BY 1: the first output column
        if not 0 <= at < len(selects):
            return None
        key = selects[at].this if isinstance(selects[at], exp.Alias) else selects[at]
    elif isinstance(key, exp.Column) and not key.table:
        for e in selects:  # ORDER BY an output name: only when that output is this column
            if isinstance(e, exp.Alias) and e.alias.lower() == key.name.lower():
                same = e.this
                if not (isinstance(same, exp.Column) and same.name.lower() == key.name.lower()):
                    return None
                key = same
    if not isinstance(key, exp.Column) or not isinstance(key.this, exp.Identifier):
        return None
    if key.args.get("db") or key.args.get("catalog") or key.name.lower() not in own:
        return None
    if key.table:
        return key if key.table == table.alias_or_name else None
    for j in joins:  # unqualified: no other joined relation may have a column of that name
        other = j.this
        if not isinstance(other, exp.Table):
            return None
        found = columns(other)
        if found is None or key.name.lower() in found:
            return None
        if any(key.name.lower() == u.name.lower() for u in j.args.get("using") or []):
            return None
    return key


def _conjuncts(where: exp.Expression | None) -> list[exp.Expression]:
    if not isinstance(where, exp.Where):
        return []
    out: list[exp.Expression] = []
    stack = [where.this]
    while stack:
        e = stack.pop()
        if isinstance(e, exp.And):
            stack += [e.expression, e.this]
        elif isinstance(e, exp.Paren) and isinstance(e.this, exp.And):
            stack.append(e.this)
        else:
            out.append(e)
    return out


def _on_table_alone(cond: exp.Expression, table: exp.Table) -> bool:
    """A conjunct that reads only columns qualified by the FROM table's name (no parameter,
    no subquery): it narrows the threshold's own read."""
    name = table.alias_or_name
    cols = list(cond.find_all(exp.Column))
    if not cols or any(c.table != name or c.args.get("db") for c in cols):
        return False
    return not any(
        isinstance(n, exp.Subquery | exp.Select | exp.Placeholder | exp.Parameter)
        for n in cond.walk()
    )
