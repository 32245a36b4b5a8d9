"""Great Expectations in its worker process (qlake.gx_client, qlake.gx_worker): a batch materialized by the run
is validated there, through the run's own engine, with the suite's per-rule counts; a worker that dies fails the
batches it held with its last words, and the next run starts another."""

from __future__ import annotations

import os
import signal
from datetime import date

import pytest

from qlake import gx_client, spark as qspark

BRANCHES = [(1, "Cairo", date(2020, 1, 5), "A"), (2, None, date(2021, 3, 1), "B"), (None, "Giza", None, "Z")]


@pytest.fixture
def batch(spark, cfg):
    path = cfg.path("scratch", "test_gx_client", "branches")
    df = spark.createDataFrame(BRANCHES, "branch_id INT, location STRING, establish_date DATE, class STRING")
    df.write.format("delta").mode("overwrite").save(path)
    return path


def _validation(cfg) -> gx_client.BackgroundValidation:
    return gx_client.BackgroundValidation(cfg, qspark.remote_address()).start()


def test_a_batch_is_validated_in_the_worker_with_each_rules_counts(batch, cfg):
    validation = _validation(cfg)
    validation.submit(batch, "silver_branches", "test-gx-worker", {"run_date": date(2026, 12, 7)},
                      table="silver.branches")
    worker = gx_client.worker()
    assert worker._process.pid != os.getpid()
    results = {r.rule: (r.evaluated, r.failed, r.success, r.action) for _, r in validation.finish()}
    assert results == {
        "branch_id_parses": (3, 1, False, "quarantine"),
        "branch_location_present": (3, 1, False, "quarantine"),
        "establish_date_parses": (3, 1, False, "quarantine"),
        "branch_class_known": (3, 1, False, "warn"),
    }
    assert validation.finish() == []  # nothing left to wait for
    assert worker._process.poll() is not None  # stopped with its last run: idle, it would hold ~250 MB


def test_a_worker_that_dies_fails_its_batches_and_the_next_run_starts_another(batch, cfg):
    validation = _validation(cfg)
    dead = gx_client.worker()
    os.kill(dead._process.pid, signal.SIGKILL)
    validation.submit(batch, "silver_branches", "test-gx-worker", {"run_date": date(2026, 12, 7)},
                      table="silver.branches")
    with pytest.raises(RuntimeError, match=r"Great Expectations could not validate the run's batches: "
                                           r"the Great Expectations worker exited \(code -9\)"):
        validation.finish()
    again = _validation(cfg)
    assert gx_client.worker() is not dead
    again.submit(batch, "silver_branches", "test-gx-worker", {"run_date": date(2026, 12, 7)},
                 table="silver.branches")
    assert sorted(r.failed for _, r in again.finish()) == [1, 1, 1, 1]


def test_a_batch_the_worker_cannot_read_fails_the_run_with_what_was_wrong(cfg, tmp_path):
    validation = _validation(cfg)
    validation.submit(str(tmp_path / "no_such_batch"), "silver_branches", "test-gx-worker",
                      {"run_date": date(2026, 12, 7)}, table="silver.branches")
    with pytest.raises(RuntimeError, match=r"Great Expectations could not validate the run's batches: silver\."
                                           r"branches: rule branch_id_parses could not be checked: .*_delta_log"):
        validation.finish()


def test_the_worker_ends_with_the_process_that_started_it(tmp_path):
    """A run killed (SIGKILL) or ended at once (os._exit, as the CLI does) leaves no worker behind."""
    import subprocess
    import sys
    import time

    from qlake.services import pid_alive

    starter = ("import os, sys, time; from qlake import gx_client; print(gx_client.worker()._process.pid, flush=True); "
               "os._exit(0) if sys.argv[1] == 'exit' else time.sleep(60)")
    for ending in ("exit", "kill"):
        run = subprocess.Popen([sys.executable, "-c", starter, ending], stdout=subprocess.PIPE, text=True)
        worker_pid = int(run.stdout.readline())
        if ending == "kill":
            run.kill()
        run.wait(timeout=30)
        deadline = time.monotonic() + 20
        while pid_alive(worker_pid) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not pid_alive(worker_pid), f"the worker outlived a run that ended by {ending}"
