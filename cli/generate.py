"""`qlake generate`: deterministic delivery groups for demos, tests and benches."""

from __future__ import annotations

import click

from qlake.generate import generate


@click.command("generate")
@click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False), help="folder for group1..N")
@click.option("--groups", default=3, show_default=True, type=click.IntRange(1))
@click.option("--rows", default=1500, show_default=True, type=click.IntRange(1), help="transactions per group")
@click.option("--seed", default=42, show_default=True, type=int)
@click.option("--start-group", default=1, show_default=True, type=click.IntRange(1))
@click.option("--no-redeliver", is_flag=True, help="do not make the last group a re-delivery of group 1")
def generate_cmd(out_dir: str, groups: int, rows: int, seed: int, start_group: int, no_redeliver: bool) -> None:
    """Write deterministic hourly delivery groups with every kind of dirt the real files have."""
    for folder in generate(out_dir, groups=groups, rows=rows, seed=seed, redeliver=not no_redeliver,
                           start_group=start_group):
        click.echo(str(folder))
