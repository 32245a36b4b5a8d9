"""silver.quarantine_sales_transactions — the rows of bronze.sales_transactions that broke a quarantine rule, with the rule names and the
delivered row (written by silver.sales_transactions's quality gate: silver/quality_gate.py)."""

from silver.quality_gate import quarantine_spec

TABLE = quarantine_spec("sales_transactions")
