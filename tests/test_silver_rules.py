"""Silver on generated deliveries: injected bad rows are quarantined by the right rule, nothing is lost,
SCD2 history follows hire-date drift, runs are incremental and idempotent, and a `fail` rule stops a run."""

from __future__ import annotations

import csv
import io

import pytest

from helpers import reset_lake
from helpers import sql_value

INJECTED = {
    # transaction id suffix -> (field changes, rule expected)
    "neg_units": ({"units": "-3"}, "units_positive"),
    "two_offers": ({"offer_1": "True", "offer_2": "True"}, "at_most_one_offer"),
    "unknown_agent": ({"sales_agent_id": "999"}, "offline_agent_exists"),
    "bad_date": ({"transaction_date": "2023-2-30"}, "transaction_date_parses"),
    "bad_email": ({"cusomter_email": "not-an-email"}, "customer_email_present"),
    "empty_id": ({"transaction_id": ""}, "transaction_id_present"),
}


def _inject(path, rows_to_add):
    text = path.read_bytes().decode("utf-8")
    reader = csv.DictReader(io.StringIO(text))
    header = reader.fieldnames
    template = next(r for r in reader if r["is_online"] == "no")
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    for i, (suffix, (changes, _)) in enumerate(rows_to_add.items()):
        row = dict(template, transaction_id=f"trx-9999999999{i:02d}")
        row.update(changes)
        writer.writerow([row[h] for h in header[:-1]])  # offline rows have no shipping_address field
    path.write_bytes((text + out.getvalue()).encode("utf-8"))


@pytest.fixture(scope="module")
def groups(tmp_path_factory, spark, cfg):
    from qlake.generate import generate

    reset_lake(spark, cfg)
    folders = generate(tmp_path_factory.mktemp("gen"), groups=2, rows=300, seed=11, redeliver=False)
    _inject(next(folders[0].glob("sales_transactions_*.csv")), INJECTED)
    return folders


@pytest.fixture(scope="module")
def first_run(groups, spark, cfg):
    from bronze import ingest
    from silver import job

    ingest.ingest(spark, cfg, [groups[0]])
    return job.run(spark, cfg)


def test_each_injected_row_is_quarantined_with_its_rule(first_run, spark):
    rows = spark.sql("select raw_row, failed_rules from silver.quarantine_sales_transactions").collect()
    by_id = {}
    for r in rows:
        import json
        by_id[json.loads(r["raw_row"]).get("transaction_id") or ""] = set(r["failed_rules"])
    for i, (suffix, (changes, rule)) in enumerate(INJECTED.items()):
        tid = changes.get("transaction_id", f"trx-9999999999{i:02d}")
        assert rule in by_id[tid], (suffix, by_id.get(tid))
    assert len(rows) == len(INJECTED)


def test_accounting_adds_up(first_run, spark):
    tx = {a.table: a for a in first_run.accounting}["silver.sales_transactions"]
    assert tx.rows_in == 300 + len(INJECTED)
    assert tx.quarantined == len(INJECTED)
    assert tx.inserted + tx.updated + tx.duplicates + tx.quarantined == tx.rows_in
    assert sql_value(spark, "select count(*) from silver.sales_transactions") == tx.inserted


def test_gx_counts_match_row_routing(first_run, spark):
    """The GX suite result and the compiled per-row predicates are the same rules: counts must agree."""
    from silver.job import disagreements

    compiled = first_run.ctx.rule_counts
    assert len(compiled) == len(first_run.ctx.dq_results) == 34  # every rule of the three suites, counted twice
    assert disagreements(compiled, first_run.ctx.dq_results) == []
    assert {(t, r.rule): (r.evaluated, r.failed, r.success) for t, r in compiled} == {
        (t, r.rule): (r.evaluated, r.failed, r.success) for t, r in first_run.ctx.dq_results}
    dq = {r["rule"]: r["failed"] for r in spark.sql(
        f"select rule, failed from ops.dq_results where run_id = '{first_run.run_id}' "
        "and table_name = 'silver.sales_transactions'").collect()}
    for _, (_, rule) in INJECTED.items():
        assert dq[rule] >= 1, rule
    assert dq["units_positive"] == 1 and dq["at_most_one_offer"] == 1 and dq["offline_agent_exists"] == 1


