"""`qlake run hourly` as the scheduler runs it: a backfill of several pending groups in one process builds the
same tables as one run per group, an hour with nothing new returns before the engine starts, and `--profile`
says where the time went."""

from __future__ import annotations

import csv
import shutil

import pytest

from helpers import COMPARED, multiset, qlake, reset_lake, snapshot


@pytest.fixture(scope="module")
def per_group_and_backfill(spark, cfg, sample_dir, tmp_path_factory):
    """The sample delivered one `run hourly` per group (in children of the lake's warm runner, as a scheduler's
    commands run), then again as one backfill over the three groups (in its own process)."""
    from cli.runner import Runner

    reset_lake(spark, cfg)
    per_group_runs = []
    runner = Runner(cfg)
    runner.up()
    logged = runner.log_file.stat().st_size
    try:
        for group in sorted(sample_dir.iterdir()):
            per_group_runs.append(qlake("run", "hourly", "--incoming", str(group), env={"QLAKE_RUNNER": "on"}))
            assert per_group_runs[-1].returncode == 0, per_group_runs[-1].stderr[-3000:]
    finally:
        runner.down()
    per_group = snapshot(spark)

    reset_lake(spark, cfg)
    drop = tmp_path_factory.mktemp("drop")  # the drop folder after an outage: three groups pending
    for group in sorted(sample_dir.iterdir()):
        shutil.copytree(group, drop / group.name)
    out = qlake("run", "hourly", "--incoming", str(drop), "--profile")
    assert out.returncode == 0, out.stderr[-3000:]
    return per_group, snapshot(spark), drop, out, per_group_runs, runner.log_file.read_text()[logged:]


def test_the_hours_ran_in_the_warm_runner(per_group_and_backfill, sample_dir):
    log = per_group_and_backfill[-1]
    for group in sorted(sample_dir.iterdir()):
        assert f": qlake run hourly --incoming {group} (in " in log, log
    assert log.count(": exit 0\n") == 3, log


def test_backfill_of_three_groups_equals_one_run_per_group(per_group_and_backfill, cfg):
    from qlake import runlog

    per_group, backfill, _, out, runs, _ = per_group_and_backfill
    for name in COMPARED:
        assert backfill[name] == per_group[name], name
    # The backfill's aggregates are one pass over its facts; per group, hour 2 added its new facts' totals to
    # hour 1's, and hour 3 (a re-delivery of hour 1: no new fact) compared them: the same tables.
    added = "gold: the new facts' totals added to gold.mkt_offer_redemptions, gold.mkt_online_sales_by_city, " \
            "gold.mkt_top_products"
    assert [added in run.stdout for run in runs] == [False, True, False]
    assert "gold: no new silver sales" in runs[2].stdout
    assert "totals added" not in out.stdout
    assert len(per_group["gold.fact_sales"]) == 3000
    # one logged run for the backfill, its rows the sum of the groups' (group 3 re-delivers group 1)
    last = runlog.last_runs(cfg, "hourly")[-1]
    assert (last["status"], last["rows_in"]) == ("succeeded", 1515 + 1500)
    # groups in delivery order: every file of group 1, then group 2, then group 3
    names = [f"{kind}_SS_raw_{n}.csv" for n in (1, 2, 3) for kind in ("branches", "sales_agents", "sales_transactions")]
    positions = [out.stdout.index(name) for name in names]
    assert positions == sorted(positions)
    # the groups ingested one by one, silver in one pass over them (each row judged as of its group), gold once
    assert "silver: groups 1-3 in one pass" in out.stdout
    assert out.stdout.count("silver.sales_transactions: ") == 1
    assert "silver.sales_transactions: 3000 in = 3000 inserted" in out.stdout
    assert out.stdout.count("gold.fact_sales: ") == 1
    assert "gold.fact_sales: 3000 sales upserted, 3000 in total" in out.stdout


def test_profile_names_every_phase(per_group_and_backfill):
    _, _, _, out, _, _ = per_group_and_backfill
    phases = [line.rsplit(None, 1)[0].strip() for line in out.stderr.splitlines()[1:] if line.strip()]
    for expected in ("check for new work (Delta logs, no engine)", "engine start", "ingest", "silver",
                     "gate + write silver.sales_transactions", "gold", "fact_sales",
                     "data quality results (GX)", "wait for GX, Data Docs", "store DQ results",
                     "marketing aggregates", "tidy", "run log: versions after + write", "total (command)"):
        assert expected in phases, (expected, out.stderr)
    assert phases.count("ingest") == 1  # the pending groups landed one by one, each its own batch
    assert phases.count("silver") == 1  # one silver pass over them


