"""App events: Kafka -> Spark Structured Streaming -> bronze/silver Delta tables and live gold reports.

Modules:
- ``producer``: synthetic app events (seeded, rate-limited, with schema drift and malformed messages on demand).
- ``kafka_source``: a Python Data Source (``qlake_kafka``) reading Kafka partitions in parallel (librdkafka for
  records, kafka-python for offsets), so the classic engine needs no Kafka connector jar.
- ``compaction``: scheduled compaction + vacuum of the stream tables (small files of 1-second micro-batches).
- ``app_events``: table contracts and the parsing of raw messages into bronze, rejected and silver rows.
- ``delta_io``: exactly-once Delta writes (app transactions); ``windows``: folding a batch into a report table.
- ``funnel``, ``top_products``, ``revenue``: the live report tables (event-time windows, folded in exactly once).
- ``job``: the streaming query (``foreachBatch`` into Delta with app transactions), ``status`` and registration.
- ``report``: ``qlake report stream``; ``cli``: the click commands.
"""
