"""App event values (JSON text in Kafka records) into typed Arrow columns, a whole micro-batch at a time.

Why here and not in Spark: parsing every record with ``from_json`` into maps, then handing the maps to the driver
as Arrow, was most of a micro-batch (2.2 s of 2.5 s per 100,000 events on 2 cores, bench/results_stream.json).
A batch is parsed in two ways that give the same rows:

- **block path** (almost every record): the records that look like plain events are joined into one
  newline-delimited block and read by Arrow's multi-threaded JSON reader into typed columns (~1 us a record);
- **record path** (the rest: malformed JSON, explicit nulls, escapes, unknown fields, unexpected types, duplicate
  keys): each value is decoded on its own. This path *defines* the semantics; the block path takes only records
  it renders identically (``tests/streaming/test_event_json.py`` checks both on generated and adversarial data).

The rules (the record contract of ``bronze.app_events`` / ``silver.app_events``):

- a value must be UTF-8 JSON (RFC 8259: no single quotes, no NaN); a JSON object is an event candidate, an array
  is rejected as ``json_array``, another JSON value as ``json_not_object``, anything else as ``invalid_json``;
- members: a duplicated key keeps its last value; the *text* of a member is a string's own value, NULL for JSON
  null, a number as Python writes it (``19.9``, ``20``, ``1e+22``; an integer beyond 64 bits is read as a
  double), ``true``/``false``, and an object or array as compact JSON with keys sorted, non-ASCII kept
  (``{"a":1}``);
- ``metadata`` is the text of the ``metadata`` member; ``category``/``source`` are its members' texts when it is
  an object;
- ``payload`` holds every non-common member, ``extra_fields`` every undocumented member (``metadata.<key>`` for
  unknown metadata members), both as text and ordered by key;
- ``quantity``: the text of an integer (``2``, ``"+2"``; not ``2.0``) within INT range, else NULL;
  ``total_amount``: a decimal number text rounded half-up to cents, NULL if not a number or over DECIMAL(10,2);
- an event time: the text ``YYYY-MM-DDTHH:MM:SS`` of a real calendar time (:func:`member_times`, in the reader).
"""

from __future__ import annotations

import json
import re
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

import numpy as np
import orjson
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.json as pj

COMMON_FIELDS = ("eventType", "customerId", "productId", "timestamp", "metadata")
TYPED_FIELDS = ("quantity", "totalAmount", "paymentMethod", "recommendedProductId", "algorithm")
METADATA_FIELDS = ("category", "source")
KNOWN_FIELDS = frozenset(COMMON_FIELDS + TYPED_FIELDS)
TIME_FORMAT = "%Y-%m-%dT%H:%M:%S"

_STRINGS = ("eventType", "customerId", "productId", "timestamp", "paymentMethod", "recommendedProductId", "algorithm")
# What a plain event looks like to the block path; anything else fails the block and takes the record path.
_BLOCK_SCHEMA = pa.schema(
    [(name, pa.string()) for name in _STRINGS[:4]]
    + [("metadata", pa.struct([(name, pa.string()) for name in METADATA_FIELDS])),
       ("quantity", pa.int64()), ("totalAmount", pa.float64())]
    + [(name, pa.string()) for name in _STRINGS[4:]]
)
# Values the block path must not take: null members (present-but-null is not absent), escapes (texts would need
# re-escaping), an integer totalAmount (its text is "20", a double's "20.0").
_NOT_BLOCK = r'\\|null|"totalAmount"\s*:\s*-?[0-9]+\s*[,}]'
_SMALLEST_BLOCK = 64  # below this a failing block is decoded record by record instead of split again
_INT = re.compile(r"\s*[+-]?[0-9]+\s*")
_NUMBER = re.compile(r"\s*[+-]?([0-9]+(\.[0-9]*)?|\.[0-9]+)([eE][+-]?[0-9]+)?\s*")
_TIME = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}$"
_CENT = Decimal("0.01")
_MAX_AMOUNT = Decimal("100000000")  # DECIMAL(10,2) holds 8 integer digits
_INT_RANGE = (-(2**31), 2**31 - 1)
STRING_MAP = pa.map_(pa.string(), pa.string())

