"""The drop folder is a trust boundary (bronze/delivery.py): links, pipes, hard links, files still being written,
foreign encodings, odd names, oversized files and fields — each gets its exact answer, and nothing outside the
delivered regular files is ever read or copied into the lake."""

from __future__ import annotations

import dataclasses
import json
import os
import stat
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from helpers import reset_lake

TX_HEADER = ("transaction_date,transaction_id,customer_id,customer_fname,cusomter_lname,cusomter_email,"
             "sales_agent_id,branch_id,product_id,product_name,product_category,offer_1,offer_2,offer_3,offer_4,"
             "offer_5,units,unit_price,is_online,payment_method,shipping_address")
AGENTS = "sales_person_id,name,hire_date\r\n1,John Doe,2020-6-3\r\n"
BRANCHES = "branch_id,location,establish_date,class\r\n2,Cairo,2017-1-15,A\r\n"
SECRET = "root:x:0:0:a secret that must never reach the lake:/root:/bin/bash\n"
LINK_REASON = ("not a regular file: a symbolic link (links are never followed); only regular files are read "
               "(nothing of it was read or copied)")


def tx_row(trx: str, price: str = "79.99", name: str = "Coffee Maker") -> str:
    return f"2023-5-20,{trx},85469,Alexander,Brown,a.brown@gmail.com,1,2,22,{name},Appliances,,,,,,10,{price},no,Cash"


def tx_file(*rows: str) -> str:
    return "\r\n".join([TX_HEADER, *rows]) + "\r\n"


@pytest.fixture(scope="module")
def outside(tmp_path_factory) -> Path:
    """A file of this machine that a sender must not be able to pull into the lake."""
    folder = tmp_path_factory.mktemp("outside")
    (folder / "passwd").write_text(SECRET)
    (folder / "hard.csv").write_text(AGENTS, newline="")
    return folder


@pytest.fixture(scope="module")
def hostile(tmp_path_factory, spark, cfg, outside):
    from bronze import ingest

    reset_lake(spark, cfg)
    drop = tmp_path_factory.mktemp("hostile")
    (drop / "sales_transactions_SS_raw_120.csv").symlink_to(outside / "passwd")
    (drop / "sales_agents_linked_dir").symlink_to(outside, target_is_directory=True)
    os.mkfifo(drop / "branches_fifo.csv")
    os.link(outside / "hard.csv", drop / "sales_agents_hard.csv")
    (drop / "sales_transactions_utf16.csv").write_bytes(tx_file(tx_row("trx-100000000001")).encode("utf-16"))
    (drop / "sales_transactions_utf32.csv").write_bytes(tx_file(tx_row("trx-100000000002")).encode("utf-32"))
    (drop / "sales_transactions_SS_raw_119 (copie é).csv").write_text(tx_file(tx_row("trx-100000000003")))
    (drop / "sales_transactions_bom.csv").write_bytes(b"\xef\xbb\xbf" + tx_file(tx_row("trx-100000000004")).encode())
    for name in (".sales_transactions_hidden.csv", "sales_transactions_x.csv.part", "sales_agents_y.csv.tmp",
                 "branches_z.csv.crdownload"):
        (drop / name).write_text(AGENTS, newline="")
    report = ingest.ingest(spark, cfg, [drop])
    return drop, {Path(f.path).name: f for f in report.files}


