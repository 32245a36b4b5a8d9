"""Great Expectations in its resident worker process (qlake.gx_client, qlake.gx_worker): a batch materialized by
the run is validated there, through the run's own engine, with the suite's per-rule counts; the worker stays for
the next run, outlives a killed run, is replaced when it runs other code, and a worker that dies fails the
batches it held with its last words while the next run starts another."""

from __future__ import annotations

import dataclasses
import os
import shutil
import signal
import subprocess
import sys
import time
from datetime import date
from pathlib import Path

import pytest

from qlake import gx_client, spark as qspark
from qlake.services import pid_alive

BRANCHES = [(1, "Cairo", date(2020, 1, 5), "A"), (2, None, date(2021, 3, 1), "B"), (None, "Giza", None, "Z")]
PARAMS = {"run_date": date(2026, 12, 7)}


@pytest.fixture
def batch(spark, cfg):
    path = cfg.path("scratch", "test_gx_client", "branches")
    df = spark.createDataFrame(BRANCHES, "branch_id INT, location STRING, establish_date DATE, class STRING")
    df.write.format("delta").mode("overwrite").save(path)
    return path


def _validation(cfg) -> gx_client.BackgroundValidation:
    return gx_client.BackgroundValidation(cfg, qspark.remote_address()).start()


def _worker_pid(cfg) -> int:
    return gx_client.GxWorker(cfg).pid()


def test_a_batch_is_validated_in_the_worker_with_each_rules_counts_and_the_worker_stays(batch, cfg):
    validation = _validation(cfg)
    validation.submit(batch, "silver_branches", "test-gx-worker", PARAMS, table="silver.branches")
    worker_pid = _worker_pid(cfg)
    assert worker_pid not in (None, os.getpid())
    results = {r.rule: (r.evaluated, r.failed, r.success, r.action) for _, r in validation.finish()}
    assert results == {
        "branch_id_parses": (3, 1, False, "quarantine"),
        "branch_location_present": (3, 1, False, "quarantine"),
        "establish_date_parses": (3, 1, False, "quarantine"),
        "branch_class_known": (3, 1, False, "warn"),
    }
    assert validation.finish() == []  # nothing left to wait for

    again = _validation(cfg)  # the next run: the same worker, GX already imported
    again.submit(batch, "silver_branches", "test-gx-worker-2", PARAMS, table="silver.branches")
    assert sorted(r.failed for _, r in again.finish()) == [1, 1, 1, 1]
    assert _worker_pid(cfg) == worker_pid
    assert oct(os.stat(gx_client.GxWorker(cfg).socket).st_mode & 0o777) == "0o600"  # its owner's only


def test_a_worker_that_dies_fails_its_batches_and_the_next_run_starts_another(batch, cfg):
    validation = _validation(cfg)
    dead = _worker_pid(cfg)
    os.kill(dead, signal.SIGKILL)
    validation.submit(batch, "silver_branches", "test-gx-worker", PARAMS, table="silver.branches")
    with pytest.raises(RuntimeError, match=r"Great Expectations could not validate the run's batches: "
                                           r"the Great Expectations worker exited: "):
        validation.finish()
    again = _validation(cfg)
    assert _worker_pid(cfg) not in (None, dead)
    again.submit(batch, "silver_branches", "test-gx-worker", PARAMS, table="silver.branches")
    assert sorted(r.failed for _, r in again.finish()) == [1, 1, 1, 1]


def test_a_batch_the_worker_cannot_read_fails_the_run_with_what_was_wrong(cfg, tmp_path):
    validation = _validation(cfg)
    validation.submit(str(tmp_path / "no_such_batch"), "silver_branches", "test-gx-worker", PARAMS,
                      table="silver.branches")
    with pytest.raises(RuntimeError, match=r"Great Expectations could not validate the run's batches: silver\."
                                           r"branches: rule branch_id_parses could not be checked: .*_delta_log"):
        validation.finish()


def test_a_worker_of_other_code_is_replaced(batch, cfg):
    """After an upgrade a run never uses a worker of the code before it (here: a source file of the package
    modified after the worker loaded it)."""
    gx_client.connect(cfg).close()
    old = _worker_pid(cfg)
    source = Path(gx_client.__file__).with_name("gx_worker.py")
    stat = source.stat()
    try:
        os.utime(source, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))
        validation = _validation(cfg)
        validation.submit(batch, "silver_branches", "test-gx-worker", PARAMS, table="silver.branches")
        assert sorted(r.failed for _, r in validation.finish()) == [1, 1, 1, 1]
        assert not pid_alive(old)
        assert _worker_pid(cfg) not in (None, old)
    finally:
        os.utime(source, ns=(stat.st_atime_ns, stat.st_mtime_ns))


