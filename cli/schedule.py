"""`qlake schedule`: the cron scheduler of the jobs. Its own module, so a scheduled run's process (`qlake run
hourly`) does not import APScheduler."""

from __future__ import annotations

import logging

import click

from qlake import schedule
from qlake.config import settings


@click.command("schedule")
@click.option("--job", "selected", multiple=True, type=click.Choice(["hourly", "daily", "stream-compact"]),
              help="only these jobs")
def schedule_cmd(selected: tuple[str, ...]) -> None:
    """Run `run hourly` (ingesting QLAKE_INCOMING), `run daily` and `stream compact` on their cron schedules until
    stopped."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    logging.getLogger("apscheduler").setLevel(logging.WARNING)
    schedule.run_scheduler(settings(), selected=list(selected) or None)
