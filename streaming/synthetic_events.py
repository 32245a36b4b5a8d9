"""Synthetic app events, message by message: the app's event shapes, schema drift and malformed messages.

The original app picked a random event type and slept 0.5-2 s between events. :func:`generate` keeps the event
shapes exactly and is the single source of messages (the producer sends them; a test regenerates what was produced
and recomputes every aggregate independently):

- ``seed``: the same seed gives the same messages, timestamps included (a fixed start plus seeded 0.5-2 s steps,
  i.e. the original app's pacing as event time, without actually sleeping).
- ``extra_field_ratio``: share of events carrying a field nobody announced (schema drift).
- ``malformed_ratio``: share of messages that are not valid events (garbage, truncated JSON, arrays, scalars,
  missing common fields, unparseable timestamps).
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Iterator

EVENT_TYPES = ("productView", "addToCart", "purchase", "recommendationClick")
COMMON_FIELDS = ("eventType", "customerId", "productId", "timestamp", "metadata")
CATEGORIES = ("Electronics", "Clothing", "Home & Kitchen", "Books")
SOURCES = ("Advertisement", "Search", "Direct")
PAYMENT_METHODS = ("Credit Card", "Debit Card", "PayPal")
ALGORITHMS = ("collaborative_filtering", "content_based")
TIMESTAMP_FORMAT = "%Y-%m-%dT%H:%M:%S"  # local wall-clock time, no zone (as the app sends it)

# Seeded runs start here unless told otherwise, so their windows are reproducible run after run.
SEEDED_START = datetime(2026, 1, 1, 0, 0, 0)
STEP_SECONDS = (0.5, 2.0)  # the original app's pause between events, used as event-time spacing when seeded

# Fields the app does not (yet) document; one of them is added to an event when drift is requested.
DRIFT_FIELDS = {
    "appVersion": lambda rng: f"{rng.randint(1, 4)}.{rng.randint(0, 9)}.{rng.randint(0, 20)}",
    "deviceType": lambda rng: rng.choice(("ios", "android", "web")),
    "experimentId": lambda rng: rng.randint(1, 50),  # a number: lands in extra_fields as its JSON text
    "metadata.campaign": lambda rng: rng.choice(("winter_sale", "newsletter", "retargeting")),
}

MALFORMED_KINDS = ("not_json", "truncated_json", "json_array", "json_scalar", "missing_fields", "bad_timestamp")


@dataclass(frozen=True)
class Message:
    """One Kafka record as produced. ``event`` is the valid event (None for malformed ones)."""

    key: bytes | None
    value: bytes
    event: dict | None
    malformed: str | None = None  # one of MALFORMED_KINDS
    drift_field: str | None = None

    @property
    def is_event(self) -> bool:
        return self.event is not None


def _event(rng: random.Random, ts: datetime) -> dict:
    event_type = rng.choice(EVENT_TYPES)
    event: dict = {
        "eventType": event_type,
        "customerId": str(rng.randint(10000, 99999)),
        "productId": str(rng.randint(1000, 9999)),
        "timestamp": ts.strftime(TIMESTAMP_FORMAT),
        "metadata": {},
    }
    if event_type == "productView":
        event["metadata"] = {"category": rng.choice(CATEGORIES), "source": rng.choice(SOURCES)}
    elif event_type == "addToCart":
        event["quantity"] = rng.randint(1, 5)
    elif event_type == "purchase":
        event["quantity"] = rng.randint(1, 5)
        # Whole cents drawn as an integer, so the JSON number always has an exact 2-decimal value.
        event["totalAmount"] = rng.randint(1000, 50000) / 100
        event["paymentMethod"] = rng.choice(PAYMENT_METHODS)
    else:
        event["recommendedProductId"] = str(rng.randint(1000, 9999))
        event["algorithm"] = rng.choice(ALGORITHMS)
    return event


def _malformed(rng: random.Random, event: dict) -> tuple[bytes | None, bytes, str]:
    kind = rng.choice(MALFORMED_KINDS)
    text = json.dumps(event)
    if kind == "not_json":
        return None, bytes(rng.getrandbits(8) for _ in range(rng.randint(1, 40))) + b"\x00not json", kind
    if kind == "truncated_json":
        return event["customerId"].encode(), text[: rng.randint(1, len(text) - 2)].encode(), kind
    if kind == "json_array":
        return event["customerId"].encode(), json.dumps([event]).encode(), kind
    if kind == "json_scalar":
        return None, json.dumps(rng.choice(["hello", 42, None, True])).encode(), kind
    if kind == "missing_fields":
        broken = dict(event)
        for name in rng.sample(COMMON_FIELDS, rng.randint(1, 2)):
            broken.pop(name)
        key = broken.get("customerId")
        return (key.encode() if key else None), json.dumps(broken).encode(), kind
    broken = dict(event, timestamp=event["timestamp"].replace("T", " ").replace("-", "/"))  # bad_timestamp
    return event["customerId"].encode(), json.dumps(broken).encode(), kind


def _parse_start(start: datetime | str | None) -> datetime | None:
    if start is None or isinstance(start, datetime):
        return start
    return datetime.strptime(start, TIMESTAMP_FORMAT)


def generate(
    count: int | None,
    seed: int | None = None,
    start: datetime | str | None = None,
    extra_field_ratio: float = 0.0,
    malformed_ratio: float = 0.0,
) -> Iterator[Message]:
    """The messages :func:`produce` sends, in order. Fully deterministic when ``seed`` is given.

    Timestamps: with a seed (or an explicit ``start``) they begin at ``start`` (default :data:`SEEDED_START`) and
    advance by 0.5-2 s per message; otherwise they are the local wall clock at generation time.
    """
    for name, ratio in (("extra_field_ratio", extra_field_ratio), ("malformed_ratio", malformed_ratio)):
        if not 0.0 <= ratio <= 1.0:
            raise ValueError(f"{name} must be within [0, 1], got {ratio}")
    rng = random.Random(seed)
    start_at = _parse_start(start)
    synthetic_clock = seed is not None or start_at is not None
    clock = start_at or SEEDED_START
    elapsed = 0.0
    produced = 0
    while count is None or produced < count:
        if synthetic_clock:
            ts = clock + timedelta(seconds=int(elapsed))
            elapsed += rng.uniform(*STEP_SECONDS)
        else:
            ts = datetime.now()
        event = _event(rng, ts)
        # Draw both decisions every time so one ratio does not shift the other's random sequence.
        drift_draw, malformed_draw = rng.random(), rng.random()
        drift_field = None
        if drift_draw < extra_field_ratio:
            drift_field = rng.choice(sorted(DRIFT_FIELDS))
            value = DRIFT_FIELDS[drift_field](rng)
            if drift_field.startswith("metadata."):
                event["metadata"] = {**event["metadata"], drift_field.split(".", 1)[1]: value}
            else:
                event[drift_field] = value
        if malformed_draw < malformed_ratio:
            key, value_bytes, kind = _malformed(rng, event)
            yield Message(key=key, value=value_bytes, event=None, malformed=kind)
        else:
            yield Message(
                key=event["customerId"].encode(),
                value=json.dumps(event).encode(),
                event=event,
                drift_field=drift_field,
            )
        produced += 1


def new_counts() -> dict:
    return {
        "sent": 0,
        "events": 0,
        "malformed": 0,
        "extra_fields": 0,
        "by_type": {name: 0 for name in EVENT_TYPES},
        "by_malformed": {name: 0 for name in MALFORMED_KINDS},
    }


def count_message(counts: dict, message: Message) -> None:
    counts["sent"] += 1
    if message.is_event:
        counts["events"] += 1
        counts["by_type"][message.event["eventType"]] += 1
        counts["extra_fields"] += message.drift_field is not None
    else:
        counts["malformed"] += 1
        counts["by_malformed"][message.malformed] += 1
