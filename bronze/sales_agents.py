"""bronze.sales_agents — one row per delivered sales-agent row, as delivered."""

from bronze.raw_files import raw_file_kind

KIND = raw_file_kind("sales_agents", "sales_person_id,name,hire_date")
TABLE = KIND.table
