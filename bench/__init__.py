"""Performance goals of qlake, measured against DuckDB doing the equivalent work in the same run."""