COLUMNS = pa.schema([
    ("reject_reason", pa.string()), ("event_type", pa.string()), ("customer_id", pa.string()),
    ("product_id", pa.string()), ("event_timestamp", pa.string()), ("metadata", pa.string()),
    ("payload", STRING_MAP), ("category", pa.string()), ("source", pa.string()), ("quantity", pa.int32()),
    ("total_amount", pa.decimal128(10, 2)), ("payment_method", pa.string()), ("recommended_product_id", pa.string()),
    ("algorithm", pa.string()), ("extra_fields", STRING_MAP),
])


# ---- the record path: the rules, one value at a time ----------------------------------------------------------
_NOT_DECODED = object()


def decode(value: bytes | None):
    """The JSON value of a record (``_NOT_DECODED`` when it is not JSON); orjson first, the standard library for
    what orjson refuses but RFC 8259 allows (integers over 64 bits)."""
    if value is None:
        return _NOT_DECODED
    try:
        return orjson.loads(value)
    except orjson.JSONDecodeError:
        try:
            return json.loads(value, parse_constant=_refuse)
        except (ValueError, UnicodeDecodeError):
            return _NOT_DECODED


def _refuse(name: str):
    raise ValueError(f"{name} is not JSON")


def text(value) -> str | None:
    """A member's text: a string as itself, null as NULL, a number as Python writes it, anything else as its
    compact JSON with keys sorted."""
    kind = type(value)
    if value is None or kind is str:
        return value
    if kind is int or kind is float:
        return repr(value)
    if kind is bool:
        return "true" if value else "false"
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def to_int(value: str | None) -> int | None:
    if value is None or not _INT.fullmatch(value):
        return None
    number = int(value)
    return number if _INT_RANGE[0] <= number <= _INT_RANGE[1] else None


def to_amount(value: str | None) -> Decimal | None:
    if value is None or not _NUMBER.fullmatch(value):
        return None
    try:
        amount = Decimal(value.strip()).quantize(_CENT, rounding=ROUND_HALF_UP)
    except InvalidOperation:  # an exponent too large to quantize
        return None
    return amount if abs(amount) < _MAX_AMOUNT else None


def parse_record(value: bytes | None) -> dict:
    """One value -> the columns of :data:`COLUMNS` (``reject_reason`` without ``bad_timestamp``: that needs the
    event time, see :func:`parse`)."""
    row = dict.fromkeys(COLUMNS.names)
    data = decode(value)
    if type(data) is not dict:
        row["reject_reason"] = ("empty_value" if value is None else "invalid_json" if data is _NOT_DECODED
                                else "json_array" if type(data) is list else "json_not_object")
        return row
    missing = [name for name in COMMON_FIELDS if data.get(name) is None]
    if missing:
        row["reject_reason"] = "missing_fields:" + ",".join(missing)
    metadata = data.get("metadata")
    extra = [(key, text(v)) for key, v in data.items() if key not in KNOWN_FIELDS]
    if type(metadata) is dict:
        row["category"], row["source"] = text(metadata.get("category")), text(metadata.get("source"))
        extra += [(f"metadata.{key}", text(v)) for key, v in metadata.items() if key not in METADATA_FIELDS]
    row.update(
        event_type=text(data.get("eventType")), customer_id=text(data.get("customerId")),
        product_id=text(data.get("productId")), event_timestamp=text(data.get("timestamp")), metadata=text(metadata),
        payload=sorted((key, text(v)) for key, v in data.items() if key not in COMMON_FIELDS),
        quantity=to_int(text(data.get("quantity"))), total_amount=to_amount(text(data.get("totalAmount"))),
        payment_method=text(data.get("paymentMethod")), recommended_product_id=text(data.get("recommendedProductId")),
        algorithm=text(data.get("algorithm")), extra_fields=sorted(extra),
    )
    return row


def parse_records(values: list[bytes | None]) -> pa.Table:
    """:func:`parse_record` for each value, as one table of :data:`COLUMNS`."""
    rows = [parse_record(v) for v in values]
    return pa.table({name: pa.array([r[name] for r in rows], COLUMNS.field(name).type) for name in COLUMNS.names})


# ---- the block path: plain events, many at a time ---------------------------------------------------------------
def _lines(values: pa.Array, positions: np.ndarray) -> pa.Buffer:
    """The values at ``positions`` (none NULL), one per line: each value with a line break appended lies in the
    result's data buffer back to back, which is the block Arrow's JSON reader reads."""
    lines = pc.binary_join_element_wise(values.take(pa.array(positions, pa.int64())), pa.scalar(b"\n"),
                                        pa.scalar(b""))
    offsets = np.frombuffer(lines.buffers()[1], np.int32)[lines.offset:lines.offset + len(lines) + 1]
    return lines.buffers()[2].slice(int(offsets[0]), int(offsets[-1] - offsets[0]))


