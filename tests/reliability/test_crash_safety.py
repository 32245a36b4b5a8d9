"""Crash safety: `qlake run hourly` and the B2B export SIGKILLed at random points, then re-run, end with the same
gold tables and byte-identical B2B files as a clean run; no Delta table is left unreadable; no file is both
ingested and rejected.

The crashed lake has its own QLAKE_HOME and metastore (started by the killed jobs themselves); the clean
reference is built in-process on the test lake. Size: QLAKE_CRASH_KILLS (default 10) kill points.
"""

from __future__ import annotations

import os
import random
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from helpers import reset_lake
from qlake.storage import read_delta

KILLS = int(os.environ.get("QLAKE_CRASH_KILLS", "10"))
# Delivery times differ between two lakes, and so do the surrogate keys derived from them (versions start at a
# delivery): facts are compared through the natural attributes those keys resolve to.
VOLATILE = {"_updated_at", "_run_id", "run_id", "quarantined_at", "_ingested_at", "_batch_id", "_source_file",
            "_ingest_date", "valid_from", "valid_to", "branch_sk", "sales_agent_sk", "customer_sk", "branch_key",
            "sales_agent_key", "customer_key"}
GOLD = ["fact_sales", "dim_product", "dim_customer", "dim_date", "dim_offer", "mkt_top_products",
        "mkt_offer_redemptions", "mkt_online_sales_by_city"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _table(location: str):
    df = read_delta(location).to_pandas()
    if location.rstrip("/").endswith("fact_sales"):
        gold = Path(location).parent
        dims = {
            "customer_key": ("dim_customer", ["customer_id", "first_name", "last_name"]),
            "branch_key": ("dim_branch", ["branch_id", "location"]),
            "sales_agent_key": ("dim_sales_agent", ["sales_agent_id", "sales_agent_name"]),
        }
        for key, (dim, natural) in dims.items():
            lookup = read_delta(str(gold / dim)).to_pandas()[[key, *natural]]
            df = df.merge(lookup, on=key, how="left", validate="many_to_one")
    keep = sorted(c for c in df.columns if c not in VOLATILE)
    return df[keep].sort_values(keep).reset_index(drop=True)


@pytest.fixture(scope="module")
def groups(tmp_path_factory):
    from qlake.generate import generate

    # Five small groups rather than three larger ones: a group takes kills only until one of its runs completes
    # (after that an hour has nothing left to interrupt), so more groups leave more runs with work to kill.
    return generate(tmp_path_factory.mktemp("deliveries"), groups=5, rows=240, seed=99)


@pytest.fixture(scope="module")
def reference(spark, cfg, groups):
    """The clean run: every group once, in order, no interruption."""
    from bronze import ingest
    from gold import b2b_export
    from gold import job as gold_job
    from silver import job as silver_job

    reset_lake(spark, cfg)
    for group in groups:
        ingest.ingest(spark, cfg, [group])
        silver_job.run(spark, cfg)
        gold_job.run(spark, cfg)
    days = [r[0] for r in spark.sql("select distinct transaction_date from silver.sales_transactions "
                                    "where not is_online order by 1 limit 3").collect()]
    files = {d: b2b_export.export(spark, cfg, d).path.read_bytes() for d in days}
    tables = {t: _table(cfg.table_location("gold", t)) for t in GOLD}
    return tables, files


@pytest.fixture(scope="module")
def crashed(tmp_path_factory, groups, reference):
    """The same deliveries with SIGKILLs at random moments, each interrupted run simply started again."""
    from qlake import services
    from qlake.config import settings

    home = tmp_path_factory.mktemp("crashed") / "lake"
    env = {**os.environ, "QLAKE_HOME": str(home), "QLAKE_METASTORE_PORT": str(_free_port())}
    rng = random.Random(20261129)
    kills = []

    def start(*args):
        return subprocess.Popen([sys.executable, "-m", "cli", *args], env=env, stdout=subprocess.DEVNULL,
                                stderr=subprocess.PIPE, text=True)

    upper = 6.0  # latest kill, in seconds into a run: lowered to 0.8x a run that finished first, so kills land
    for i, group in enumerate(groups):
        # The kills still due, spread over the groups left. A run that finishes before its kill time has done the
        # group's work (the next run would have nothing to interrupt): the group's unspent kills go to the next,
        # and on the last group they interrupt the runs that follow (hours with nothing new).
        due = -(-(KILLS - len(kills)) // (len(groups) - i))
        last = i == len(groups) - 1
        attempts = 0
        while attempts < due or (last and len(kills) < KILLS and attempts < 3 * due):
            attempts += 1
            proc = start("run", "hourly", "--incoming", str(group))
            delay, began = rng.uniform(0.3, upper), time.monotonic()
            try:
                proc.wait(delay)
            except subprocess.TimeoutExpired:
                proc.send_signal(signal.SIGKILL)
                proc.wait()
                kills.append(round(delay, 1))
                continue
            upper = max(0.5, 0.8 * (time.monotonic() - began))
            if not last:
                break
        proc = start("run", "hourly", "--incoming", str(group))
        assert proc.wait(600) == 0, proc.stderr.read()[-3000:]
    files = {}
    for day in reference[1]:
        proc = start("export", "b2b", "--date", day.isoformat())
        try:
            proc.wait(rng.uniform(0.5, 3.0))
        except subprocess.TimeoutExpired:
            proc.send_signal(signal.SIGKILL)
            proc.wait()
            kills.append("export")
        proc = start("export", "b2b", "--date", day.isoformat())
        assert proc.wait(600) == 0, proc.stderr.read()[-3000:]
        files[day] = Path(home, "exports", "b2b", f"b2b_sales_{day:%Y%m%d}.csv").read_bytes()
    from helpers import SUMMARY

    SUMMARY["crash suite kill points"] = f"{len(kills)} SIGKILLs (seconds into a run, or 'export'): {kills}"
    yield home, files, kills
    os.environ_backup = None
    saved = {k: os.environ.get(k) for k in ("QLAKE_HOME", "QLAKE_METASTORE_PORT")}
    os.environ.update({k: env[k] for k in saved})
    try:
        services.down(settings())
    finally:
        for k, v in saved.items():
            os.environ[k] = v


def test_enough_kills_happened(crashed):
    _, _, kills = crashed
    assert len([k for k in kills if k != "export"]) >= KILLS, kills


def test_gold_equals_clean_run(crashed, reference):
    import pandas.testing as pdt

    home, _, _ = crashed
    for table, expected in reference[0].items():
        got = _table(str(Path(home, "tables", "gold", table)))
        pdt.assert_frame_equal(got, expected, check_dtype=False, obj=f"gold.{table}")


def test_b2b_files_byte_identical(crashed, reference):
    _, files, _ = crashed
    assert files == reference[1]


def test_every_delta_table_readable(crashed):
    home, _, _ = crashed
    tables = [p.parent for p in Path(home, "tables").glob("*/*/_delta_log")]
    assert len(tables) > 15
    for location in tables:
        read_delta(str(location))


def test_no_file_both_ingested_and_rejected(crashed):
    home, _, _ = crashed
    ingested = set(read_delta(str(Path(home, "tables", "bronze", "ingested_files"))).to_pandas()["sha256"])
    rejected = set(read_delta(str(Path(home, "tables", "bronze", "rejected_files"))).to_pandas()["sha256"])
    assert ingested and not (ingested & rejected)
    bronze = read_delta(str(Path(home, "tables", "bronze", "sales_transactions"))).to_pandas()
    assert not bronze.duplicated(["_source_sha256", "_row_number"]).any()  # no file appended twice