def test_a_run_killed_mid_batch_leaves_the_worker_serving_the_next_run(batch, cfg):
    """A run killed (SIGKILL) or ended at once (os._exit, as the CLI does) with a batch submitted: the worker
    drops that run's context and session and answers the next run."""
    gx_client.connect(cfg).close()
    worker_pid = _worker_pid(cfg)
    starter = ("import os, sys, time; from datetime import date; from qlake import gx_client; from qlake.config "
               "import settings; v = gx_client.BackgroundValidation(settings(), sys.argv[2]).start(); "
               "v.submit(sys.argv[3], 'silver_branches', 'killed', {'run_date': date(2026, 12, 7)}, "
               "table='silver.branches'); print('submitted', flush=True); "
               "os._exit(0) if sys.argv[1] == 'exit' else time.sleep(60)")
    for ending in ("exit", "kill"):
        run = subprocess.Popen([sys.executable, "-c", starter, ending, qspark.remote_address(), batch],
                               stdout=subprocess.PIPE, text=True)
        assert run.stdout.readline().strip() == "submitted"
        if ending == "kill":
            run.kill()
        run.wait(timeout=30)
        time.sleep(0.2)
        validation = _validation(cfg)
        validation.submit(batch, "silver_branches", f"after-{ending}", PARAMS, table="silver.branches")
        assert sorted(r.failed for _, r in validation.finish()) == [1, 1, 1, 1]
        assert _worker_pid(cfg) == worker_pid, f"the worker did not outlive a run that ended by {ending}"


def test_a_killed_run_whose_engine_died_with_it_does_not_hold_up_the_next_run(batch, cfg):
    """The killed run's session points at an engine that is gone; releasing it retries for minutes, and must not
    block the next run's session (pyspark's SparkSession.stop() holds a global lock while it retries)."""
    import threading

    starter = ("import sys, time; from datetime import date; from pysail.spark import SparkConnectServer; "
               "from qlake import gx_client; from qlake.config import settings; "
               "server = SparkConnectServer('127.0.0.1', 0); server.start(); "
               "remote = f'sc://127.0.0.1:{server.listening_address[1]}'; c = gx_client.connect(settings()); "
               "reply = c.reply(c.request('validate', cfg=__import__('dataclasses').asdict(settings()), "
               "remote=remote, path=sys.argv[1], suite='silver_branches', run_name='killed', "
               "params={'run_date': '2026-12-07'}, table='silver.branches')); "
               "print(len(reply['results']), flush=True); time.sleep(60)")
    run = subprocess.Popen([sys.executable, "-c", starter, batch], stdout=subprocess.PIPE, text=True)
    assert run.stdout.readline().strip() == "4"  # validated through its own engine, whose session is kept
    run.kill()
    run.wait(timeout=30)
    outcome: list = []

    def next_run() -> None:
        validation = _validation(cfg)
        validation.submit(batch, "silver_branches", "after-engine-died", PARAMS, table="silver.branches")
        outcome.extend(sorted(r.failed for _, r in validation.finish()))

    thread = threading.Thread(target=next_run, daemon=True)
    thread.start()
    thread.join(timeout=60)
    assert outcome == [1, 1, 1, 1], "the next run was held up by the killed run's session"


def test_a_worker_runs_the_code_of_the_checkout_that_starts_it(tmp_path, cfg):
    """A second checkout sharing the interpreter (whose editable install points at the first) starts a worker of
    its own code. Started in the lake's run/ folder, the worker used to import the installed checkout; the second
    checkout's runs then replaced it again and again, and never validated."""
    checkout = tmp_path / "checkout"
    shutil.copytree(Path(gx_client.__file__).parent, checkout / "qlake", ignore=shutil.ignore_patterns("__pycache__"))
    (checkout / "qlake" / "gx_worker.py").touch()  # this checkout's code differs from the installed one's
    script = ("import dataclasses, sys; from qlake import config, gx_client; "
              "cfg = dataclasses.replace(config.settings(), home=sys.argv[1]); "
              "gx_client.connect(cfg).close(); print(gx_client.__file__); gx_client.GxWorker(cfg).down()")
    try:
        out = subprocess.run([sys.executable, "-c", script, str(tmp_path / "lake")], cwd=checkout,
                             capture_output=True, text=True, timeout=120)
    finally:
        gx_client.GxWorker(dataclasses.replace(cfg, home=str(tmp_path / "lake"))).down()
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip() == str(checkout / "qlake" / "gx_client.py")
