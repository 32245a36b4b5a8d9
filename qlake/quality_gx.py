"""Great Expectations: the suites' reference validation of each batch, its stored results and Data Docs.

GX takes ~2.7 s of CPU to import on this machine, more than the rest of an hourly run's Python work. Two things
keep it off the run's critical path:

- its heavy dependencies that validating and rendering these suites never touch (scipy's statistics, altair's
  chart schemas, IPython) are imported lazily (:func:`import_great_expectations`: 2.7 -> 1.8 s), and
- a run's batches are validated by :class:`Validator` in a worker process of their own (:mod:`qlake.gx_client`)
  while the run goes on with its writes; the gate itself runs on the compiled rules (:mod:`qlake.quality`), and
  the run waits for GX only at its end, to store ``ops.dq_results`` and render Data Docs.
"""

from __future__ import annotations

import importlib.util
import json
import logging
import os
import sys
import threading
import time
from datetime import date, datetime
from pathlib import Path

from pyspark.sql import DataFrame

from qlake import dq_assets, gx_store
from qlake.config import Settings
from qlake.quality import Rule, RuleResult, rules_from_suite

log = logging.getLogger(__name__)

# Imported by GX at start-up but only used by expectation types and renderers qlake's suites do not use.
_DEFERRED_IMPORTS = frozenset({"scipy", "scipy.stats", "scipy.special", "scipy.linalg", "altair", "IPython"})
_import_lock = threading.Lock()


class _Deferred:
    """An import hook handing out modules that load on first use (importlib.util.LazyLoader)."""

    def find_spec(self, name, path=None, target=None):
        if name not in _DEFERRED_IMPORTS:
            return None
        sys.meta_path.remove(self)
        try:
            spec = importlib.util.find_spec(name)
        finally:
            sys.meta_path.insert(0, self)
        if spec is None or spec.loader is None:
            return spec
        spec.loader = importlib.util.LazyLoader(spec.loader)
        return spec


def import_great_expectations():
    """``great_expectations``, imported once per process with its unused heavy dependencies deferred (they load
    if anything ever uses them)."""
    with _import_lock:
        if "great_expectations" not in sys.modules:
            os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
            hook = _Deferred()
            sys.meta_path.insert(0, hook)
            try:
                import great_expectations  # noqa: F401 - the heavy import this module exists for
            finally:
                sys.meta_path.remove(hook)
        return sys.modules["great_expectations"]


class Validator:
    """A GX file context under ``$QLAKE_HOME/dq`` whose expectations store is the repo's ``expectations/``.

    Lazy: Great Expectations is imported (:func:`import_great_expectations`) and its context opened on the first
    validation. Rules for the per-row predicates are read from the same suite files without GX. Used by one
    thread: the GX worker process validates and publishes one request at a time (:mod:`qlake.gx_worker`).
    """

    def __init__(self, cfg: Settings):
        self.cfg = cfg
        self._context = None
        self._unpublished: list = []

    @property
    def context(self):
        if self._context is None:
            logging.getLogger("great_expectations").setLevel(logging.ERROR)
            gx = import_great_expectations()
            Path(self.cfg.dq_dir).mkdir(parents=True, exist_ok=True)
            context = self._file_context(gx)
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
                context = self._file_context(gx)
            # GX rewrites its YAML config (in place, not atomically) whenever a datasource or asset is added:
            # only the first run adds them, so a run killed later cannot leave the config half written.
            try:
                self._datasource = context.data_sources.get("qlake")
            except KeyError:
                self._datasource = context.data_sources.add_spark(name="qlake")
            # Data Docs pages through views that compile their templates once per process (qlake.gx_views);
            # set in memory on every open, over whatever GX saved with its config.
            from qlake import gx_views

            for site in context.variables.config.data_docs_sites.values():
                site.update(gx_views.site_views())
            self._context = context
        return self._context

    def _file_context(self, gx):
        """GX's file context; a config a killed run left half written is set aside and made again.

        The config holds nothing but what this class writes into it (stores, progress bars, the ``qlake``
        datasource and its assets), so a fresh one loses nothing; results and Data Docs are separate files."""
        root = str(self.cfg.dq_dir)
        try:
            return gx.get_context(mode="file", project_root_dir=root)
        except Exception as exc:  # noqa: BLE001 - GX reports a broken YAML as marshmallow, YAML or pydantic errors
            config = gx_store.gx_root(self.cfg) / "great_expectations.yml"
            if not config.exists():
                raise
            aside = config.with_name(f"{config.name}.broken-{datetime.now():%Y%m%dT%H%M%S}")
            config.rename(aside)
            log.warning("Great Expectations' config was unreadable (%s: %s); kept as %s and made again",
                        type(exc).__name__, str(exc)[:200], aside)
            return gx.get_context(mode="file", project_root_dir=root)

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
        return str(gx_store.site_dir(self.cfg) / "index.html")

    def publish(self) -> str:
        """Render the Data Docs pages of the results validated since the last call (and the index); return the
        index path. Once per run: GX compiles its page templates on every build (~0.4 s). The pages are only
        the new results'; GX's index lists and loads every stored result, so the store keeps the latest runs
        (:mod:`qlake.gx_store`) and a build costs the same however long the lake has run."""
        if self._unpublished:
            started = time.time()
            site = gx_store.site_dir(self.cfg)
            gx_store.archive_old_results(gx_store.gx_root(self.cfg), site)  # before the index links them
            self.context.build_data_docs(resource_identifiers=self._unpublished)
            self._unpublished = []
            # after every build: GX writes its CDN links into the pages it (re)wrote each time
            dq_assets.localize_site(site, since=started)
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
        results = self.context.validation_results_store
        gx_store.store_result(gx_store.gx_root(self.cfg), results.key_to_tuple(key), results.serialize(validation))
        self._unpublished += [key, ExpectationSuiteIdentifier(name=suite_name)]
        _raise_for_errors(validation.results, table or suite_name)
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


def _raise_for_errors(results, table: str) -> None:
    """GX reports an expectation it could not compute (the batch unreadable, a metric query refused) as a failed
    expectation; stored as such, it would read as a broken rule. Raise it instead, naming the rule and why."""
    for r in results:
        info = r.exception_info or {}
        # one dict, or one per metric the expectation needed
        errors = [info] if "raised_exception" in info else [i for i in info.values() if isinstance(i, dict)]
        for error in errors:
            if error.get("raised_exception"):
                rule = (r.expectation_config.meta or {}).get("rule", r.expectation_config.type)
                message = (error.get("exception_message") or "no message").strip().splitlines()[0][:500]
                raise RuntimeError(f"{table}: rule {rule} could not be checked: {message}")


def _gx_params(params: dict) -> dict:
    return {k: (v.isoformat() if isinstance(v, (date, datetime)) else v) for k, v in params.items()}