def read_block(values: pa.Array, positions: np.ndarray, schema: pa.Schema,
               unexpected: str) -> tuple[list[tuple[np.ndarray, pa.Table]], list[np.ndarray]]:
    """Read the values at ``positions`` as one newline-delimited JSON block with ``schema``; a block Arrow
    refuses (one odd record) is split in halves until the odd records are isolated. Returns the tables read
    (with the positions of their rows) and the positions left to the record path."""
    if not len(positions):
        return [], []
    try:
        options = pj.ParseOptions(explicit_schema=schema, unexpected_field_behavior=unexpected)
        table = pj.read_json(pa.BufferReader(_lines(values, positions)), parse_options=options)
        if table.num_rows == len(positions):
            return [(positions, table)], []
    except pa.ArrowInvalid:
        pass
    if len(positions) <= _SMALLEST_BLOCK:
        return [], [positions]
    half = len(positions) // 2
    first, second = (read_block(values, part, schema, unexpected) for part in (positions[:half], positions[half:]))
    return first[0] + second[0], first[1] + second[1]


def _braced(values: pa.Array) -> pa.Array:
    """True where a value may be a JSON object (braces at both ends). A line break inside one splits it into two
    lines of the block: the block then fails or has a row too many, and is split (see :func:`read_block`)."""
    return pc.fill_null(pc.and_(pc.starts_with(values, "{"), pc.ends_with(values, "}")), False)


def _positions(mask: pa.Array) -> np.ndarray:
    return np.flatnonzero(mask.to_numpy(zero_copy_only=False))


def member_times(values: pa.Array, member: str = "timestamp") -> pa.Array:
    """The event time each value's ``member`` holds (``YYYY-MM-DDTHH:MM:SS``, a real calendar time; NULL when it
    is absent, not such a text or the value is no JSON object) as timestamps (UTC: the wall-clock digits kept)."""
    texts = np.full(len(values), None, object)
    blocks, _ = read_block(values, _positions(_braced(values)), pa.schema([(member, pa.string())]), "ignore")
    for rows, table in blocks:
        texts[rows] = table.column(member).to_numpy(zero_copy_only=False)
    by_record = np.flatnonzero(texts == None)  # noqa: E711 - elementwise test of an object array
    for i, value in zip(by_record.tolist(), values.take(pa.array(by_record)).to_pylist()):
        data = decode(value)
        texts[i] = text(data.get(member)) if type(data) is dict else None
    return to_times(pa.array(texts.tolist(), pa.string()))


def to_times(texts: pa.Array) -> pa.Array:
    """``YYYY-MM-DDTHH:MM:SS`` texts as timestamps; NULL for anything else, 2026-02-30 and 12:00:60 included
    (Arrow's strptime rolls them over: a time is kept only if its day, minute and second are the text's)."""
    shaped = pc.if_else(pc.fill_null(pc.match_substring_regex(texts, _TIME), False), texts, pa.scalar(None, pa.string()))
    times = pc.strptime(shaped, format=TIME_FORMAT, unit="us", error_is_null=True)
    same = pc.and_(pc.and_(_equal_part(pc.day, times, shaped, 8), _equal_part(pc.minute, times, shaped, 14)),
                   _equal_part(pc.second, times, shaped, 17))
    return pc.if_else(pc.fill_null(same, False), pc.assume_timezone(times, "UTC"),
                      pa.scalar(None, pa.timestamp("us", tz="UTC")))


def _equal_part(part, times: pa.Array, texts: pa.Array, start: int) -> pa.Array:
    digits = pc.cast(pc.utf8_slice_codeunits(texts, start, start + 2), pa.int64())
    return pc.equal(pc.cast(part(times), pa.int64()), digits)


