"""One lake, one metastore and one Sail session for the whole test run (real engine, real Delta, real HMS).

The environment is set before any test module imports qlake settings: QLAKE_HOME is a fresh temp folder and
the ports are free ones on 127.0.0.1, so a developer's running demo is never touched.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import pytest

from helpers import free_port

REPO = Path(__file__).resolve().parents[1]
SAMPLE = REPO.parent / "shared" / "data" / "raw"


def pytest_configure(config):
    home = Path(tempfile.mkdtemp(prefix="qlake-test-"))
    os.environ["QLAKE_HOME"] = str(home / "lake")
    os.environ["QLAKE_METASTORE_PORT"] = str(free_port())
    os.environ["QLAKE_KAFKA_PORT"] = str(free_port())
    os.environ["QLAKE_THRIFT_PORT"] = str(free_port())
    for name in ("QLAKE_SPARK_REMOTE", "QLAKE_METASTORE_URI", "QLAKE_KAFKA_BOOTSTRAP"):
        os.environ.pop(name, None)
    # The `qlake` processes tests start run in their own process, and start no warm runner for later ones; the
    # tests of the runner (test_forkserver.py, test_runner.py, test_hourly_runs.py) turn it on where they use it.
    os.environ["QLAKE_RUNNER"] = "off"
    config._qlake_home = home


def pytest_unconfigure(config):
    from qlake import services, spark
    from qlake.config import settings

    spark.stop()
    for line in services.down(settings()):
        pass
    home = getattr(config, "_qlake_home", None)
    if home and not os.environ.get("QLAKE_KEEP_TEST_LAKE"):
        shutil.rmtree(home, ignore_errors=True)


@pytest.fixture(scope="session")
def cfg():
    from qlake.config import settings

    return settings()


@pytest.fixture(scope="module")
def spark(cfg):
    """The run's Spark Connect session (embedded Sail + the test metastore); one per process, cached by qlake.
    Module scope only so that a test which stops it (restart test) leaves the next module a live one."""
    from qlake import spark as qspark

    return qspark.session(cfg)


@pytest.fixture(scope="session")
def sample_dir() -> Path:
    """The real sample deliveries; CI always has ../shared beside the clone, so a missing one fails (a skip
    would pass every test that needs the real data)."""
    if not SAMPLE.is_dir():
        pytest.fail(f"the real sample is missing: {SAMPLE} (../shared/data/raw beside the checkout)")
    return SAMPLE


def pytest_terminal_summary(terminalreporter):
    """Figures the suites publish (kill points, bad input kinds...), shown even with -q."""
    from helpers import SUMMARY

    if SUMMARY:
        terminalreporter.section("qlake figures")
        for key, value in SUMMARY.items():
            terminalreporter.write_line(f"{key}: {value}")
