"""Bad deliveries never stop a batch and never lose a byte: each is quarantined with its reason."""

from __future__ import annotations

from pathlib import Path

import pytest
from pyspark.sql import functions as F

from helpers import reset_lake
from helpers import sql_value

GOOD_AGENTS = "sales_person_id,name,hire_date\r\n1,John Doe,2020-6-3\r\n2,Jane Smith,2018-5-13\r\n"
TX_HEADER = ("transaction_date,transaction_id,customer_id,customer_fname,cusomter_lname,cusomter_email,"
             "sales_agent_id,branch_id,product_id,product_name,product_category,offer_1,offer_2,offer_3,offer_4,"
             "offer_5,units,unit_price,is_online,payment_method,shipping_address")
TX_ROW = "2023-5-20,trx-100000000001,85469,Alexander,Brown,a.brown@gmail.com,1,2,22,Coffee Maker,Appliances,,,,,,10,79.99,no,Cash"

BAD_FILES = {
    "branches_empty.csv": (b"", "empty file"),
    "branches_binary.csv": (b"branch_id,location\x00\x01\x02", "binary content"),
    "sales_agents_latin1.csv": ("sales_person_id,name,hire_date\r\n1,Jos\xe9,2020-6-3\r\n".encode("latin-1"),
                                "not UTF-8"),
    "sales_agents_header_only.csv": (b"sales_person_id,name,hire_date\r\n", "header only"),
    "sales_agents_wrong_header.csv": (b"id,name,hired\r\n1,John,2020-1-1\r\n", "header does not match"),
    "sales_agents_semicolon.csv": (b"sales_person_id;name;hire_date\r\n1;John;2020-1-1\r\n", "wrong delimiter"),
    "sales_transactions_extra_fields.csv": (
        (TX_HEADER + "\r\n" + TX_ROW + "\r\n" + TX_ROW.replace("0001", "0002") + ",addr,EXTRA\r\n").encode(),
        "more fields than the 21-column header",
    ),
    "customers_SS_raw_1.csv": (b"a,b\r\n1,2\r\n", "unknown file name"),
}


@pytest.fixture(scope="module")
def drop(tmp_path_factory, spark, cfg):
    from bronze import ingest

    reset_lake(spark, cfg)
    folder = tmp_path_factory.mktemp("drop")
    for name, (content, _) in BAD_FILES.items():
        (folder / name).write_bytes(content)
    (folder / "sales_agents_good.csv").write_text(GOOD_AGENTS, newline="")
    (folder / "sales_transactions_good.csv").write_text(TX_HEADER + "\r\n" + TX_ROW + "\r\n", newline="")
    return folder, ingest.ingest(spark, cfg, [folder])


def test_each_bad_kind_is_rejected_with_its_reason(drop, spark):
    _, report = drop
    outcomes = {Path(f.path).name: f for f in report.files}
    for name, (_, reason) in BAD_FILES.items():
        assert outcomes[name].status == "rejected", name
        assert reason in outcomes[name].reason, (name, outcomes[name].reason)
    stored = {r["file_name"]: r["reason"] for r in spark.sql("select file_name, reason from bronze.rejected_files").collect()}
    assert set(stored) == set(BAD_FILES)
    print(f"\nbad file kinds rejected: {len(BAD_FILES)}")


def test_good_files_in_the_same_batch_land(drop, spark):
    assert sql_value(spark, "select count(*) from bronze.sales_agents") == 2
    assert sql_value(spark, "select count(*) from bronze.sales_transactions") == 1


def test_rejected_bytes_are_kept_in_quarantine(drop, cfg, spark):
    folder, _ = drop
    for row in spark.sql("select file_name, quarantine_path, size_bytes from bronze.rejected_files").collect():
        kept = Path(row["quarantine_path"])
        assert kept.is_file() and kept.read_bytes() == (folder / row["file_name"]).read_bytes()
        assert str(kept).startswith(cfg.path("quarantine"))


def test_rerun_does_not_reject_twice(drop, spark, cfg):
    from bronze import ingest

    folder, _ = drop
    again = ingest.ingest(spark, cfg, [folder])
    assert {f.status for f in again.files} == {"skipped"}
    assert sql_value(spark, "select count(*) from bronze.rejected_files") == len(BAD_FILES)


