"""The column names Spark gives unaliased expressions the embedded engine names otherwise.

Sail (0.7) names a window expression after its function alone (``sum(x)`` for Spark's ``sum(x) OVER (PARTITION BY
y ROWS BETWEEN UNBOUNDED PRECEDING AND UNBOUNDED FOLLOWING)``), ``x IS NULL`` ``is_null``, ``x IN (1, 2)``
``in_list`` and ``x BETWEEN 1 AND 2`` ``between``; two window columns over the same function then even share a
name, and a function call keeps the case it was written in (``SUM(x)``). :func:`spark_columns` renames the result's
columns after the statement ran (the statement itself runs unchanged) to the names Spark's analyzer writes out
for the parsed projections (measured against Spark 4.2; ``tests/sql/corpus.sql`` compares both on every run):
functions by their pretty name, literals bare, every operator in parentheses, window frames spelt out with
Spark's defaults. A projection holding anything not covered here keeps the engine's name (README "SQL", what
differs) — never a guessed one.
"""

from __future__ import annotations

from sqlglot import exp

_SET_OPERATION = (getattr(exp, "SetOperation", exp.Union), exp.Union, exp.Except, exp.Intersect)

_BINARY = {
    exp.Add: "+", exp.Sub: "-", exp.Mul: "*", exp.Div: "/", exp.Mod: "%", exp.EQ: "=", exp.LT: "<", exp.LTE: "<=",
    exp.GT: ">", exp.GTE: ">=", exp.NullSafeEQ: "<=>", exp.And: "AND", exp.Or: "OR",
}
# Spark's pretty names; the ranking functions print in capitals.
_FUNCTIONS = {
    exp.Sum: "sum", exp.Avg: "avg", exp.Min: "min", exp.Max: "max", exp.Count: "count", exp.Upper: "upper",
    exp.Lower: "lower", exp.Abs: "abs", exp.Coalesce: "coalesce", exp.FirstValue: "first_value",
    exp.LastValue: "last_value", exp.Ntile: "ntile", exp.RowNumber: "row_number", exp.CumeDist: "cume_dist",
    exp.Rank: "RANK", exp.DenseRank: "DENSE_RANK", exp.PercentRank: "PERCENT_RANK",
}
_ANONYMOUS = {"mean", "median", "stddev", "variance", "any_value"}  # Spark names these as they are called
# Frames Spark fills in when a window names none but orders its rows (without ORDER BY: the whole partition).
_ROW_FRAMED = (exp.Rank, exp.DenseRank, exp.PercentRank, exp.RowNumber, exp.Ntile)
_WHOLE_PARTITION = "ROWS BETWEEN UNBOUNDED PRECEDING AND UNBOUNDED FOLLOWING"
_UP_TO_ROW = "BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW"


class _Unknown(Exception):
    """An expression this module does not know how Spark names."""


def spark_columns(tree: exp.Expression, columns: list[str]) -> list[str] | None:
    """The result's column names as Spark gives them: ``columns`` (the engine's) with each unaliased top-level
    projection this module knows named as Spark names it. None when the projections are not the columns one to
    one (a ``*``)."""
    while isinstance(tree, _SET_OPERATION):  # a UNION's columns are named by its first query
        tree = tree.this
    if isinstance(tree, exp.Subquery):
        tree = tree.unnest()
    if not isinstance(tree, exp.Select):
        return None
    items = tree.expressions
    if len(items) != len(columns) or any(item.is_star for item in items):
        return None
    named = []
    for item, column in zip(items, columns):
        try:
            named.append(column if isinstance(item, (exp.Alias, exp.Column)) else spark_name(item))
        except _Unknown:
            named.append(column)
    return named


def spark_name(node: exp.Expression) -> str:
    """Spark's auto-generated name of ``node`` (raises :class:`_Unknown` for what is not covered)."""
    if isinstance(node, exp.Paren):
        return spark_name(node.this)
    if isinstance(node, exp.Column) and isinstance(node.this, exp.Identifier):
        return node.name
    if isinstance(node, exp.Literal):
        if node.is_string or node.this.replace(".", "", 1).isdigit():
            return node.this
        raise _Unknown(node)
    if isinstance(node, exp.Null):
        return "NULL"
    if isinstance(node, exp.Boolean):
        return "true" if node.this else "false"
    if type(node) in _BINARY:
        return f"({spark_name(node.this)} {_BINARY[type(node)]} {spark_name(node.expression)})"
    if isinstance(node, exp.NEQ):
        return f"(NOT ({spark_name(node.this)} = {spark_name(node.expression)}))"
    if isinstance(node, exp.Neg):
        if isinstance(node.this, exp.Literal) and not node.this.is_string:
            return f"-{spark_name(node.this)}"  # Spark's parser reads -1 as one literal
        return f"(- {spark_name(node.this)})"
    if isinstance(node, exp.Is) and isinstance(node.expression, exp.Null):
        return f"({spark_name(node.this)} IS NULL)"
    if isinstance(node, exp.Not):
        if isinstance(node.this, exp.Is) and isinstance(node.this.expression, exp.Null):  # x IS NOT NULL
            return f"({spark_name(node.this.this)} IS NOT NULL)"
        return f"(NOT {spark_name(node.this)})"
    if isinstance(node, exp.In) and not node.args.get("query") and not node.args.get("unnest"):
        return f"({spark_name(node.this)} IN ({_list(node.expressions)}))"
    if isinstance(node, exp.Between):
        return f"between({spark_name(node.this)}, {spark_name(node.args['low'])}, {spark_name(node.args['high'])})"
    if isinstance(node, exp.Window):
        return _window(node)
    return _function(node)


