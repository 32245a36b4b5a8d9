"""The data-quality report and Data Docs, opened in headless Debian Chromium with the network shut off.

Two hourly silver runs of the sample (group 1, then group 2) give ``ops.dq_results`` two runs of three tables;
the report must list each of them with its table and failed counts in the page the browser rendered, Data Docs
must build its run table offline (its scripts are vendored) and name each validation's table, and no page may
reference a non-local URL. Screenshots are kept under the lake (``dq/report/screenshots/``).
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from helpers import free_port
from helpers import reset_lake

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_FLAGS = (
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    # no network: every proxied request goes to a closed port and no name resolves, except loopback
    "--proxy-server=127.0.0.1:9", "--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1",
    "--virtual-time-budget=8000", "--window-size=1400,1000",
)


@pytest.fixture(scope="session")
def chromium() -> str:
    """Debian's chromium, installed here when missing on CI or as root (a fresh machine running `make test`);
    a missing browser fails the test, it never skips it."""
    if not Path(CHROMIUM).exists() and (os.environ.get("CI") == "true" or os.geteuid() == 0):
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        subprocess.run(["apt-get", "update", "-qq"], env=env, capture_output=True, timeout=600)
        done = subprocess.run(["apt-get", "install", "-y", "-qq", "chromium"], env=env, capture_output=True,
                              text=True, timeout=900)
        if done.returncode != 0:
            pytest.fail(f"apt-get install chromium failed: {done.stderr[-2000:]}")
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: apt-get install -y chromium")
    return CHROMIUM


def browse(chromium: str, url: str, *, screenshot: Path | None = None) -> str:
    """The DOM of ``url`` after its scripts ran (``--dump-dom``), or a screenshot; a new empty profile each time."""
    with tempfile.TemporaryDirectory(prefix="qlake-chromium-") as profile:
        action = [f"--screenshot={screenshot}"] if screenshot else ["--dump-dom"]
        done = subprocess.run([chromium, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", *action, url],
                              capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


@pytest.fixture(scope="module")
def lake(spark, cfg, sample_dir):
    """Two hourly silver runs: group 1, then group 2 (group 2 redelivers some of group 1)."""
    from bronze import ingest
    from silver import job as silver_job

    reset_lake(spark, cfg)
    shutil.rmtree(Path(cfg.dq_dir), ignore_errors=True)
    runs = []
    for group in ("group1", "group2"):
        ingest.ingest(spark, cfg, [sample_dir / group])
        runs.append(silver_job.run(spark, cfg).run_id)
    return runs


@pytest.fixture(scope="module")
def report(lake, spark, cfg):
    from qlake import dq_report

    return dq_report.build(spark, cfg, last=10)


def validated(runs, prefix: str) -> list[tuple[str, str]]:
    """(run, table) validated: group 1 brings all three tables, group 2 only new transactions (its branch
    and agent files are redeliveries of group 1's, so silver has nothing of theirs to check)."""
    first, second = runs
    return [(first, f"{prefix}{t}") for t in ("branches", "sales_agents", "sales_transactions")] + \
        [(second, f"{prefix}sales_transactions")]


def recorded(spark, run_ids):
    """(run, table) -> (rules evaluated, rules failed, rows failed) as ops.dq_results holds them."""
    rows = spark.sql(
        "select run_id, table_name, count(*) as rules, sum(case when failed > 0 then 1 else 0 end) as rules_failed, "
        "sum(case when failed > 0 then failed else 0 end) as rows_failed from ops.dq_results "
        f"where run_id in ({', '.join(repr(r) for r in run_ids)}) group by run_id, table_name"
    ).collect()
    return {(r.run_id, r.table_name): (r.rules, r.rules_failed, r.rows_failed) for r in rows}


def row_cells(dom: str, run_id: str, table: str) -> list[str]:
    match = re.search(rf'<tr class="run" data-run="{re.escape(run_id)}" data-table="{re.escape(table)}">(.*?)</tr>',
                      dom, re.S)
    assert match, f"no report row for {run_id} {table}"
    return [re.sub(r"<[^>]+>", " ", c).strip() for c in re.findall(r"<td[^>]*>(.*?)</td>", match.group(1), re.S)]


def test_report_lists_every_run_in_the_browser(lake, report, spark, cfg, chromium):
    counts = recorded(spark, lake)
    assert sorted(counts) == sorted(validated(lake, "silver."))
    dom = browse(chromium, report.index.as_uri())
    assert report.runs == 2 and "2 silver run(s)" in dom
    quarantined = {(r.run_id, r.table_name): r.quarantined for r in spark.sql(
        "select run_id, table_name, quarantined from ops.row_accounting").collect()}
    for (run_id, table), (rules, rules_failed, rows_failed) in counts.items():
        cells = row_cells(dom, run_id, table)
        assert cells[:2] == [run_id, table]
        assert cells[4:6] == [str(rules), str(rules_failed)]
        assert cells[7] == str(rows_failed)
        expected_q = quarantined.get((run_id, table))
        assert cells[8] == ("—" if expected_q is None else str(expected_q))
        assert cells[3] == ("issues" if rules_failed else "passed")
        if expected_q:
            assert f"SELECT * FROM silver.quarantine_{table.split('.')[1]} WHERE run_id = '{run_id}'" in cells[11]
            assert cfg.table_location("silver", f"quarantine_{table.split('.')[1]}") in cells[11]
    # the sample's one failing warn rule: online rows without a city
    city = spark.sql("select run_id, failed from ops.dq_results where rule = 'online_city_known'").collect()
    assert sum(r.failed for r in city) == 2
    for r in city:
        if r.failed:
            assert f"online_city_known (warn): {r.failed} /" in dom
    assert 'id="trend-chart" src="dq_trend.png"' in dom and "sales_transactions.online_city_known" in dom
    png = report.trend_chart.read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 10_000
    shots = Path(cfg.dq_dir, "report", "screenshots")
    shots.mkdir(parents=True, exist_ok=True)
    browse(chromium, report.index.as_uri(), screenshot=shots / "dq_report.png")
    assert (shots / "dq_report.png").read_bytes()[:4] == b"\x89PNG"


def test_data_docs_render_offline_and_name_the_table(lake, report, cfg, chromium):
    from qlake import dq_report, gx_store

    site = gx_store.site_dir(cfg)
    dom = browse(chromium, (site / "index.html").as_uri())
    # bootstrap-table (vendored) builds the run table from the page's data: one row per validation
    for run_id, suite in validated(lake, "silver_"):
        assert re.search(rf'validations/{suite}/{run_id}/[^"]+\.html" data-index="\d+"', dom), (run_id, suite)
    assert "Showing 1 to 4 of 4 rows" in dom
    pages = dq_report.validation_pages(site)
    page = pages[(lake[0], "silver_sales_transactions")]
    dom = browse(chromium, page.as_uri())
    assert re.search(r"Data asset:\s*</span>\s*<span[^>]*>\s*silver\.sales_transactions", dom) or \
        "Data asset: silver.sales_transactions" in re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", dom))
    assert "Data asset: None" not in re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", dom))
    shots = Path(cfg.dq_dir, "report", "screenshots")
    shots.mkdir(parents=True, exist_ok=True)
    browse(chromium, (site / "index.html").as_uri(), screenshot=shots / "data_docs_index.png")
    browse(chromium, page.as_uri(), screenshot=shots / "data_docs_validation.png")


def test_no_page_references_a_non_local_url(lake, report, cfg):
    from qlake import dq_assets

    pages = list(Path(cfg.dq_dir).rglob("*.html"))
    assert len(pages) == 9  # the report, the Data Docs index, 3 suites and 4 validations
    assert dq_assets.remote_references(Path(cfg.dq_dir)) == []
    # every local reference resolves to a file that exists
    for page in pages:
        for ref in re.findall(r'''(?:src|href)="([^"#:]+)"''', page.read_text(encoding="utf-8")):
            assert (page.parent / ref).exists(), (page, ref)


def test_dq_report_serve(lake, cfg, chromium):
    """`qlake dq report --serve` prints the paths, serves the report on 127.0.0.1 and stops on Ctrl-C."""
    port = free_port()
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    proc = subprocess.Popen([sys.executable, "-m", "cli", "dq", "report", "--serve", "--port", str(port)],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
    lines = []
    try:
        for line in proc.stdout:
            lines.append(line)
            if line.startswith("serving "):
                break
        out = "".join(lines)
        assert f"serving http://127.0.0.1:{port}/report/index.html" in out, out
        assert f"DQ report: {Path(cfg.dq_dir, 'report', 'index.html')} (2 runs)" in out
        assert f"DQ trend chart: {Path(cfg.dq_dir, 'report', 'dq_trend.png')}" in out
        dom = browse(chromium, f"http://127.0.0.1:{port}/report/index.html")
        for run_id in lake:
            assert f'data-run="{run_id}" data-table="silver.sales_transactions"' in dom
        dom = browse(chromium, f"http://127.0.0.1:{port}/gx/uncommitted/data_docs/local_site/index.html")
        assert "Showing 1 to 4 of 4 rows" in dom
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            rest, _ = proc.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
            rest, _ = proc.communicate()
            pytest.fail("dq report --serve did not stop on Ctrl-C: " + "".join(lines) + rest)
    assert proc.returncode == 0, "".join(lines) + rest
    assert "stopped" in rest, rest
