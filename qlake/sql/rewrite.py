"""Rewrites of Spark SQL constructs the embedded engine (Sail 0.7) cannot plan into equivalent SQL it can.

Each rewrite keeps Spark's semantics and column names; a construct none of them covers is left as written, so
the engine's own error (or the classic-Spark path) answers it — never a silently different query.

- ``ORDER BY <aggregate>`` in an aggregate query (the aggregate not selected, or spelt differently): the order
  keys become hidden columns of the query, an outer query sorts on them, and the caller drops them.
- ``QUALIFY cond``: ``cond`` (select aliases expanded) becomes a hidden column; an outer query keeps the rows
  where it holds, then applies the original ORDER BY / LIMIT / OFFSET.
- ``PIVOT (agg [AS a], ... FOR col IN (v [AS n], ...))``: conditional aggregation, ``agg(IF(col <=> v, x,
  NULL))`` grouped by the source's other columns, columns named as Spark names them (``n``, or ``n_a`` with
  several aggregates).
- ``UNPIVOT [INCLUDE|EXCLUDE NULLS] (v FOR k IN (c [AS n], ...))``: one ``UNION ALL`` branch per column.
- ``percentile_approx(x, p)`` (Sail interpolates between rows): the group's value at rank ``ceil(p * n)``, which
  is what Spark's approximation returns while a group has fewer rows than its accuracy (10000 by default).

sqlglot is imported here only, and :mod:`qlake.sql` imports this module only for a statement that mentions one
of these constructs: a plain query never pays the ~0.06 s import.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import sqlglot
from sqlglot import exp

HIDDEN = "__qlake_h"
DIALECT = "spark"


@dataclass
class Rewritten:
    sql: str
    hidden: list[str] = field(default_factory=list)  # columns the caller drops from the result
    notes: list[str] = field(default_factory=list)  # what was rewritten, for `-- rewritten: ...`


def parse(statement: str) -> exp.Expression:
    return sqlglot.parse_one(statement, read=DIALECT)


def rewrite(statement: str, columns_of: Callable[[str], list[str]]) -> Rewritten:
    """The statement in SQL the embedded engine plans. ``columns_of(sql)`` returns a query's column names
    (asked of the engine; needed for PIVOT/UNPIVOT over a table or ``*``)."""
    tree = parse(statement)
    notes: list[str] = []
    for pivot in list(tree.find_all(exp.Pivot)):
        _replace_pivot(pivot, columns_of, notes)
    if any(True for _ in tree.find_all(exp.ApproxQuantile, exp.WithinGroup)):
        for select in tree.find_all(exp.Select):
            for item in select.expressions:
                if isinstance(item, (exp.ApproxQuantile, exp.WithinGroup)):  # keep the name Spark gives it
                    item.replace(exp.alias_(item.copy(), _spark_name(item), quoted=True))
        tree = tree.transform(_exact_percentile)
        notes.append("percentiles as the rows' value at rank ceil(p * n) (the embedded engine interpolates "
                     "percentile_approx and percentile_disc; Spark's approximation returns this same value while a "
                     "group has fewer rows than its accuracy, 10000 by default)")
    hidden: list[str] = []
    top = tree
    if isinstance(top, exp.Select):
        if top.args.get("qualify") is not None:
            top = _qualify(top, hidden)
            notes.append("QUALIFY as a filter over the window")
        elif _orders_by_aggregate(top):
            top = _order_by_hidden(top, hidden)
            notes.append("ORDER BY an aggregate as a hidden column")
    if not notes:
        return Rewritten(statement)
    return Rewritten(top.sql(dialect=DIALECT), hidden, notes)


# ---- ORDER BY / QUALIFY -------------------------------------------------------------------------------------------
def _output_names(select: exp.Select) -> list[str]:
    return [e.alias_or_name for e in select.expressions if isinstance(e, (exp.Alias, exp.Column))]


def _orders_by_aggregate(select: exp.Select) -> bool:
    order = select.args.get("order")
    if order is None or select.args.get("distinct"):
        return False
    return any(o.find(exp.AggFunc) is not None for o in order.expressions)


def _hide(select: exp.Select, expression: exp.Expression, hidden: list[str]) -> exp.Column:
    name = f"{HIDDEN}{len(hidden)}"
    hidden.append(name)
    select.append("expressions", exp.alias_(expression, name))
    return exp.column(name)


def _outer_order(inner: exp.Select, order: exp.Order | None, hidden: list[str]) -> exp.Order | None:
    """The ORDER BY of the outer query: keys that name an output column stay, the rest become hidden columns."""
    if order is None:
        return None
    names = _output_names(inner)
    rebuilt = []
    for ordered in order.expressions:
        key = ordered.this
        if isinstance(key, exp.Column) and names.count(key.name) == 1:
            new_key = exp.column(key.name, quoted=key.this.quoted)
        elif isinstance(key, exp.Literal) and not key.is_string:  # ordinal: hidden columns come last
            new_key = key.copy()
        else:
            new_key = _hide(inner, _expand_aliases(key.copy(), inner), hidden)
        copy = ordered.copy()
        copy.set("this", new_key)
        rebuilt.append(copy)
    return exp.Order(expressions=rebuilt)


def _wrap(inner: exp.Select, order, limit, offset, where=None) -> exp.Select:
    outer = exp.select("*").from_(exp.Subquery(this=inner, alias=exp.TableAlias(this=exp.to_identifier("__qlake_q"))))
    if where is not None:
        outer = outer.where(where)
    if order is not None:
        outer.set("order", order)
    if limit is not None:
        outer.set("limit", limit)
    if offset is not None:
        outer.set("offset", offset)
    return outer


def _detach(select: exp.Select, *keys: str) -> list:
    parts = []
    for key in keys:
        parts.append(select.args.get(key))
        select.set(key, None)
    return parts


def _order_by_hidden(select: exp.Select, hidden: list[str]) -> exp.Select:
    inner = select.copy()
    order, limit, offset = _detach(inner, "order", "limit", "offset")
    return _wrap(inner, _outer_order(inner, order, hidden), limit, offset)


def _expand_aliases(expression: exp.Expression, select: exp.Select) -> exp.Expression:
    """Replace references to the select list's aliases by the aliased expressions (QUALIFY may use them)."""
    aliases = {e.alias: e.this for e in select.expressions if isinstance(e, exp.Alias)}

    def swap(node):
        if isinstance(node, exp.Column) and not node.table and node.name in aliases:
            return aliases[node.name].copy()
        return node

    return expression.transform(swap)


