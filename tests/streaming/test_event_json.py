"""streaming.event_json: app event values parsed a micro-batch at a time.

The block path (Arrow's JSON reader over many values) must give exactly the rows of the record path (one value at
a time, the rules as written), on the generator's events and on adversarial values; and the rules themselves are
pinned on small inputs.
"""

from __future__ import annotations

import json
from datetime import datetime, timezone
from decimal import Decimal

import pyarrow as pa
import pyarrow.compute as pc
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from streaming import event_json
from streaming.synthetic_events import generate


def by_record(values: list[bytes | None]) -> pa.Table:
    """The record path for every value, with bad_timestamp as :func:`event_json.parse` adds it."""
    table = event_json.parse_records(values)
    times = reference_times(values)
    bad = pc.and_(table.column("reject_reason").is_null(), pc.is_null(times))
    return table.set_column(0, "reject_reason", pc.if_else(bad, "bad_timestamp", table.column("reject_reason")))


def reference_times(values: list[bytes | None]) -> pa.Array:
    texts = []
    for value in values:
        data = event_json.decode(value)
        texts.append(event_json.text(data.get("timestamp")) if type(data) is dict else None)
    return event_json.to_times(pa.array(texts, pa.string()))


def parsed(values: list[bytes | None]) -> pa.Table:
    array = pa.array(values, pa.binary())
    return event_json.parse(array, event_json.member_times(array))


def assert_same_rows(values: list[bytes | None]) -> None:
    array = pa.array(values, pa.binary())
    assert event_json.member_times(array).to_pylist() == reference_times(values).to_pylist()
    fast, slow = parsed(values), by_record(values)
    assert fast.schema == slow.schema == event_json.COLUMNS
    for name in fast.column_names:
        assert fast.column(name).to_pylist() == slow.column(name).to_pylist(), name


def test_block_and_record_paths_agree_on_the_generators_events():
    messages = list(generate(20_000, seed=5, extra_field_ratio=0.2, malformed_ratio=0.05))
    assert_same_rows([m.value for m in messages])


def event(**members) -> dict:
    return {"eventType": "purchase", "customerId": "12345", "productId": "1001", "timestamp": "2026-01-01T10:00:00",
            "metadata": {}, **members}


def one(value) -> dict:
    raw = value if isinstance(value, bytes) or value is None else json.dumps(value).encode()
    return parsed([raw]).to_pylist()[0]


def test_rules_pinned_on_single_values():
    row = one(event(quantity=2, totalAmount=19.995, paymentMethod="PayPal", appVersion="1.2.3",
                    metadata={"source": "Direct", "category": "Books", "campaign": "x"}))
    assert row["reject_reason"] is None
    assert row["quantity"] == 2 and row["total_amount"] == Decimal("20.00")  # half-up from the text 19.995
    assert row["metadata"] == '{"campaign":"x","category":"Books","source":"Direct"}'  # compact, keys sorted
    assert (row["category"], row["source"]) == ("Books", "Direct")
    assert row["payload"] == [("appVersion", "1.2.3"), ("paymentMethod", "PayPal"), ("quantity", "2"),
                              ("totalAmount", "19.995")]
    assert row["extra_fields"] == [("appVersion", "1.2.3"), ("metadata.campaign", "x")]
    assert one(event(quantity=2.0, totalAmount=20))["quantity"] is None  # "2.0" is not an integer text
    assert one(event(quantity="+3"))["quantity"] == 3
    assert one(event(quantity=2**31))["quantity"] is None
    assert one(event(totalAmount=20))["payload"] == [("totalAmount", "20")]
    assert one(event(totalAmount=20.0))["payload"] == [("totalAmount", "20.0")]
    assert one(event(totalAmount=123456789.0))["total_amount"] is None  # over DECIMAL(10,2)
    assert one(event(totalAmount="12.5"))["total_amount"] == Decimal("12.50")
    assert one(b'{"eventType":"a","eventType":"b","customerId":"1","productId":"1",'
               b'"timestamp":"2026-01-01T00:00:00","metadata":{}}')["event_type"] == "b"  # the last value wins
    assert one(event(customerId=12345, experimentId=7))["customer_id"] == "12345"
    assert one(event(experimentId=True))["extra_fields"] == [("experimentId", "true")]
    assert one(event(nested={"b": [1, 2.5], "a": None}))["extra_fields"] == [("nested", '{"a":null,"b":[1,2.5]}')]


