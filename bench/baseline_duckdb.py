"""DuckDB doing the equivalent work of each qlake stage, on the same files, in the same run (the baseline)."""

from __future__ import annotations

from pathlib import Path

import duckdb

EMAIL = r"^([a-z0-9._%+-]+@(?:[a-z0-9-]+\.)+(?:com|net|org|edu|gov|io|co|us))"
ADDRESS = r"^(.*)/([^/]*)/([^/]*)/([^/]*)$"


def connect() -> duckdb.DuckDBPyConnection:
    con = duckdb.connect()
    con.execute("SET threads = 2")
    return con


def ingest(con, group: Path, out: Path) -> int:
    """Raw CSV (all strings) → Parquet, per file."""
    rows = 0
    out.mkdir(parents=True, exist_ok=True)
    for csv in sorted(group.glob("*.csv")):
        target = out / (csv.stem + ".parquet")
        con.execute(
            f"COPY (SELECT *, '{csv}' AS _source_file, row_number() OVER () AS _row_number "
            f"FROM read_csv('{csv}', all_varchar=true, header=true, null_padding=true, quote='\"', escape='\"')) "
            f"TO '{target}' (FORMAT parquet)"
        )
        rows += con.execute(f"SELECT count(*) FROM '{target}'").fetchone()[0]
    return rows


def silver(con, bronze: Path, out: Path) -> int:
    """The same cleaning: dates, casts, offers, exact money, email, address split from the right, dedup."""
    tx = next(bronze.glob("sales_transactions_*.parquet"))
    offer = " ".join(f"WHEN offer_{k} = 'True' THEN {k}" for k in range(1, 6))
    count = " + ".join(f"(offer_{k} = 'True')::INT" for k in range(1, 6))
    con.execute(f"""
    COPY (
      WITH typed AS (
        SELECT trim(transaction_id) AS transaction_id,
               try_strptime(trim(transaction_date), '%Y-%-m-%-d')::DATE AS transaction_date,
               trim(customer_id) AS customer_id,
               upper(trim(customer_fname)[1]) || lower(trim(customer_fname)[2:]) AS customer_first_name,
               upper(trim(cusomter_lname)[1]) || lower(trim(cusomter_lname)[2:]) AS customer_last_name,
               nullif(regexp_extract(lower(trim(cusomter_email, ' "')), '{EMAIL}', 1), '') AS customer_email,
               try_cast(sales_agent_id AS INT) AS sales_agent_id, try_cast(branch_id AS INT) AS branch_id,
               try_cast(product_id AS INT) AS product_id, product_name, product_category,
               CASE {offer} END AS offer_id, coalesce({count}, 0) AS offer_count,
               try_cast(units AS INT) AS units, try_cast(unit_price AS DECIMAL(12,2)) AS unit_price,
               is_online = 'yes' AS is_online, payment_method,
               nullif(regexp_extract(shipping_address, '{ADDRESS}', 1), '') AS shipping_street,
               nullif(regexp_extract(shipping_address, '{ADDRESS}', 2), '') AS shipping_city,
               nullif(regexp_extract(shipping_address, '{ADDRESS}', 3), '') AS shipping_state,
               lpad(nullif(regexp_extract(shipping_address, '{ADDRESS}', 4), ''), 5, '0') AS shipping_postal_code,
               _source_file, _row_number
        FROM '{tx}'),
      priced AS (
        SELECT *, CAST(coalesce([0, 5, 10, 15, 20, 25][coalesce(offer_id, 0) + 1], 0) AS DECIMAL(5,2)) AS discount_pct
        FROM typed)
      SELECT *, round(units * unit_price, 2)::DECIMAL(12,2) AS total_price,
             round(units * unit_price * (100 - discount_pct) / 100, 2)::DECIMAL(12,2) AS total_paid_price_after_discount
      FROM priced
      WHERE transaction_id IS NOT NULL AND transaction_date IS NOT NULL AND units > 0 AND unit_price > 0
            AND offer_count <= 1 AND customer_email IS NOT NULL
      QUALIFY row_number() OVER (PARTITION BY transaction_id ORDER BY _row_number DESC) = 1
    ) TO '{out}' (FORMAT parquet)""")
    return con.execute(f"SELECT count(*) FROM '{out}'").fetchone()[0]


def gold(con, silver_file: Path, bronze: Path, out: Path) -> int:
    """Fact keyed by date + agent/branch names, then the three marketing aggregates."""
    agents = next(bronze.glob("sales_agents_*.parquet"))
    out.mkdir(parents=True, exist_ok=True)
    con.execute(f"""
    COPY (SELECT s.*, CAST(strftime(transaction_date, '%Y%m%d') AS INT) AS date_key,
                 coalesce(a.name, 'Online') AS sales_agent_name, strftime(transaction_date, '%Y-%m') AS transaction_month
          FROM '{silver_file}' s LEFT JOIN (SELECT DISTINCT try_cast(sales_person_id AS INT) AS id, name FROM '{agents}') a
            ON s.sales_agent_id = a.id) TO '{out}/fact.parquet' (FORMAT parquet)""")
    con.execute(f"""COPY (SELECT 'ALL' AS period, product_id, any_value(product_name) AS product_name, sum(units) AS units,
                 sum(total_paid_price_after_discount) AS revenue, dense_rank() OVER (ORDER BY sum(units) DESC) AS rnk
                 FROM '{out}/fact.parquet' GROUP BY product_id
                 UNION ALL
                 SELECT transaction_month, product_id, any_value(product_name), sum(units), sum(total_paid_price_after_discount),
                 dense_rank() OVER (PARTITION BY transaction_month ORDER BY sum(units) DESC)
                 FROM '{out}/fact.parquet' GROUP BY transaction_month, product_id) TO '{out}/top.parquet' (FORMAT parquet)""")
    con.execute(f"""COPY (SELECT 'ALL' AS scope, offer_id, count(*) AS redemptions FROM '{out}/fact.parquet'
                 WHERE offer_id IS NOT NULL GROUP BY offer_id
                 UNION ALL SELECT CAST(product_id AS VARCHAR), offer_id, count(*) FROM '{out}/fact.parquet'
                 WHERE offer_id IS NOT NULL GROUP BY product_id, offer_id) TO '{out}/offers.parquet' (FORMAT parquet)""")
    con.execute(f"""COPY (SELECT shipping_city, shipping_state, sum(total_paid_price_after_discount) AS revenue, count(*) AS orders,
                 rank() OVER (ORDER BY sum(total_paid_price_after_discount)) AS rnk FROM '{out}/fact.parquet'
                 WHERE is_online GROUP BY ALL) TO '{out}/cities.parquet' (FORMAT parquet)""")
    return con.execute(f"SELECT count(*) FROM '{out}/fact.parquet'").fetchone()[0]


def b2b(con, fact_dir: Path, day: str, out: Path) -> int:
    con.execute(f"""COPY (SELECT sales_agent_name, product_name, sum(units) AS total_sold_units FROM '{fact_dir}/fact.parquet'
                 WHERE transaction_date = DATE '{day}' AND NOT is_online GROUP BY ALL ORDER BY ALL) TO '{out}' (HEADER)""")
    return con.execute(f"SELECT count(*) FROM read_csv('{out}')").fetchone()[0]
