"""Deterministic generator of hourly delivery groups shaped like the real sample in ``shared/data/raw``.

Each group is a folder ``group{N}/`` with three CRLF files whose headers, field order and quoting match the real
deliveries byte for byte (typos included: ``cusomter_lname``, ``cusomter_email``):

- ``branches_SS_raw_{N}.csv``: group 1 lists branches 1..5, every later group re-lists them and adds one
  (group 2 adds branch 6, ...). ``establish_date`` is zero-padded (``2017-01-15``), class ``A``..``D``.
- ``sales_agents_SS_raw_{N}.csv``: group 1 lists agents 1..10, every later group adds one (group 2 adds
  agent 11). ``hire_date`` is unpadded (``2020-6-3``).
- ``sales_transactions_SS_raw_{N}.csv``: ``rows`` sales, about a third of them online.

Every kind of dirt the real sample files carry (the README's data-quality rules) is produced, so the pipeline is
exercised on all of it at any scale, from values generated here rather than copied from the sample (only the
product catalog is the sample's):

- dates without zero padding (``2022-2-5``), spread over 2022-01-01..2023-12-31;
- agents' ``hire_date`` drifts: from group 2 on, one or two of group 1's agents carry a different hire date;
- emails with junk after the domain (23 variants: ``;`` ``*`` ``$u`` ``)x`` ``[`` ``^`` ``:`` ``%x`` ``#4r``
  ``]x`` ``}4`` ``m``, a trailing space, ...), including a trailing double quote that the csv module writes
  as a quoted field ending in a doubled quote (``"first.last@gmail.com""`` + closing quote), like the sample;
- name drift: a customer id keeps one name/email within a group but gets a fresh one in each group;
- offers are ``True`` or empty, at most one per sale; ``is_online`` is ``yes``/``no``;
- offline rows have 20 fields (no shipping_address field at all), online rows 21 with empty agent/branch;
- shipping addresses ``street/city/state/postal_code`` whose street may contain ``/`` (``421 1/2 Oak Street``),
  whose postal code may have a leading zero (``02143``), and ~1 % of online rows with an EMPTY city: most of
  them use a postal code that appears elsewhere with a city (a cleaner can fill it), some use a postal code
  that never appears with a city (a cleaner must leave it empty);
- product names that are not unique across ids (``Boots`` 9/18, ``Sandals`` 10/19);
- varied payment methods (``Cash``/``Credit Card`` offline, ``Credit Card``/``PayPal``/``Stripe`` online);
- with ``redeliver=True`` and three or more groups, the last group is a byte-identical re-delivery of the first
  (same content, files renamed with the last group's number), exactly as sample group 3 re-delivers group 1.

Determinism: everything comes from ``random.Random`` instances seeded with strings built from ``(seed, what,
group)`` (string seeds are hashed with SHA-512, independent of ``PYTHONHASHSEED``), never from global random or
the clock. A group's content depends only on ``(seed, group number, rows)``, so ``start_group`` can generate
hour 24 alone and get the same bytes as a run that generated groups 1..24. Transaction ids are a keyed bijection
of ``(group, row)`` onto 12 digits, so they are unique across all groups (a re-delivery repeats its original's).

Scale: rows are produced lazily and streamed to the csv writer, so memory stays bounded for millions of rows.
"""

from __future__ import annotations

import csv
import datetime as dt
import random
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Iterator, NamedTuple, Sequence

# --- file layout ---------------------------------------------------------------------------------------------

BRANCH_HEADER = ("branch_id", "location", "establish_date", "class")
AGENT_HEADER = ("sales_person_id", "name", "hire_date")
TRANSACTION_HEADER = (
    "transaction_date", "transaction_id", "customer_id", "customer_fname", "cusomter_lname", "cusomter_email",
    "sales_agent_id", "branch_id", "product_id", "product_name", "product_category",
    "offer_1", "offer_2", "offer_3", "offer_4", "offer_5",
    "units", "unit_price", "is_online", "payment_method", "shipping_address",
)  # fmt: skip
LINE_END = "\r\n"