def parse(values: pa.Array, event_time: pa.Array) -> pa.Table:
    """Every value of a micro-batch -> :data:`COLUMNS`, with ``bad_timestamp`` for an object whose event time
    (``event_time``, from :func:`member_times`) is NULL."""
    candidates = pc.and_(_braced(values),
                         pc.invert(pc.fill_null(pc.match_substring_regex(values, _NOT_BLOCK), True)))
    blocks, _ = read_block(values, _positions(candidates), _BLOCK_SCHEMA, "infer")
    parts, taken = [], []
    for rows, table in blocks:
        plain = _plain_rows(table)
        parts.append(_block_columns(table.filter(pa.array(plain))))
        taken.append(rows[plain])
    by_block = np.concatenate(taken) if taken else np.array([], np.int64)
    left = np.ones(len(values), bool)
    left[by_block] = False
    by_record = np.flatnonzero(left)
    parts.append(parse_records(values.take(pa.array(by_record, pa.int64())).to_pylist()))
    order = np.argsort(np.concatenate([by_block, by_record]), kind="stable")
    table = pa.concat_tables(parts).take(pa.array(order))
    bad_time = pc.and_(table.column("reject_reason").is_null(), pc.is_null(event_time))
    return table.set_column(0, "reject_reason", pc.if_else(bad_time, "bad_timestamp", table.column("reject_reason")))


def _renderable(kind: pa.DataType) -> bool:
    """Values the block path writes as their text itself: strings, integers, booleans (a double's text depends
    on whether it was written as an integer, which the block no longer knows)."""
    return pa.types.is_string(kind) or pa.types.is_int64(kind) or pa.types.is_boolean(kind)


def _plain_rows(table: pa.Table) -> np.ndarray:
    """Rows the block path renders as the record path does: every undocumented member (Arrow added a column, or
    a metadata child, for each one it met) holds a string, an integer or a boolean."""
    plain = np.ones(table.num_rows, bool)
    metadata = table.column("metadata").combine_chunks()
    children = [metadata.field(i) for i in range(metadata.type.num_fields)]
    for column in [table.column(n).combine_chunks() for n in table.column_names if n not in KNOWN_FIELDS] + children:
        if not _renderable(column.type):
            plain &= ~column.is_valid().to_numpy(zero_copy_only=False)
    return plain


def _texts(values: pa.Array) -> pa.Array:
    """:func:`text` of a renderable column."""
    if pa.types.is_boolean(values.type):
        return pc.if_else(values, "true", "false")
    return pc.cast(values, pa.string())


def _block_columns(table: pa.Table) -> pa.Table:
    """The columns of plain events read as a block (see :func:`parse_record` for what each one means)."""
    columns = {name: table.column(name).combine_chunks() for name in table.column_names}
    metadata = columns["metadata"]
    # A member of any other type is NULL in every row here (:func:`_plain_rows`): it has no text to add.
    members = {metadata.type.field(i).name: metadata.field(i) for i in range(metadata.type.num_fields)
               if _renderable(metadata.type.field(i).type) or metadata.type.field(i).name in METADATA_FIELDS}
    unknown = {name: _texts(values) for name, values in columns.items()
               if name not in KNOWN_FIELDS and _renderable(values.type)}
    quantity = columns["quantity"]
    in_range = pc.and_(pc.greater_equal(quantity, _INT_RANGE[0]), pc.less_equal(quantity, _INT_RANGE[1]))
    amount_texts, amounts = _amounts(columns["totalAmount"])
    typed = {"algorithm": columns["algorithm"], "paymentMethod": columns["paymentMethod"],
             "quantity": pc.cast(quantity, pa.string()), "recommendedProductId": columns["recommendedProductId"],
             "totalAmount": amount_texts}
    extra = {**unknown, **{f"metadata.{name}": _texts(v) for name, v in members.items() if name not in METADATA_FIELDS}}
    rows = table.num_rows
    return pa.table({
        "reject_reason": _missing_fields(columns),
        "event_type": columns["eventType"], "customer_id": columns["customerId"], "product_id": columns["productId"],
        "event_timestamp": columns["timestamp"], "metadata": _object_text(metadata, members),
        "payload": _string_map({**typed, **unknown}, rows),
        "category": members["category"], "source": members["source"],
        "quantity": pc.if_else(in_range, pc.cast(quantity, pa.int32(), safe=False), pa.scalar(None, pa.int32())),
        "total_amount": amounts,
        "payment_method": columns["paymentMethod"], "recommended_product_id": columns["recommendedProductId"],
        "algorithm": columns["algorithm"], "extra_fields": _string_map(extra, rows),
    }, schema=COLUMNS)


