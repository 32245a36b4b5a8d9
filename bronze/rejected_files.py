"""bronze.rejected_files — files that could not be ingested, with the reason; the bytes sit in quarantine/."""

from qlake.tables import Table

TABLE = Table(
    name="bronze.rejected_files",
    grain="one row per rejected delivery, with the reason",
    build="bronze.ingest.ingest",
    tests=("tests/test_bronze_bad_files.py", "tests/test_drop_folder.py"),
    columns=(
        "sha256 STRING NOT NULL, file_name STRING NOT NULL, source_path STRING NOT NULL, "
        "quarantine_path STRING NOT NULL, size_bytes BIGINT NOT NULL, reason STRING NOT NULL, "
        "batch_id STRING NOT NULL, rejected_at TIMESTAMP NOT NULL"
    ),
    comment="rejected deliveries and why",
)
