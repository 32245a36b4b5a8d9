"""App events from raw Kafka records to bronze (everything), rejected (why not an event) and silver (typed).

A micro-batch is one Spark job: the stream source reads the records and each one's event time (the watermark
needs it as a column), and the batch comes back to the driver as one Arrow table (deltalake writes from the
driver anyway). There :func:`records` parses every value in Arrow blocks (:mod:`streaming.event_json`, which
states the parsing rules), and :func:`bronze_table`, :func:`rejected_table` and :func:`silver_table` cut the
result into the three tables, each conformed to its table's exact schema.

Rules:
- bronze keeps every record, valid or not, with its Kafka coordinates; ``(kafka_partition, kafka_offset)`` is
  unique because each batch is written once (see ``delta_io``).
- an event is valid when it is a JSON object with all common fields (non-null) and a ``YYYY-MM-DDTHH:MM:SS``
  timestamp; anything else goes to ``bronze.app_events_rejected`` with a reason.
- silver types every documented field; fields nobody announced (also inside ``metadata``) go to ``extra_fields``
  as JSON text, so a new field never breaks the stream and is never lost.
- ``timestamp`` is local time without a zone: it is stored as UTC, which keeps the wall-clock digits unchanged in
  ``event_time``.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import pyarrow as pa
import pyarrow.compute as pc

from qlake.tables import Table
from streaming import event_json
from streaming.delta_io import conform_arrow

_KAFKA_COLUMNS = (
    "topic STRING NOT NULL, kafka_partition INT NOT NULL, kafka_offset BIGINT NOT NULL, "
    "kafka_timestamp TIMESTAMP NOT NULL, ingest_time TIMESTAMP NOT NULL, batch_id BIGINT NOT NULL"
)

# The app sends events all day: a stream table without a commit for this long means the stream (or app) stopped.
STREAM_FRESHNESS = timedelta(minutes=15)
BRONZE = Table(
    "bronze.app_events",
    "key BINARY, value BINARY, " + _KAFKA_COLUMNS + ", "
    "is_valid BOOLEAN NOT NULL, reject_reason STRING, "
    "event_type STRING, customer_id STRING, product_id STRING, event_timestamp STRING, metadata STRING, "
    "payload MAP<STRING, STRING>",
    grain="one row per Kafka record of the app events topic (unique per partition and offset)",
    build="bronze_table",
    tests=("tests/streaming/test_stream_pipeline.py",),
    comment="Every Kafka record of the app events topic, raw, with its common fields parsed; unique per offset",
    update_interval=STREAM_FRESHNESS,
)

REJECTED = Table(
    "bronze.app_events_rejected",
    "key BINARY, value BINARY, " + _KAFKA_COLUMNS + ", reason STRING NOT NULL",
    grain="one row per Kafka record that is not a valid event, with the reason",
    build="rejected_table",
    reads=("bronze.app_events",),
    tests=("tests/streaming/test_stream_pipeline.py",),
    comment="App event records that are not valid events (not JSON, not an object, missing fields, bad timestamp)",
)

SILVER = Table(
    "silver.app_events",
    "event_type STRING NOT NULL, customer_id STRING NOT NULL, product_id STRING NOT NULL, "
    "event_time TIMESTAMP NOT NULL, event_date DATE NOT NULL, "
    "category STRING, source STRING, quantity INT, total_amount DECIMAL(10,2), payment_method STRING, "
    "recommended_product_id STRING, algorithm STRING, extra_fields MAP<STRING, STRING> NOT NULL, "
    "kafka_partition INT NOT NULL, kafka_offset BIGINT NOT NULL, kafka_timestamp TIMESTAMP NOT NULL, "
    "ingest_time TIMESTAMP NOT NULL, batch_id BIGINT NOT NULL",
    grain="one row per valid event (Kafka record), every documented field typed",
    build="silver_table",
    reads=("bronze.app_events",),
    tests=("tests/streaming/test_stream_pipeline.py",),
    comment="Valid app events, one row per Kafka record, every documented field typed, unknown ones in extra_fields",
    update_interval=STREAM_FRESHNESS,
)
# One parse of a batch yields the three tables (see above), so this module declares three: `TABLES`, not `TABLE`.
TABLES = (BRONZE, REJECTED, SILVER)


def records(batch: pa.Table) -> pa.Table:
    """A micro-batch as the stream source delivered it (Kafka columns + ``event_time``) -> one row per record
    with its Kafka coordinates and every column the three tables take (:mod:`streaming.event_json` parses)."""
    parsed = event_json.parse(batch.column("value").combine_chunks(), batch.column("event_time").combine_chunks())
    kafka = {"key": "key", "value": "value", "topic": "topic", "kafka_partition": "partition",
             "kafka_offset": "offset", "kafka_timestamp": "timestamp", "event_time": "event_time"}
    columns = {name: batch.column(source) for name, source in kafka.items()}
    columns.update({name: parsed.column(name) for name in parsed.column_names})
    columns["is_valid"] = pc.is_null(parsed.column("reject_reason"))
    return pa.table(columns)


# ---- cutting a parsed micro-batch (Arrow) into the tables -----------------------------------------------------
def _stamped(records: pa.Table, batch_id: int, ingest_time: datetime) -> pa.Table:
    """Add the batch columns (the same ingest time for every table of the batch)."""
    n = records.num_rows
    return records.append_column(
        "ingest_time", pa.repeat(pa.scalar(ingest_time, pa.timestamp("us", tz="UTC")), n)
    ).append_column("batch_id", pa.repeat(pa.scalar(batch_id, pa.int64()), n))


def bronze_table(records: pa.Table, batch_id: int, ingest_time: datetime) -> pa.Table:
    return conform_arrow(_stamped(records, batch_id, ingest_time), BRONZE)


def rejected_table(records: pa.Table, batch_id: int, ingest_time: datetime) -> pa.Table:
    rejected = records.filter(pc.invert(records.column("is_valid")))
    rejected = rejected.append_column("reason", rejected.column("reject_reason"))
    return conform_arrow(_stamped(rejected, batch_id, ingest_time), REJECTED)


def silver_table(records: pa.Table, batch_id: int, ingest_time: datetime) -> pa.Table:
    valid = records.filter(records.column("is_valid"))
    valid = valid.append_column("event_date", pc.cast(valid.column("event_time"), pa.date32()))
    return conform_arrow(_stamped(valid, batch_id, ingest_time), SILVER)
