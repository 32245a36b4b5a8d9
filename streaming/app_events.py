"""App events from raw Kafka records to bronze (everything), rejected (why not an event) and silver (typed).

All the per-record work happens in Spark, once, on the streaming DataFrame (:func:`parse`): JSON parsing,
validation with a reason, typing of every documented field, unknown fields collected; the event time exists
there, before the watermark is declared. A micro-batch is then one Spark job: its parsed records come back as
one Arrow table (deltalake writes from the driver anyway), and :func:`bronze_table`, :func:`rejected_table` and
:func:`silver_table` cut it into the three tables, each conformed to its table's exact schema.

Rules:
- bronze keeps every record, valid or not, with its Kafka coordinates; ``(kafka_partition, kafka_offset)`` is
  unique because each batch is written once (see ``delta_io``).
- an event is valid when it is a JSON object with all common fields (non-null) and a ``YYYY-MM-DDTHH:MM:SS``
  timestamp; anything else goes to ``bronze.app_events_rejected`` with a reason.
- silver types every documented field; fields nobody announced (also inside ``metadata``) go to ``extra_fields``
  as JSON text, so a new field never breaks the stream and is never lost.
- ``timestamp`` is local time without a zone: it is parsed in the session time zone (UTC, as everywhere in qlake),
  which keeps the wall-clock digits unchanged in ``event_time``.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import pyarrow as pa
import pyarrow.compute as pc
from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F
from pyspark.sql import types as T

from qlake.tables import Table
from streaming.delta_io import conform_arrow

COMMON_FIELDS = ("eventType", "customerId", "productId", "timestamp", "metadata")
TYPED_FIELDS = ("quantity", "totalAmount", "paymentMethod", "recommendedProductId", "algorithm")
METADATA_FIELDS = ("category", "source")
TIMESTAMP_PATTERN = "yyyy-MM-dd'T'HH:mm:ss"

EVENT_TYPES = ("productView", "addToCart", "purchase", "recommendationClick")

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

_STRING_MAP = T.MapType(T.StringType(), T.StringType())


def _field(name: str) -> Column:
    # try_element_at: a missing key is NULL, never an error (ANSI mode is on in Spark 4).
    return F.try_element_at(F.col("fields"), F.lit(name))


def _reason() -> Column:
    """Why a record is not an event (NULL for a valid one).

    CASE WHEN stops at the first true branch, so the re-parsing checks (array? scalar?) only run for records whose
    JSON did not parse as an object.
    """
    value_text = F.col("value").cast(T.StringType())
    is_json_array = F.json_array_length(value_text).isNotNull()
    # Wrapping a JSON scalar in an object makes it parseable; garbage stays unparseable.
    is_json_scalar = F.from_json(F.concat(F.lit('{"v":'), value_text, F.lit("}")), "v STRING")["v"].isNotNull() | (
        F.trim(value_text) == F.lit("null")
    )
    missing = F.array_compact(F.array(*[F.when(_field(name).isNull(), F.lit(name)) for name in COMMON_FIELDS]))
    not_an_object = F.col("fields").isNull()
    has_missing = F.size(missing) > 0
    bad_timestamp = F.col("event_time").isNull()
    return (
        F.when(F.col("value").isNull(), F.lit("empty_value"))
        .when(not_an_object & is_json_array, F.lit("json_array"))
        .when(not_an_object & is_json_scalar, F.lit("json_not_object"))
        .when(not_an_object, F.lit("invalid_json"))
        .when(has_missing, F.concat(F.lit("missing_fields:"), F.array_join(missing, ",")))
        .when(bad_timestamp, F.lit("bad_timestamp"))
    )


def parse(raw: DataFrame) -> DataFrame:
    """Raw ``qlake_kafka`` rows -> one row per record: Kafka coordinates, validity, common and typed fields.

    This select is the record contract: everything the three tables need is computed here, once per record, in
    the micro-batch's single Spark job; the table functions below only select and filter.
    """
    fields = F.from_json(F.col("value").cast(T.StringType()), _STRING_MAP)
    metadata = F.from_json(_field("metadata"), _STRING_MAP)
    with_fields = raw.select(
        F.col("key"),
        F.col("value"),
        F.col("topic"),
        F.col("partition").alias("kafka_partition"),
        F.col("offset").alias("kafka_offset"),
        F.col("timestamp").alias("kafka_timestamp"),
        fields.alias("fields"),
    ).withColumn("event_time", F.try_to_timestamp(_field("timestamp"), F.lit(TIMESTAMP_PATTERN)))
    return with_fields.select(
        "key",
        "value",
        "topic",
        "kafka_partition",
        "kafka_offset",
        "kafka_timestamp",
        "event_time",
        _reason().alias("reject_reason"),
        _field("eventType").alias("event_type"),
        _field("customerId").alias("customer_id"),
        _field("productId").alias("product_id"),
        _field("timestamp").alias("event_timestamp"),
        _field("metadata").alias("metadata"),
        F.map_filter(F.col("fields"), lambda k, v: ~k.isin(*COMMON_FIELDS)).alias("payload"),
        F.try_element_at(metadata, F.lit("category")).alias("category"),
        F.try_element_at(metadata, F.lit("source")).alias("source"),
        # try_cast: a wrongly typed value becomes NULL instead of failing the stream (bronze keeps the original).
        _field("quantity").try_cast(T.IntegerType()).alias("quantity"),
        _field("totalAmount").try_cast(T.DecimalType(10, 2)).alias("total_amount"),
        _field("paymentMethod").alias("payment_method"),
        _field("recommendedProductId").alias("recommended_product_id"),
        _field("algorithm").alias("algorithm"),
        _extra_fields(metadata).alias("extra_fields"),
    ).withColumn("is_valid", F.col("reject_reason").isNull())


def _extra_fields(metadata: Column) -> Column:
    known_top = COMMON_FIELDS + TYPED_FIELDS
    top_level = F.map_filter(F.col("fields"), lambda k, v: ~k.isin(*known_top))
    unknown_metadata = F.transform_keys(
        F.map_filter(metadata, lambda k, v: ~k.isin(*METADATA_FIELDS)),
        lambda k, v: F.concat(F.lit("metadata."), k),
    )
    empty = F.create_map().cast(_STRING_MAP)
    return F.map_concat(F.coalesce(top_level, empty), F.coalesce(unknown_metadata, empty))


# ---- cutting a parsed micro-batch (Arrow) into the tables -----------------------------------------------------
def _stamped(records: pa.Table, batch_id: int, ingest_time: datetime) -> pa.Table:
    """Add the batch columns (the same ingest time for every table of the batch)."""
    n = records.num_rows
    return records.append_column(
        "ingest_time", pa.array([ingest_time] * n, pa.timestamp("us", tz="UTC"))
    ).append_column("batch_id", pa.array([batch_id] * n, pa.int64()))


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


TABLES = (BRONZE, REJECTED, SILVER)
