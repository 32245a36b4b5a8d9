"""The delivery generator's rows (:mod:`qlake.generate`): branches, agents, customers, addresses, transaction
ids and transactions, each from a ``random.Random`` seeded by ``(seed, what, group)`` (module docstring there)."""

from __future__ import annotations

import datetime as dt
import random
from dataclasses import dataclass
from typing import Iterator

from qlake.generate_reference import (
    ADDRESS_POOL_SIZE, AGENT_FIRST_NAMES, AGENT_LAST_NAMES, BRANCH_CITIES, BRANCH_CLASSES, CITIES, EMAIL_DOMAINS,
    EMAIL_JUNK_SUFFIXES, EMPTY_CITY_SHARE, FIRST_NAMES, FIRST_SALE_DAY, HALF_NUMBER_SHARE, INITIAL_AGENTS,
    INITIAL_BRANCHES, LAST_NAMES, LAST_SALE_DAY, MAX_ROWS, MAX_UNITS, MIN_CUSTOMERS, OFFER_COUNT, OFFER_SHARE,
    OFFLINE_PAYMENTS, ONLINE_PAYMENTS, ONLINE_SHARE, ORPHAN_POSTAL_PREFIXES, ORPHAN_SHARE_OF_EMPTY_CITY,
    POSTAL_CODES_PER_CITY, PRODUCTS, ROWS_PER_CUSTOMER, STREET_DIRECTIONS, STREET_NAMES, STREET_QUADRANTS,
    STREET_TYPES,
)

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