def _qualify(select: exp.Select, hidden: list[str]) -> exp.Select:
    inner = select.copy()
    qualify, order, limit, offset = _detach(inner, "qualify", "order", "limit", "offset")
    keep = _hide(inner, _expand_aliases(qualify.this.copy(), inner), hidden)
    return _wrap(inner, _outer_order(inner, order, hidden), limit, offset, where=keep)


# ---- percentile_approx -------------------------------------------------------------------------------------------
def _exact_percentile(node: exp.Expression) -> exp.Expression:
    """percentile_approx(x, p) / percentile_disc(p) WITHIN GROUP (ORDER BY x) -> the smallest x with at least p
    of the group's non-null rows at or below it (the value at rank ceil(p * n)), NULL for an empty group:
    Spark's answer, exactly (below its accuracy for percentile_approx). percentile_cont -> percentile(x, p),
    Spark's own name for it (sqlglot would print both WITHIN GROUP forms as percentile_approx)."""
    if isinstance(node, exp.WithinGroup) and isinstance(node.this, (exp.PercentileDisc, exp.PercentileCont)):
        (ordered,) = node.expression.expressions
        quantile, descending = node.this.this, bool(ordered.args.get("desc"))
        if isinstance(node.this, exp.PercentileCont):
            if descending:
                quantile = exp.Sub(this=exp.Literal.number(1), expression=exp.Paren(this=quantile.copy()))
            return exp.Anonymous(this="percentile", expressions=[ordered.this.copy(), quantile])
        return exp.Cast(this=_value_at_rank(ordered.this, quantile, descending), to=exp.DataType.build("double"))
    if not isinstance(node, exp.ApproxQuantile):
        return node
    value, quantile = node.this, node.args["quantile"]
    quantiles = quantile.expressions if isinstance(quantile, exp.Array) else [quantile]
    picks = [_value_at_rank(value, q) for q in quantiles]
    return exp.Array(expressions=picks) if isinstance(quantile, exp.Array) else picks[0]


def _spark_name(node: exp.Expression) -> str:
    if isinstance(node, exp.WithinGroup):
        (ordered,) = node.expression.expressions
        kind = "percentile_cont" if isinstance(node.this, exp.PercentileCont) else "percentile_disc"
        order = ordered.this.sql(dialect=DIALECT) + (" DESC" if ordered.args.get("desc") else "")
        return f"{kind}({node.this.this.sql(dialect=DIALECT)}) WITHIN GROUP (ORDER BY {order})"
    accuracy = node.args.get("accuracy")
    args = [node.this.sql(dialect=DIALECT), node.args["quantile"].sql(dialect=DIALECT).lower(),
            accuracy.sql(dialect=DIALECT) if accuracy is not None else "10000"]
    return f"percentile_approx({', '.join(args)})"


def _value_at_rank(value: exp.Expression, quantile: exp.Expression, descending: bool = False) -> exp.Expression:
    x, p = value.sql(dialect=DIALECT), quantile.sql(dialect=DIALECT)
    rows = f"array_sort(collect_list({x}))"
    rank = f"ceil(({p}) * count({x}))"
    if descending:  # rank ceil(p * n) from the top of the ascending rows
        rank = f"count({x}) + 1 - {rank}"
    sql = f"CASE WHEN count({x}) = 0 THEN NULL ELSE element_at({rows}, CAST(greatest(1, {rank}) AS INT)) END"
    return sqlglot.parse_one(sql, read=DIALECT)


# ---- PIVOT / UNPIVOT ----------------------------------------------------------------------------------------------
def _source_sql(source: exp.Expression) -> str:
    copy = source.copy()
    copy.set("pivots", None)
    copy.set("alias", None)
    return copy.sql(dialect=DIALECT)


