"""GX's validation results store keeps each suite's latest runs; older results and their pages are archived, not lost."""

from __future__ import annotations

import dataclasses
from datetime import datetime
from pathlib import Path

from qlake import dq_report, gx_store

SUITES = ("silver_branches", "silver_sales_agents")


def _lay_out(gx: Path, site: Path, runs: int) -> list[tuple[str, str]]:
    """``runs`` runs of each suite as GX lays out a result and its page; returns the (run id, suite) pairs."""
    made = []
    for hour in range(runs):
        run_id, at = f"silver-202612{hour + 1:02d}T0100Z-abcdef", f"202612{hour + 1:02d}T010002.000000Z"
        for suite in SUITES:
            relative = Path(suite, run_id, at, f"qlake-{suite}")
            result = gx_store.results_dir(gx) / relative.with_suffix(".json")
            result.parent.mkdir(parents=True)
            result.write_text("{}")
            page = site / "validations" / relative.with_suffix(".html")
            page.parent.mkdir(parents=True)
            page.write_text('<link href="../../../../static/vendor/bootstrap.min.css">')
            made.append((run_id, suite))
    return made


def test_old_runs_move_to_the_archive_with_their_pages(tmp_path):
    gx, site = tmp_path / "gx", tmp_path / "gx" / "uncommitted" / "data_docs" / "local_site"
    made = _lay_out(gx, site, runs=5)

    assert gx_store.archive_old_results(gx, site, keep=2) == 6  # 3 older runs x 2 suites
    for suite in SUITES:
        kept = sorted(p.name for p in (gx_store.results_dir(gx) / suite).glob("*/*"))
        assert kept == ["20261204T010002.000000Z", "20261205T010002.000000Z"]
        archived = sorted(p.name for p in (gx / "archive" / "validations" / suite).glob("*/*"))
        assert archived == [f"2026120{d}T010002.000000Z" for d in (1, 2, 3)]
        assert sorted(p.parent.name for p in (site / "validations" / suite).glob("*/*/*.html")) == kept
        assert not list((gx_store.results_dir(gx) / suite).glob("silver-20261201*"))  # emptied folders removed

    pages = dq_report.validation_pages(site)
    assert sorted(pages) == sorted(made)  # every run still has its page
    archived_page = pages[("silver-20261201T0100Z-abcdef", "silver_branches")]
    assert archived_page.relative_to(site).parts[0] == "archive"
    # Same depth as validations/: the page's relative links reach the site's assets.
    assert (archived_page.parent / "../../../../static").resolve() == (site / "static").resolve()

    assert gx_store.archive_old_results(gx, site, keep=2) == 0  # nothing more to move


def test_a_store_within_its_runs_is_left_alone(tmp_path):
    gx, site = tmp_path / "gx", tmp_path / "site"
    _lay_out(gx, site, runs=3)
    assert gx_store.archive_old_results(gx, site, keep=3) == 0
    assert len(list(gx_store.results_dir(gx).glob("*/*/*/*.json"))) == 6
    assert gx_store.archive_old_results(tmp_path / "no-gx-yet", site) == 0


def test_a_config_a_killed_run_left_half_written_is_made_again(spark, cfg, tmp_path):
    """GX writes its YAML config in place; a run killed mid-write must not stop every later run (it did:
    'Error while processing DataContextConfig: _schema'). The broken file is kept aside. ``spark``: adding GX's
    Spark datasource takes the process's session, the Connect one as in the worker; without one GX starts a
    classic session, and no Connect session can start in this process after it."""
    from qlake.quality_gx import Validator

    own = dataclasses.replace(cfg, home=str(tmp_path / "lake"))
    _ = Validator(own).datasource  # the first run writes the config
    config = gx_store.gx_root(own) / "great_expectations.yml"
    whole = config.read_text()
    config.write_text(whole[: len(whole) // 2])

    reopened = Validator(own)
    assert reopened.datasource.name == "qlake"
    assert [p.read_text() for p in config.parent.glob("great_expectations.yml.broken-*")] == [whole[: len(whole) // 2]]
    mtime = config.stat().st_mtime_ns
    _ = Validator(own).datasource  # a later run reads the config and writes nothing
    assert config.stat().st_mtime_ns == mtime


def test_a_result_is_written_whole_where_gx_reads_it(spark, cfg, tmp_path):
    from great_expectations.core import ExpectationSuiteValidationResult
    from great_expectations.core.run_identifier import RunIdentifier
    from great_expectations.data_context.types.resource_identifiers import (
        ExpectationSuiteIdentifier,
        ValidationResultIdentifier,
    )

    from qlake.quality_gx import Validator

    own = dataclasses.replace(cfg, home=str(tmp_path / "lake"))
    store = Validator(own).context.validation_results_store
    key = ValidationResultIdentifier(
        expectation_suite_identifier=ExpectationSuiteIdentifier(name="silver_branches"),
        run_id=RunIdentifier(run_name="silver-20261207T0100Z-abcdef", run_time=datetime(2026, 12, 7, 1, 0, 2)),
        batch_identifier="qlake-silver_branches",
    )
    result = ExpectationSuiteValidationResult(success=True, results=[], suite_name="silver_branches")
    path = gx_store.store_result(gx_store.gx_root(own), store.key_to_tuple(key), store.serialize(result))

    assert path == gx_store.results_dir(gx_store.gx_root(own)) / (
        "silver_branches/silver-20261207T0100Z-abcdef/20261207T010002.000000Z/qlake-silver_branches.json")
    assert store.list_keys() == [key]
    assert store.get(key).success is True and store.get(key).suite_name == "silver_branches"
    assert [p.name for p in path.parent.iterdir()] == [path.name]  # no temporary file left