def branch_file(group: int) -> str:
    return f"branches_SS_raw_{group}.csv"


def agent_file(group: int) -> str:
    return f"sales_agents_SS_raw_{group}.csv"


def transaction_file(group: int) -> str:
    return f"sales_transactions_SS_raw_{group}.csv"


# --- reference data ------------------------------------------------------------------------------------------


class Product(NamedTuple):
    product_id: int
    name: str
    category: str
    unit_price: str  # exact decimal text, as delivered


# The sample's catalog, verbatim: names are not unique across ids (9/18 Boots, 10/19 Sandals).
PRODUCTS: tuple[Product, ...] = (
    Product(1, "Laptop", "Electronics", "999.99"),
    Product(2, "Smartphone", "Electronics", "699.99"),
    Product(3, "Tablet", "Electronics", "299.99"),
    Product(4, "Headphones", "Electronics", "99.99"),
    Product(5, "T-Shirt", "Clothing", "19.99"),
    Product(6, "Jeans", "Clothing", "49.99"),
    Product(7, "Dress", "Clothing", "59.99"),
    Product(8, "Sneakers", "Footwear", "79.99"),
    Product(9, "Boots", "Footwear", "129.99"),
    Product(10, "Sandals", "Footwear", "39.99"),
    Product(11, "TV", "Electronics", "899.99"),
    Product(12, "Monitor", "Electronics", "299.99"),
    Product(13, "Printer", "Electronics", "149.99"),
    Product(14, "Camera", "Electronics", "399.99"),
    Product(15, "Hoodie", "Clothing", "29.99"),
    Product(16, "Skirt", "Clothing", "39.99"),
    Product(17, "Blouse", "Clothing", "29.99"),
    Product(18, "Boots", "Footwear", "149.99"),
    Product(19, "Sandals", "Footwear", "29.99"),
    Product(20, "Heels", "Footwear", "59.99"),
    Product(21, "Microwave", "Appliances", "129.99"),
    Product(22, "Coffee Maker", "Appliances", "79.99"),
    Product(23, "Toaster", "Appliances", "39.99"),
    Product(24, "Blender", "Appliances", "49.99"),
    Product(25, "Washing Machine", "Appliances", "499.99"),
    Product(26, "Vacuum Cleaner", "Appliances", "199.99"),
    Product(27, "Iron", "Appliances", "29.99"),
    Product(28, "Hair Dryer", "Appliances", "19.99"),
    Product(29, "Hair Straightener", "Appliances", "39.99"),
    Product(30, "Electric Kettle", "Appliances", "24.99"),
)

FIRST_NAMES = ("Alexander", "Ava", "Emma", "Ethan", "James", "John", "Liam", "Mia", "Michael", "Noah", "Olivia",
               "Sophia", "William", "Isabella")  # fmt: skip
LAST_NAMES = ("Anderson", "Brown", "Davis", "Garcia", "Johnson", "Jones", "Miller", "Moore", "Smith", "Taylor",
              "Thomas", "Williams", "Wilson")  # fmt: skip
AGENT_FIRST_NAMES = ("Andrew", "Chloe", "Christopher", "Daniel", "David", "Emily", "Grace", "Hannah", "Jane",
                     "Jessica", "Joseph", "Laura", "Matthew", "Rachel", "Robert", "Ryan")  # fmt: skip
AGENT_LAST_NAMES = ("Baker", "Clark", "Doe", "Evans", "Hall", "Harris", "Lee", "Lewis", "Martin", "Martinez",
                    "Nelson", "Robinson", "Scott", "Walker", "White", "Young")  # fmt: skip
EMAIL_DOMAINS = ("gmail", "yahoo", "hotmail", "outlook")
# Junk seen glued after ".com"; '"' ends up as a doubled quote inside a quoted field, ' ' as a trailing space.
EMAIL_JUNK_SUFFIXES = (";", "*", "$u", ")x", "[", "^", ":", "%x", "#4r", "]x", "}4", "m", " ", '"', "|", "&",
                       "'", "\\", "<", ">", "(", "{", "/")  # fmt: skip