def _source_columns(source: exp.Expression, columns_of) -> list[str]:
    if isinstance(source, exp.Subquery) and isinstance(source.this, exp.Select) and not any(
            isinstance(e, exp.Star) or (isinstance(e, exp.Column) and isinstance(e.this, exp.Star))
            for e in source.this.expressions):
        return _output_names(source.this) if len(_output_names(source.this)) == len(source.this.expressions) \
            else columns_of(f"SELECT * FROM {_source_sql(source)} AS __qlake_s")
    return columns_of(f"SELECT * FROM {_source_sql(source)} AS __qlake_s")


def _value_name(value: exp.Expression) -> str:
    if isinstance(value, exp.PivotAlias):
        return value.alias
    if isinstance(value, exp.Boolean):
        return "true" if value.this else "false"
    if isinstance(value, exp.Literal):
        return value.this
    if isinstance(value, exp.Null):
        return "null"
    return value.sql(dialect=DIALECT)


def _replace_pivot(pivot: exp.Pivot, columns_of, notes: list[str]) -> None:
    source = pivot.parent
    columns = _source_columns(source, columns_of)
    subquery_alias = pivot.alias or (source.alias if source.alias else "__qlake_p")
    if pivot.args.get("unpivot"):
        replacement = _unpivot(pivot, source, columns)
        notes.append("UNPIVOT as UNION ALL")
    else:
        replacement = _pivot(pivot, source, columns)
        notes.append("PIVOT as conditional aggregation")
    source.replace(exp.Subquery(this=replacement, alias=exp.TableAlias(this=exp.to_identifier(subquery_alias))))


def _pivot(pivot: exp.Pivot, source, columns: list[str]) -> exp.Expression:
    (field_in,) = pivot.args["fields"]
    pivot_col = field_in.this
    aggregates = pivot.expressions
    used = {c.name for a in aggregates for c in a.find_all(exp.Column)} | {pivot_col.name}
    group = [c for c in columns if c not in used]
    select = exp.select(*[exp.column(c, quoted=True) for c in group]).from_(
        exp.Subquery(this=parse(f"SELECT * FROM {_source_sql(source)}"), alias=exp.TableAlias(
            this=exp.to_identifier("__qlake_s"))))
    for value in field_in.expressions:
        literal = value.this if isinstance(value, exp.PivotAlias) else value
        condition = exp.NullSafeEQ(this=pivot_col.copy(), expression=literal.copy())
        for aggregate in aggregates:
            agg = aggregate.this if isinstance(aggregate, exp.Alias) else aggregate
            name = _value_name(value)
            if len(aggregates) > 1:
                suffix = aggregate.alias if isinstance(aggregate, exp.Alias) else agg.sql(dialect=DIALECT)
                name = f"{name}_{suffix}"
            select = select.select(exp.alias_(_conditional(agg.copy(), condition), name, quoted=True))
    if group:
        select = select.group_by(*[exp.column(c, quoted=True) for c in group])
    return select


def _conditional(aggregate: exp.Expression, condition: exp.Expression) -> exp.Expression:
    """agg(x) -> agg(IF(cond, x, NULL)); count(*) -> count(IF(cond, 1, NULL)) (Spark's own pivot expansion)."""
    for func in aggregate.find_all(exp.AggFunc):
        arg = func.this
        if isinstance(arg, exp.Star) or arg is None:
            arg = exp.Literal.number(1)
        elif isinstance(arg, exp.Distinct):
            arg.set("expressions", [exp.If(this=condition.copy(), true=e, false=exp.Null())
                                    for e in arg.expressions])
            continue
        func.set("this", exp.If(this=condition.copy(), true=arg.copy(), false=exp.Null()))
    return aggregate


def _unpivot(pivot: exp.Pivot, source, columns: list[str]) -> exp.Expression:
    (value_id,) = pivot.expressions
    (field_in,) = pivot.args["fields"]
    name_id = field_in.this
    items = [(v.this if isinstance(v, exp.PivotAlias) else v, _value_name(v) if isinstance(v, exp.PivotAlias)
              else v.name) for v in field_in.expressions]
    unpivoted = {column.name for column, _ in items}
    ids = [c for c in columns if c not in unpivoted]
    branches = []
    for column, label in items:
        branch = exp.select(*[exp.column(c, quoted=True) for c in ids],
                            exp.alias_(exp.Literal.string(label), name_id.name, quoted=True),
                            exp.alias_(exp.column(column.name, quoted=True), value_id.name, quoted=True)).from_(
            exp.Subquery(this=parse(f"SELECT * FROM {_source_sql(source)}"),
                         alias=exp.TableAlias(this=exp.to_identifier("__qlake_s"))))
        if not pivot.args.get("include_nulls"):
            branch = branch.where(exp.column(column.name, quoted=True).is_(exp.Null()).not_())
        branches.append(branch)
    union = branches[0]
    for branch in branches[1:]:
        union = exp.union(union, branch, distinct=False)
    return union
