"""The warm runner from the command line (cli.launch, cli.runner): which commands it takes, how one starts, and
how a runner of other code is replaced. Its hourly runs are in test_hourly_runs.py; the fork server's contract
(streams, signals, exit codes) in test_forkserver.py."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from helpers import qlake

REPO = Path(__file__).resolve().parents[1]


ON = {"QLAKE_RUNNER": "on"}  # the suite's other processes run with it off (conftest)


@pytest.fixture
def runner(cfg):
    from cli.runner import Runner

    service = Runner(cfg)
    service.down()
    yield service
    service.down()


def _wait(condition, seconds: float = 60) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.1)
    return False


def _log_since(runner, size: int) -> str:
    return runner.log_file.read_bytes()[size:].decode()


def test_a_run_without_a_runner_runs_itself_and_starts_one_for_the_next(runner):
    first = qlake("run", "daily", "--date", "2026-13-45", env=ON, timeout=300)
    assert first.returncode == 2 and "Invalid value for '--date'" in first.stderr, first.stderr
    assert _wait(runner.running), "no runner started after the first run"
    logged = runner.log_file.stat().st_size

    # the same usage error, from the runner's child
    second = qlake("run", "daily", "--date", "2026-13-45", env=ON, timeout=300)
    assert (second.returncode, second.stdout, second.stderr) == (first.returncode, first.stdout, first.stderr)
    log = _log_since(runner, logged)
    assert ": qlake run daily --date 2026-13-45 (in " in log and log.endswith(": exit 2\n"), log


def test_only_run_commands_go_to_the_runner_and_off_means_none(runner):
    runner.up()
    logged = runner.log_file.stat().st_size
    assert qlake("run", "--help", env=ON, timeout=300).returncode == 0
    assert qlake("run", "--help", env={"QLAKE_RUNNER": "off"}, timeout=300).returncode == 0
    assert qlake("services", "status", "--json", env=ON, timeout=300).returncode == 0
    log = _log_since(runner, logged)
    assert log.count(": qlake run --help (in ") == 1, log


def test_a_runner_of_other_code_is_replaced_by_one_of_the_callers(runner):
    runner.up()
    before = runner.pid()
    source = REPO / "cli" / "launch.py"
    stat = source.stat()
    os.utime(source, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))  # an upgrade, as the runner sees it
    try:
        out = qlake("run", "--help", env=ON, timeout=300)
        assert out.returncode == 0 and "Run pipeline jobs" in out.stdout, out.stderr
        assert "a caller of other code came" in runner.log_file.read_text()
        assert _wait(lambda: runner.running() and runner.pid() != before), "the runner was not replaced"
    finally:
        os.utime(source, ns=(stat.st_atime_ns, stat.st_mtime_ns))


def test_the_launcher_loads_neither_the_command_line_nor_the_engine():
    probe = "import sys, cli.launch; print(' '.join(sorted(sys.modules)))"
    loaded = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, cwd=REPO,
                            check=True).stdout.split()
    heavy = {"click", "logging", "pandas", "pyarrow", "pyspark", "deltalake", "jobs", "cli.main"}
    assert heavy.isdisjoint(loaded), heavy & set(loaded)
