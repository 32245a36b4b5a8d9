"""bronze.rejected_files — files that could not be ingested, with the reason; the bytes sit in quarantine/."""

from qlake.catalog import TableSpec

TABLE = TableSpec(
    name="bronze.rejected_files",
    columns=(
        "sha256 STRING NOT NULL, file_name STRING NOT NULL, source_path STRING NOT NULL, "
        "quarantine_path STRING NOT NULL, size_bytes BIGINT NOT NULL, reason STRING NOT NULL, "
        "batch_id STRING NOT NULL, rejected_at TIMESTAMP NOT NULL"
    ),
    comment="rejected deliveries and why",
)
