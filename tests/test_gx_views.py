"""Data Docs pages render through GX's own views, with their templates compiled once per process."""

from __future__ import annotations

import dataclasses
import re

import jinja2
from great_expectations.data_context.types.resource_identifiers import ExpectationSuiteIdentifier

from qlake import gx_store, gx_views
from qlake.quality_gx import Validator

SUITES = ("silver_branches", "silver_sales_agents", "silver_sales_transactions")


def _build(validator: Validator) -> dict[str, str]:
    """Build the suites' pages and the index; return each page's text by its path in the site."""
    validator.context.build_data_docs(resource_identifiers=[ExpectationSuiteIdentifier(name=s) for s in SUITES])
    site = gx_store.site_dir(validator.cfg)
    return {str(p.relative_to(site)): p.read_text(encoding="utf-8") for p in sorted(site.rglob("*.html"))}


def test_pages_are_gx_pages_and_templates_compile_once(spark, cfg, tmp_path, monkeypatch):
    # ``spark``: GX's Spark datasource takes the process's Connect session, as in the worker (no classic Spark).
    parses = []
    original = jinja2.Environment._parse
    monkeypatch.setattr(jinja2.Environment, "_parse", lambda env, *a, **k: parses.append(a[1]) or original(env, *a, **k))

    cached = _build(Validator(dataclasses.replace(cfg, home=str(tmp_path / "cached"))))
    first_build = len(parses)
    parses.clear()
    again = _build(Validator(dataclasses.replace(cfg, home=str(tmp_path / "cached"))))  # a later run's context
    assert parses == []  # every template came from the process's cache
    assert first_build >= 10  # the page, index and section templates, compiled once for all the views

    # GX's default views render the same pages (the views only add the cache).
    monkeypatch.setattr(gx_views, "site_views", lambda: {})
    default = _build(Validator(dataclasses.replace(cfg, home=str(tmp_path / "default"))))
    assert len(parses) > first_build  # each of GX's views compiles its templates anew, even within a build
    assert sorted(cached) == sorted(default) == sorted(again)
    for page in ("index.html", "expectations/silver_branches.html"):
        assert _without_times(cached[page]) == _without_times(default[page])


def _without_times(html: str) -> str:
    """A page without the build's timestamps (GX stamps links and the footer with the time of the build)."""
    return re.sub(r"\d{8}T\d{6}\.\d+Z|\d{4}-\d{2}-\d{2}[ T]\d{2}:\d{2}:\d{2}(\.\d+)?(\+00:00)?", "<time>", html)
