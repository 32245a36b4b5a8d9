"""Catalog statements answered from the lake itself (Delta log through ``deltalake``), in Spark's result shapes.

Sail 0.7 parses few of them (no DESCRIBE without TABLE, DETAIL, HISTORY, SHOW CREATE TABLE / PARTITIONS /
TBLPROPERTIES; SHOW COLUMNS in another shape), so :func:`answer` recognises them by pattern and builds the rows
Spark 4.2 with delta-spark returns: same column names, same row layout. The table's comment is the one its
contract wrote into the Delta metadata; column comments are Delta's ``comment`` field metadata.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import datetime, timezone

from qlake.config import Settings

_NAME = r"(?P<name>`?[A-Za-z_][\w]*`?(?:\.`?[A-Za-z_][\w]*`?)?)"
_END = r"\s*;?\s*$"
PATTERNS = [
    ("history", re.compile(rf"^\s*DESC(?:RIBE)?\s+HISTORY\s+{_NAME}(?:\s+LIMIT\s+(?P<limit>\d+))?{_END}", re.I)),
    ("detail", re.compile(rf"^\s*DESC(?:RIBE)?\s+DETAIL\s+{_NAME}{_END}", re.I)),
    ("describe", re.compile(rf"^\s*DESC(?:RIBE)?\s+(?:TABLE\s+)?(?P<extended>EXTENDED\s+|FORMATTED\s+)?{_NAME}{_END}",
                            re.I)),
    ("create", re.compile(rf"^\s*SHOW\s+CREATE\s+TABLE\s+{_NAME}(?:\s+AS\s+SERDE)?{_END}", re.I)),
    ("columns", re.compile(rf"^\s*SHOW\s+COLUMNS\s+(?:IN|FROM)\s+{_NAME}(?:\s+(?:IN|FROM)\s+(?P<db>\w+))?{_END}",
                           re.I)),
    ("partitions", re.compile(rf"^\s*SHOW\s+PARTITIONS\s+{_NAME}{_END}", re.I)),
    ("properties", re.compile(rf"^\s*SHOW\s+TBLPROPERTIES\s+{_NAME}(?:\s*\(\s*'(?P<key>[^']+)'\s*\))?{_END}", re.I)),
]


class CatalogError(Exception):
    """A catalog statement that cannot be answered (unknown table, not partitioned...)."""

    def __init__(self, message: str, hint: str = ""):
        super().__init__(message)
        self.hint = hint


@dataclass
class Answer:
    columns: list[str]
    types: list[str]  # Spark simple type names, for rendering
    rows: list[list]


def match(statement: str):
    for kind, pattern in PATTERNS:
        found = pattern.match(statement)
        if found:
            return kind, found
    return None


def spark_type(delta_type) -> str:
    """Spark's simple type string (``decimal(12,2)``, ``array<string>``) of a Delta schema type (its JSON)."""
    if isinstance(delta_type, str):
        return {"integer": "int", "long": "bigint", "short": "smallint", "byte": "tinyint"}.get(delta_type, delta_type)
    kind = delta_type["type"]
    if kind == "array":
        return f"array<{spark_type(delta_type['elementType'])}>"
    if kind == "map":
        return f"map<{spark_type(delta_type['keyType'])},{spark_type(delta_type['valueType'])}>"
    return "struct<" + ",".join(f"{f['name']}:{spark_type(f['type'])}" for f in delta_type["fields"]) + ">"


def _fields(table) -> list[dict]:
    return json.loads(table.schema().to_json())["fields"]


def _comment(field: dict):
    return (field.get("metadata") or {}).get("comment")


def _ts(millis: int | None) -> datetime | None:
    # Naive UTC, as the engines return TIMESTAMP values to a UTC session.
    return None if millis is None else datetime.fromtimestamp(millis / 1000, tz=timezone.utc).replace(tzinfo=None)


def answer(kind: str, found: re.Match, cfg: Settings, tables: dict[str, str]) -> Answer:
    from deltalake import DeltaTable

    name = resolve(found.group("name").replace("`", ""), tables, found.groupdict().get("db"))
    table = DeltaTable(tables[name])
    return _ANSWERS[kind](name, table, found)


def resolve(name: str, tables: dict[str, str], db: str | None = None) -> str:
    if db and "." not in name:
        name = f"{db}.{name}"
    name = name.lower()
    if name in tables:
        return name
    if "." not in name:
        matches = [t for t in tables if t.split(".")[1] == name]
        if len(matches) == 1:
            return matches[0]
    from qlake.sql.errors import closest

    raise CatalogError(f"[TABLE_OR_VIEW_NOT_FOUND] The table or view `{name}` cannot be found.",
                       closest(name, list(tables), "tables"))


def _describe(name, table, found) -> Answer:
    meta = table.metadata()
    rows = [[f["name"], spark_type(f["type"]), _comment(f)] for f in _fields(table)]
    by_name = {r[0]: r for r in rows}
    if meta.partition_columns:
        rows += [["# Partition Information", "", ""], ["# col_name", "data_type", "comment"]]
        rows += [list(by_name[c]) for c in meta.partition_columns]
    if found.group("extended"):
        db, short = name.split(".")
        props = ",".join(f"{k}={v}" for k, v in sorted(_properties(table).items()))
        rows += [["", "", ""], ["# Detailed Table Information", "", ""], ["Catalog", "spark_catalog", ""],
                 ["Database", db, ""], ["Table", short, ""]]
        if meta.description:
            rows.append(["Comment", meta.description, ""])
        rows += [["Created Time", _ts(meta.created_time).strftime("%a %b %d %H:%M:%S UTC %Y"), ""],
                 ["Type", "EXTERNAL", ""], ["Provider", "delta", ""], ["Location", table.table_uri, ""],
                 ["Table Properties", f"[{props}]", ""]]
    return Answer(["col_name", "data_type", "comment"], ["string"] * 3, rows)


