"""Bad input never crashes a run or loses a row: every kind lands in quarantine with a reason (or, for a BOM,
is read correctly), the rest of the batch succeeds, and rows in = rows out + rows quarantined."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from helpers import reset_lake
from helpers import sql_value

TX_HEADER = ("transaction_date,transaction_id,customer_id,customer_fname,cusomter_lname,cusomter_email,"
             "sales_agent_id,branch_id,product_id,product_name,product_category,offer_1,offer_2,offer_3,offer_4,"
             "offer_5,units,unit_price,is_online,payment_method,shipping_address")
AGENTS = "sales_person_id,name,hire_date\r\n1,John Doe,2020-6-3\r\n2,Jane Smith,2018-5-13\r\n"
BRANCHES = "branch_id,location,establish_date,class\r\n1,New York,2017-01-15,A\r\n2,Los Angeles,2016-07-28,B\r\n"


def tx(tid: str, *, date="2023-5-20", units="2", price="10.00", name="Coffee Maker") -> str:
    return f"{date},{tid},85469,Ann,Lee,ann.lee@gmail.com,1,2,22,{name},Appliances,,,,,,{units},{price},no,Cash"


GOOD_ROWS = [tx(f"trx-5000000000{i:02d}") for i in range(10)]

# file name -> (bytes, reason fragment) : whole files that bronze must reject
BAD_FILES = {
    "branches_empty.csv": (b"", "empty file"),
    "branches_header_only.csv": (b"branch_id,location,establish_date,class\r\n", "header only"),
    "branches_binary.csv": (bytes(range(256)) * 4, "binary content"),
    "sales_agents_latin1.csv": ("sales_person_id,name,hire_date\r\n3,Jos\xe9,2020-6-3\r\n".encode("latin-1"),
                                "not UTF-8"),
    "sales_agents_semicolons.csv": (b"sales_person_id;name;hire_date\r\n3;Jo;2020-6-3\r\n", "wrong delimiter"),
    "sales_agents_missing_column.csv": (b"sales_person_id,name\r\n3,Jo\r\n", "missing ['hire_date']"),
    "sales_agents_extra_column.csv": (b"sales_person_id,name,hire_date,team\r\n3,Jo,2020-6-3,x\r\n",
                                      "unexpected ['team']"),
    "sales_transactions_extra_fields.csv": (
        (TX_HEADER + "\r\n" + tx("trx-600000000001") + ",addr,EXTRA,MORE\r\n").encode(), "more fields"),
    "inventory_SS_raw_1.csv": (b"a,b\r\n1,2\r\n", "unknown file name"),
}
# transaction id -> rule: rows that silver must quarantine (in one otherwise good file)
BAD_ROWS = {
    "trx-700000000001": (tx("trx-700000000001", date="2099-1-1"), "transaction_date_in_range"),
    "trx-700000000002": (tx("trx-700000000002", price="-5.00"), "unit_price_positive"),
    "trx-700000000003": (tx("trx-700000000003", price="0.00"), "unit_price_positive"),
    "trx-700000000004": (tx("trx-700000000004", units="two"), "units_parse"),
    "trx-700000000005": (tx("trx-700000000005", units="0"), "units_positive"),
    "trx-700000000006": (tx("trx-700000000006", name="X" * (10 * 2**20)), "product_name_length"),
    "transaction_id": (TX_HEADER, "transaction_date_parses"),  # a duplicate header line inside the data
    "trx-700000000008": ("2023-5-20,trx-700000000008,85469,Ann,Le", "units_parse"),  # truncated last line
}


@pytest.fixture(scope="module")
def delivered(tmp_path_factory, spark, cfg):
    from bronze import ingest
    from silver import job

    reset_lake(spark, cfg)
    drop = tmp_path_factory.mktemp("drop")
    group = drop / "group1"
    group.mkdir()
    (group / "branches_g1.csv").write_bytes(BRANCHES.encode())
    (group / "sales_agents_g1.csv").write_bytes(("\ufeff" + AGENTS).encode())  # with a UTF-8 BOM
    rows = [*GOOD_ROWS, *[line for line, _ in BAD_ROWS.values()]]
    (group / "sales_transactions_g1.csv").write_bytes(("\r\n".join([TX_HEADER, *rows])).encode())  # no final EOL
    incomplete = drop / "group2"  # a group with its agents file missing
    incomplete.mkdir()
    (incomplete / "branches_g2.csv").write_bytes(BRANCHES.replace("New York", "NYC").encode())
    (incomplete / "sales_transactions_g2.csv").write_bytes(
        (TX_HEADER + "\r\n" + tx("trx-800000000001") + "\r\n").encode())
    for name, (content, _) in BAD_FILES.items():
        (drop / name).write_bytes(content)
    report = ingest.ingest(spark, cfg, [drop])
    return report, job.run(spark, cfg)


def test_bad_files_rejected_with_reason(delivered):
    report, _ = delivered
    outcomes = {Path(f.path).name: f for f in report.files}
    for name, (_, reason) in BAD_FILES.items():
        assert outcomes[name].status == "rejected" and reason in outcomes[name].reason, (name, outcomes[name])
    assert outcomes["sales_agents_g1.csv"].status == "ingested"  # BOM: read, not rejected
    from helpers import SUMMARY

    SUMMARY["bad input kinds"] = (f"{len(BAD_FILES) + len(BAD_ROWS) + 2}: {len(BAD_FILES)} file kinds rejected, "
                                  f"{len(BAD_ROWS)} row kinds quarantined, a BOM file read, an incomplete group")


def test_incomplete_group_is_reported_and_the_rest_lands(delivered, spark):
    report, _ = delivered
    assert any("group2" in w and "sales_agents" in w for w in report.warnings), report.warnings
    assert sql_value(spark, "select count(*) from silver.sales_transactions "
                            "where transaction_id = 'trx-800000000001'") == 1


def test_bad_rows_quarantined_with_rule(delivered, spark):
    rows = spark.sql("select raw_row, failed_rules from silver.quarantine_sales_transactions").collect()
    by_id = {json.loads(r["raw_row"]).get("transaction_id"): set(r["failed_rules"]) for r in rows}
    for tid, (_, rule) in BAD_ROWS.items():
        assert rule in by_id.get(tid, set()), (tid, by_id.get(tid))


def test_bom_file_reads_its_rows(delivered, spark):
    assert sorted(r[0] for r in spark.sql("select sales_agent_id from silver.sales_agents").collect()) == [1, 2]


def test_rows_in_equal_rows_out_plus_quarantined(delivered, spark):
    _, silver = delivered
    for acct in silver.accounting:
        assert acct.balanced, acct.line()
    tx = {a.table: a for a in silver.accounting}["silver.sales_transactions"]
    assert tx.rows_in == len(GOOD_ROWS) + len(BAD_ROWS) + 1
    assert tx.quarantined == len(BAD_ROWS)
    assert tx.inserted == len(GOOD_ROWS) + 1
