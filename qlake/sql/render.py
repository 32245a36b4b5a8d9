"""One rendering of every Spark type for every output format (table, csv, json), the same on every entry point.

binary → base64; decimal → its exact string (scale kept); TIMESTAMP → ISO 8601 in UTC with ``Z`` (sessions run
in UTC); TIMESTAMP_NTZ and DATE → ISO without zone; array/map/struct → JSON (struct as an object by field name,
map keys as text); null → ``NULL`` in a table, empty in CSV, ``null`` in JSON; NaN/±Infinity as Spark spells them.
"""

from __future__ import annotations

import base64
import json
import math
from datetime import date, datetime, timezone
from decimal import Decimal


def jsonable(value, type_name: str = ""):
    """A JSON-ready value (nested values too)."""
    if value is None:
        return None
    if isinstance(value, (bytes, bytearray, memoryview)):
        return base64.b64encode(bytes(value)).decode("ascii")
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, datetime):
        if value.tzinfo is not None:
            value = value.astimezone(timezone.utc).replace(tzinfo=None)
        text = value.isoformat()
        return text + "Z" if type_name.startswith("timestamp") and type_name != "timestamp_ntz" else text
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, float) and (math.isnan(value) or math.isinf(value)):
        return "NaN" if math.isnan(value) else ("Infinity" if value > 0 else "-Infinity")
    if hasattr(value, "asDict"):  # a Row: a struct
        value = value.asDict(recursive=False)
    if isinstance(value, dict) and type_name.startswith("struct<"):
        return {k: jsonable(v, _child_type(type_name, k)) for k, v in value.items()}
    if isinstance(value, dict):
        return {str(jsonable(k)): jsonable(v, _value_type(type_name)) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v, _element_type(type_name)) for v in value]
    return value


def _element_type(type_name: str) -> str:
    return type_name[6:-1] if type_name.startswith("array<") else ""


def _value_type(type_name: str) -> str:
    return "timestamp" if type_name.startswith("map<") and type_name.endswith(",timestamp>") else ""


def _child_type(type_name: str, field: str) -> str:
    marker = f"{field}:"
    if type_name.startswith("struct<") and marker in type_name:
        rest = type_name.split(marker, 1)[1]
        return "timestamp" if rest.startswith("timestamp") and not rest.startswith("timestamp_ntz") else ""
    return ""


def text(value, type_name: str = "", null: str = "NULL") -> str:
    """A value as one cell of a table or CSV."""
    if value is None:
        return null
    plain = jsonable(value, type_name)
    if isinstance(plain, (dict, list)):
        return json.dumps(plain, ensure_ascii=False, separators=(",", ":"))
    if isinstance(plain, bool):
        return "true" if plain else "false"
    return str(plain)


def rows_of(table) -> list[list]:
    """Python rows of an Arrow result (``DataFrame.toArrow()``): a TIMESTAMP column as naive UTC datetimes (the
    instant, whatever the machine's zone), a map as a dict, a struct as a dict by field name. Converting here
    rather than through ``collect()`` keeps pandas out of a `qlake sql` process (pyarrow imports it to turn a
    zoned timestamp into a datetime) and a machine's local zone out of the values."""
    import pyarrow as pa

    columns = []
    for column in table.columns:
        if pa.types.is_timestamp(column.type) and column.type.tz is not None:  # same int64 instants, no zone
            naive = pa.timestamp(column.type.unit)
            column = pa.chunked_array([chunk.view(naive) for chunk in column.chunks], type=naive)
        try:
            columns.append(column.to_pylist(maps_as_pydicts="strict"))
        except TypeError:  # a map whose keys Python cannot hash (structs): as (key, value) pairs
            columns.append(column.to_pylist())
    return [list(row) for row in zip(*columns)] if columns else [[] for _ in range(table.num_rows)]


def records(columns: list[str], types: list[str], rows: list[list]) -> list[dict]:
    keys = json_keys(columns)
    return [{k: jsonable(v, t) for k, t, v in zip(keys, types, row)} for row in rows]


def json_keys(columns: list[str]) -> list[str]:
    """The result's column names as JSON object keys: a name that repeats (``SELECT x, x``, two unaliased
    expressions named alike) gets ``#2``, ``#3``... so that no column's values are lost to a later one."""
    seen: dict[str, int] = {}
    keys = []
    for column in columns:
        seen[column] = seen.get(column, 0) + 1
        key = column if seen[column] == 1 else f"{column}#{seen[column]}"
        while key in columns and seen[column] > 1:  # a real column already has that name
            seen[column] += 1
            key = f"{column}#{seen[column]}"
        keys.append(key)
    return keys
