"""bronze.ingested_files — the manifest: one row per delivery of a file (path + content sha256).

A content hash seen before is a re-delivery: recorded with status `duplicate` and 0 rows added. The same path with
the same content seen again (a re-run) is not recorded again, so re-running ingest changes no table.
"""

from datetime import timedelta

from qlake.tables import Table

TABLE = Table(
    name="bronze.ingested_files",
    grain="one row per delivery of a file (path + content sha256); a re-delivery is recorded with 0 rows",
    build="bronze.ingest.ingest",
    tests=("tests/test_sample_pipeline.py", "tests/test_drop_folder.py"),
    columns=(
        "sha256 STRING NOT NULL, file_name STRING NOT NULL, file_kind STRING NOT NULL, "
        "source_path STRING NOT NULL, landing_path STRING, size_bytes BIGINT NOT NULL, rows_added BIGINT NOT NULL, "
        "status STRING NOT NULL, duplicate_of STRING, batch_id STRING NOT NULL, ingested_at TIMESTAMP NOT NULL"
    ),
    comment="delivered files: ingested or duplicate (re-delivery of known content)",
    update_interval=timedelta(hours=2),  # hourly deliveries, one run of slack
)
