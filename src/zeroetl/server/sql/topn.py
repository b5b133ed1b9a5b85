"""Top-N queries compute their select list for the N rows kept, not for every row that qualifies.

`SELECT k, convert_timezone(..., t) FROM sales WHERE <filter> ORDER BY k LIMIT 20`: DuckDB
evaluates the select list for every row passing the filter, then keeps 20 (its own late
materialization applies only without a filter). Written as

    SELECT k, convert_timezone(..., t)
    FROM (SELECT * FROM sales WHERE <filter> ORDER BY k LIMIT 20) AS sales ORDER BY k

the Top N runs over the table's columns and the expressions over 20 rows (x10 TICKIT: 18 -> 6 ms
for the corpus's CONVERT_TIMEZONE query). The rows are the same: the inner query keeps N rows
in the query's order (a valid answer to the original among ties too), the outer one computes
and sorts them. Only the plain shape is rewritten: one table, no join, grouping, aggregate,
window, DISTINCT, subquery in the select list or order, and ORDER BY on the table's own columns.
"""

from __future__ import annotations

from sqlglot import exp

# every Select argument but these blocks the rewrite (sqlglot's names: `from_`, `with_`)
_ALLOWED = frozenset({"expressions", "from_", "from", "where", "order", "limit", "offset", "hint"})


# table functions that may stand in a select list and multiply its rows (topn_join.py too)
SET_RETURNING = frozenset({"unnest", "generate_series", "range", "generate_subscripts", "json_each",
                            "json_tree", "repeat_row"})  # fmt: skip


def defer_projection(tree: exp.Expression) -> bool:
    """Rewrite `tree` in place when it has the shape above; whether it did."""
    if not isinstance(tree, exp.Select) or any(
        v for k, v in tree.args.items() if k not in _ALLOWED
    ):
        return False
    source = tree.args.get("from_") or tree.args.get("from")  # sqlglot's name for FROM
    table = source.this if isinstance(source, exp.From) else None
    order, limit = tree.args.get("order"), tree.args.get("limit")
    if not isinstance(table, exp.Table) or not isinstance(table.this, exp.Identifier):
        return False
    if table.args.get("joins") or table.args.get("pivots") or table.args.get("sample"):
        return False
    if not isinstance(order, exp.Order) or not isinstance(limit, exp.Limit):
        return False
    name = table.alias_or_name
    selects = tree.expressions
    if not selects or not all(_plain(e, name) for e in selects):
        return False
    if all(isinstance(_unalias(e), exp.Column) for e in selects):
        return False  # nothing to defer (DuckDB's late materialization does the rest)
    aliases = {e.alias.lower(): _unalias(e) for e in selects if isinstance(e, exp.Alias)}
    for item in order.expressions:
        key = item.this if isinstance(item, exp.Ordered) else None
        if not isinstance(key, exp.Column) or not _own(key, name):
            return False
        same = aliases.get(key.name.lower())
        if same is not None and not (isinstance(same, exp.Column) and same.name == key.name):
            return False  # ORDER BY names an output column, not the table's
    inner = exp.Select(expressions=[exp.Star()]).from_(table.copy(), copy=False)
    for arg in ("where", "order", "limit", "offset"):
        if tree.args.get(arg) is not None:
            inner.set(arg, tree.args[arg].copy())
    tree.set("from_" if "from_" in tree.args else "from", exp.From(this=exp.Subquery(this=inner, alias=exp.TableAlias(
        this=exp.to_identifier(name, quoted=True)))))  # fmt: skip
    for arg in ("where", "limit", "offset"):
        tree.set(arg, None)
    return True


def _unalias(e: exp.Expression) -> exp.Expression:
    return e.this if isinstance(e, exp.Alias) else e


def _own(col: exp.Column, table: str) -> bool:
    """A column of the one table: unqualified or qualified by its name or alias only."""
    if col.args.get("db") or col.args.get("catalog"):
        return False
    return not col.table or col.table == table


def _plain(e: exp.Expression, table: str) -> bool:
    if isinstance(_unalias(e), exp.Star):
        return False
    for node in e.walk():
        if isinstance(node, exp.AggFunc | exp.Window | exp.Subquery | exp.Select | exp.Star):
            return False
        if isinstance(node, exp.UDTF | exp.Explode | exp.Unnest) or (
            isinstance(node, exp.Anonymous) and str(node.name).lower() in SET_RETURNING
        ):
            return False  # rows multiply after the LIMIT in the original: not the same rows
        if isinstance(node, exp.Column) and not _own(node, table):
            return False
    return True