def _properties(table) -> dict[str, str]:
    protocol = table.protocol()
    props = {"delta.minReaderVersion": str(protocol.min_reader_version),
             "delta.minWriterVersion": str(protocol.min_writer_version)}
    props.update(table.metadata().configuration or {})
    return props


def _detail(name, table, found) -> Answer:
    meta = table.metadata()
    actions = table.get_add_actions(flatten=True)
    sizes = actions.column("size_bytes").to_pylist() if actions.num_rows else []
    history = table.history(1)
    protocol = table.protocol()
    features = sorted(set((protocol.reader_features or []) + (protocol.writer_features or [])))
    row = ["delta", meta.id, f"spark_catalog.{name}", meta.description, table.table_uri, _ts(meta.created_time),
           _ts(history[0]["timestamp"]) if history else None, list(meta.partition_columns), [], len(sizes),
           sum(sizes), dict(sorted((meta.configuration or {}).items())), protocol.min_reader_version,
           protocol.min_writer_version, features, {}]
    columns = ["format", "id", "name", "description", "location", "createdAt", "lastModified", "partitionColumns",
               "clusteringColumns", "numFiles", "sizeInBytes", "properties", "minReaderVersion", "minWriterVersion",
               "tableFeatures", "statistics"]
    types = ["string"] * 5 + ["timestamp"] * 2 + ["array<string>"] * 2 + ["bigint"] * 2 + \
        ["map<string,string>", "int", "int", "array<string>", "map<string,string>"]
    return Answer(columns, types, [row])


def _history(name, table, found) -> Answer:
    limit = int(found.group("limit")) if found.group("limit") else None
    rows = []
    for entry in table.history(limit):
        # sorted: deltalake hands these maps over in a per-process hash order
        metrics = {k: str(v) for k, v in sorted((entry.get("operationMetrics") or {}).items())}
        params = {k: str(v) for k, v in sorted((entry.get("operationParameters") or {}).items())}
        rows.append([entry.get("version"), _ts(entry.get("timestamp")), entry.get("userId"), entry.get("userName"),
                     entry.get("operation"), params, None, None, entry.get("clusterId"), entry.get("readVersion"),
                     entry.get("isolationLevel"), entry.get("isBlindAppend"), metrics, entry.get("userMetadata"),
                     entry.get("engineInfo")])
    columns = ["version", "timestamp", "userId", "userName", "operation", "operationParameters", "job", "notebook",
               "clusterId", "readVersion", "isolationLevel", "isBlindAppend", "operationMetrics", "userMetadata",
               "engineInfo"]
    types = ["bigint", "timestamp", "string", "string", "string", "map<string,string>",
             "struct<jobId:string>", "struct<notebookId:string>", "string", "bigint", "string", "boolean",
             "map<string,string>", "string", "string"]
    return Answer(columns, types, rows)


def _create(name, table, found) -> Answer:
    meta = table.metadata()
    columns = []
    for f in _fields(table):
        line = f"  {f['name']} {spark_type(f['type']).upper() if isinstance(f['type'], str) else spark_type(f['type'])}"
        line += "" if f.get("nullable", True) else " NOT NULL"
        if _comment(f):
            line += f" COMMENT '{_comment(f)}'"
        columns.append(line)
    text = f"CREATE TABLE spark_catalog.{name} (\n" + ",\n".join(columns) + ")\nUSING delta\n"
    if meta.partition_columns:
        text += f"PARTITIONED BY ({', '.join(meta.partition_columns)})\n"
    if meta.description:
        text += "COMMENT '" + meta.description.replace("'", "\\'") + "'\n"
    text += f"LOCATION '{table.table_uri}'\n"
    props = ",\n".join(f"  '{k}' = '{v}'" for k, v in sorted(_properties(table).items()))
    text += f"TBLPROPERTIES (\n{props})\n"
    return Answer(["createtab_stmt"], ["string"], [[text]])


def _columns(name, table, found) -> Answer:
    return Answer(["col_name"], ["string"], [[f["name"]] for f in _fields(table)])


def _partitions(name, table, found) -> Answer:
    partition_columns = table.metadata().partition_columns
    if not partition_columns:
        raise CatalogError(f"SHOW PARTITIONS is not allowed on a table that is not partitioned: {name}.",
                           "partitioned tables: gold.fact_sales (transaction_month), bronze.raw_files (_ingest_date)")
    import pyarrow as pa

    actions = pa.table(table.get_add_actions(flatten=True)).to_pylist()
    values = sorted({"/".join(f"{c}={row[f'partition.{c}']}" for c in partition_columns) for row in actions})
    return Answer(["partition"], ["string"], [[v] for v in values])


def _properties_answer(name, table, found) -> Answer:
    props = _properties(table)
    key = found.group("key")
    if key:
        value = props.get(key, f"Table spark_catalog.{name} does not have property: {key}")
        return Answer(["key", "value"], ["string", "string"], [[key, value]])
    return Answer(["key", "value"], ["string", "string"], [[k, v] for k, v in sorted(props.items())])


_ANSWERS = {"history": _history, "detail": _detail, "describe": _describe, "create": _create, "columns": _columns,
            "partitions": _partitions, "properties": _properties_answer}
