"""A backfill's silver pass over several delivery groups gives what one run per group gives (silver.backfill):
each row is judged as of its own group, and where one pass could differ the groups run one by one."""

from __future__ import annotations

import pytest

from helpers import reset_lake, snapshot

HEADER = {
    "branches": "branch_id,location,establish_date,class",
    "sales_agents": "sales_person_id,name,hire_date",
    "sales_transactions": "transaction_date,transaction_id,customer_id,customer_fname,cusomter_lname,cusomter_email,"
                          "sales_agent_id,branch_id,product_id,product_name,product_category,offer_1,offer_2,offer_3,"
                          "offer_4,offer_5,units,unit_price,is_online,payment_method,shipping_address",
}
BRANCHES = ["1,New York,2017-01-15,A", "2,Los Angeles,2016-07-28,B"]
AGENTS = ["1,John Doe,2020-6-3", "2,Jane Smith,2018-5-13"]


def offline(trx: str, agent: int, customer: str = "85469,Alexander,Brown,alexander.brown@gmail.com",
            day: str = "2023-5-20", units: int = 10) -> str:
    return f"{day},trx-{trx},{customer},{agent},1,22,Coffee Maker,Appliances,,,,,,{units},79.99,no,Cash"


def online(trx: str, city: str, price: str = "79.99") -> str:
    return (f"2023-1-20,trx-{trx},85550,Emma,Taylor,emma.taylor@gmail.com,,,8,Sneakers,Footwear,,,,True,,6,{price},"
            f"yes,PayPal,8 Linden Circle/{city}/MA/02143")


def deliver(folder, groups: list[dict[str, list[str]]]) -> list:
    """Write each group's files (kind -> rows) as folder/groupN/<kind>_SS_raw_N.csv; returns the group folders."""
    paths = []
    for n, files in enumerate(groups, start=1):
        group = folder / f"group{n}"
        group.mkdir(parents=True)
        for kind, rows in files.items():
            (group / f"{kind}_SS_raw_{n}.csv").write_text("\n".join([HEADER[kind], *rows]) + "\n")
        paths.append(group)
    return paths


def per_group_then_backfill(spark, cfg, drop) -> tuple[dict, dict, list[str], list[str]]:
    """The groups in ``drop`` as one `run hourly` each, then (on an empty lake) as one backfill; the two lakes'
    tables, and what each way printed (a run that fails with a data-quality error prints it last)."""
    from jobs import hourly
    from qlake.quality import DataQualityFailure

    def run(incoming, lines):
        try:
            hourly.hourly(spark, cfg, str(incoming), lines.append)
        except DataQualityFailure as exc:
            lines.append(f"FAILED {exc}")

    reset_lake(spark, cfg)
    per_group_lines: list[str] = []
    for group in sorted(drop.iterdir()):
        run(group, per_group_lines)
    per_group = snapshot(spark)
    reset_lake(spark, cfg)
    backfill_lines: list[str] = []
    run(drop, backfill_lines)
    return per_group, snapshot(spark), per_group_lines, backfill_lines


def test_one_pass_judges_each_row_as_of_its_group(spark, cfg, tmp_path):
    drop = tmp_path / "drop"
    deliver(drop, [
        # agent 7 is delivered by group 2 only: group 1's offline sale by agent 7 is quarantined, group 3's is not
        {"branches": BRANCHES, "sales_agents": AGENTS,
         "sales_transactions": [offline("100000000001", 1), offline("100000000002", 7),
                                online("100000000003", "Somerville"), online("100000000004", "")]},
        # branch 1 moves (a new version), customer 85469 is renamed (a new version), product 8's price changes
        {"branches": ["1,Brooklyn,2017-01-15,A", BRANCHES[1]], "sales_agents": [*AGENTS, "7,Sam Seven,2021-1-4"],
         "sales_transactions": [offline("100000000005", 7, "85469,Alexander,Browne,alexander.brown@gmail.com"),
                                online("100000000006", "Somerville", price="89.99")]},
        {"branches": ["1,Brooklyn,2017-01-15,A", "2,Los Angeles,2016-07-28,A"],
         "sales_agents": [*AGENTS, "7,Sam Seven,2021-1-4", "8,Ann Eight,2022-2-2"],
         "sales_transactions": [offline("100000000007", 7), online("100000000008", ""),
                                online("100000000009", "Somerville")]},
    ])
    per_group, backfill, _, printed = per_group_then_backfill(spark, cfg, drop)

    assert [line for line in printed if line.startswith("silver: group")] == ["silver: groups 1-3 in one pass"]
    assert backfill == per_group
    quarantined = backfill["silver.quarantine_sales_transactions"]
    assert [(row[0], '"trx-100000000002"' in row[1]) for row in quarantined] == [(["offline_agent_exists"], True)]
    sales = {row[0]: row for row in backfill["silver.sales_transactions"]}
    assert sorted(sales) == [f"trx-10000000000{n}" for n in (1, 3, 4, 5, 6, 7, 8, 9)]
    assert [sales[f"trx-10000000000{n}"][20] for n in (4, 8)] == ["Somerville", "Somerville"]  # empty city filled
    versions = sorted((r[0], r[1], r[4]) for r in backfill["silver.branches"])  # id, location, is_current
    assert versions == [(1, "Brooklyn", True), (1, "New York", False), (2, "Los Angeles", False),
                        (2, "Los Angeles", True)]
    customers = sorted((r[0], r[2], r[4]) for r in backfill["silver.customers"] if r[0] == "85469")
    assert customers == [("85469", "Brown", False), ("85469", "Brown", True), ("85469", "Browne", False)]


