"""bronze.sales_transactions — one row per delivered transaction row (offline and online), as delivered.

Header spelling is kept as delivered (`cusomter_lname`, `cusomter_email`); silver renames.
"""

from bronze.raw_files import raw_file_kind

_COLUMNS = (
    "transaction_date,transaction_id,customer_id,customer_fname,cusomter_lname,cusomter_email,"
    "sales_agent_id,branch_id,product_id,product_name,product_category,offer_1,offer_2,offer_3,offer_4,offer_5,"
    "units,unit_price,is_online,payment_method,shipping_address"
)
# Offline rows end after payment_method: one field fewer than the header.
KIND = raw_file_kind("sales_transactions", _COLUMNS, min_fields=20)
TABLE = KIND.table
