"""The ``qlake`` command's first step: a `qlake run ...` command goes to the lake's warm runner (``cli.runner``);
anything else, or a run no runner takes, loads the command line (:mod:`cli.main`) and runs here.

Light on purpose: a command the runner takes costs this process the interpreter and these imports (~15 ms),
not click, logging or the command's modules.
"""

from __future__ import annotations

import os
import sys

from qlake import forkserver
from qlake.config import REPO_ROOT, Settings, settings
from qlake.resident import socket_path, source_version

GROUPS = ("run",)  # the command groups the runner serves: the scheduled, non-interactive jobs
# The packages a `qlake` command runs (pyproject.toml's [tool.setuptools.packages.find]).
PACKAGES = ("qlake", "bronze", "silver", "gold", "streaming", "jobs", "cli")
NAME = "runner"  # its socket, PID and log files in the lake's run/ folder


def code_version() -> str:
    """The code a `qlake` command runs: its packages' files, its interpreter and installed packages."""
    return source_version([REPO_ROOT / package for package in PACKAGES])


def served(argv: list[str], cfg: Settings) -> bool:
    """Does the runner take ``qlake ARGV``? (``QLAKE_RUNNER=off``: never.)"""
    return bool(argv) and argv[0] in GROUPS and cfg.runner


def forwarded(argv: list[str]) -> int | None:
    """The exit code of ``qlake ARGV`` run by the lake's runner, or None when this process is to run it."""
    try:
        cfg = settings()
    except ValueError:  # reported by the command itself
        return None
    if not served(argv, cfg):
        return None
    return forkserver.forward(socket_path(cfg, NAME), code_version(), ["qlake", *argv])


def run() -> None:
    """The ``qlake`` script and ``python -m cli``."""
    code = forwarded(sys.argv[1:])
    if code is not None:
        sys.stdout.flush()
        os._exit(code)
    from cli import main

    main.run()