BRANCH_CITIES = ("New York", "Los Angeles", "Chicago", "Houston", "Phoenix", "Philadelphia", "San Antonio",
                 "San Diego", "Dallas", "San Jose", "Austin", "Jacksonville", "Fort Worth", "Columbus",
                 "Charlotte", "Indianapolis", "Seattle", "Denver", "Boston", "Nashville")  # fmt: skip
BRANCH_CLASSES = ("A", "B", "C", "D")

# (city, state, 3-digit postal prefix). Each city owns its prefix, so a postal code maps to exactly one city.
# New England / New Jersey prefixes start with 0: those postal codes must stay strings.
CITIES = (
    ("Boston", "MA", "022"), ("Somerville", "MA", "021"), ("Worcester", "MA", "016"), ("Lowell", "MA", "018"),
    ("Hartford", "CT", "061"), ("New Haven", "CT", "065"), ("Manchester", "CT", "060"),
    ("Burlington", "VT", "054"), ("Rutland", "VT", "057"), ("Bristol", "VT", "055"),
    ("Newark", "NJ", "071"), ("Portland", "ME", "041"), ("Nashua", "NH", "030"), ("Providence", "RI", "029"),
    ("Washington", "DC", "200"), ("Baltimore", "MD", "212"), ("Annapolis", "MD", "214"),
    ("Atlanta", "GA", "303"), ("Savannah", "GA", "314"), ("Nashville", "TN", "372"), ("Memphis", "TN", "381"),
    ("Louisville", "KY", "402"), ("Montgomery", "AL", "361"), ("Little Rock", "AR", "722"),
    ("Tampa", "FL", "336"), ("Orlando", "FL", "328"), ("Oklahoma City", "OK", "731"), ("Moore", "OK", "736"),
    ("Phoenix", "AZ", "850"), ("Tucson", "AZ", "857"), ("Denver", "CO", "802"), ("Arvada", "CO", "800"),
    ("Anchorage", "AK", "995"), ("Oakland", "CA", "946"), ("Sacramento", "CA", "958"), ("San Diego", "CA", "921"),
)  # fmt: skip
# Postal prefixes no city above uses: addresses there are delivered without a city, always.
ORPHAN_POSTAL_PREFIXES = (("VT", "050"), ("ME", "046"), ("NH", "037"), ("CT", "063"))
STREET_NAMES = ("Oak", "Maple", "Cedar", "Pine", "Elm", "Walnut", "Linden", "Henderson", "Addison", "McGregor",
                "Brickside", "Westerly", "Illinois", "Albacore", "Gillette", "Airport", "Porter", "Secrest",
                "Creek", "Minor", "Bennington", "Holt", "Wendell", "Aaron", "Main", "Farragut", "Colmar",
                "Sun Valley", "Whittier Hill", "White Oak", "Meehan", "Garfield", "Lucian", "Chrissy's",
                "Olde Gate", "Washington", "Jefferson", "Lincoln", "Highland", "Meadow")  # fmt: skip
STREET_TYPES = ("Street", "Avenue", "Road", "Drive", "Court", "Lane", "Circle", "Place", "Boulevard", "Way")
STREET_DIRECTIONS = ("North", "South", "East", "West", "Northwest", "Southwest")
STREET_QUADRANTS = ("Northwest", "Southeast", "Northeast")

OFFER_COUNT = 5
OFFER_SHARE = 1 / 3  # share of sales with one offer redeemed (the real sample is nearer 1/2)
ONLINE_SHARE = 1 / 3
ONLINE_PAYMENTS = ("Credit Card", "PayPal", "Stripe")
OFFLINE_PAYMENTS = ("Cash", "Credit Card")
MAX_UNITS = 10
FIRST_SALE_DAY = dt.date(2022, 1, 1)
LAST_SALE_DAY = dt.date(2023, 12, 31)

