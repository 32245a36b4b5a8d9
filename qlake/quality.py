"""Data-quality rules: Great Expectations suites in ``expectations/`` with an action beside every rule.

A suite is a GX 1.x JSON file; each expectation's ``meta`` names the rule and its action:

- ``warn``: counted and reported, the row is kept;
- ``quarantine``: the failing rows go to ``silver.quarantine_<table>`` with the rule names, the rest go on;
- ``fail``: the run stops before anything is written (the expectation's ``mostly`` applies).

Every supported expectation type is compiled into a per-row Spark predicate from the *same* JSON: the gate of a
batch runs on these (rows routed to quarantine, ``fail`` rules counted with their ``mostly`` in one aggregate),
and Great Expectations validates the same batch for the record — ``ops.dq_results`` and Data Docs — off the run's
critical path (:mod:`qlake.quality_gx`). One definition of each rule, two evaluations that must agree: the run
compares them and tests check they do.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from functools import reduce
from typing import Any

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

ACTIONS = ("warn", "quarantine", "fail")


@dataclass(frozen=True)
class Rule:
    name: str
    action: str
    expectation_type: str
    kwargs: dict
    why: str = ""

    @property
    def column(self) -> str | None:
        return self.kwargs.get("column")

    @property
    def row_condition(self) -> str | None:
        cond = self.kwargs.get("row_condition")
        if isinstance(cond, dict):
            return cond.get("pass_through_filter")
        return cond or None


@dataclass
class RuleResult:
    rule: str
    action: str
    evaluated: int
    failed: int
    success: bool
    expectation_type: str
    column: str | None
    examples: list = field(default_factory=list)


class DataQualityFailure(RuntimeError):
    """A ``fail`` rule did not hold: nothing was written."""


def rules_from_suite(suite_json: dict) -> list[Rule]:
    rules = []
    for exp in suite_json["expectations"]:
        meta = exp.get("meta") or {}
        name, action = meta.get("rule"), meta.get("action")
        if not name or action not in ACTIONS:
            raise ValueError(
                f"suite {suite_json.get('name')}: expectation {exp['type']} on {exp['kwargs'].get('column')} "
                f"needs meta.rule and meta.action in {ACTIONS}"
            )
        rules.append(Rule(name, action, exp["type"], dict(exp["kwargs"]), meta.get("why", "")))
    names = [r.name for r in rules]
    dupes = {n for n in names if names.count(n) > 1}
    if dupes:
        raise ValueError(f"suite {suite_json.get('name')}: rule names must be unique, repeated: {sorted(dupes)}")
    return rules


def _resolve(value: Any, params: dict) -> Any:
    if isinstance(value, dict) and "$PARAMETER" in value:
        return params[value["$PARAMETER"]]
    return value


def _literal(value: Any) -> Column:
    if isinstance(value, str):
        try:
            return F.lit(date.fromisoformat(value))
        except ValueError:
            return F.lit(value)
    return F.lit(value)


def passes(rule: Rule, params: dict | None = None) -> Column:
    """A boolean column: True where the row satisfies ``rule`` (GX semantics: nulls pass every rule but
    not-null; rows outside the row_condition pass)."""
    params = {} if params is None else params
    kw = {k: _resolve(v, params) for k, v in rule.kwargs.items()}
    col = F.col(kw["column"]) if "column" in kw else None
    kind = rule.expectation_type
    if kind == "expect_column_values_to_not_be_null":
        check = col.isNotNull()
    elif kind == "expect_column_values_to_be_null":
        check = col.isNull()
    else:
        if kind == "expect_column_values_to_be_between":
            parts = []
            if kw.get("min_value") is not None:
                low = _literal(kw["min_value"])
                parts.append(col > low if kw.get("strict_min") else col >= low)
            if kw.get("max_value") is not None:
                high = _literal(kw["max_value"])
                parts.append(col < high if kw.get("strict_max") else col <= high)
            condition = reduce(lambda a, b: a & b, parts, F.lit(True))
        elif kind == "expect_column_values_to_match_regex":
            condition = col.rlike(kw["regex"])
        elif kind == "expect_column_values_to_not_match_regex":
            condition = ~col.rlike(kw["regex"])
        elif kind == "expect_column_values_to_be_in_set":
            condition = col.isin(list(kw["value_set"]))
        elif kind == "expect_column_values_to_not_be_in_set":
            condition = ~col.isin(list(kw["value_set"]))
        elif kind == "expect_column_value_lengths_to_be_between":
            condition = F.length(col).between(kw.get("min_value", 0), kw.get("max_value", 1 << 31))
        else:
            raise ValueError(f"rule {rule.name}: {kind} has no row-level form; use it with action 'fail' or 'warn'")
        check = col.isNull() | condition
    if rule.row_condition:
        check = ~F.coalesce(F.expr(rule.row_condition), F.lit(False)) | check
    return F.coalesce(check, F.lit(False))


def has_row_form(rule: Rule) -> bool:
    try:
        passes(rule, _Anything())
        return True
    except ValueError:
        return False


class _Anything(dict):
    def __missing__(self, key):  # any parameter value will do to build the expression
        return 0


def flag_rows(df: DataFrame, rules: list[Rule], params: dict | None = None) -> DataFrame:
    """Add ``_failed_rules`` (rules that route a row to quarantine) and ``_warned_rules`` (array<string>)."""
    def names(action: str) -> Column:
        selected = [r for r in rules if r.action == action and has_row_form(r)]
        if not selected:
            return F.array().cast("array<string>")
        return F.filter(
            F.array(*[F.when(~passes(r, params), F.lit(r.name)) for r in selected]),
            lambda x: x.isNotNull(),
        )

    return df.withColumn("_failed_rules", names("quarantine")).withColumn("_warned_rules", names("warn"))


def _domain(rule: Rule) -> Column:
    """The rows a rule judges, as GX counts them: those within its row_condition, and for every type but the
    null checks only those where the column is not null."""
    domain = F.lit(True)
    if rule.row_condition:
        domain = F.coalesce(F.expr(rule.row_condition), F.lit(False))
    if rule.column and "_be_null" not in rule.expectation_type:
        domain = domain & F.col(rule.column).isNotNull()
    return domain


def rule_counts(df: DataFrame, rules: list[Rule], params: dict | None = None,
                also: dict[str, Column] | None = None) -> tuple[list[RuleResult], dict]:
    """Every rule with a per-row form counted on ``df`` in one aggregate: rows judged, rows failed, and whether
    the rule holds (its ``mostly`` share of the judged rows passes; an empty domain passes, as in GX). ``also``:
    more aggregates the caller wants from the same pass (name -> column), returned by name."""
    counted, aggregates = _counting(rules, params)
    aggregates += [column.alias(name) for name, column in (also or {}).items()]
    if not aggregates:
        return [], {}
    row = df.agg(*aggregates).first()
    return _results(counted, row), {name: row[name] for name in (also or {})}


def rule_counts_by(df: DataFrame, rules: list[Rule], by: Column, params: dict | None = None
                   ) -> dict[Any, list[RuleResult]]:
    """:func:`rule_counts` of each ``by`` value's rows (one aggregate): a rule's ``mostly`` holds per group."""
    counted, aggregates = _counting(rules, params)
    if not aggregates:
        return {}
    return {row["_by"]: _results(counted, row) for row in df.groupBy(by.alias("_by")).agg(*aggregates).collect()}


def _counting(rules: list[Rule], params: dict | None) -> tuple[list[Rule], list[Column]]:
    """The rules with a per-row form and, for each, the aggregates of rows judged and rows failed."""
    counted = [r for r in rules if has_row_form(r)]
    aggregates = []
    for i, rule in enumerate(counted):
        domain = _domain(rule)
        aggregates += [F.count(F.when(domain, F.lit(1))).alias(f"_e{i}"),
                       F.count(F.when(domain & ~passes(rule, params), F.lit(1))).alias(f"_f{i}")]
    return counted, aggregates


def _results(counted: list[Rule], row) -> list[RuleResult]:
    results = []
    for i, rule in enumerate(counted):
        evaluated, failed = row[f"_e{i}"], row[f"_f{i}"]
        mostly = float(rule.kwargs.get("mostly", 1.0))
        success = evaluated == 0 or (evaluated - failed) / evaluated >= mostly
        results.append(RuleResult(rule.name, rule.action, evaluated, failed, success, rule.expectation_type,
                                  rule.column))
    return results


def raise_for_failures(table: str, results: list[RuleResult]) -> None:
    failures = [r for r in results if r.action == "fail" and not r.success]
    if failures:
        detail = "; ".join(
            f"{r.rule} ({r.expectation_type} on {r.column}): {r.failed} of {r.evaluated} rows failed"
            + (f", e.g. {r.examples[:3]}" if r.examples else "")
            for r in failures
        )
        raise DataQualityFailure(f"{table}: fail rule(s) broken, nothing written — {detail}")