def test_links_pipes_and_hard_links_are_rejected_unread(hostile, spark, cfg):
    drop, outcomes = hostile
    link = outcomes["sales_transactions_SS_raw_120.csv"]
    assert (link.status, link.reason) == ("rejected", LINK_REASON)
    assert link.path == str(drop / "sales_transactions_SS_raw_120.csv")  # the delivery path, never the target
    assert link.line() == f"REJECTED   sales_transactions_SS_raw_120.csv: {LINK_REASON}"
    assert outcomes["sales_agents_linked_dir"].reason == LINK_REASON
    assert outcomes["branches_fifo.csv"].reason == ("not a regular file: a named pipe (FIFO); only regular files "
                                                    "are read (nothing of it was read or copied)")
    assert outcomes["sales_agents_hard.csv"].reason == ("hard-linked file (2 links): deliver a file of its own, not "
                                                        "a link to another file (nothing of it was read or copied)")
    rows = {r["file_name"]: r for r in spark.sql("select * from bronze.rejected_files").collect()}
    for name in ("sales_transactions_SS_raw_120.csv", "sales_agents_linked_dir", "branches_fifo.csv",
                 "sales_agents_hard.csv"):
        assert rows[name]["quarantine_path"] == "" and rows[name]["source_path"] == str(drop / name)
    # Nothing of the target anywhere in the lake.
    for path in Path(cfg.home).rglob("*"):
        if path.is_file() and path.stat().st_size < 1 << 20:
            assert b"a secret that must never reach the lake" not in path.read_bytes(), path


def test_foreign_encodings_are_named(hostile, spark):
    _, outcomes = hostile
    assert outcomes["sales_transactions_utf16.csv"].reason == (
        "UTF-16 LE text (byte-order mark FF FE): qlake reads UTF-8 only; re-export the file as UTF-8")
    assert outcomes["sales_transactions_utf32.csv"].reason == (
        "UTF-32 LE text (byte-order mark FF FE 00 00): qlake reads UTF-8 only; re-export the file as UTF-8")
    assert outcomes["sales_transactions_bom.csv"].status == "ingested"  # UTF-8 with a byte-order mark is read
    assert spark.sql("select transaction_id from bronze.sales_transactions").collect()[0][0] == "trx-100000000004"


def test_a_name_outside_the_pattern_states_the_rule(hostile):
    from bronze.delivery import NAME_RULE

    _, outcomes = hostile
    assert outcomes["sales_transactions_SS_raw_119 (copie é).csv"].reason == (
        f"unknown file name: its label has characters outside the pattern ([' ', '(', ')', 'é']); file names must "
        f"be {NAME_RULE}")
    assert NAME_RULE == ("<kind>_<label>.csv with <kind> one of branches, sales_agents, sales_transactions and "
                         "<label> made of ASCII letters, digits, '_', '-' or '.' (no spaces, accents or other "
                         "characters; case-insensitive)")


def test_temporary_names_wait_for_the_next_run(hostile, spark):
    _, outcomes = hostile
    for name in (".sales_transactions_hidden.csv", "sales_transactions_x.csv.part", "sales_agents_y.csv.tmp",
                 "branches_z.csv.crdownload"):
        assert (outcomes[name].status, outcomes[name].reason) == ("waiting", "temporary name (still being written?)")
        assert outcomes[name].line() == f"waiting    {name}: temporary name (still being written?); left for the next run"
    rejected = {r[0] for r in spark.sql("select file_name from bronze.rejected_files").collect()}
    assert not rejected & {".sales_transactions_hidden.csv", "sales_transactions_x.csv.part"}


def test_a_file_still_growing_is_left_for_the_next_run(spark, cfg, tmp_path):
    from bronze import ingest

    path = tmp_path / "sales_agents_growing.csv"
    path.write_text(AGENTS, newline="")
    stop = threading.Event()

    def keep_writing():
        with open(path, "a") as out:
            for i in range(2, 40):
                if stop.wait(0.05):
                    return
                out.write(f"{i},Agent {i},2020-1-1\r\n")
                out.flush()

    writer = threading.Thread(target=keep_writing)
    writer.start()
    try:
        report = ingest.ingest(spark, dataclasses.replace(cfg, settle_seconds=0.5), [path])
    finally:
        stop.set()
        writer.join()
    outcome = report.files[0]
    assert (outcome.status, outcome.reason) == (
        "waiting", "size or modification time changed during the settle window (still being written?)")


