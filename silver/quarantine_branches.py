"""silver.quarantine_branches — the rows of bronze.branches that broke a quarantine rule, with the rule names and the
delivered row (written by silver.branches's quality gate: silver/quality_gate.py)."""

from silver.quality_gate import quarantine_spec

TABLE = quarantine_spec("branches")
