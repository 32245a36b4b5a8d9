"""`qlake schedule`: run `qlake run hourly`, `qlake run daily` and `qlake stream compact` on cron schedules
(APScheduler).

Each run is a fresh `qlake` process, so one failing run never takes the scheduler down and the next run still
happens. One run at a time per job is enforced by the job itself (a lock file: an overlapping trigger is
recorded as `skipped` in ops.job_runs), so manual runs and other schedulers are covered too. On start, a job
whose last cron slot passed without a run (machine down, scheduler stopped) is run once right away (not the
stream compaction: its next slot is minutes away).

Cron expressions come from config (QLAKE_HOURLY_CRON, QLAKE_DAILY_CRON, QLAKE_STREAM_COMPACT_CRON): five fields as
in crontab, or six
with seconds first (used by tests).
"""

from __future__ import annotations

import logging
import subprocess
import sys
import threading
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path

from apscheduler.schedulers.blocking import BlockingScheduler
from apscheduler.triggers.cron import CronTrigger

from qlake import runlog
from qlake.config import Settings

log = logging.getLogger("qlake.schedule")


def trigger(expression: str) -> CronTrigger:
    fields = expression.split()
    if len(fields) == 5:
        return CronTrigger.from_crontab(expression, timezone=timezone.utc)
    if len(fields) == 6:
        second, minute, hour, day, month, dow = fields
        return CronTrigger(second=second, minute=minute, hour=hour, day=day, month=month, day_of_week=dow,
                           timezone=timezone.utc)
    raise ValueError(f"cron expression needs 5 or 6 fields, got {expression!r}")


def previous_fire(cron: CronTrigger, now: datetime, horizon: timedelta = timedelta(days=2)) -> datetime | None:
    """The last time ``cron`` fired at or before ``now`` (searched within ``horizon``)."""
    fire, last = cron.get_next_fire_time(None, now - horizon), None
    while fire is not None and fire <= now:
        last = fire
        fire = cron.get_next_fire_time(fire, fire + timedelta(microseconds=1))
    return last


@dataclass
class ScheduledJob:
    name: str
    cron: str
    argv: list[str]
    catch_up: bool = True  # run at once when its last slot was missed (a frequent upkeep job needs not)

    def run(self) -> int:
        """One run of the job in its own process; returns its exit code (logged, never raised)."""
        log.info("%s: starting %s", self.name, " ".join(self.argv))
        # `python -m cli` is the `qlake` command of this interpreter's installation, without relying on the
        # script being on PATH (or regenerated after an upgrade)
        proc = subprocess.run([sys.executable, "-m", "cli", *self.argv], capture_output=True, text=True)
        tail = (proc.stdout.strip().splitlines() or [""])[-1]
        if proc.returncode:
            err = (proc.stderr.strip().splitlines() or [""])[-1]
            log.warning("%s: exit %s — %s", self.name, proc.returncode, err or tail)
        else:
            log.info("%s: done — %s", self.name, tail)
        return proc.returncode


def jobs(cfg: Settings) -> list[ScheduledJob]:
    return [
        ScheduledJob("hourly", cfg.hourly_cron, ["run", "hourly", "--incoming", cfg.incoming_dir]),
        ScheduledJob("daily", cfg.daily_cron, ["run", "daily"]),
        # the stream tables' small files (streaming.compaction: safe while the stream runs)
        ScheduledJob("stream-compact", cfg.stream_compact_cron, ["stream", "compact"], catch_up=False),
    ]


def missed(cfg: Settings, job: ScheduledJob, now: datetime) -> bool:
    """True when the job's latest cron slot passed with no run started at or after it."""
    slot = previous_fire(trigger(job.cron), now)
    if slot is None:
        return False
    runs = [r for r in runlog.last_runs(cfg, job.name) if r["status"] != "skipped"]
    if not runs:
        return True
    last = runs[-1]["started_at"]
    last = last if last.tzinfo else last.replace(tzinfo=timezone.utc)
    return last < slot


def run_scheduler(cfg: Settings, stop: threading.Event | None = None, selected: list[str] | None = None) -> None:
    Path(cfg.incoming_dir).mkdir(parents=True, exist_ok=True)
    scheduler = BlockingScheduler(timezone=timezone.utc)
    now = datetime.now(timezone.utc)
    for job in jobs(cfg):
        if selected and job.name not in selected:
            continue
        # Several instances may start: the job's own lock decides, and records the skipped ones.
        scheduler.add_job(job.run, trigger(job.cron), id=job.name, name=job.name, max_instances=3,
                          coalesce=True, misfire_grace_time=3600)
        if job.catch_up and missed(cfg, job, now):
            log.info("%s: missed its last slot, catching up now", job.name)
            scheduler.add_job(job.run, id=f"{job.name}-catch-up", name=f"{job.name} (catch-up)")
    if stop is not None:
        threading.Thread(target=lambda: (stop.wait(), scheduler.shutdown(wait=True)), daemon=True).start()
    log.info("scheduler started: %s", ", ".join(f"{j.name}@{j.cron}" for j in jobs(cfg)))
    scheduler.start()
