"""The sample pipeline on Sail's cluster runtime (`QLAKE_ENGINE_MODE=local-cluster`, 2 workers).

The test run holds one embedded (local-mode) Sail session per process, so the cluster-mode jobs run as `qlake`
subprocesses with their own lake and their own metastore, the way the scheduler runs them. Checked: an hourly run
killed with SIGKILL mid-way, then re-run, gives the exact figures the embedded run gives (tests/
test_sample_pipeline.py asserts the same numbers); a further re-run writes no Delta version; the stream's tables
register through the cluster-mode engine.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from helpers import free_port
from helpers import SUMMARY

REPO = Path(__file__).resolve().parents[1]
WORKERS = 2

# The figures test_sample_pipeline.py asserts on the embedded engine (same sample, same code).
EXPECTED = {
    "bronze_rows": 3000,
    "silver_rows": 3000,
    "silver_paid": "2821074.78",
    "gold_rows": 3000,
    "gold_paid": "2821074.78",
    "top_products": [[16, "Skirt", 692], [4, "Headphones", 689]],
    "offer_redemptions": [[1, 304], [2, 286], [3, 303], [4, 303], [5, 292]],
    "orphan_products": 0,
}

# Run in a cluster-mode child: register the stream's tables, then read the figures and the catalog back.
_FIGURES = r"""
import json, sys
from qlake import catalog, spark as qspark
from qlake.config import settings
from streaming import engine as stream_engine