def test_a_pass_stops_before_the_first_group_that_could_end_otherwise(spark, cfg, tmp_path):
    drop = tmp_path / "drop"
    deliver(drop, [
        {"branches": BRANCHES, "sales_agents": AGENTS,
         "sales_transactions": [offline("200000000001", 1), offline("200000000002", 2),
                                online("200000000007", "Somerville")]},
        # an empty city whose postal code only group 1 delivers: its own run finds it stored by then
        {"branches": BRANCHES, "sales_agents": AGENTS,
         "sales_transactions": [offline("200000000003", 2), online("200000000008", "")]},
        # sales of groups 1 and 2 again, with other units: merged group by group, the last delivery wins
        {"branches": BRANCHES, "sales_agents": AGENTS,
         "sales_transactions": [offline("200000000001", 1, units=3), offline("200000000003", 2, units=4)]},
        # most dates do not parse: a fail rule stops this group, as it stops its own run
        {"branches": BRANCHES, "sales_agents": AGENTS,
         "sales_transactions": [offline("200000000004", 1, day="20-5-2023"), offline("200000000005", 1, day="x"),
                                offline("200000000006", 1)]},
    ])
    per_group, backfill, per_group_lines, printed = per_group_then_backfill(spark, cfg, drop)

    broken = "it breaks silver.sales_transactions's fail rule transaction_dates_mostly_parse"
    assert [line for line in printed if line.startswith("silver: group")] == [
        "silver: group 2 starts a new pass: it needs the city of postal code 02143/MA and neither delivers it nor "
        "finds it stored",  # groups 1-4: group 1 alone
        f"silver: group 4 starts a new pass: {broken}",  # groups 2-4: groups 2-3 next
        "silver: group 3 starts a new pass: it delivers silver.sales_transactions transaction_id trx-200000000003 "
        "again",  # groups 2-3: group 2 alone
        f"silver: group 4 starts a new pass: {broken}",  # groups 3-4: group 3 alone, then group 4 fails
    ]
    assert printed[-1].startswith("FAILED sales_transactions: fail rule(s) broken, nothing written")
    assert per_group_lines[-1] == printed[-1]
    assert backfill == per_group
    sales = {row[0]: (row[13], row[20]) for row in backfill["silver.sales_transactions"]}  # units, city
    assert sales == {"trx-200000000001": (3, None), "trx-200000000002": (10, None), "trx-200000000003": (4, None),
                     "trx-200000000007": (6, "Somerville"), "trx-200000000008": (6, "Somerville")}


def test_city_fill_differs_names_the_first_group_whose_city_could_differ():
    from silver.backfill import city_fill_differs

    somerville = [("02143", "MA", "Somerville", 1, 3, False), ("02143", "MA", None, 2, 1, True)]
    assert city_fill_differs(somerville, stored=[]) == (
        2, "it needs the city of postal code 02143/MA and neither delivers it nor finds it stored")
    assert city_fill_differs(somerville, stored=[("02143", "MA", "Somerville", 5, 5)]) is None
    # stored, but only in sales the pass delivers again: they may change before group 2 reads them
    assert city_fill_differs(somerville, stored=[("02143", "MA", "Somerville", 5, 0)])[0] == 2
    assert city_fill_differs([*somerville, ("02143", "MA", "Somerville", 2, 1, False)], stored=[]) is None
    # two cities for one postal code: the counts decide, and they differ by group
    two_cities = [*somerville, ("02143", "MA", "Cambridge", 3, 1, False)]
    assert city_fill_differs(two_cities, stored=[("02143", "MA", "Somerville", 5, 5)]) == (
        2, "its postal code 02143/MA has 2 cities to fill an empty city from")
    # no city anywhere: no group fills it, in one pass or on its own
    assert city_fill_differs([("99999", "MA", None, 1, 2, True)], stored=[]) is None