def _list(nodes) -> str:
    return ", ".join(spark_name(node) for node in nodes)


def _function(node: exp.Expression) -> str:
    if isinstance(node, exp.Anonymous) and node.name.lower() in _ANONYMOUS:
        return f"{node.name.lower()}({_list(node.expressions)})"
    if type(node) not in _FUNCTIONS:
        raise _Unknown(node)
    name = _FUNCTIONS[type(node)]
    if isinstance(node, exp.Count):
        argument = node.this
        if isinstance(argument, exp.Star) or argument is None:
            return "count(1)"
        if isinstance(argument, exp.Distinct):
            return f"count(DISTINCT {_list(argument.expressions)})"
    if isinstance(node, (exp.FirstValue, exp.LastValue)) and node.args.get("ignore_nulls"):
        raise _Unknown(node)
    arguments = [argument for argument in (node.this, *node.expressions) if argument is not None]
    return f"{name}({_list(arguments)})"


def _window(window: exp.Window) -> str:
    function = window.this
    if window.args.get("alias") or not window.args.get("over") or isinstance(function, (exp.IgnoreNulls,
                                                                                       exp.RespectNulls)):
        raise _Unknown(window)  # a named window or a null treatment: not covered
    parts = []
    if window.args.get("partition_by"):
        parts.append(f"PARTITION BY {_list(window.args['partition_by'])}")
    order = window.args.get("order")
    if order is not None:
        parts.append("ORDER BY " + ", ".join(_ordered(o) for o in order.expressions))
    if isinstance(function, (exp.Lag, exp.Lead)):
        offset = function.args.get("offset")
        steps = int(offset.this) if offset is not None and offset.is_int else (1 if offset is None else None)
        if steps is None or window.args.get("spec") is not None:
            raise _Unknown(window)
        default = function.args.get("default")
        name = "lag" if isinstance(function, exp.Lag) else "lead"
        rendered = f"{name}({spark_name(function.this)}, {steps}, {'NULL' if default is None else spark_name(default)})"
        at = -steps if isinstance(function, exp.Lag) else steps
        parts.append(f"ROWS BETWEEN {at} FOLLOWING AND {at} FOLLOWING")
        return f"{rendered} OVER ({' '.join(parts)})"
    rendered = spark_name(function)
    spec = window.args.get("spec")
    if spec is not None:
        parts.append(_frame(spec))
    elif order is None:
        parts.append(_WHOLE_PARTITION)
    else:
        parts.append(("ROWS " if isinstance(function, _ROW_FRAMED) else "RANGE ") + _UP_TO_ROW)
    return f"{rendered} OVER ({' '.join(parts)})"


def _ordered(ordered: exp.Ordered) -> str:
    descending = bool(ordered.args.get("desc"))
    nulls_first = ordered.args.get("nulls_first")
    if nulls_first is None:
        nulls_first = not descending  # Spark: NULLs are the smallest values
    return f"{spark_name(ordered.this)} {'DESC' if descending else 'ASC'} NULLS {'FIRST' if nulls_first else 'LAST'}"


def _frame(spec: exp.WindowSpec) -> str:
    kind = str(spec.args.get("kind") or "").upper()
    if kind not in ("ROWS", "RANGE") or spec.args.get("exclude"):
        raise _Unknown(spec)
    start = _bound(spec.args.get("start"), spec.args.get("start_side"))
    end = _bound(spec.args.get("end"), spec.args.get("end_side")) if spec.args.get("end") else "CURRENT ROW"
    return f"{kind} BETWEEN {start} AND {end}"


def _bound(value, side) -> str:
    text = value.sql() if isinstance(value, exp.Expression) else str(value or "")
    if text.upper() == "CURRENT ROW":
        return "CURRENT ROW"
    if text.upper() == "UNBOUNDED" and side:
        return f"UNBOUNDED {str(side).upper()}"
    if text.isdigit() and side:
        return f"{text} {str(side).upper()}"
    raise _Unknown(value)