INITIAL_BRANCHES = 5
INITIAL_AGENTS = 10
ADDRESS_POOL_SIZE = 2000
POSTAL_CODES_PER_CITY = 3
HALF_NUMBER_SHARE = 0.02  # addresses like "421 1/2 Oak Street": a "/" inside the street
EMPTY_CITY_SHARE = 0.01 * ONLINE_SHARE  # share of all rows: ~1 % of online rows
ORPHAN_SHARE_OF_EMPTY_CITY = 0.25
MIN_CUSTOMERS = 100
ROWS_PER_CUSTOMER = 15

MAX_ROWS = 10**7  # transaction id = bijection of group * MAX_ROWS + row onto 12 digits
MAX_GROUP = 10**12 // MAX_ROWS - 1
_ID_SPACE = 10**12
_ID_HALF = 10**6


# --- randomness ----------------------------------------------------------------------------------------------


def _rng(seed: int, *what: object) -> random.Random:
    """An independent, reproducible stream for one purpose (string seeds are hashed with SHA-512)."""
    return random.Random(":".join(["qlake-generate", str(seed), *map(str, what)]))


def _unpadded(day: dt.date) -> str:
    return f"{day.year}-{day.month}-{day.day}"


def _random_day(rng: random.Random, first: dt.date, last: dt.date) -> dt.date:
    return first + dt.timedelta(days=rng.randint(0, (last - first).days))


# --- branches and agents -------------------------------------------------------------------------------------


def branch_count(group: int) -> int:
    return INITIAL_BRANCHES + group - 1


def agent_count(group: int) -> int:
    return INITIAL_AGENTS + group - 1


def _nth_unique(names: list[str], index: int) -> str:
    """names[index], with a counter appended once the pool is used up (keeps names unique)."""
    cycle, position = divmod(index, len(names))
    return names[position] if cycle == 0 else f"{names[position]} {cycle + 1}"


def branch_rows(seed: int, group: int) -> list[tuple[str, str, str, str]]:
    """Branches listed in a group: the same attributes in every group, one more branch per group."""
    cities = list(BRANCH_CITIES)
    _rng(seed, "branch-cities").shuffle(cities)
    rows = []
    for branch_id in range(1, branch_count(group) + 1):
        rng = _rng(seed, "branch", branch_id)
        established = _random_day(rng, dt.date(2010, 1, 1), dt.date(2019, 12, 31)).isoformat()
        rows.append((str(branch_id), _nth_unique(cities, branch_id - 1), established, rng.choice(BRANCH_CLASSES)))
    return rows


def _canonical_hire_day(seed: int, agent_id: int) -> dt.date:
    return _random_day(_rng(seed, "agent", agent_id), dt.date(2015, 1, 1), dt.date(2022, 12, 31))


def _drifted_hire_days(seed: int, group: int) -> dict[int, dt.date]:
    """From group 2 on, one or two of group 1's agents are delivered with another hire date."""
    if group < 2:
        return {}
    rng = _rng(seed, "hire-drift", group)
    drifted = rng.sample(range(1, INITIAL_AGENTS + 1), rng.randint(1, 2))
    return {
        agent_id: _canonical_hire_day(seed, agent_id) + dt.timedelta(days=rng.choice((-1, 1)) * rng.randint(1, 400))
        for agent_id in drifted
    }


def agent_rows(seed: int, group: int) -> list[tuple[str, str, str]]:
    """Agents listed in a group: stable names, one more agent per group, some hire dates drifting."""
    names = [f"{first} {last}" for first in AGENT_FIRST_NAMES for last in AGENT_LAST_NAMES]
    _rng(seed, "agent-names").shuffle(names)
    drift = _drifted_hire_days(seed, group)
    rows = []
    for agent_id in range(1, agent_count(group) + 1):
        hired = drift.get(agent_id) or _canonical_hire_day(seed, agent_id)
        rows.append((str(agent_id), _nth_unique(names, agent_id - 1), _unpadded(hired)))
    return rows


