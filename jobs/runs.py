"""How a job run is held and logged: the pipeline's one-writer lock and the ``ops.job_runs`` record around it.

Silver and gold have one writer at a time: `run hourly`, `run silver`, `run gold` and `replay` share the hourly
job's lock (the jobs rely on it: e.g. a table created empty by this run has no rows to look up).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

from pyspark.sql import SparkSession

from qlake import runlog, spark
from qlake.config import Settings
from qlake.quality import DataQualityFailure
from silver.accounting import AccountingError

Echo = Callable[[str], None]


class PipelineBusy(Exception):
    """Another run holds the pipeline's lock: nothing was done, the run can simply be started again later."""


# Failures a person acts on from their message alone (the command line prints it, no traceback).
USER_ERRORS = (PipelineBusy, DataQualityFailure, AccountingError)


@contextmanager
def pipeline_lock(cfg: Settings, job: str) -> Iterator[None]:
    """The hourly job's lock for ``job``'s block; raises :class:`PipelineBusy` at once when another run holds it."""
    with runlog.job_lock(cfg, "hourly") as acquired:
        if not acquired:
            raise PipelineBusy(f"{job}: an hourly run (or another silver/gold/replay run) is in progress; "
                               "run it again when that ends")
        yield


@contextmanager
def locked_run(cfg: Settings, job: str) -> Iterator[tuple[SparkSession, runlog.RunRecord]]:
    """A run of ``job`` under the pipeline lock, on the process's session, logged in ``ops.job_runs``."""
    with pipeline_lock(cfg, job):
        session = spark.session(cfg)
        with runlog.recorded(session, cfg, job) as record:
            yield session, record


@contextmanager
def exclusive_run(session: SparkSession, cfg: Settings, job: str, echo: Echo,
                  on_acquired: Callable[[], object] | None = None) -> Iterator[runlog.RunRecord | None]:
    """A run of a scheduled job (``hourly``, ``daily``) under its own lock, logged in ``ops.job_runs``; yields
    None (recorded as skipped) when the previous run of that job still holds the lock. ``on_acquired`` runs
    once the lock is held, before the run's record starts (e.g. a background import the run will need)."""
    with runlog.exclusive(session, cfg, job) as acquired:
        if not acquired:
            echo(f"{job}: skipped, the previous run is still in progress")
            yield None
            return
        if on_acquired is not None:
            on_acquired()
        with runlog.recorded(session, cfg, job) as record:
            yield record
