"""silver.quarantine_sales_agents — the rows of bronze.sales_agents that broke a quarantine rule, with the rule names and the
delivered row (written by silver.sales_agents's quality gate: silver/quality_gate.py)."""

from silver.quality_gate import quarantine_spec

TABLE = quarantine_spec("sales_agents")