def test_cli_exits_non_zero_with_one_line_per_rejected_file(drop, tmp_path):
    import subprocess
    import sys

    (tmp_path / "branches_new.csv").write_bytes(b"")
    out = subprocess.run([sys.executable, "-m", "cli", "ingest", str(tmp_path)],
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 1
    assert "REJECTED   branches_new.csv: empty file (0 bytes)" in out.stdout


def test_crash_between_commit_and_manifest_is_healed(spark, cfg, tmp_path):
    """Rows committed but manifest row missing (a kill at that point): the next run completes the manifest."""
    from bronze import ingest, ingested_files

    path = tmp_path / "sales_agents_crash.csv"
    path.write_text("sales_person_id,name,hire_date\r\n7,Ann Lee,2021-1-2\r\n", newline="")
    ingest.ingest(spark, cfg, [path])
    sha = spark.sql("select sha256 from bronze.ingested_files where file_name = 'sales_agents_crash.csv'").collect()[0][0]
    spark.sql(f"DELETE FROM {ingested_files.TABLE.name} WHERE sha256 = '{sha}'")  # simulate the crash
    healed = ingest.ingest(spark, cfg, [path])
    assert [f.status for f in healed.files] == ["recovered"]
    assert sql_value(spark, f"select count(*) from bronze.sales_agents where _source_sha256 = '{sha}'") == 1


def test_file_names_cannot_escape_the_lake(spark, cfg, tmp_path):
    """Only a sanitised base name is used inside the lake: no separators, no `..` path, no control characters."""
    from bronze import ingest

    dotted = tmp_path / "sales_agents_..-...csv"  # matches the agents pattern: lands under a safe name
    dotted.write_text("sales_person_id,name,hire_date\r\n9,Ann Lee,2021-1-2\r\n", newline="")
    odd = tmp_path / "branches_..%2F..%2Fetc\u202epasswd.csv"  # not a known name: quarantined, name sanitised
    odd.write_bytes(b"branch_id,location,establish_date,class\r\n")
    report = ingest.ingest(spark, cfg, [dotted, odd])
    outcomes = {Path(f.path).name: f for f in report.files}
    landing = Path(outcomes[dotted.name].landing_path).resolve()
    assert landing.parent.parent.parent == Path(cfg.path("landing")).resolve()
    quarantined = Path(spark.sql("select quarantine_path from bronze.rejected_files "
                                 f"where sha256 = '{outcomes[odd.name].sha256}'").first()[0]).resolve()
    assert quarantined.parent.parent == Path(cfg.path("quarantine")).resolve()
    assert "\u202e" not in quarantined.name and "%" not in quarantined.name


def test_row_numbers_follow_a_file_the_engine_would_split(spark, cfg, tmp_path):
    """A file over the size from which the engine splits a file into byte ranges is read whole, and each row's
    `_row_number` is its line's. Split, Sail numbered the ranges in a different order in about half the writes
    (2026-12-07): every row of this file then carried another row's number."""
    from bronze import ingest

    rows = 100_000  # ~15 MB: over the engine's 10 MB split size
    path = tmp_path / "sales_transactions_numbered.csv"
    with open(path, "w", newline="") as out:
        out.write(TX_HEADER + "\r\n")
        for n in range(1, rows + 1):
            out.write(TX_ROW.replace("trx-100000000001", f"trx-{n:012d}") + ",1 Main St/Springfield/IL/62704\r\n")
    report = ingest.ingest(spark, cfg, [path])
    outcome = report.files[0]
    raw = ingest.read_raw(spark, outcome.landing_path, ingest.classify(path.name))
    assert tuple(ingest.scan(raw, F.lit(False))) == (rows, 0, 1)
    numbered = spark.table("bronze.sales_transactions").where(F.col("_source_sha256") == outcome.sha256)
    found = numbered.agg(F.count(F.lit(1)).alias("rows"),
                         F.count(F.when(F.col("_row_number") != F.substring("transaction_id", 5, 12).cast("bigint"),
                                        F.lit(1))).alias("misnumbered")).first()
    assert (found["rows"], found["misnumbered"]) == (rows, 0)
    with pytest.raises(RuntimeError, match="read one file in 2 partitions"):
        ingest.number_rows(raw, 2)  # never guessed
