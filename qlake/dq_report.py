"""The qlake data-quality report: one static HTML page beside Data Docs, readable offline.

Built from ``ops.dq_results`` and ``ops.row_accounting`` (the counts the jobs recorded, not GX's store): every
run and table with its time, status, rules evaluated/failed, rows failed and quarantined, a link to the GX
validation page, the quarantine table's location and the SQL that shows its rows; on top, the per-rule trend
of failed rows over the last runs as a PNG (matplotlib). No script at all: the page is plain HTML and CSS.
Written to ``$QLAKE_HOME/dq/report/index.html``; the trend chart to ``dq/report/dq_trend.png``.
"""

from __future__ import annotations

import functools
import http.server
import os
import signal
import sys
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
from jinja2 import Environment, FileSystemLoader, select_autoescape
from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from qlake import catalog, dq_assets, gx_store, ops
from qlake import notebook as nb
from qlake.config import Settings

TEMPLATES = Path(__file__).resolve().parent / "templates"
DEFAULT_LAST_RUNS = 20


@dataclass(frozen=True)
class ReportFiles:
    index: Path
    trend_chart: Path
    runs: int


def report_dir(cfg: Settings) -> Path:
    return Path(cfg.dq_dir, "report")


RESULT_COLUMNS = ("table_name", "rule", "action", "evaluated", "failed", "success", "examples")


class NoResults(LookupError):
    """No data-quality results for the run asked for (or none at all)."""


def run_results(spark: SparkSession, cfg: Settings, run_id: str | None = None) -> tuple[str, list]:
    """``(run_id, rows)``: the per-rule results of a silver run (default: the latest), failures first."""
    catalog.ensure_table(spark, ops.DQ_RESULTS, cfg)
    results = catalog.read(spark, ops.DQ_RESULTS)
    if not run_id:
        run_id = results.agg(F.max_by("run_id", "checked_at").alias("r")).first()["r"]
        if run_id is None:
            raise NoResults("no data-quality results yet: run `qlake run silver` first")
    rows = (
        results.where(F.col("run_id") == run_id)
        .select(*RESULT_COLUMNS)
        .orderBy(F.col("success"), F.col("table_name"), F.col("rule"))
        .collect()
    )
    if not rows:
        raise NoResults(f"no results for run {run_id}")
    return run_id, rows


def trend_frame(trend: pd.DataFrame, last: int = DEFAULT_LAST_RUNS) -> pd.DataFrame:
    """Failed rows per ``table.rule`` (columns) over the ``last`` runs (index, oldest first): the rules that
    failed a row in one of those runs."""
    failed = nb.dq_failed_by_run(trend, only_failing=False)
    if failed.empty:
        return failed
    recent = failed.tail(last)
    return recent.loc[:, (recent > 0).any(axis=0)]


def trend_figure(trend: pd.DataFrame, last: int = DEFAULT_LAST_RUNS):
    """A matplotlib figure of failed rows per rule over the last runs (one line per rule that failed a row);
    the same figure ``qlake dq report`` saves and the data-quality notebook shows. matplotlib is imported here:
    it takes a second and only the report and the notebook draw."""
    import matplotlib

    if "ipykernel" not in sys.modules:  # a notebook keeps its inline backend
        matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    frame = trend_frame(trend, last)
    fig, ax = plt.subplots(figsize=(9, 3.6))
    runs = nb.dq_failed_by_run(trend, only_failing=False).tail(last).index if not trend.empty else []
    title = f"Failed rows per rule, last {len(runs)} run(s)"
    if frame.empty:
        ax.text(0.5, 0.5, f"no rule failed a row in the last {len(runs)} run(s)", ha="center", va="center")
        ax.set_axis_off()
    else:
        labels = [_run_label(run) for run in frame.index]
        for rule in frame.columns:
            ax.plot(range(len(frame)), frame[rule].to_numpy(), marker="o", label=rule)
        ax.set_xticks(range(len(frame)), labels, rotation=30, ha="right", fontsize="small")
        ax.set_ylabel("failed rows")
        ax.set_ylim(bottom=0)
        ax.legend(loc="center left", bbox_to_anchor=(1, 0.5), fontsize="small")
    ax.set_title(title)
    fig.tight_layout()
    return fig


def save_trend_chart(trend: pd.DataFrame, path: Path, last: int = DEFAULT_LAST_RUNS) -> Path:
    import matplotlib.pyplot as plt

    fig = trend_figure(trend, last)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def validation_pages(site: Path) -> dict[tuple[str, str], Path]:
    """(run_id, suite) -> the Data Docs validation page of that run (GX lays them out as
    ``validations/<suite>/<run name>/<run time>/<batch>.html``, older runs' pages are in ``archive/`` the same
    way, see :mod:`qlake.gx_store`; qlake's run name is the run id)."""
    pages = {}
    for page in sorted([*(site / gx_store.ARCHIVE).glob("*/*/*/*.html"), *(site / "validations").glob("*/*/*/*.html")]):
        suite, run_id = page.parts[-4], page.parts[-3]
        pages[(run_id, suite)] = page
    return pages


