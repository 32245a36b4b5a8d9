"""The notebooks in notebooks/ run headless (nbclient) against a lake built here from the real sample.

The kernel is a separate process running this venv's Python (a kernelspec made for the run points at
``sys.executable``). It inherits QLAKE_HOME / QLAKE_METASTORE_PORT from tests/conftest.py, starts its own embedded
Sail and reaches the same Hive metastore, so it sees the tables this module built.
"""

from __future__ import annotations

import json
import os
import sys
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path

import nbclient
import nbformat
import pytest

from helpers import drop_tables, reset_lake

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"
NAMES = ("marketing_report", "data_quality", "stream_monitor")
KERNEL = "qlake-test-venv"
# What a notebook must never do: it reads and plots, the jobs define and write the tables.
WRITES = ("saveAsTable", "insertInto", ".write", "writeStream", "CREATE TABLE", "INSERT ", "MERGE ", "DROP ",
          "DELETE FROM", "ensure_table", "catalog.append", "catalog.merge", "catalog.overwrite")


@pytest.fixture(scope="module")
def lake(spark, cfg, sample_dir):
    from bronze import ingest
    from gold import job as gold_job
    from silver import job as silver_job

    reset_lake(spark, cfg)
    ingest.ingest(spark, cfg, [sample_dir])
    silver_job.run(spark, cfg)
    gold_job.run(spark, cfg)
    return cfg


@pytest.fixture(scope="module")
def kernel_specs(tmp_path_factory):
    """A kernelspec that runs this venv's interpreter, found only by the kernel managers of this module."""
    from jupyter_client.kernelspec import KernelSpecManager

    kernels = tmp_path_factory.mktemp("jupyter") / "kernels"
    spec_dir = kernels / KERNEL
    spec_dir.mkdir(parents=True)
    (spec_dir / "kernel.json").write_text(json.dumps({
        "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "qlake venv (tests)",
        "language": "python",
    }))
    return KernelSpecManager(kernel_dirs=[str(kernels)], ensure_native_kernel=False)


def kernel_env() -> dict[str, str]:
    env = dict(os.environ)
    for name in ("QLAKE_HOME", "QLAKE_METASTORE_PORT"):
        assert env.get(name), f"{name} must be set by tests/conftest.py so the kernel reaches the same lake"
    env.pop("QLAKE_SPARK_REMOTE", None)  # the kernel starts its own embedded Sail on the same metastore
    return env


def run_notebook(name: str, kernel_specs, **env: str):
    """Execute a copy of the notebook (the file on disk is not touched); any cell error fails the test.
    ``env``: extra kernel environment (notebook parameters, another broker...)."""
    from jupyter_client.manager import KernelManager

    book = nbformat.read(NOTEBOOKS / f"{name}.ipynb", as_version=4)
    km = KernelManager(kernel_name=KERNEL, kernel_spec_manager=kernel_specs)
    client = nbclient.NotebookClient(
        book, km=km, timeout=180, startup_timeout=120, allow_errors=False,
        resources={"metadata": {"path": str(NOTEBOOKS)}},
    )
    client.execute(env={**kernel_env(), **env})
    return book


def outputs(book) -> list:
    return [o for cell in book.cells if cell.cell_type == "code" for o in cell.get("outputs", [])]


def images(book) -> int:
    return sum(1 for o in outputs(book) if "image/png" in o.get("data", {}))


def text(book) -> str:
    parts = []
    for o in outputs(book):
        if o.output_type == "stream":
            parts.append(o.text)
        elif "text/plain" in o.get("data", {}):
            parts.append(o.data["text/plain"])
    return "\n".join(parts)


# ---- static checks (no engine) ---------------------------------------------------------------------------------
@pytest.mark.parametrize("name", NAMES)
def test_committed_notebook_is_clean_and_read_only(name):
    book = nbformat.read(NOTEBOOKS / f"{name}.ipynb", as_version=4)
    nbformat.validate(book)
    code = [c for c in book.cells if c.cell_type == "code"]
    assert code, "a notebook without code"
    for cell in code:
        assert cell.outputs == [] and cell.execution_count is None, f"{name}: outputs are not cleared"
        for word in WRITES:
            assert word not in cell.source, f"{name}: a notebook only reads; found {word!r} in:\n{cell.source}"
    assert "session = spark.session()" in code[0].source


# ---- executed against the sample lake --------------------------------------------------------------------------
def test_marketing_report(lake, kernel_specs):
    book = run_notebook("marketing_report", kernel_specs)
    out = text(book)
    assert "reports: top_products, offer_redemptions, top_offer_per_product, lowest_online_cities" in out
    assert images(book) >= 3  # top products, offers, lowest online cities (+ monthly leaders)