def test_reasons():
    assert one(None)["reject_reason"] == "empty_value"
    assert one(b"{'single': 'quotes'}")["reject_reason"] == "invalid_json"
    assert one(b'{"a": NaN}')["reject_reason"] == "invalid_json"
    assert one(b"\xff\xfe")["reject_reason"] == "invalid_json"
    assert one([event()])["reject_reason"] == "json_array"
    assert one("text")["reject_reason"] == "json_not_object"
    assert one(b"null")["reject_reason"] == "json_not_object"
    assert one(event(metadata=None, productId=None))["reject_reason"] == "missing_fields:productId,metadata"
    for bad in ("2026-02-30T00:00:00", "2026-01-01T24:00:00", "2026-01-01T10:00:60", "2026-1-1T10:00:00",
                "2026-01-01 10:00:00", "2026-01-01T10:00:00Z"):
        assert one(event(timestamp=bad))["reject_reason"] == "bad_timestamp", bad


def test_event_time_keeps_the_wall_clock_digits():
    times = event_json.member_times(pa.array([json.dumps(event()).encode(), b"[]", None], pa.binary()))
    assert times.to_pylist() == [datetime(2026, 1, 1, 10, 0, tzinfo=timezone.utc), None, None]


# Member values the block path may take (no null, no escape) and values it must hand to the record path.
_clean_scalars = st.one_of(st.booleans(), st.integers(-(2**40), 2**40), st.text(alphabet="abXY09 &é-", max_size=6),
                           st.sampled_from([20.0, 0.1, 19.995, 1e22, 1.5e-07, -0.0, 123456789.0]),
                           st.floats(allow_nan=False, allow_infinity=False, width=64))
_clean_values = st.recursive(_clean_scalars, lambda inner: st.one_of(
    st.lists(inner, max_size=3), st.dictionaries(st.sampled_from(["a", "b", "c"]), inner, max_size=3)), max_leaves=4)
_any_values = st.one_of(_clean_values, st.none(), st.text(max_size=5),
                        st.sampled_from(["2026-01-01T10:00:00", "2026-02-30T00:00:00", 'q"uote\\', "line\nbreak"]))
_member_names = st.sampled_from(["eventType", "customerId", "productId", "timestamp", "metadata", "quantity",
                                 "totalAmount", "paymentMethod", "recommendedProductId", "algorithm", "deviceType",
                                 "experimentId", "category"])


@st.composite
def app_values(draw) -> bytes | None:
    """Plain events, events with odd members, and values that are no events at all."""
    kind = draw(st.sampled_from(["plain", "plain", "plain", "odd", "raw"]))
    if kind == "raw":
        return draw(st.one_of(st.none(), st.binary(max_size=30), st.sampled_from([b"[1]", b'"s"', b"{", b"{}"])))
    members = event(quantity=draw(st.integers(1, 5)), totalAmount=draw(st.integers(1000, 50000)) / 100,
                    metadata=draw(st.sampled_from([{}, {"category": "Books", "source": "Direct"},
                                                   {"category": "Home & Kitchen", "campaign": "x"}])))
    if kind == "odd":
        values = draw(st.sampled_from([_clean_values, _any_values]))
        for name, value in draw(st.dictionaries(_member_names, values, max_size=3)).items():
            members[name] = value
        if draw(st.booleans()):
            members["metadata"] = draw(st.dictionaries(st.sampled_from(["category", "source", "campaign"]), values,
                                                       max_size=3))
    text = json.dumps(members, ensure_ascii=draw(st.booleans()), separators=draw(st.sampled_from([None, (",", ":")])))
    return text.encode()


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(app_values(), min_size=1, max_size=300))
def test_block_and_record_paths_agree_on_any_values(values):
    assert_same_rows(values)


_json_kinds = {
    "int": st.integers(-(2**40), 2**40), "float": st.sampled_from([20.0, 0.5, 19.995, 1e22, 1.5e-07, -0.0]),
    "bool": st.booleans(), "text": st.text(alphabet="abXY09 &é-", max_size=6),
    "object": st.dictionaries(st.sampled_from(["a", "b"]), st.integers(0, 9), max_size=2),
    "list": st.lists(st.integers(0, 9), max_size=2),
}


@st.composite
def drifting_batches(draw) -> list[bytes]:
    """A batch whose undocumented members keep one JSON type each, as real schema drift does: Arrow reads such a
    batch as one block, so the block path meets every kind of member value."""
    drift = draw(st.dictionaries(st.sampled_from(["deviceType", "experimentId", "flags"]),
                                 st.sampled_from(sorted(_json_kinds)), min_size=1, max_size=2))
    nested = draw(st.sampled_from(sorted(_json_kinds)))
    values = []
    for _ in range(draw(st.integers(1, 200))):
        members = event(quantity=draw(st.integers(1, 5)), totalAmount=draw(_json_kinds["float"]),
                        metadata={"category": "Books", "campaign": draw(_json_kinds[nested])})
        for name, kind in drift.items():
            if draw(st.booleans()):
                members[name] = draw(_json_kinds[kind])
        values.append(json.dumps(members).encode())
    return values


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(drifting_batches())
def test_block_and_record_paths_agree_under_schema_drift(values):
    assert_same_rows(values)
