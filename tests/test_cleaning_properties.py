"""Property-based tests of the silver cleaning functions against small independent reference implementations.

Each property evaluates a whole batch of generated examples in one engine query (a query per example would
cost the engine's round trip a hundred times over).
"""

from __future__ import annotations

import datetime as dt
import re
from decimal import ROUND_HALF_UP, Decimal

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pyspark.sql import functions as F

from silver import cleaning

PROPERTY = settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                          HealthCheck.function_scoped_fixture])


def evaluate(spark, values, expression, schema="v string"):
    df = spark.createDataFrame([(v,) for v in values], schema)
    return [r[0] for r in df.select(expression(F.col("v")).alias("out")).collect()]


# ---- dates ---------------------------------------------------------------------------------------------------
def reference_date(text):
    m = re.fullmatch(r"\s*(\d{4})-(\d{1,2})-(\d{1,2})\s*", text or "")
    if not m:
        return None
    try:
        return dt.date(int(m[1]), int(m[2]), int(m[3]))
    except ValueError:
        return None


date_texts = st.one_of(
    st.dates(min_value=dt.date(1900, 1, 1), max_value=dt.date(2099, 12, 31)).map(
        lambda d: f"{d.year}-{d.month}-{d.day}"),
    st.dates(min_value=dt.date(1900, 1, 1), max_value=dt.date(2099, 12, 31)).map(lambda d: d.isoformat()),
    st.tuples(st.integers(1000, 9999), st.integers(0, 14), st.integers(0, 35)).map(lambda t: f"{t[0]}-{t[1]}-{t[2]}"),
    st.text(alphabet="0123456789-/ ax", max_size=12),
)


@PROPERTY
@given(st.lists(date_texts, min_size=1, max_size=60))
def test_parse_date_matches_reference(spark, texts):
    assert evaluate(spark, texts, cleaning.parse_date) == [reference_date(t) for t in texts]


# ---- emails ----------------------------------------------------------------------------------------------------
local_parts = st.from_regex(r"[a-z][a-z0-9]{0,8}(\.[a-z][a-z0-9]{0,8})?", fullmatch=True)
domains = st.sampled_from(["gmail.com", "yahoo.com", "hotmail.com", "outlook.com", "mail.example.org",
                           "uni.edu", "shop.net"])  # not .co: `.co` + junk `m` reads as `.com`
junk = st.sampled_from([";", "*", "$u", ")x", "[", "^", ":", "%x", "#4r", "]x", "}4", " ", '"', "m", "&", ">",
                        "<", "(", "/", "'", "|", "\\", "{", ""])


@PROPERTY
@given(st.lists(st.tuples(local_parts, domains, junk, st.booleans()), min_size=1, max_size=60))
def test_clean_email_strips_delivered_junk(spark, parts):
    delivered = [(f"{l}@{d}{j}".upper() if shout else f"{l}@{d}{j}") for l, d, j, shout in parts]
    expected = [f"{l}@{d}" for l, d, _, _ in parts]
    cleaned = evaluate(spark, delivered, cleaning.clean_email)
    assert cleaned == expected
    assert all(re.fullmatch(cleaning.EMAIL_REGEX, c) for c in cleaned)


def test_clean_email_rejects_non_addresses(spark):
    assert evaluate(spark, ["not-an-email", "", None, "@gmail.com", "a@", '"'], cleaning.clean_email) == \
        [None] * 6


# ---- addresses -------------------------------------------------------------------------------------------------
streets = st.from_regex(r"[0-9]{1,5}( 1/2)? [A-Z][a-z]{2,8}( [A-Z][a-z]{2,6})?( (Street|Court|Ave))?", fullmatch=True)
cities = st.from_regex(r"[A-Z][a-z]{2,9}( [A-Z][a-z]{2,7})?", fullmatch=True)
states = st.from_regex(r"[A-Z]{2}", fullmatch=True)
zips = st.integers(0, 99999)


@PROPERTY
@given(st.lists(st.tuples(streets, cities, states, zips, st.booleans()), min_size=1, max_size=60))
def test_address_split_from_the_right(spark, addresses):
    delivered = [f"{s}/{c}/{st_}/{z if unpadded else f'{z:05d}'}" for s, c, st_, z, unpadded in addresses]
    df = spark.createDataFrame([(a,) for a in delivered], "v string")
    pieces = cleaning.address_pieces(F.col("v"))
    rows = df.select(*[cleaning.address_part(pieces, i) for i in (1, 2, 3)],
                     cleaning.postal_code(cleaning.address_part(pieces, 4))).collect()
    assert [tuple(r) for r in rows] == [(s, c, st_, f"{z:05d}") for s, c, st_, z, _ in addresses]


# ---- money -----------------------------------------------------------------------------------------------------
@PROPERTY
@given(st.lists(st.tuples(st.integers(1, 1000), st.integers(1, 10**7), st.integers(0, 5)), min_size=1, max_size=60))
def test_discount_arithmetic_is_exact_half_up(spark, sales):
    rows = [(units, Decimal(cents) / 100, offer) for units, cents, offer in sales]
    df = spark.createDataFrame(rows, "units int, unit_price decimal(12,2), offer int")
    pct = F.coalesce(F.create_map(*[F.lit(x) for k, v in cleaning.OFFER_DISCOUNT_PCT.items() for x in (k, v)])[
        F.col("offer")], F.lit(0)).cast("decimal(5,2)")
    gross, paid = cleaning.money(F.col("units"), F.col("unit_price"), pct)
    got = [tuple(r) for r in df.select(gross, paid).collect()]
    expected = []
    for units, price, offer in rows:
        discount = Decimal(cleaning.OFFER_DISCOUNT_PCT.get(offer, 0))
        total = (units * price).quantize(Decimal("0.01"), ROUND_HALF_UP)
        after = (units * price * (100 - discount) / 100).quantize(Decimal("0.01"), ROUND_HALF_UP)
        expected.append((total, after))
    assert got == expected


@pytest.mark.parametrize("flags,expected", [
    (["True", None, None, None, None], (1, 1, Decimal("5.00"))),
    ([None, None, None, None, "True"], (5, 1, Decimal("25.00"))),
    ([None] * 5, (None, 0, Decimal("0.00"))),
    (["True", "True", None, None, None], (None, 2, Decimal("0.00"))),
    ([" true ", None, None, None, None], (1, 1, Decimal("5.00"))),
])
def test_offers(spark, flags, expected):
    df = spark.createDataFrame([tuple(flags)], ", ".join(f"o{k} string" for k in range(1, 6)))
    flags = cleaning.offer_flags([F.col(f"o{k}") for k in range(1, 6)])
    offer_id = cleaning.offer_id(flags, cleaning.offer_count(flags))
    assert tuple(df.select(offer_id, cleaning.offer_count(flags), cleaning.discount_pct(offer_id)).first()) == expected


# ---- id sets ---------------------------------------------------------------------------------------------------
@PROPERTY
@given(st.sets(st.integers(-3, 40), max_size=30), st.lists(st.one_of(st.none(), st.integers(-5, 45)), min_size=1,
                                                            max_size=20))
def test_is_one_of_answers_as_an_in_list(spark, ids, values):
    df = spark.createDataFrame([(v,) for v in values], "v int")
    got = [r[0] for r in df.select(cleaning.is_one_of(F.col("v"), list(ids))).collect()]
    assert got == [None if v is None else v in ids for v in values]