# --- customers, addresses, transaction ids -------------------------------------------------------------------


def _customer_ids(seed: int, rows: int) -> range:
    """Contiguous 5-digit ids shared by all groups (so the same id shows up again with another name)."""
    count = min(50_000, max(MIN_CUSTOMERS, rows // ROWS_PER_CUSTOMER))
    first = _rng(seed, "customer-ids").randint(10_000, 100_000 - count)
    return range(first, first + count)


def _customers(seed: int, group: int, rows: int) -> list[tuple[str, str, str, str]]:
    """(id, first name, last name, email without junk) per customer; drawn afresh per group (name drift)."""
    rng = _rng(seed, "customers", group)
    customers = []
    for customer_id in _customer_ids(seed, rows):
        first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
        email = f"{first.lower()}.{last.lower()}@{rng.choice(EMAIL_DOMAINS)}.com"
        customers.append((str(customer_id), first, last, email))
    return customers


def _house_number(rng: random.Random) -> str:
    digits = rng.choice((1, 2, 3, 3, 4, 4, 5))
    number = str(rng.randint(10 ** (digits - 1), 10**digits - 1))
    return f"{number} 1/2" if rng.random() < HALF_NUMBER_SHARE else number


def _street(rng: random.Random) -> str:
    parts = [_house_number(rng)]
    if rng.random() < 0.2:
        parts.append(rng.choice(STREET_DIRECTIONS))
    parts += [rng.choice(STREET_NAMES), rng.choice(STREET_TYPES)]
    if rng.random() < 0.05:
        parts.append(rng.choice(STREET_QUADRANTS))
    return " ".join(parts)


@dataclass(frozen=True)
class AddressBook:
    """Formatted shipping addresses shared by all groups."""

    full: tuple[str, ...]  # street/city/state/postal_code
    city_missing: tuple[str, ...]  # the same addresses with an empty city: postal code known elsewhere
    orphans: tuple[str, ...]  # empty city and a postal code that never comes with a city


def _address_book(seed: int) -> AddressBook:
    rng = _rng(seed, "addresses")
    postal_codes = {city: rng.sample(range(100), POSTAL_CODES_PER_CITY) for city in CITIES}
    full, city_missing = [], []
    for _ in range(ADDRESS_POOL_SIZE):
        city = rng.choice(CITIES)
        name, state, prefix = city
        postal_code = f"{prefix}{rng.choice(postal_codes[city]):02d}"
        street = _street(rng)
        full.append(f"{street}/{name}/{state}/{postal_code}")
        city_missing.append(f"{street}//{state}/{postal_code}")
    orphans = tuple(
        f"{_street(rng)}//{state}/{prefix}{rng.randrange(100):02d}"
        for state, prefix in ORPHAN_POSTAL_PREFIXES
        for _ in range(2)
    )
    return AddressBook(tuple(full), tuple(city_missing), orphans)


class TransactionIds:
    """A keyed bijection of (group, row) onto 12 digits: random-looking, unique across groups."""

    def __init__(self, seed: int) -> None:
        rng = _rng(seed, "transaction-ids")
        self._a1, self._a2 = (self._unit(rng), self._unit(rng))
        self._b1, self._b2 = rng.randrange(_ID_SPACE), rng.randrange(_ID_SPACE)

    @staticmethod
    def _unit(rng: random.Random) -> int:
        """A multiplier invertible modulo 10**12 (coprime to 2 and 5)."""
        while True:
            candidate = rng.randrange(10**11, _ID_SPACE) | 1
            if candidate % 5:
                return candidate

    def __call__(self, group: int, row: int) -> str:
        return self._format(self._a1 * (group * MAX_ROWS + row) + self._b1)

    def of_group(self, group: int, rows: int) -> Iterator[str]:
        """The ids of rows 0..rows-1 of a group, in order (same values as calling, cheaper per row)."""
        step, a2, b2 = self._a1 % _ID_SPACE, self._a2, self._b2
        x = (self._a1 * group * MAX_ROWS + self._b1) % _ID_SPACE
        for _ in range(rows):
            high, low = divmod(x, _ID_HALF)
            yield f"trx-{(a2 * (low * _ID_HALF + high) + b2) % _ID_SPACE:012d}"
            x = (x + step) % _ID_SPACE

    def _format(self, mixed: int) -> str:
        high, low = divmod(mixed % _ID_SPACE, _ID_HALF)
        return f"trx-{(self._a2 * (low * _ID_HALF + high) + self._b2) % _ID_SPACE:012d}"


# --- transactions --------------------------------------------------------------------------------------------

_SALE_DAYS = tuple(
    _unpadded(FIRST_SALE_DAY + dt.timedelta(days=offset)) for offset in range((LAST_SALE_DAY - FIRST_SALE_DAY).days + 1)
)
_NO_OFFER = ("",) * OFFER_COUNT
_ONE_OFFER = tuple(tuple("True" if k == chosen else "" for k in range(OFFER_COUNT)) for chosen in range(OFFER_COUNT))
_UNITS = tuple(str(units) for units in range(1, MAX_UNITS + 1))
_PRODUCT_FIELDS = tuple((str(p.product_id), p.name, p.category) for p in PRODUCTS)


def _empty_city_rows(seed: int, group: int, rows: int) -> dict[int, bool]:
    """Row positions forced to an online sale with an empty city -> True if its postal code is an orphan.

    Placed by quota rather than by chance so that even a small group carries both kinds."""
    if rows == 0:
        return {}
    rng = _rng(seed, "empty-city", group)
    count = min(rows, max(2, round(rows * EMPTY_CITY_SHARE)))
    orphans = max(1, round(count * ORPHAN_SHARE_OF_EMPTY_CITY))
    positions = rng.sample(range(rows), count)
    return {position: rank < orphans for rank, position in enumerate(positions)}


def _sale_blocks() -> tuple[tuple[str, ...], ...]:
    """Every (product, offer, units) combination as its ready-made fields, indexed by
    ``(product * (OFFER_COUNT + 1) + offer) * MAX_UNITS + units - 1`` (offer 0 = none): one lookup per row."""
    offer_patterns = (_NO_OFFER, *_ONE_OFFER)
    return tuple(
        (str(product.product_id), product.name, product.category, *offers, units, product.unit_price)
        for product in PRODUCTS
        for offers in offer_patterns
        for units in _UNITS
    )


def transaction_rows(seed: int, group: int, rows: int) -> Iterator[list[str]]:
    """Yield the group's sales one at a time (20 fields offline, 21 online)."""
    rnd = _rng(seed, "transactions", group).random
    customers = _customers(seed, group, rows)
    addresses = _address_book(seed)
    forced_empty_city = _empty_city_rows(seed, group, rows)
    next_transaction_id = TransactionIds(seed).of_group(group, rows).__next__
    agents = tuple(str(i) for i in range(1, agent_count(group) + 1))
    branches = tuple(str(i) for i in range(1, branch_count(group) + 1))
    sale_blocks = _sale_blocks()
    n_days, n_customers, n_junk = len(_SALE_DAYS), len(customers), len(EMAIL_JUNK_SUFFIXES)
    n_products, n_agents, n_branches, n_addresses = len(PRODUCTS), len(agents), len(branches), len(addresses.full)
    offer_slots = OFFER_COUNT + 1
    for row in range(rows):
        customer_id, first, last, email = customers[int(rnd() * n_customers)]
        draw = rnd()
        offer = 1 + int(draw / OFFER_SHARE * OFFER_COUNT) if draw < OFFER_SHARE else 0
        sale = sale_blocks[(int(rnd() * n_products) * offer_slots + offer) * MAX_UNITS + int(rnd() * MAX_UNITS)]
        day = _SALE_DAYS[int(rnd() * n_days)]
        transaction_id = next_transaction_id()
        email += EMAIL_JUNK_SUFFIXES[int(rnd() * n_junk)]
        draw = rnd()
        orphan = forced_empty_city.get(row)
        if orphan is None and draw >= ONLINE_SHARE:
            agent, branch = agents[int(rnd() * n_agents)], branches[int(rnd() * n_branches)]
            payment = OFFLINE_PAYMENTS[int(rnd() * len(OFFLINE_PAYMENTS))]
            yield [day, transaction_id, customer_id, first, last, email, agent, branch, *sale, "no", payment]
            continue
        if orphan is None:
            address = addresses.full[int(rnd() * n_addresses)]
        elif orphan:
            address = addresses.orphans[int(rnd() * len(addresses.orphans))]
        else:
            address = addresses.city_missing[int(rnd() * n_addresses)]
        payment = ONLINE_PAYMENTS[int(rnd() * len(ONLINE_PAYMENTS))]
        yield [day, transaction_id, customer_id, first, last, email, "", "", *sale, "yes", payment, address]


# --- files ---------------------------------------------------------------------------------------------------


def _write_csv(path: Path, header: tuple[str, ...], rows: Iterable[Sequence[str]]) -> None:
    """Write a CRLF, minimally quoted CSV (a '"' inside a value is doubled); ``rows`` is consumed lazily."""
    with path.open("w", encoding="utf-8", newline="", buffering=1 << 20) as handle:
        writer = csv.writer(handle, lineterminator=LINE_END, quoting=csv.QUOTE_MINIMAL)
        writer.writerow(header)
        writer.writerows(rows)


def write_group(folder: Path, group: int, rows: int, seed: int) -> Path:
    """Generate one group's three files into ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    _write_csv(folder / branch_file(group), BRANCH_HEADER, branch_rows(seed, group))
    _write_csv(folder / agent_file(group), AGENT_HEADER, agent_rows(seed, group))
    _write_csv(folder / transaction_file(group), TRANSACTION_HEADER, transaction_rows(seed, group, rows))
    return folder


def redeliver_group(original: Path, original_group: int, folder: Path, group: int) -> Path:
    """Copy a delivered group byte for byte under the next group's number (an upstream re-delivery)."""
    folder.mkdir(parents=True, exist_ok=True)
    for name in (branch_file, agent_file, transaction_file):
        shutil.copyfile(original / name(original_group), folder / name(group))
    return folder


def _check_arguments(groups: int, rows: int, start_group: int) -> None:
    if groups < 0 or rows < 0:
        raise ValueError(f"groups and rows must be >= 0, got groups={groups} rows={rows}")
    if rows > MAX_ROWS:
        raise ValueError(f"rows={rows} exceeds {MAX_ROWS} per group (transaction ids would collide)")
    if start_group < 1 or start_group + groups - 1 > MAX_GROUP:
        raise ValueError(f"group numbers must be within 1..{MAX_GROUP}")


def generate(
    out_dir: str | Path,
    groups: int = 3,
    rows: int = 1500,
    seed: int = 42,
    redeliver: bool = True,
    start_group: int = 1,
) -> list[Path]:
    """Write group folders out_dir/group{N}/ with branches_SS_raw_{N}.csv, sales_agents_SS_raw_{N}.csv,
    sales_transactions_SS_raw_{N}.csv; return the group folder paths in order.

    Groups are numbered ``start_group .. start_group + groups - 1``. With ``redeliver`` and ``groups >= 3`` the
    last one is a byte-identical copy of the first one of this call (group 1 by default), renamed.
    """
    _check_arguments(groups, rows, start_group)
    out = Path(out_dir)
    numbers = list(range(start_group, start_group + groups))
    repeat_first = redeliver and groups >= 3
    folders = []
    for group in numbers:
        folder = out / f"group{group}"
        if repeat_first and group == numbers[-1]:
            redeliver_group(out / f"group{start_group}", start_group, folder, group)
        else:
            write_group(folder, group, rows, seed)
        folders.append(folder)
    return folders
