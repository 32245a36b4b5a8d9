"""Silver: typed, cleaned, deduplicated and validated tables built incrementally from bronze."""
