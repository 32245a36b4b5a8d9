"""qlake.forkserver, in real processes: a server of small commands and its callers.

The commands are tiny (echo, sleep, raise) so that what is tested is the server's contract: a child has its
caller's streams, directory, environment and arguments; its exit code, traceback and death are its caller's;
a caller of other code is refused and the server leaves.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SERVER = """
import os, sys, time
from qlake import forkserver

def entry():
    command = sys.argv[1]
    if command == "echo":
        print(os.getcwd(), os.environ.get("PROBE"), sys.stdin.readline().strip(), sep="|", flush=True)
        os._exit(3)
    if command == "sleep":
        print(os.getpid(), flush=True)
        time.sleep(float(sys.argv[2]) if len(sys.argv) > 2 else 60)
        os._exit(0)
    raise ValueError("boom")

forkserver.serve(sys.argv[1], "code-1", entry)
"""
CLIENT = """
import sys
from qlake import forkserver
code = forkserver.forward(sys.argv[1], sys.argv[2], ["command", *sys.argv[3:]])
if code is None:
    print("not forwarded", flush=True)
sys.exit(99 if code is None else code)
"""


@pytest.fixture
def server(tmp_path):
    path = str(tmp_path / "s.sock")
    proc = subprocess.Popen([sys.executable, "-c", SERVER, path], cwd=REPO, stdout=subprocess.PIPE, text=True,
                            env={**os.environ, "PYTHONPATH": str(REPO)})
    deadline = time.monotonic() + 30
    while not os.path.exists(path) and time.monotonic() < deadline:
        time.sleep(0.02)
    yield path, proc
    proc.kill()
    proc.wait()


def _client(path: str, *argv: str, code: str = "code-1", **kwargs) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", CLIENT, path, code, *argv], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "PYTHONPATH": str(REPO), **kwargs.pop("env", {})}, **kwargs)


def _gone(pid: int, within: float = 10) -> bool:
    """Has the process ended (a zombie not yet reaped by whoever adopted it counts as ended)?"""
    deadline = time.monotonic() + within
    while True:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except (FileNotFoundError, ProcessLookupError):
            return True
        if state == "Z":
            return True
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)


def test_a_child_has_its_callers_directory_environment_streams_and_exit_code(server, tmp_path):
    path, _ = server
    out, err = _client(path, "echo", cwd=tmp_path, env={"PROBE": "probe-7"}).communicate("from stdin\n", 60)
    assert out == f"{tmp_path}|probe-7|from stdin\n", err
    caller = _client(path, "echo", cwd=tmp_path)
    caller.communicate("\n", 60)
    assert caller.returncode == 3


def test_a_commands_traceback_reaches_its_caller(server):
    path, _ = server
    caller = _client(path, "raise")
    out, err = caller.communicate(timeout=60)
    assert caller.returncode == 70, (out, err)
    assert err.strip().splitlines()[-1] == "ValueError: boom"


def test_a_signal_to_the_caller_reaches_its_child_and_ends_both_the_same_way(server):
    path, _ = server
    caller = _client(path, "sleep")
    child = int(caller.stdout.readline())
    caller.send_signal(signal.SIGTERM)
    assert caller.wait(30) == -signal.SIGTERM
    assert _gone(child)


def test_a_child_killed_from_outside_ends_its_caller_by_the_same_signal(server):
    path, _ = server
    caller = _client(path, "sleep")
    child = int(caller.stdout.readline())
    os.kill(child, signal.SIGKILL)  # as the kernel's out-of-memory killer would
    assert caller.wait(30) == -signal.SIGKILL


def test_a_caller_that_dies_takes_its_child_with_it(server):
    path, _ = server
    caller = _client(path, "sleep")
    child = int(caller.stdout.readline())
    caller.kill()  # SIGKILL: nothing is passed on; the server sees the connection close
    caller.wait(30)
    assert _gone(child)


def test_a_caller_whose_server_dies_waits_for_its_command_and_says_so(server):
    path, proc = server
    caller = _client(path, "sleep", "1.5")
    child = int(caller.stdout.readline())
    proc.kill()
    _, err = caller.communicate(timeout=30)
    assert caller.returncode == 1, err
    assert f"the warm runner stopped during its command (pid {child})" in err
    assert _gone(child, within=0)


def test_a_caller_of_other_code_is_refused_and_the_server_leaves(server):
    path, proc = server
    caller = _client(path, "echo", code="code-2")
    out, _ = caller.communicate("\n", 60)
    assert (caller.returncode, out) == (99, "not forwarded\n")
    assert proc.wait(30) == 0
    assert not os.path.exists(path)
    log = proc.stdout.read()
    assert "a caller of other code came" in log, log


def test_no_server_means_the_caller_runs_the_command_itself(tmp_path):
    caller = _client(str(tmp_path / "none.sock"), "echo")
    out, _ = caller.communicate("\n", 60)
    assert (caller.returncode, out) == (99, "not forwarded\n")
