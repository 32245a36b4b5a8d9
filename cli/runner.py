"""The warm runner: `qlake run ...` commands in fresh children of a resident process that has already imported
them (:mod:`qlake.forkserver`), one per lake, beside the metastore and the GX worker.

Measured on the 1M-row lake (2026-12-07): a `qlake run hourly` process imports for ~0.5 s before it asks the
engine anything, and its check for new work imports pandas; through the runner the command starts with those
imports done. It is one of the lake's services (`qlake services up/down/status`). The first `qlake run` without
one runs in its own process, as before, and starts one as it ends, for the next run; a runner of other code (an
upgrade, another checkout) is refused and leaves, and the run starts one of its own code. ``QLAKE_RUNNER=off``
runs every command in its own process.

``python -m cli.runner SOCKET`` is the runner itself: it imports the commands' modules, then serves.
"""

from __future__ import annotations

import importlib
import sys

from cli import launch
from qlake import forkserver
from qlake.config import Settings, settings
from qlake.services import SocketService

# What the runner imports up front (and the engine's library): what a `qlake run` command imports before its work
# starts (~0.8 s).
WARM_MODULES = ("cli.main", "cli.pipeline", "pyspark.sql.connect.session", "pandas")


class Runner(SocketService):
    def __init__(self, settings: Settings):
        super().__init__(launch.NAME, settings)

    def command(self) -> list[str]:
        return [sys.executable, "-m", "cli.runner", self.socket]

    def env(self) -> dict[str, str]:
        # One BLAS thread: a forked child gets no thread of its parent's (none is needed: nothing here is numeric).
        return {**super().env(), "OPENBLAS_NUM_THREADS": "1"}

    def start_detached(self) -> None:
        """Start a runner for the next command without waiting for it (it imports for ~1 s of CPU)."""
        if self.pid() is None:  # not running, nor still importing
            self.spawn()


def start_for_next(argv: list[str]) -> None:
    """After a command the runner would have taken ran in its own process: have a runner for the next one."""
    try:
        cfg = settings()
        if launch.served(argv, cfg):
            Runner(cfg).start_detached()
    except (OSError, ValueError):  # the command has ended; the next one runs in its own process again
        pass


def main() -> None:
    code = launch.code_version()  # the code as it is loaded now, whatever changes on disk later
    for name in WARM_MODULES:
        importlib.import_module(name)
    from qlake import spark  # heavy: the Connect client (loaded above)

    if not settings().spark_remote:  # the embedded engine's library, with its allocator's settings (a child
        spark.load_engine_library()  # cannot change them once it is loaded); a remote engine never loads it
    # cli.main (which imports this module) runs each command: a child of the runner runs it as its caller would
    forkserver.serve(sys.argv[1], code, sys.modules["cli.main"].run_here)


if __name__ == "__main__":
    main()
