"""The table registry: every table module declares itself, the declarations hold together, the runners' order is
the declared inputs' order, `qlake tables` shows them, and the README's table list is the registry's."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest

from jobs import registry
from qlake.tables import GraphError, Table, levels

REPO = Path(__file__).resolve().parents[1]


def _table(name, *reads):
    return Table(name=name, columns="x INT", grain="one row per x", reads=reads, tests=("tests/test_registry.py",))


def test_every_declaration_holds_together():
    assert registry.check() == []


def _gate_table(entry) -> bool:
    """A silver.quarantine_<table>: written by the quality gate of silver.<table>, not by a step of its own."""
    return entry.name.startswith("silver.quarantine_")


def test_every_silver_and_gold_table_has_its_own_unit_test_module():
    for entry in registry.tables("silver") + registry.tables("gold"):
        # The three quarantine tables share one contract and one build: one test module covers them.
        module = "quarantine" if _gate_table(entry) else entry.table.table
        assert entry.table.tests == (f"tests/{entry.package}/test_{module}.py",), entry.name


def test_registry_finds_every_table_with_its_module():
    found = {r.name: r.module for r in registry.tables()}
    assert found["gold.stream_funnel_1m"] == "streaming.funnel"
    assert found["silver.app_events"] == "streaming.app_events"
    assert found["gold.fact_sales"] == "gold.fact_sales"
    assert len(found) == 29
    fact = registry.registry()["gold.fact_sales"]
    assert fact.table.update_interval == timedelta(hours=2)  # the contract's own interval, not a second one
    assert fact.builder == "gold.fact_sales.build"
    assert registry.registry()["silver.sales_transactions"].table.suite == "silver_sales_transactions"


def test_runner_levels_follow_declared_inputs():
    assert registry.levels("silver") == [
        ["silver.branches", "silver.quarantine_branches", "silver.quarantine_sales_agents",
         "silver.quarantine_sales_transactions", "silver.sales_agents"], ["silver.sales_transactions"],
        ["silver.customers", "silver.products"]]
    assert registry.levels("gold") == [
        ["gold.dim_branch", "gold.dim_customer", "gold.dim_date", "gold.dim_offer", "gold.dim_product",
         "gold.dim_sales_agent"],
        ["gold.fact_sales"],
        ["gold.mkt_offer_redemptions", "gold.mkt_online_sales_by_city", "gold.mkt_top_products"]]


def test_a_cycle_and_an_unknown_input_name_the_tables():
    with pytest.raises(GraphError, match=r"input cycle among: t\.a \(reads t\.b\), t\.b \(reads t\.a\)"):
        levels([_table("t.a", "t.b"), _table("t.b", "t.a"), _table("t.c")])
    with pytest.raises(GraphError, match=r"unknown inputs: t\.a reads t\.nowhere"):
        levels([_table("t.a", "t.nowhere")], known=["s.x"])
    assert levels([_table("t.b", "t.a"), _table("t.a", "s.x")], known=["s.x"]) == [["t.a"], ["t.b"]]


def test_a_declaration_without_grain_or_tests_is_refused():
    with pytest.raises(ValueError, match="t.a: a table declares its grain"):
        Table(name="t.a", columns="x INT", tests=("tests/test_registry.py",))
    with pytest.raises(ValueError, match="t.a: a table names the test modules"):
        Table(name="t.a", columns="x INT", grain="one row per x")


def test_readme_lists_exactly_the_registered_tables():
    text = (REPO / "README.md").read_text()
    section = text[text.index("## What it builds"):text.index("### Guarantees")]
    rows = [line for line in section.splitlines() if re.match(r"\| (bronze|silver|gold) \|", line)]
    named = {name for row in rows for name in re.findall(r"`([a-z_]+\.[a-z_0-9]+)`", row.split("|")[2])}
    assert named == set(registry.registry())


def _qlake(*args):
    return subprocess.run([sys.executable, "-m", "cli", "tables", *args], capture_output=True, text=True,
                          timeout=120, env=dict(os.environ, PYTHONPATH=str(REPO)), cwd=REPO)


def test_qlake_tables_lists_every_table_and_prints_the_graph(cfg):
    out = _qlake("--format", "csv")
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert lines[0] == "table,layer,grain,inputs,suite,tests,declared in,location"
    assert len(lines) == 1 + 29
    fact = next(line for line in lines if line.startswith("gold.fact_sales,"))
    assert fact.startswith('gold.fact_sales,gold,"one row per sale (transaction_id), keyed to the dimension versions '
                           'valid when it was delivered","silver.sales_transactions, gold.dim_customer, gold.dim_branch, '
                           'gold.dim_sales_agent, gold.dim_date, gold.dim_product, gold.dim_offer",,'
                           'tests/gold/test_fact_sales.py,gold/fact_sales.py (gold.fact_sales.build),')
    assert fact.endswith(f",{cfg.table_location('gold', 'fact_sales')}")
    graph = _qlake("--graph")
    assert graph.returncode == 0, graph.stderr
    assert graph.stdout.startswith("flowchart LR\n  subgraph bronze\n    bronze_branches[\"bronze.branches\"]\n")
    assert "  gold_fact_sales --> gold_mkt_top_products\n" in graph.stdout
    assert "  silver_app_events --> gold_stream_funnel_1m\n" in graph.stdout
    assert graph.stdout.count(" --> ") == sum(len(r.table.inputs) for r in registry.tables())


def test_the_layer_jobs_write_every_table_of_their_package_in_registry_order():
    from gold import job as gold_job
    from silver import job as silver_job

    for job, package in ((gold_job, "gold"), (silver_job, "silver")):
        written = [r for r in registry.tables(package) if not _gate_table(r)]
        assert {m.TABLE.name for m in job.MODULES} == {r.name for r in written}, package
        assert [sorted(level) for level in job.LEVELS] == [
            sorted(name for name in level if not name.startswith("silver.quarantine_"))
            for level in registry.levels(package)]
    assert gold_job.LEVELS[1] == ["gold.fact_sales"]
    assert [gold_job._label(level) for level in gold_job.LEVELS] == ["dimensions", "fact_sales", "marketing aggregates"]