def test_hour_with_nothing_new_returns_before_the_engine_starts(per_group_and_backfill, cfg):
    from qlake import runlog

    _, _, drop, _, _, _ = per_group_and_backfill
    before = len(runlog.last_runs(cfg, "hourly"))
    out = qlake("run", "hourly", "--incoming", str(drop), "--profile")
    assert out.returncode == 0, out.stderr[-3000:]
    assert out.stdout.strip() == "hourly: nothing new (no new file, every layer up to date); engine not started"
    assert "engine start" not in out.stderr
    runs = runlog.last_runs(cfg, "hourly")
    assert len(runs) == before + 1
    assert (runs[-1]["status"], runs[-1]["rows_in"], runs[-1]["rows_out"]) == ("succeeded", 0, 0)


def test_work_is_found_from_the_logs(per_group_and_backfill, cfg, tmp_path):
    from jobs import pending

    _, _, drop, _, _, _ = per_group_and_backfill
    assert pending.work_pending(cfg, str(drop)) is None
    new = tmp_path / "group4"
    new.mkdir()
    source = next(drop.glob("group1/branches_*.csv"))
    (new / "branches_SS_raw_4.csv").write_text(source.read_text().replace("\n", "\r\n", 1))
    assert pending.work_pending(cfg, str(new)) == f"new file {new / 'branches_SS_raw_4.csv'}"
    # landed by `qlake ingest` alone: bronze changed after the last hourly run, so the next hour runs silver
    out = qlake("ingest", str(new))
    assert out.returncode == 0, out.stderr[-3000:]
    assert pending.work_pending(cfg, None) == "bronze.branches changed since the last hourly or silver run"
    out = qlake("run", "hourly")
    assert out.returncode == 0, out.stderr[-3000:]
    assert "nothing new" not in out.stdout and "silver.branches:" in out.stdout
    assert pending.work_pending(cfg, str(new)) is None


def _agrees_with_one_pass(spark, cfg, module) -> bool:
    """The aggregate as stored equals its re-aggregation from the whole fact."""
    from qlake import catalog

    return multiset(catalog.read(spark, module.TABLE, cfg), module.TABLE) == multiset(module.build(spark), module.TABLE)


def test_a_corrected_sale_rebuilds_the_aggregates_and_new_sales_add_to_them(per_group_and_backfill, spark, cfg,
                                                                            tmp_path):
    """A sale delivered again with other units corrects its fact: the aggregates are re-aggregated from the whole
    fact. The next hour only appends facts: its totals are added to the stored ones. Both equal one pass."""
    from gold import job as gold_job
    from qlake.generate import generate

    _, _, drop, _, _, _ = per_group_and_backfill
    with open(next(drop.glob("group1/sales_transactions_*.csv")), newline="") as delivered:
        header, sale, *_ = csv.reader(delivered)
    units = header.index("units")
    sale[units] = str(int(sale[units]) + 1)
    corrected = tmp_path / "group5"
    corrected.mkdir()
    with open(corrected / "sales_transactions_SS_raw_5.csv", "w", newline="") as out_file:
        csv.writer(out_file, lineterminator="\r\n").writerows([header, sale])
    all_units = "select units from gold.mkt_top_products where period = 'ALL' and product_id = {}".format(
        int(sale[header.index("product_id")]))
    before = spark.sql(all_units).first()[0]

    out = qlake("run", "hourly", "--incoming", str(corrected))
    assert out.returncode == 0, out.stderr[-3000:]
    assert "gold.fact_sales: 1 sales upserted" in out.stdout and "totals added" not in out.stdout
    assert spark.sql(all_units).first()[0] == before + 1
    assert all(_agrees_with_one_pass(spark, cfg, module) for module in gold_job.MARKETING)

    new = generate(tmp_path / "new", groups=1, rows=40, seed=5, redeliver=False, start_group=60)[0]
    out = qlake("run", "hourly", "--incoming", str(new))
    assert out.returncode in (0, 1), out.stderr[-3000:]  # 1: the generated group's dirty file was rejected
    assert ("gold: the new facts' totals added to gold.mkt_offer_redemptions, gold.mkt_online_sales_by_city, "
            "gold.mkt_top_products") in out.stdout
    assert all(_agrees_with_one_pass(spark, cfg, module) for module in gold_job.MARKETING)