def _amounts(values: pa.Array) -> tuple[pa.Array, pa.Array]:
    """totalAmount's texts and DECIMAL(10,2) values, as :func:`text` and :func:`to_amount` give them. Arrow
    writes the same shortest digits as Python; it only drops an integral double's ".0", and writes exponents
    differently (those few go through Python). A text of at most two decimals converts exactly in Arrow."""
    texts = pc.cast(values, pa.string())
    integral = pc.invert(pc.match_substring_regex(texts, r"[.eEna]"))  # no point, exponent, nan or inf
    texts = pc.if_else(integral, pc.binary_join_element_wise(texts, ".0", ""), texts)
    cents = pc.fill_null(pc.match_substring_regex(texts, r"^-?[0-9]{1,8}\.[0-9]{1,2}$"), False)
    amounts = pc.cast(pc.if_else(cents, texts, pa.scalar(None, pa.string())), pa.decimal128(10, 2))
    odd = np.flatnonzero(pc.and_(values.is_valid(), pc.invert(cents)).to_numpy(zero_copy_only=False))
    if not len(odd):
        return texts, amounts
    text_out, amount_out = texts.to_numpy(zero_copy_only=False).copy(), np.array(amounts.to_pylist(), object)
    for i, value in zip(odd.tolist(), values.take(pa.array(odd, pa.int64())).to_pylist()):
        text_out[i] = text(value)
        amount_out[i] = to_amount(text_out[i])
    return pa.array(text_out.tolist(), pa.string()), pa.array(amount_out.tolist(), pa.decimal128(10, 2))


def _missing_fields(columns: dict[str, pa.Array]) -> pa.Array:
    """``missing_fields:<names>`` for rows lacking common members (none here holds an explicit null), else NULL."""
    absent = [pc.is_null(columns[name]) for name in COMMON_FIELDS]
    nothing = pa.nulls(len(columns["eventType"]), pa.string())
    if not any(pc.any(a).as_py() for a in absent):
        return nothing
    names = _joined([pc.if_else(a, name, pa.scalar(None, pa.string())) for a, name in zip(absent, COMMON_FIELDS)])
    return pc.if_else(pc.equal(names, ""), nothing, pc.binary_join_element_wise("missing_fields:", names, ""))


def _object_text(values: pa.Array, members: dict[str, pa.Array]) -> pa.Array:
    """:func:`text` of an object column of renderable members: ``{"a":"x","b":2}``, keys sorted, absent members
    left out (no string here holds a quote or a backslash: such values took the record path)."""
    parts = []
    for name in sorted(members):
        value = members[name]
        rendered = pc.binary_join_element_wise('"', value, '"', "") if pa.types.is_string(value.type) else _texts(value)
        parts.append(pc.binary_join_element_wise(f'"{name}":', rendered, ""))
    inner = _joined(parts) if parts else pa.array([""] * len(values), pa.string())
    return pc.if_else(values.is_null(), pa.scalar(None, pa.string()), pc.binary_join_element_wise("{", inner, "}", ""))


def _joined(parts: list[pa.Array]) -> pa.Array:
    """Row-wise ``","``-join of the parts that are not NULL ("" where all are), without Arrow's
    null_handling="skip", which drops rows whose parts are all NULL."""
    joined = parts[0]
    for part in parts[1:]:
        joined = pc.coalesce(pc.binary_join_element_wise(joined, part, ","), joined, part)
    return pc.fill_null(joined, "")


def _string_map(members: dict[str, pa.Array], rows: int) -> pa.Array:
    """A MAP<STRING,STRING> per row from one column per key (NULL = member absent), in key order."""
    names = sorted(members)
    if not names:
        return pa.MapArray.from_arrays(pa.array(np.zeros(rows + 1, np.int32)), pa.array([], pa.string()),
                                       pa.array([], pa.string()))
    present = np.stack([members[n].is_valid().to_numpy(zero_copy_only=False) for n in names], axis=1)
    row_of, key_of = np.nonzero(present)  # row-major: each row's members, in key order
    offsets = np.concatenate([[0], np.cumsum(present.sum(axis=1))]).astype(np.int32)
    values = pa.concat_arrays([members[n] for n in names]).take(pa.array(key_of * rows + row_of, pa.int64()))
    keys = pa.array(np.array(names, object)[key_of].tolist(), pa.string())
    return pa.MapArray.from_arrays(pa.array(offsets), keys, values)