def test_data_quality(lake, kernel_specs):
    book = run_notebook("data_quality", kernel_specs)
    out = text(book)
    assert "1 silver run(s)" in out
    assert "every run balanced" in out
    assert "online_city_known" in out  # the sample's one failing warn rule (2 online rows without a city)
    assert "trend over the last 1 run(s): 1 rule(s) failed rows: sales_transactions.online_city_known" in out
    assert images(book) >= 2


STREAM_TABLES = ("silver.app_events", "gold.stream_funnel_1m", "gold.stream_revenue_by_payment_1m",
                 "gold.stream_top_products_5m")


def test_stream_monitor_without_stream_tables(lake, spark, kernel_specs):
    drop_tables(spark, lake, *STREAM_TABLES)
    book = run_notebook("stream_monitor", kernel_specs)
    assert "no streaming tables yet: run qlake stream" in text(book)
    assert "never written" in text(book)  # freshness: no commit yet is shown, not called late
    assert images(book) == 0


def test_stream_monitor_with_stream_tables(lake, spark, kernel_specs):
    write_stream_tables(spark, lake)
    try:
        book = run_notebook("stream_monitor", kernel_specs)
    finally:
        drop_tables(spark, lake, *STREAM_TABLES)
    out = text(book)
    assert "no streaming tables yet" not in out
    assert images(book) == 4  # funnel, revenue per payment method, leaders, events per minute
    # The tables written here are within their 15-minute interval. The notebook checks every stream table: the
    # bronze ones were last written by the streaming tests earlier in the suite, late or not by now.
    stale_line = next(line for line in out.splitlines() if line.startswith("stale: "))
    stale = set() if stale_line == "stale: none" else set(stale_line.removeprefix("stale: ").split(", "))
    assert stale == _late_tables(lake) - set(STREAM_TABLES), stale_line


def _late_tables(cfg) -> set[str]:
    from qlake import freshness
    from streaming.outputs import tables as stream_tables

    return {f.table for f in freshness.check(cfg, stream_tables()) if f.is_stale}


def write_stream_tables(spark, cfg) -> None:
    """Six minutes of stream output in the streaming package's own table contracts (the stream job itself needs
    Kafka and a classic JVM; its tests cover it)."""
    from qlake import catalog
    from streaming import app_events, funnel, revenue, top_products

    base, now = datetime(2024, 5, 1, 12, 0), datetime(2024, 5, 1, 12, 10)
    price = Decimal("19.99")
    events, funnel_rows, revenue_rows, top_rows = [], [], [], []
    offset = 0
    for minute in range(6):
        start, end = base + timedelta(minutes=minute), base + timedelta(minutes=minute + 1)
        views, carts, buys = 20 + minute, 8 + minute, 3 + minute % 3
        for kind, n in (("productView", views), ("addToCart", carts), ("purchase", buys)):
            bought = kind == "purchase"
            for i in range(n):
                offset += 1
                events.append((kind, f"c{i}", f"p{i % 4}", start + timedelta(seconds=i), start.date(),
                               "Electronics" if kind == "productView" else None, "app", 1 if bought else None,
                               price if bought else None, "card" if bought else None, None, None, {}, 0, offset,
                               start, now, minute))
        funnel_rows.append((start, end, views + carts + buys, views, carts, buys, 0, carts / views, buys / carts,
                            buys / views, now, minute))
        for method, share in (("card", Decimal("0.7")), ("paypal", Decimal("0.3"))):
            money = (price * buys * share).quantize(Decimal("0.01"))
            revenue_rows.append((start, end, method, buys, buys, money, money, now, minute))
    for window in (base, base + timedelta(minutes=5)):
        end = window + timedelta(minutes=5)
        for i in range(4):
            top_rows.append((window, end, "product", f"p{i}", 10 - i, 5 - i, 3 - i % 3, 3 - i % 3,
                             price * (3 - i % 3), now, 5))
        top_rows.append((window, end, "category", "Electronics", 40, 0, 0, 0, Decimal("0.00"), now, 5))
    for spec, rows in ((app_events.SILVER, events), (funnel.TABLE, funnel_rows), (revenue.TABLE, revenue_rows),
                       (top_products.TABLE, top_rows)):
        assert spec.name in STREAM_TABLES
        catalog.append(spark, spark.createDataFrame(rows, spec.columns), spec, cfg)
