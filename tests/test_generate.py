"""The generator writes groups shaped like the real sample, with every kind of dirt, deterministically."""

from __future__ import annotations

import csv
import re
from collections import defaultdict
from pathlib import Path

import pytest

from qlake.generate import generate
from qlake.generate_reference import PRODUCTS
from qlake.generate_rows import TransactionIds

KINDS = ("branches", "sales_agents", "sales_transactions")
ROWS = 1500

EMAIL = 5
AGENT, BRANCH = 6, 7
PRODUCT_ID, PRODUCT_NAME = 8, 9
OFFERS = slice(11, 16)
IS_ONLINE, PAYMENT, ADDRESS = 18, 19, 20


def file_of(folder: Path, kind: str) -> Path:
    number = folder.name.removeprefix("group")
    return folder / f"{kind}_SS_raw_{number}.csv"


def read(folder: Path, kind: str) -> list[list[str]]:
    with file_of(folder, kind).open(newline="", encoding="utf-8") as handle:
        return list(csv.reader(handle))


def body(folder: Path, kind: str) -> list[list[str]]:
    return read(folder, kind)[1:]


@pytest.fixture(scope="module")
def groups(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    return generate(tmp_path_factory.mktemp("gen"), groups=3, rows=ROWS, seed=42)


@pytest.fixture(scope="module")
def sales(groups: list[Path]) -> list[list[list[str]]]:
    """Transactions of groups 1 and 2 (group 3 re-delivers group 1)."""
    return [body(folder, "sales_transactions") for folder in groups[:2]]


def all_rows(sales: list[list[list[str]]]) -> list[list[str]]:
    return [row for group in sales for row in group]


def test_layout_and_return_value(groups: list[Path]) -> None:
    assert [folder.name for folder in groups] == ["group1", "group2", "group3"]
    for folder in groups:
        assert sorted(p.name for p in folder.iterdir()) == sorted(file_of(folder, kind).name for kind in KINDS)


def test_same_arguments_give_identical_bytes(groups: list[Path], tmp_path: Path) -> None:
    again = generate(tmp_path, groups=3, rows=ROWS, seed=42)
    for first, second in zip(groups, again):
        for kind in KINDS:
            assert file_of(first, kind).read_bytes() == file_of(second, kind).read_bytes()


def test_other_seed_gives_other_data(groups: list[Path], tmp_path: Path) -> None:
    (other,) = generate(tmp_path, groups=1, rows=ROWS, seed=7)
    assert file_of(other, "sales_transactions").read_bytes() != file_of(groups[0], "sales_transactions").read_bytes()


def test_a_group_generated_alone_matches_the_batch(groups: list[Path], tmp_path: Path) -> None:
    (alone,) = generate(tmp_path, groups=1, rows=ROWS, seed=42, start_group=2)
    assert alone.name == "group2"
    for kind in KINDS:
        assert file_of(alone, kind).read_bytes() == file_of(groups[1], kind).read_bytes()


def test_last_group_is_a_byte_identical_redelivery_of_group_1(groups: list[Path], tmp_path: Path) -> None:
    for kind in KINDS:
        assert file_of(groups[2], kind).read_bytes() == file_of(groups[0], kind).read_bytes()
    without = generate(tmp_path, groups=3, rows=50, seed=42, redeliver=False)
    last, first = (file_of(without[i], "sales_transactions").read_bytes() for i in (2, 0))
    assert last != first


@pytest.mark.parametrize("kind", KINDS)
def test_headers_are_the_samples_byte_for_byte(groups: list[Path], kind: str, sample_dir: Path) -> None:
    sample_header = file_of(sample_dir / "group1", kind).read_bytes().split(b"\r\n", 1)[0]
    for folder in groups:
        assert file_of(folder, kind).read_bytes().split(b"\r\n", 1)[0] == sample_header


def test_lines_end_with_crlf(groups: list[Path]) -> None:
    for folder in groups:
        for kind in KINDS:
            data = file_of(folder, kind).read_bytes()
            assert data.endswith(b"\r\n")
            assert data.count(b"\n") == data.count(b"\r\n")


def test_field_count_follows_is_online(sales: list[list[list[str]]]) -> None:
    rows = all_rows(sales)
    assert all(len(row) == (21 if row[IS_ONLINE] == "yes" else 20) for row in rows)
    assert {row[IS_ONLINE] for row in rows} == {"yes", "no"}
    online_share = sum(row[IS_ONLINE] == "yes" for row in rows) / len(rows)
    assert 0.25 < online_share < 0.42


def test_rows_per_group(sales: list[list[list[str]]]) -> None:
    assert [len(group) for group in sales] == [ROWS, ROWS]


def test_product_catalog_is_the_samples_and_names_are_not_unique(sales: list[list[list[str]]]) -> None:
    assert len(PRODUCTS) == 30
    catalog = {str(p.product_id): (p.name, p.category, p.unit_price) for p in PRODUCTS}
    rows = all_rows(sales)
    assert all(catalog[row[PRODUCT_ID]] == (row[PRODUCT_NAME], row[10], row[17]) for row in rows)
    ids_by_name = defaultdict(set)
    for row in rows:
        ids_by_name[row[PRODUCT_NAME]].add(row[PRODUCT_ID])
    assert ids_by_name["Boots"] == {"9", "18"}
    assert ids_by_name["Sandals"] == {"10", "19"}


def test_product_catalog_matches_the_real_sample(sample_dir: Path) -> None:
    rows = body(sample_dir / "group1", "sales_transactions")
    sample = {(int(r[PRODUCT_ID]), r[PRODUCT_NAME], r[10], r[17]) for r in rows}
    assert sample == {tuple(p) for p in PRODUCTS}


def test_dates_are_unpadded_and_within_2022_2023(sales: list[list[list[str]]]) -> None:
    dates = [row[0] for row in all_rows(sales)]
    assert all(re.fullmatch(r"202[23]-[1-9]\d?-[1-9]\d?", day) for day in dates)
    assert any(re.fullmatch(r"\d{4}-\d-\d", day) for day in dates)
    assert {day[:4] for day in dates} == {"2022", "2023"}


def test_transaction_and_customer_ids(sales: list[list[list[str]]]) -> None:
    rows = all_rows(sales)
    assert all(re.fullmatch(r"trx-\d{12}", row[1]) for row in rows)
    assert len({row[1] for row in rows}) == len(rows)  # unique across groups 1 and 2
    assert all(re.fullmatch(r"\d{5}", row[2]) for row in rows)


def test_transaction_ids_are_a_bijection_of_group_and_row() -> None:
    ids = TransactionIds(42)
    assert list(ids.of_group(24, 500)) == [ids(24, row) for row in range(500)]
    seen = {ids(group, row) for group in (1, 2, 24, 99_999) for row in (0, 1, 2, 9_999_999)}
    assert len(seen) == 16


def test_emails_carry_junk_suffixes_including_a_doubled_quote(groups: list[Path], sales) -> None:
    emails = [row[EMAIL] for row in all_rows(sales)]
    pattern = re.compile(r"[a-z]+\.[a-z]+@(gmail|yahoo|hotmail|outlook)\.com(.*)", re.DOTALL)
    suffixes = {pattern.fullmatch(email).group(2) for email in emails}
    assert len(suffixes) >= 20
    assert {";", "*", "$u", ")x", "[", "^", ":", "%x", "#4r", "]x", "}4", "m", " ", '"'} <= suffixes
    assert "" not in suffixes
    raw = file_of(groups[0], "sales_transactions").read_text(encoding="utf-8")
    assert re.search(r',"[a-z]+\.[a-z]+@[a-z]+\.com""",', raw)  # as in the sample: "alexander.brown@gmail.com"""


def test_name_drift_same_customer_id_other_name_in_a_later_group(sales: list[list[list[str]]]) -> None:
    names = [{row[2]: (row[3], row[4]) for row in group} for group in sales]
    for group in sales:  # within a group a customer id keeps one name
        assert len({(row[2], row[3], row[4]) for row in group}) == len({row[2] for row in group})
    shared = names[0].keys() & names[1].keys()
    assert shared
    assert any(names[0][customer] != names[1][customer] for customer in shared)


def test_at_most_one_offer_and_about_a_third_with_one(sales: list[list[list[str]]]) -> None:
    rows = all_rows(sales)
    assert all(set(row[OFFERS]) <= {"", "True"} for row in rows)
    counts = [row[OFFERS].count("True") for row in rows]
    assert max(counts) == 1
    assert 0.25 < sum(counts) / len(rows) < 0.42
    assert {index for row in rows for index, offer in enumerate(row[OFFERS]) if offer} == set(range(5))


def test_units_and_payment_methods(sales: list[list[list[str]]]) -> None:
    rows = all_rows(sales)
    assert {row[16] for row in rows} == {str(units) for units in range(1, 11)}
    assert {row[PAYMENT] for row in rows if row[IS_ONLINE] == "no"} == {"Cash", "Credit Card"}
    assert {row[PAYMENT] for row in rows if row[IS_ONLINE] == "yes"} == {"Credit Card", "PayPal", "Stripe"}


def split_address(address: str) -> tuple[str, str, str, str]:
    street, city, state, postal_code = address.rsplit("/", 3)
    return street, city, state, postal_code


def test_shipping_address_dirt(sales: list[list[list[str]]]) -> None:
    online = [row for row in all_rows(sales) if row[IS_ONLINE] == "yes"]
    assert all(row[AGENT] == row[BRANCH] == "" for row in online)
    addresses = [split_address(row[ADDRESS]) for row in online]
    assert all(re.fullmatch(r"[A-Z]{2}", state) and re.fullmatch(r"\d{5}", code) for _, _, state, code in addresses)
    assert any("/" in street for street, _, _, _ in addresses)
    assert any(code.startswith("0") for _, _, _, code in addresses)
    empty_city_codes = {code for _, city, _, code in addresses if city == ""}
    codes_with_city = {code for _, city, _, code in addresses if city}
    assert 0 < len([a for a in addresses if a[1] == ""]) < 0.03 * len(addresses)
    assert empty_city_codes & codes_with_city, "some empty city must be fillable from another row"
    assert empty_city_codes - codes_with_city, "some empty city must have no known postal code"


def test_a_postal_code_always_names_the_same_city(sales: list[list[list[str]]]) -> None:
    cities = defaultdict(set)
    for row in all_rows(sales):
        if row[IS_ONLINE] == "yes":
            _, city, _, code = split_address(row[ADDRESS])
            if city:
                cities[code].add(city)
    assert all(len(names) == 1 for names in cities.values())


def test_branches_grow_by_one_per_group_and_keep_their_attributes(groups: list[Path]) -> None:
    first, second = body(groups[0], "branches"), body(groups[1], "branches")
    assert [row[0] for row in first] == ["1", "2", "3", "4", "5"]
    assert [row[0] for row in second] == ["1", "2", "3", "4", "5", "6"]
    assert second[:5] == first
    assert all(re.fullmatch(r"\d{4}-\d\d-\d\d", row[2]) and row[3] in "ABCD" for row in second)
    assert len({row[1] for row in second}) == 6


def test_agents_grow_by_one_per_group_and_hire_dates_drift(groups: list[Path]) -> None:
    first, second = body(groups[0], "sales_agents"), body(groups[1], "sales_agents")
    assert [row[0] for row in first] == [str(i) for i in range(1, 11)]
    assert [row[0] for row in second] == [str(i) for i in range(1, 12)]
    assert [row[1] for row in second[:10]] == [row[1] for row in first]
    assert any(new[2] != old[2] for new, old in zip(second, first))
    assert all(re.fullmatch(r"\d{4}-[1-9]\d?-[1-9]\d?", row[2]) for row in first + second)


def test_hire_date_drift_in_a_group_generated_alone(tmp_path: Path) -> None:
    first = generate(tmp_path, groups=1, rows=0, start_group=1)
    later = generate(tmp_path, groups=1, rows=0, start_group=24)
    old, new = body(first[0], "sales_agents"), body(later[0], "sales_agents")
    assert len(new) == 10 + 23 and len(body(later[0], "branches")) == 5 + 23
    assert any(a[2] != b[2] for a, b in zip(old, new))


def test_offline_rows_reference_agents_and_branches_of_their_group(groups: list[Path]) -> None:
    for folder in groups:
        agents = {row[0] for row in body(folder, "sales_agents")}
        branches = {row[0] for row in body(folder, "branches")}
        offline = [row for row in body(folder, "sales_transactions") if row[IS_ONLINE] == "no"]
        assert offline
        assert all(row[AGENT] in agents and row[BRANCH] in branches for row in offline)
    group2 = [row for row in body(groups[1], "sales_transactions") if row[IS_ONLINE] == "no"]
    assert any(row[AGENT] == "11" for row in group2) and any(row[BRANCH] == "6" for row in group2)


def test_rejects_impossible_arguments(tmp_path: Path) -> None:
    with pytest.raises(ValueError):
        generate(tmp_path, rows=-1)
    with pytest.raises(ValueError):
        generate(tmp_path, rows=10**7 + 1)
    with pytest.raises(ValueError):
        generate(tmp_path, start_group=0)
