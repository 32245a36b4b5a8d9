"""bronze.branches — one row per delivered branch row (a branch re-listed every hour appears every hour)."""

from bronze.raw_files import raw_file_kind

KIND = raw_file_kind("branches", "branch_id,location,establish_date,class")
TABLE = KIND.table
