"""Column-level cleaning functions shared by the silver tables: built-in Spark expressions only (no UDFs),
so they run the same on Sail and on Spark. Each returns NULL for input it cannot clean; rules decide what a
NULL means for the row.
"""

from __future__ import annotations

from functools import reduce

from pyspark.sql import Column
from pyspark.sql import functions as F

_DATE = r"^(\d{4})-(\d{1,2})-(\d{1,2})$"
# Common top-level domains, tried in this order so that `.comm` (junk `m` after `.com`) stops at `.com`.
_KNOWN_TLDS = "com|net|org|edu|gov|mil|int|info|biz|io|co|us|uk|de|fr|ca|au|in"
# No boundary after the TLD on purpose: delivered junk can be a letter (`gmail.comm`).
_EMAIL = rf"^([a-z0-9._%+-]+@(?:[a-z0-9-]+\.)+(?:{_KNOWN_TLDS}))"
_EMAIL_GENERIC = r"^([a-z0-9._%+-]+@(?:[a-z0-9-]+\.)+[a-z]{2,})"
EMAIL_REGEX = r"^[a-z0-9._%+-]+@([a-z0-9-]+\.)+[a-z]{2,}$"
# Keyed by the lower-cased name without spaces: `Credit Card`, `credit  card` and `CreditCard` are one method.
PAYMENT_METHODS = {
    "cash": "Cash",
    "creditcard": "Credit Card",
    "debitcard": "Debit Card",
    "paypal": "PayPal",
    "stripe": "Stripe",
}
OFFER_DISCOUNT_PCT = {1: 5, 2: 10, 3: 15, 4: 20, 5: 25}


def lookup(key: Column, mapping: dict) -> Column:
    """``mapping[key]`` (NULL when absent) for a handful of entries, as a CASE chain: a map literal would be
    built again for every row (3x the cost of the whole chain)."""
    items = list(mapping.items())
    chain = F.when(key == F.lit(items[0][0]), F.lit(items[0][1]))
    for k, v in items[1:]:
        chain = chain.when(key == F.lit(k), F.lit(v))
    return chain


def is_one_of(col: Column, values: list[int]) -> Column:
    """``col`` IN ``values`` (integers, NULL for a NULL ``col``), with each run of three or more consecutive values
    as one range test: ids are mostly consecutive (1..n), and the engine plans a literal list by its length
    (900 ids took it 30 ms per query, a range nothing)."""
    ordered = sorted(set(values))
    ranges, singles, i = [], [], 0
    while i < len(ordered):
        j = i
        while j + 1 < len(ordered) and ordered[j + 1] == ordered[j] + 1:
            j += 1
        if j - i >= 2:
            ranges.append(col.between(F.lit(ordered[i]), F.lit(ordered[j])))
        else:
            singles.extend(ordered[i:j + 1])
        i = j + 1
    tests = ranges + ([col.isin(singles)] if singles else [])
    if not tests:
        return F.when(col.isNotNull(), F.lit(False))
    return reduce(lambda a, b: a | b, tests)


def blank_to_null(col: Column) -> Column:
    trimmed = F.trim(col)
    return F.when(trimmed != "", trimmed)


def parse_date(col: Column) -> Column:
    """`yyyy-M-d` (zero padding optional) → DATE; NULL for anything else, including 2023-2-30.

    The shape is checked first (exactly four year digits, year 0 does not exist), so both engines' parsers only
    see texts they agree on; the `try_` parser turns an impossible calendar date into NULL (ANSI mode).
    """
    text = F.trim(col)
    well_formed = text.rlike(_DATE) & ~text.startswith("0000")
    return F.when(well_formed, F.try_to_timestamp(text, F.lit("yyyy-M-d")).cast("date"))


def parse_int(col: Column) -> Column:
    return F.trim(col).try_cast("int")


def parse_decimal(col: Column, precision: int = 12, scale: int = 2) -> Column:
    return F.trim(col).try_cast(f"decimal({precision},{scale})")


def parse_yes_no(col: Column) -> Column:
    value = F.lower(F.trim(col))
    return F.when(value.isin("yes", "y", "true", "1"), F.lit(True)).when(value.isin("no", "n", "false", "0"), F.lit(False))