def run_rows(trend: pd.DataFrame, accounting: pd.DataFrame, cfg: Settings, out_dir: Path) -> list[dict]:
    """One row per run and table, newest run first: what the report's index lists."""
    if trend.empty:
        return []
    pages = validation_pages(gx_store.site_dir(cfg))
    quarantined = {(r.run_id, r.table_name): int(r.quarantined) for r in accounting.itertuples()
                   if pd.notna(r.quarantined)}
    frame = trend.assign(failed=trend["failed"].fillna(0).astype("int64"),
                         evaluated=trend["evaluated"].fillna(0).astype("int64"))
    rows = []
    for (run_id, table), group in frame.groupby(["run_id", "table_name"], sort=False):
        failing = group[group["failed"] > 0]
        broken_fail = bool(((group["action"] == "fail") & ~group["success"].astype(bool)).any())
        status = "failed" if broken_fail else ("issues" if not failing.empty else "passed")
        database, name = table.split(".", 1)
        page = pages.get((run_id, table.replace(".", "_")))
        count = quarantined.get((run_id, table))
        quarantine_table = f"{database}.quarantine_{name}"
        rows.append({
            "run_id": run_id,
            "table": table,
            "checked_at": pd.Timestamp(group["checked_at"].min()).strftime("%Y-%m-%d %H:%M:%S"),
            "status": status,
            "rules_evaluated": len(group),
            "rules_failed": len(failing),
            "rows_evaluated": int(group["evaluated"].max()),
            "rows_failed": int(failing["failed"].sum()),
            "rows_quarantined": count,
            "failing_rules": [{"rule": r.rule, "action": r.action, "failed": int(r.failed),
                               "evaluated": int(r.evaluated)} for r in failing.itertuples()],
            "docs_page": os.path.relpath(page, out_dir) if page else None,
            "quarantine_table": quarantine_table,
            "quarantine_location": cfg.table_location(database, f"quarantine_{name}") if count else None,
            "quarantine_sql": (f"SELECT * FROM {quarantine_table} WHERE run_id = '{run_id}'" if count else None),
        })
    order = {run: i for i, run in enumerate(frame.groupby("run_id")["checked_at"].min().sort_values().index)}
    rows.sort(key=lambda r: (-order[r["run_id"]], r["table"]))
    return rows


def build(spark: SparkSession, cfg: Settings, last: int = DEFAULT_LAST_RUNS) -> ReportFiles:
    """Write the report (and its trend chart) from the ops tables; make the Data Docs site offline too."""
    out_dir = report_dir(cfg)
    out_dir.mkdir(parents=True, exist_ok=True)
    dq_assets.localize_site(gx_store.site_dir(cfg))  # a site built before qlake localized its pages
    trend = nb.dq_trend(spark)
    accounting = nb.row_accounting(spark)
    chart = save_trend_chart(trend, out_dir / "dq_trend.png", last)
    rows = run_rows(trend, accounting, cfg, out_dir)
    table = trend_frame(trend, last)
    env = Environment(loader=FileSystemLoader(TEMPLATES), autoescape=select_autoescape(["html", "j2"]))
    docs_index = gx_store.site_dir(cfg) / "index.html"
    html = env.get_template("dq_report.html.j2").render(
        rows=rows,
        runs=len({r["run_id"] for r in rows}),
        last=last,
        chart=chart.name,
        trend_runs=[_run_label(run) for run in table.index],
        trend_rules=[(rule, [int(v) for v in table[rule]]) for rule in table.columns],
        docs_index=os.path.relpath(docs_index, out_dir) if docs_index.exists() else None,
        home=cfg.home,
    )
    index = out_dir / "index.html"
    index.write_text(html, encoding="utf-8")
    return ReportFiles(index=index, trend_chart=chart, runs=len({r["run_id"] for r in rows}))


def serve(cfg: Settings, port: int, on_ready=print) -> None:
    """Serve ``$QLAKE_HOME/dq`` (the report and Data Docs) on 127.0.0.1:``port`` until Ctrl-C."""
    # The embedded engine's runtime may have taken SIGINT for itself: give Ctrl-C (and a scheduler's SIGTERM)
    # back to Python so they end serve_forever.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    handler = functools.partial(_QuietHandler, directory=str(cfg.dq_dir))
    with http.server.ThreadingHTTPServer(("127.0.0.1", port), handler) as server:
        server.block_on_close = False  # a browser's idle keep-alive connection must not hold up the stop
        on_ready(f"serving http://127.0.0.1:{server.server_address[1]}/report/index.html (Ctrl-C stops)")
        try:
            server.serve_forever()
        except KeyboardInterrupt:
            on_ready("stopped")


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format, *args):  # noqa: A002 - the stdlib's signature
        pass


def _run_label(run_id: str) -> str:
    """``silver-20261202T234454Z-f886bb`` -> ``20261202T234454Z-f886bb``: the job name is the same on every run."""
    return run_id.split("-", 1)[-1]