def test_second_group_processes_only_its_rows_and_tracks_history(first_run, groups, spark, cfg):
    from bronze import ingest
    from silver import job

    ingest.ingest(spark, cfg, [groups[1]])
    second = job.run(spark, cfg)
    tx = {a.table: a for a in second.accounting}["silver.sales_transactions"]
    assert tx.rows_in == 300
    drifted = spark.sql("select sales_agent_id, count(*) as versions, sum(cast(is_current as int)) as current "
                        "from silver.sales_agents group by sales_agent_id having count(*) > 1").collect()
    assert drifted, "the generator drifts at least one hire_date in group 2"
    assert all(r["versions"] == 2 and r["current"] == 1 for r in drifted)
    new_agent = spark.sql("select count(*), sum(cast(is_current as int)) from silver.sales_agents "
                          "where sales_agent_id = 11").collect()[0]
    assert tuple(new_agent) == (1, 1)
    assert sql_value(spark, "select count(*) from silver.branches where branch_id = 6 and is_current") == 1


def test_rerunning_silver_changes_nothing(first_run, spark, cfg):
    from deltalake import DeltaTable
    from silver import job

    tables = ["sales_transactions", "sales_agents", "branches", "customers", "products", "quarantine_sales_transactions"]
    before = {t: DeltaTable(cfg.table_location("silver", t)).version() for t in tables}
    for _ in range(3):
        assert job.run(spark, cfg).rows_in == 0
    assert {t: DeltaTable(cfg.table_location("silver", t)).version() for t in tables} == before


def test_fail_rule_stops_the_run_and_writes_nothing(first_run, spark, cfg, tmp_path):
    from deltalake import DeltaTable
    from bronze import ingest
    from qlake.quality import DataQualityFailure
    from silver import job

    header = spark.sql("select * from bronze.sales_transactions limit 1").columns[:21]
    lines = [",".join(header)] + [f"garbage-date,trx-8888888888{i:02d},85469,A,B,a@b.com,1,1,1,X,Y,,,,,,1,1.00,no,Cash"
                                  for i in range(10)]
    (tmp_path / "sales_transactions_broken.csv").write_text("\r\n".join(lines) + "\r\n", newline="")
    ingest.ingest(spark, cfg, [tmp_path])
    version = DeltaTable(cfg.table_location("silver", "sales_transactions")).version()
    with pytest.raises(DataQualityFailure, match="transaction_dates_mostly_parse"):
        job.run(spark, cfg)
    assert DeltaTable(cfg.table_location("silver", "sales_transactions")).version() == version


def test_runs_never_write_the_suites(first_run, cfg):
    """GX must only read expectations/: a run that rewrote them could leave a truncated suite when killed.
    Every silver run of this test session (this module's and the others') happened after the session started,
    so a suite written by any of them has a later modification time (works outside a git checkout too)."""
    from pathlib import Path

    from helpers import SESSION_STARTED_AT

    suites = sorted(Path(cfg.expectations_dir).glob("*.json"))
    assert [p.name for p in suites] == ["silver_branches.json", "silver_sales_agents.json",
                                        "silver_sales_transactions.json"]
    assert [p.name for p in suites if p.stat().st_mtime >= SESSION_STARTED_AT] == []


def test_data_docs_built(first_run):
    from pathlib import Path

    index = Path(first_run.data_docs)
    assert index.is_file()
    pages = list(index.parent.rglob("*.html"))
    assert any("silver_sales_transactions" in str(p) for p in pages)
