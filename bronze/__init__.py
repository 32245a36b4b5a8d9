"""Bronze: rows exactly as delivered (all strings), plus lineage. Knows nothing of silver or gold."""
