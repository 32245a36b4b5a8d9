"""Click commands of the streaming pipeline, registered on the main ``qlake`` CLI:

    qlake produce [--count N] [--duration S] [--rate R] [--seed S] [--start TS] [--extra-field-ratio P] [--malformed-ratio P]
    qlake stream [--available-now] [--max-offsets-per-trigger N] [--trigger-interval "1 second"] [--watermark ...]
                 [--read-on driver|executors]
    qlake stream status [--json]
    qlake stream compact [--retention-hours H] [--json]    (schedule it, e.g. hourly: see README)
    qlake report stream [--follow] [--interval S]

Heavy by design: the stream's modules load pyarrow, deltalake, Kafka and classic Spark (seconds of imports), and
`qlake stream status` or `qlake produce` need none of that, so each command imports what it runs inside its body.
"""

from __future__ import annotations

import json

import click
from rich.console import Console
from rich.table import Table

from qlake.broker import ensure_broker
from qlake.config import settings as load_settings


@click.command("produce")
@click.option("--count", "-n", type=click.IntRange(min=0), default=None, help="Messages to send (default: until Ctrl-C).")
@click.option("--duration", type=click.FloatRange(min=0, min_open=True), default=None,
              help="Seconds to send for (with --count: whichever comes first).")
@click.option("--rate", type=float, default=None, help="Events per second (default: as fast as possible).")
@click.option("--seed", type=int, default=None, help="Same seed, same messages (timestamps included).")
@click.option("--start", default=None, help="First event time, YYYY-MM-DDTHH:MM:SS (default: now, or fixed if seeded).")
@click.option("--extra-field-ratio", type=click.FloatRange(0, 1), default=0.0, help="Share of events with an unknown field.")
@click.option("--malformed-ratio", type=click.FloatRange(0, 1), default=0.0, help="Share of malformed messages.")
@click.option("--quiet", is_flag=True, help="No progress lines.")
def produce(count, duration, rate, seed, start, extra_field_ratio, malformed_ratio, quiet):
    """Send synthetic app events to the Kafka topic."""
    from streaming.producer import produce as run_producer

    cfg = load_settings()
    ensure_broker(cfg)
    result = run_producer(
        cfg, count=count, duration=duration, rate=rate, seed=seed, start=start, extra_field_ratio=extra_field_ratio,
        malformed_ratio=malformed_ratio, progress=not quiet,
    )
    click.echo(json.dumps(result, indent=2))


@click.group("stream", invoke_without_command=True)
@click.option("--available-now", is_flag=True, help="Process everything in the topic now, then stop.")
@click.option("--max-offsets-per-trigger", type=click.IntRange(min=1), default=None, help="Cap per micro-batch.")
@click.option("--trigger-interval", default=None, help='Micro-batch interval, e.g. "1 second" (continuous mode).')
@click.option("--starting-offsets", type=click.Choice(["earliest", "latest"]), default="earliest",
              help="Where a brand-new query starts (ignored once the checkpoint exists).")
@click.option("--watermark", default=None, help='How late an event may be and still count in reports, e.g. "10 minutes".')
@click.option("--read-on", type=click.Choice(["driver", "executors"]), default=None,
              help="Where Kafka records are read: in the driver's source process (default) or by Spark tasks.")
@click.pass_context
def stream(ctx, available_now, max_offsets_per_trigger, trigger_interval, starting_offsets, watermark, read_on):
    """Run the app events stream (Kafka -> bronze/silver/gold Delta). SIGTERM stops it after the current batch."""
    if ctx.invoked_subcommand is not None:
        return
    from streaming.job import DEFAULT_TRIGGER, DEFAULT_WATERMARK, StreamOptions, run

    options = StreamOptions(
        available_now=available_now,
        max_offsets_per_trigger=max_offsets_per_trigger,
        trigger_interval=trigger_interval or DEFAULT_TRIGGER,
        starting_offsets=starting_offsets,
        watermark=watermark or DEFAULT_WATERMARK,
        read_on=read_on,
    )
    ctx.exit(run(load_settings(), options))


@stream.command("status")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def stream_status(as_json):
    """Is the stream running, its last committed batch, and the lag per partition."""
    from streaming.state import status

    info = status(load_settings())
    if as_json:
        click.echo(json.dumps(info, indent=2, default=str))
        return
    console = Console()
    console.print(f"stream: [bold]{'running (pid %s)' % info['pid'] if info['running'] else 'not running'}[/bold]")
    console.print(f"query id: {info.get('query_id') or '-'}   checkpoint: {info['checkpoint']}")
    console.print(f"last committed batch: {info.get('last_committed_batch', '-')}"
                  f"   (bronze txn batch {info.get('bronze_txn_batch', '-')})")
    last = info.get("last_batch") or {}
    if last:
        console.print(f"last batch: {last.get('rows', 0):,} rows in {last.get('duration', 0):.2f}s,"
                      f" watermark {last.get('watermark')}")
    if info.get("broker_error"):
        console.print(f"[red]broker unreachable:[/red] {info['broker_error']}")
    table = Table(title="lag per partition")
    for column in ("partition", "committed offset", "end offset", "lag"):
        table.add_column(column, justify="right")
    for p, end in (info.get("end_offsets") or {}).items():
        table.add_row(p, f"{info['committed_offsets'].get(p, 0):,}", f"{end:,}", f"{info['lag'][p]:,}")
    console.print(table)


@stream.command("compact")
@click.option("--retention-hours", type=click.IntRange(min=0), default=None,
              help="Vacuum keeps unreferenced files younger than this (default 1).")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def stream_compact(retention_hours, as_json):
    """Merge the stream tables' small files and vacuum them (safe while the stream runs)."""
    from streaming.compaction import RETENTION_HOURS, compact

    results = compact(load_settings(), retention_hours=RETENTION_HOURS if retention_hours is None else retention_hours)
    if as_json:
        click.echo(json.dumps(results, indent=2))
        return
    for r in results:
        note = f"  ({r['error']})" if r["error"] else ("" if r["compacted"] else "  (vacuum only: stream running)")
        click.echo(f"{r['table']}: {r['files_before']:,} -> {r['files_after']:,} files in {r['seconds']:.1f}s{note}")
    if any(r["error"] for r in results):
        raise SystemExit(1)


@click.command("stream")
@click.option("--follow", "-f", is_flag=True, help="Refresh until Ctrl-C.")
@click.option("--interval", type=float, default=5.0, show_default=True, help="Seconds between refreshes.")
@click.option("--minutes", type=int, default=5, show_default=True, help="Minute windows to show.")
@click.option("--top", type=int, default=5, show_default=True, help="Leaders per list.")
def report_stream(follow, interval, minutes, top):
    """Latest live windows: funnel, revenue by payment method, top products and categories."""
    from streaming.report import show

    show(load_settings(), follow=follow, interval=interval, minutes=minutes, top=top)