def is_true(col: Column) -> Column:
    return F.coalesce(F.lower(F.trim(col)) == "true", F.lit(False))


def clean_name(col: Column) -> Column:
    return F.initcap(F.regexp_replace(blank_to_null(col), r"\s+", " "))


def clean_email(col: Column) -> Column:
    """Lower-case, drop quotes/whitespace, keep `local@domain.tld` and cut the junk delivered after the domain."""
    text = F.btrim(F.lower(col), F.lit(' "\t\r\n'))
    known = F.regexp_extract(text, _EMAIL, 1)
    generic = F.regexp_extract(text, _EMAIL_GENERIC, 1)
    return F.when(known != "", known).when(generic != "", generic)


def normalise_payment_method(col: Column) -> Column:
    key = F.lower(F.replace(F.trim(col), F.lit(" "), F.lit("")))
    return F.coalesce(lookup(key, PAYMENT_METHODS), blank_to_null(col))


def address_pieces(col: Column) -> Column:
    """`street/city/state/postal_code` split on `/` (4x cheaper than a regex); streets may contain `/`, so the
    parts are taken from the right by :func:`address_part`."""
    return F.split(F.trim(col), "/")


def address_part(pieces: Column, part: int) -> Column:
    """Part ``part`` (1 street .. 4 postal code) of an address split by :func:`address_pieces`.

    The last three pieces are city, state and postal code, everything before them (joined back with `/`) is the
    street; fewer than four pieces → NULL.
    """
    count = F.size(pieces)
    value = F.array_join(F.slice(pieces, 1, count - 3), "/") if part == 1 else F.element_at(pieces, part - 5)
    return blank_to_null(F.when(count >= 4, value))


def postal_code(code: Column) -> Column:
    """A postal code (:func:`address_part` 4) as a string, zero padded to 5 digits (`2143` → `02143`);
    non-digits stay as they are."""
    return F.when(code.rlike(r"^\d{1,5}$"), F.lpad(code, 5, "0")).otherwise(code)


def offer_flags(cols: list[Column]) -> list[Column]:
    """offer_1..offer_5 as 0/1 flags, the input of :func:`offer_count` and :func:`offer_id`."""
    return [is_true(c).cast("int") for c in cols]


def offer_count(flags: list[Column]) -> Column:
    return sum(flags[1:], flags[0])


def offer_id(flags: list[Column], count: Column) -> Column:
    """The offer (1..5) of a sale that redeemed exactly one (``count``: :func:`offer_count`), else NULL."""
    return F.when(count == 1, F.coalesce(*[F.when(flag == 1, F.lit(i + 1)) for i, flag in enumerate(flags)]))


def discount_pct(offer: Column) -> Column:
    """The discount of an :func:`offer_id` (0 without one)."""
    return F.coalesce(lookup(offer, OFFER_DISCOUNT_PCT), F.lit(0)).cast("decimal(5,2)")


def money(units: Column, unit_price: Column, discount_pct: Column) -> tuple[Column, Column]:
    """(total_price, total_paid_price_after_discount): exact DECIMAL arithmetic, each rounded half-up to the cent."""
    gross = units.cast("decimal(10,0)") * unit_price
    paid = gross * (F.lit(100).cast("decimal(5,2)") - discount_pct) / F.lit(100).cast("decimal(5,2)")
    return F.round(gross, 2).cast("decimal(12,2)"), F.round(paid, 2).cast("decimal(12,2)")


def row_hash(cols: list[str]) -> Column:
    """Content hash over business columns, to tell a re-delivery from a change of the same key.

    64-bit xxhash over the typed values plus each column's null flag (xxhash skips NULLs, so without the flags
    a value moving into a neighbouring NULL column would hash the same); 3x cheaper than SHA-256 over a string
    rendering, and a false "unchanged" needs a 2^-64 collision between two deliveries of one key.
    """
    return F.hex(F.xxhash64(*[F.col(c) for c in cols], *[F.col(c).isNull() for c in cols]))
