"""The producer's messages, without a broker: exact documented shapes, determinism, drift and malformed ratios."""

from __future__ import annotations

import json
import re
from collections import Counter
from datetime import datetime

import pytest

from streaming.synthetic_events import (
    ALGORITHMS,
    CATEGORIES,
    COMMON_FIELDS,
    DRIFT_FIELDS,
    PAYMENT_METHODS,
    SEEDED_START,
    SOURCES,
    generate,
)

FIELDS = {
    "productView": set(COMMON_FIELDS),
    "addToCart": set(COMMON_FIELDS) | {"quantity"},
    "purchase": set(COMMON_FIELDS) | {"quantity", "totalAmount", "paymentMethod"},
    "recommendationClick": set(COMMON_FIELDS) | {"recommendedProductId", "algorithm"},
}
TIMESTAMP = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}$")


def test_events_have_exactly_the_documented_fields():
    messages = list(generate(4_000, seed=7))
    assert all(m.is_event for m in messages)
    assert Counter(m.event["eventType"] for m in messages).keys() == FIELDS.keys()
    for m in messages:
        e = json.loads(m.value)
        assert e == m.event and m.key == e["customerId"].encode()
        assert set(e) == FIELDS[e["eventType"]]
        assert TIMESTAMP.match(e["timestamp"])
        assert 10000 <= int(e["customerId"]) <= 99999 and 1000 <= int(e["productId"]) <= 9999
        if e["eventType"] == "productView":
            assert set(e["metadata"]) == {"category", "source"}
            assert e["metadata"]["category"] in CATEGORIES and e["metadata"]["source"] in SOURCES
        else:
            assert e["metadata"] == {}
        if "quantity" in e:
            assert 1 <= e["quantity"] <= 5
        if e["eventType"] == "purchase":
            assert 10.0 <= e["totalAmount"] <= 500.0 and round(e["totalAmount"], 2) == e["totalAmount"]
            assert e["paymentMethod"] in PAYMENT_METHODS
        if e["eventType"] == "recommendationClick":
            assert e["recommendedProductId"].isdigit() and e["algorithm"] in ALGORITHMS


def test_seed_makes_messages_and_timestamps_reproducible():
    first = [(m.key, m.value) for m in generate(500, seed=3, extra_field_ratio=0.2, malformed_ratio=0.1)]
    again = [(m.key, m.value) for m in generate(500, seed=3, extra_field_ratio=0.2, malformed_ratio=0.1)]
    other = [(m.key, m.value) for m in generate(500, seed=4, extra_field_ratio=0.2, malformed_ratio=0.1)]
    assert first == again and first != other
    stamps = [m.event["timestamp"] for m in generate(200, seed=3)]
    assert stamps[0] == SEEDED_START.strftime("%Y-%m-%dT%H:%M:%S")
    assert stamps == sorted(stamps)  # 0.5-2 s apart, like the original app's pacing


def test_explicit_start_and_unseeded_wall_clock():
    stamps = [m.event["timestamp"] for m in generate(10, seed=1, start="2026-03-01T12:00:00")]
    assert stamps[0] == "2026-03-01T12:00:00"
    now = datetime.now()
    live = datetime.strptime(next(generate(1)).event["timestamp"], "%Y-%m-%dT%H:%M:%S")
    assert abs((live - now).total_seconds()) < 5


def test_drift_and_malformed_ratios():
    messages = list(generate(20_000, seed=11, extra_field_ratio=0.1, malformed_ratio=0.01))
    malformed = [m for m in messages if not m.is_event]
    drifted = [m for m in messages if m.is_event and m.drift_field]
    assert 150 <= len(malformed) <= 250
    assert 1_700 <= len(drifted) <= 2_300
    assert {m.drift_field for m in drifted} == set(DRIFT_FIELDS)
    kinds = Counter(m.malformed for m in malformed)
    assert set(kinds) == {"not_json", "truncated_json", "json_array", "json_scalar", "missing_fields",
                          "bad_timestamp"}
    for m in malformed:
        try:
            value = json.loads(m.value)
        except ValueError:
            assert m.malformed in ("not_json", "truncated_json")
            continue
        if isinstance(value, dict):
            complete = set(COMMON_FIELDS) <= set(value)
            bad_time = complete and not TIMESTAMP.match(str(value["timestamp"]))
            assert (not complete) or bad_time, m.malformed
        else:
            assert m.malformed in ("json_array", "json_scalar")


@pytest.mark.parametrize("ratio", [-0.1, 1.5])
def test_ratios_are_validated(ratio):
    with pytest.raises(ValueError):
        next(generate(1, malformed_ratio=ratio))