cfg = settings()
stream_engine.register_tables(cfg)  # its own child process, same environment: the cluster-mode engine
s = qspark.session(cfg)
one = lambda q: s.sql(q).collect()[0][0]
out = {
    "engine": qspark.engine_description(cfg),
    "bronze_rows": one("select count(*) from bronze.sales_transactions"),
    "silver_rows": one("select count(*) from silver.sales_transactions"),
    "silver_paid": str(one("select sum(total_paid_price_after_discount) from silver.sales_transactions")),
    "gold_rows": one("select count(*) from gold.fact_sales"),
    "gold_paid": str(one("select sum(total_paid_price_after_discount) from gold.fact_sales")),
    "top_products": [list(r) for r in s.sql("select product_id, product_name, units from gold.mkt_top_products "
                                             "where period = 'ALL' order by rank_by_units limit 2").collect()],
    "offer_redemptions": [list(r) for r in s.sql("select offer_key, redemptions from gold.mkt_offer_redemptions "
                                                  "where scope = 'ALL' order by offer_key").collect()],
    "orphan_products": one("select count(*) from gold.fact_sales f left anti join gold.dim_product d "
                           "on f.product_key = d.product_key"),
    "tables": sorted(catalog.all_tables(s)),
}
print("FIGURES " + json.dumps(out))
"""


@pytest.fixture(scope="module")
def cluster_env(tmp_path_factory) -> dict[str, str]:
    home = tmp_path_factory.mktemp("local-cluster")
    env = dict(os.environ)
    env.update({
        "QLAKE_HOME": str(home / "lake"),
        "QLAKE_METASTORE_PORT": str(free_port()),  # its own metastore: the cluster run shares nothing with ours
        "QLAKE_ENGINE_MODE": "local-cluster",
        "QLAKE_ENGINE_WORKERS": str(WORKERS),
        "PYTHONPATH": os.pathsep.join([str(REPO), *filter(None, [os.environ.get("PYTHONPATH")])]),
    })
    yield env
    subprocess.run([sys.executable, "-m", "cli", "services", "down"], env=env, cwd=REPO,
                   capture_output=True, timeout=120)


def qlake(env, *args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "cli", *args], env=env, cwd=REPO, capture_output=True,
                          text=True, timeout=timeout)


def delta_versions(home: str) -> dict[str, int]:
    """The Delta version of every data table (not ops.*: the run log records every run, by design)."""
    from deltalake import DeltaTable

    tables = Path(home, "tables")
    return {f"{db.name}.{t.name}": DeltaTable(str(t)).version()
            for db in sorted(tables.iterdir()) if db.name != "ops"
            for t in sorted(db.iterdir()) if (t / "_delta_log").is_dir()}


@pytest.fixture(scope="module")
def crashed_then_rerun(cluster_env, sample_dir) -> dict:
    """SIGKILL an hourly run once bronze has rows (ingest or silver in flight), then run it to completion."""
    child = subprocess.Popen([sys.executable, "-m", "cli", "run", "hourly", "--incoming", str(sample_dir)],
                             env=cluster_env, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    killed_after = None
    for line in child.stdout:
        if line.startswith("ingested") and "sales_transactions" in line:
            killed_after = line.strip()
            child.send_signal(signal.SIGKILL)
            break
    child.wait(timeout=300)
    assert killed_after, "the hourly run ended before it ingested a transactions file"
    started = time.monotonic()
    rerun = qlake(cluster_env, "run", "hourly", "--incoming", str(sample_dir))
    assert rerun.returncode == 0, rerun.stdout[-3000:] + rerun.stderr[-3000:]
    SUMMARY["local-cluster hourly after SIGKILL"] = f"{time.monotonic() - started:.1f} s (killed after: {killed_after})"
    return {"killed_after": killed_after, "rerun": rerun.stdout}


def test_rerun_after_kill_gives_the_embedded_figures(crashed_then_rerun, cluster_env):
    out = subprocess.run([sys.executable, "-c", _FIGURES], env=cluster_env, cwd=REPO, capture_output=True,
                         text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    figures = json.loads(next(line for line in out.stdout.splitlines() if line.startswith("FIGURES "))[8:])
    assert figures["engine"] == f"sail local-cluster ({WORKERS} workers)"
    assert {k: figures[k] for k in EXPECTED} == EXPECTED
    # the stream's tables registered through the cluster-mode engine, beside the batch tables
    assert {"bronze.app_events", "silver.app_events"} <= set(figures["tables"])


def test_a_second_rerun_writes_nothing(crashed_then_rerun, cluster_env, sample_dir):
    before = delta_versions(cluster_env["QLAKE_HOME"])
    assert {"bronze.sales_transactions", "silver.sales_transactions", "gold.fact_sales"} <= set(before)
    again = qlake(cluster_env, "run", "hourly", "--incoming", str(sample_dir))
    assert again.returncode == 0, again.stdout[-3000:] + again.stderr[-3000:]
    # Nothing new is decided from the Delta logs, before any engine starts ...
    assert again.stdout == "hourly: nothing new (no new file, every layer up to date); engine not started\n"
    assert delta_versions(cluster_env["QLAKE_HOME"]) == before
    # ... and the cluster engine agrees: gold through local-cluster Sail finds nothing to write either.
    gold = qlake(cluster_env, "run", "gold")
    assert gold.returncode == 0, gold.stdout[-3000:] + gold.stderr[-3000:]
    assert "gold: no new silver sales" in gold.stdout
    assert delta_versions(cluster_env["QLAKE_HOME"]) == before


def test_status_shows_the_engine_mode(crashed_then_rerun, cluster_env):
    out = qlake(cluster_env, "status")
    assert out.returncode == 0, out.stderr[-3000:]
    assert out.stdout.splitlines()[0] == f"engine: sail local-cluster ({WORKERS} workers)"


def test_engine_settings_reach_sail(monkeypatch):
    """What QLAKE_ENGINE_* turn into for Sail, and the mistakes refused before any engine starts."""
    from qlake.config import settings
    from qlake.spark import engine_description, sail_runtime_env

    for name in ("QLAKE_ENGINE_MODE", "QLAKE_ENGINE_WORKERS", "QLAKE_ENGINE_MAX_WORKERS",
                 "QLAKE_ENGINE_WORKER_TASK_SLOTS", "QLAKE_ENGINE_BATCH_ROWS", "QLAKE_ENGINE_MEMORY_MB"):
        monkeypatch.delenv(name, raising=False)
    bounded = {"SAIL_RUNTIME__MEMORY_POOL__TYPE": "fair", "SAIL_RUNTIME__MEMORY_POOL__FAIR__MAX_SIZE": "1610612736",
               "SAIL_PARQUET__MAX_ROW_GROUP_SIZE": "131072"}
    assert sail_runtime_env(settings()) == {"SAIL_MODE": "local", **bounded}
    assert engine_description(settings()) == "sail local"
    monkeypatch.setenv("QLAKE_ENGINE_MEMORY_MB", "0")  # unbounded: Sail's own defaults
    assert sail_runtime_env(settings()) == {"SAIL_MODE": "local"}
    monkeypatch.setenv("QLAKE_ENGINE_MODE", "Local-Cluster")
    monkeypatch.setenv("QLAKE_ENGINE_WORKERS", "3")
    monkeypatch.setenv("QLAKE_ENGINE_WORKER_TASK_SLOTS", "4")
    monkeypatch.setenv("QLAKE_ENGINE_BATCH_ROWS", "4096")
    assert sail_runtime_env(settings()) == {
        "SAIL_MODE": "local-cluster", "SAIL_CLUSTER__WORKER_INITIAL_COUNT": "3",
        "SAIL_CLUSTER__WORKER_TASK_SLOTS": "4", "SAIL_EXECUTION__BATCH_SIZE": "4096"}  # QLAKE_ENGINE_MEMORY_MB=0 from above
    assert engine_description(settings()) == "sail local-cluster (3 workers x 4 task slots)"
    monkeypatch.setenv("QLAKE_ENGINE_MAX_WORKERS", "6")
    assert sail_runtime_env(settings())["SAIL_CLUSTER__WORKER_MAX_COUNT"] == "6"
    monkeypatch.setenv("QLAKE_SPARK_REMOTE", "sc://sail-spark-server:50051")
    assert engine_description(settings()) == "spark-connect (sc://sail-spark-server:50051)"
    monkeypatch.delenv("QLAKE_SPARK_REMOTE")
    for name, value, message in [("QLAKE_ENGINE_MODE", "kubernetes", "expected one of local, local-cluster"),
                                 ("QLAKE_ENGINE_MAX_WORKERS", "2", "is below QLAKE_ENGINE_WORKERS=3"),
                                 ("QLAKE_ENGINE_WORKERS", "0", "at least one worker"),
                                 ("QLAKE_ENGINE_MEMORY_MB", "-1", "must be 0 .unbounded. or more")]:
        with monkeypatch.context() as m:
            m.setenv(name, value)
            with pytest.raises(ValueError, match=message):
                settings()


def test_a_wrong_engine_mode_is_a_one_line_error(cluster_env):
    out = qlake(dict(cluster_env, QLAKE_ENGINE_MODE="cluster"), "status", timeout=60)
    assert out.returncode == 1
    assert out.stderr.strip() == "Error: QLAKE_ENGINE_MODE='cluster': expected one of local, local-cluster"
