"""Data-quality rules: Great Expectations suites in ``expectations/`` with an action beside every rule.

A suite is a GX 1.x JSON file; each expectation's ``meta`` names the rule and its action:

- ``warn``: counted and reported, the row is kept;
- ``quarantine``: the failing rows go to ``silver.quarantine_<table>`` with the rule names, the rest go on;
- ``fail``: the run stops before anything is written (the expectation's ``mostly`` applies).

GX validates each batch on the Spark Connect DataFrame (counts, Data Docs). Routing single rows needs a per-row
predicate, so every supported expectation type is also compiled into a Spark column from the *same* JSON: one
definition of each rule, two evaluations that must agree (tests check they do).
"""

from __future__ import annotations

import json
import logging
import os
import time
from dataclasses import dataclass, field
from datetime import date, datetime
from functools import reduce
from pathlib import Path
from typing import Any

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from qlake import dq_assets
from qlake.config import Settings

ACTIONS = ("warn", "quarantine", "fail")
log = logging.getLogger(__name__)


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


# ---- Great Expectations -------------------------------------------------------------------------------------------
class Validator:
    """A GX file context under ``$QLAKE_HOME/dq`` whose expectations store is the repo's ``expectations/``.

    Lazy: Great Expectations is imported (seconds) and its context opened on the first validation, so a job can
    do its engine work while :func:`preload` imports it in the background. Rules for the per-row predicates are
    read from the same suite files without GX.
    """

    def __init__(self, cfg: Settings):
        self.cfg = cfg
        self._context = None
        self._unpublished: list = []

    @property
    def context(self):
        if self._context is None:
            os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
            logging.getLogger("great_expectations").setLevel(logging.ERROR)
            import great_expectations as gx  # seconds to import: only when a batch is validated

            root = Path(self.cfg.dq_dir)
            root.mkdir(parents=True, exist_ok=True)
            context = gx.get_context(mode="file", project_root_dir=str(root))
            store = context.variables.config.stores["expectations_store"]["store_backend"]
            progress = context.variables.progress_bars
            if progress is None:
                progress_on = True
            elif isinstance(progress, dict):
                progress_on = progress.get("globally", True)
            else:
                progress_on = progress.globally
            if store.get("base_directory") != str(self.cfg.expectations_dir) or progress_on:
                store["base_directory"] = str(self.cfg.expectations_dir)
                from great_expectations.data_context.types.base import ProgressBarsConfig

                context.variables.progress_bars = ProgressBarsConfig(globally=False)
                context.variables.save()
                context = gx.get_context(mode="file", project_root_dir=str(root))
            self._datasource = context.data_sources.add_or_update_spark(name="qlake")
            self._context = context
        return self._context

    @property
    def datasource(self):
        _ = self.context
        return self._datasource

    def rules(self, suite_name: str) -> list[Rule]:
        """The suite's rules, read from its JSON file in the expectations folder (the file GX loads too)."""
        path = Path(self.cfg.expectations_dir, f"{suite_name}.json")
        return rules_from_suite(json.loads(path.read_text(encoding="utf-8")))

    @property
    def docs_index(self) -> str:
        return str(Path(self.cfg.dq_dir, "gx", "uncommitted", "data_docs", "local_site", "index.html"))

    def publish(self) -> str:
        """Render the Data Docs pages of the results validated since the last call (and the index); return the
        index path. Once per run: GX compiles its page templates on every build (~0.4 s), and rendering only the
        new results keeps the cost flat however many hourly results the store holds."""
        if self._unpublished:
            started = time.time()
            self.context.build_data_docs(resource_identifiers=self._unpublished)
            self._unpublished = []
            # after every build: GX writes its CDN links into the pages it (re)wrote each time
            dq_assets.localize_site(Path(self.docs_index).parent, since=started)
        return self.docs_index

    def validate(self, df: DataFrame, suite_name: str, run_name: str, params: dict | None = None,
                 table: str | None = None) -> list[RuleResult]:
        """Validate ``df`` (the batch of ``table``) with the suite and store the result (:meth:`publish` renders
        it); return per-rule results.

        Validates the batch directly rather than through a ValidationDefinition/Checkpoint: those save the
        suite back to the expectations store, i.e. rewrite the repo's JSON files on every run (and a run killed
        mid-write would leave a truncated suite). The suite is only ever read here.
        """
        from great_expectations.core.run_identifier import RunIdentifier
        from great_expectations.data_context.types.resource_identifiers import (
            ExpectationSuiteIdentifier,
            ValidationResultIdentifier,
        )

        suite = self.context.suites.get(suite_name)
        datasource = self.datasource
        try:
            asset = datasource.get_asset(suite_name)
        except LookupError:
            asset = datasource.add_dataframe_asset(name=suite_name)
        try:
            batch_definition = asset.get_batch_definition("whole")
        except (KeyError, LookupError):
            batch_definition = asset.add_batch_definition_whole_dataframe("whole")
        batch = batch_definition.get_batch(batch_parameters={"dataframe": df})
        validation = batch.validate(suite, result_format="SUMMARY",
                                    expectation_parameters=_gx_params(params or {}))
        run_id = RunIdentifier(run_name=run_name, run_time=datetime.now())
        validation.meta["run_id"] = run_id
        # GX's validation page reads the asset from the batch spec, which a dataframe batch leaves empty
        # ("Data asset: None"); name the table so the page says what was checked.
        batch_spec = dict(validation.meta.get("batch_spec") or {})
        batch_spec["data_asset_name"] = table or suite_name
        validation.meta["batch_spec"] = batch_spec
        key = ValidationResultIdentifier(
            expectation_suite_identifier=ExpectationSuiteIdentifier(name=suite_name),
            run_id=run_id,
            batch_identifier=batch.id,
        )
        self.context.validation_results_store.set(key, validation)
        self._unpublished += [key, ExpectationSuiteIdentifier(name=suite_name)]
        out = []
        for r in validation.results:
            meta = r.expectation_config.meta or {}
            res = r.result or {}
            evaluated = res.get("element_count")
            if evaluated is not None and res.get("missing_count") and "not_be_null" not in r.expectation_config.type:
                evaluated -= res["missing_count"]
            failed = res.get("unexpected_count")
            if failed is None:  # aggregate expectations report an observed value, not a count
                failed = 0 if r.success else 1
            out.append(
                RuleResult(
                    rule=meta.get("rule", r.expectation_config.type),
                    action=meta.get("action", "warn"),
                    evaluated=int(evaluated if evaluated is not None else 0),
                    failed=int(failed),
                    success=bool(r.success),
                    expectation_type=r.expectation_config.type,
                    column=r.expectation_config.kwargs.get("column"),
                    examples=list(res.get("partial_unexpected_list") or [])[:5],
                )
            )
        return out


def _gx_params(params: dict) -> dict:
    return {k: (v.isoformat() if isinstance(v, (date, datetime)) else v) for k, v in params.items()}


def raise_for_failures(table: str, results: list[RuleResult]) -> None:
    failures = [r for r in results if r.action == "fail" and not r.success]
    if failures:
        detail = "; ".join(
            f"{r.rule} ({r.expectation_type} on {r.column}): {r.failed} of {r.evaluated} rows failed"
            + (f", e.g. {r.examples[:3]}" if r.examples else "")
            for r in failures
        )
        raise DataQualityFailure(f"{table}: fail rule(s) broken, nothing written — {detail}")