def test_limits_reject_with_the_limit_named(spark, cfg, tmp_path):
    from bronze import ingest

    big = tmp_path / "big" / "sales_agents_big.csv"
    big.parent.mkdir()
    big.write_text(AGENTS * 5, newline="")
    size = big.stat().st_size
    report = ingest.ingest(spark, dataclasses.replace(cfg, max_file_bytes=100), [big])
    assert report.files[0].reason == (f"file too large: {size} bytes, over the limit of 100 bytes "
                                      "(QLAKE_MAX_FILE_BYTES)")
    wide = tmp_path / "wide" / "sales_transactions_wide.csv"
    wide.parent.mkdir()
    wide.write_text(tx_file(tx_row("trx-100000000010"), tx_row("trx-100000000011", name="X" * 60)), newline="")
    report = ingest.ingest(spark, dataclasses.replace(cfg, max_field_chars=50), [wide])
    assert report.files[0].reason == "field longer than 50 characters (QLAKE_MAX_FIELD_CHARS) at data rows [2]"


def test_files_written_into_the_lake_are_not_world_writable_nor_executable(spark, cfg, tmp_path):
    from bronze import ingest

    drop = tmp_path / "modes"
    drop.mkdir()
    good, bad = drop / "sales_agents_modes.csv", drop / "sales_agents_bad_modes.csv"
    good.write_text(AGENTS.replace("John Doe", "Mode Tester"), newline="")
    bad.write_bytes(b"\x00not a csv")
    for path in (good, bad):
        path.chmod(0o777)
    old = os.umask(0)
    try:
        report = ingest.ingest(spark, cfg, [drop])
    finally:
        os.umask(old)
    landed = Path(next(f.landing_path for f in report.files if f.status == "ingested"))
    quarantined = Path(spark.sql("select quarantine_path from bronze.rejected_files "
                                 "where file_name = 'sales_agents_bad_modes.csv'").collect()[0][0])
    for path in (landed, quarantined):
        assert stat.S_IMODE(path.stat().st_mode) == 0o640, path
        assert stat.S_IMODE(path.parent.stat().st_mode) == 0o750, path.parent


def test_cli_names_the_delivery_never_the_target(outside, tmp_path):
    drop = tmp_path / "cli"
    drop.mkdir()
    (drop / "sales_transactions_SS_raw_121.csv").symlink_to(outside / "passwd")
    out = subprocess.run([sys.executable, "-m", "cli", "ingest", str(drop)], capture_output=True, text=True, timeout=300)
    assert out.returncode == 1
    assert f"REJECTED   sales_transactions_SS_raw_121.csv: {LINK_REASON}" in out.stdout
    assert "passwd" not in out.stdout + out.stderr and "Traceback" not in out.stderr


def test_a_price_with_more_decimals_than_the_column_is_quarantined(spark, cfg, tmp_path):
    from bronze import ingest
    from silver import job

    reset_lake(spark, cfg)
    drop = tmp_path / "money"
    drop.mkdir()
    (drop / "sales_agents_m.csv").write_text(AGENTS, newline="")
    (drop / "branches_m.csv").write_text(BRANCHES, newline="")
    (drop / "sales_transactions_m.csv").write_text(
        tx_file(tx_row("trx-200000000001", "79.999"), tx_row("trx-200000000002", "79.990"),
                tx_row("trx-200000000003", "80"), tx_row("trx-200000000004", "7.9999e1")), newline="")
    ingest.ingest(spark, cfg, [drop])
    job.run(spark, cfg)
    kept = {r[0]: str(r[1]) for r in spark.sql("select transaction_id, unit_price from silver.sales_transactions")
            .collect()}
    assert kept == {"trx-200000000002": "79.99", "trx-200000000003": "80.00"}
    rows = spark.sql("select raw_row, failed_rules from silver.quarantine_sales_transactions").collect()
    assert sorted((json.loads(r["raw_row"])["unit_price"], list(r["failed_rules"])) for r in rows) == [
        ("7.9999e1", ["unit_price_parses", "unit_price_at_most_2_decimals"]),
        ("79.999", ["unit_price_at_most_2_decimals"])]
