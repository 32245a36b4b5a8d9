"""DuckDB doing the equivalent work of each qlake stage, on the same files, in the same run (the baseline)."""

from __future__ import annotations

from pathlib import Path

import duckdb

EMAIL = r"^([a-z0-9._%+-]+@(?:[a-z0-9-]+\.)+(?:com|net|org|edu|gov|mil|int|info|biz|io|co|us|uk|de|fr|ca|au|in))"
EMAIL_GENERIC = r"^([a-z0-9._%+-]+@(?:[a-z0-9-]+\.)+[a-z]{2,})"
EMAIL_VALID = r"^[a-z0-9._%+-]+@([a-z0-9-]+\.)+[a-z]{2,}$"


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


def _date(text: str) -> str:
    t = f"trim({text})"
    return f"CASE WHEN regexp_full_match({t}, '\\d{{4}}-\\d{{1,2}}-\\d{{1,2}}') THEN try_strptime({t}, '%Y-%-m-%-d')::DATE END"


def _title(text: str) -> str:
    t = f"nullif(regexp_replace(trim({text}), '\\s+', ' ', 'g'), '')"
    return f"upper({t}[1]) || lower({t}[2:])"


# The silver suite's quarantine rules, as DuckDB predicates (True = the row passes), same names.
RULES = {
    "transaction_id_present": "transaction_id IS NOT NULL",
    "transaction_id_format": "transaction_id IS NULL OR regexp_full_match(transaction_id, '[A-Za-z0-9_-]{1,64}')",
    "transaction_date_parses": "transaction_date IS NOT NULL",
    "transaction_date_in_range": "transaction_date IS NULL OR transaction_date BETWEEN DATE '2000-01-01' AND current_date",
    "customer_id_present": "customer_id IS NOT NULL",
    "customer_id_digits": "customer_id IS NULL OR regexp_full_match(customer_id, '[0-9]{1,12}')",
    "product_id_present": "product_id IS NOT NULL",
    "product_name_length": "product_name IS NULL OR length(product_name) BETWEEN 1 AND 200",
    "customer_name_length": "customer_first_name IS NULL OR length(customer_first_name) BETWEEN 1 AND 200",
    "shipping_street_length": "shipping_street IS NULL OR length(shipping_street) BETWEEN 1 AND 200",
    "units_parse": "units IS NOT NULL",
    "units_positive": "units IS NULL OR units >= 1",
    "unit_price_parses": "unit_price IS NOT NULL",
    "unit_price_positive": "unit_price IS NULL OR unit_price > 0",
    "at_most_one_offer": "offer_count BETWEEN 0 AND 1",
    "customer_email_present": "customer_email IS NOT NULL",
    "customer_email_valid": f"customer_email IS NULL OR regexp_full_match(customer_email, '{EMAIL_VALID}')",
    "is_online_valid": "is_online IS NOT NULL",
    "offline_agent_exists": "coalesce(is_online, true) OR agent_known",
    "offline_branch_exists": "coalesce(is_online, true) OR branch_known",
    "online_state_parsed": "NOT coalesce(is_online, false) OR shipping_state IS NOT NULL",
    "online_postal_code_5_digits": "NOT coalesce(is_online, false) OR shipping_postal_code IS NULL "
                                   "OR regexp_full_match(shipping_postal_code, '[0-9]{5}')",
    "online_postal_code_present": "NOT coalesce(is_online, false) OR shipping_postal_code IS NOT NULL",
}
WARN_RULES = {
    "online_city_known": "NOT coalesce(is_online, false) OR shipping_city IS NOT NULL",
    "payment_method_known": "payment_method IS NULL OR payment_method IN ('Cash', 'Credit Card', 'Debit Card', 'PayPal', 'Stripe')",
}
BUSINESS = ("transaction_id, transaction_date, customer_id, customer_first_name, customer_last_name, customer_email, "
            "sales_agent_id, branch_id, product_id, product_name, product_category, offer_id, discount_pct, units, "
            "unit_price, total_price, total_paid_price_after_discount, is_online, payment_method, shipping_street, "
            "shipping_city, shipping_state, shipping_postal_code").split(", ")


def silver(con, bronze: Path, out: Path) -> int:
    """The work qlake's silver run does, in DuckDB SQL over the same bronze rows:

    dimensions typed and deduplicated; transactions staged with the same cleaning (dates, casts, offers, exact
    money, email, address split from the right, payment methods), offline agent/branch checked against the
    dimensions, empty cities filled from the postal code, every quarantine rule evaluated per row (bad rows
    written with their rule names and the raw row), per-rule counts, content hash, latest delivery per
    transaction, then customers (latest per id) and products (latest per id). Parquet out; no Great
    Expectations, no Delta log, no metastore (qlake does those on top).
    """
    tx = next(bronze.glob("sales_transactions_*.parquet"))
    agents = next(bronze.glob("sales_agents_*.parquet"))
    branches = next(bronze.glob("branches_*.parquet"))
    base = out.with_suffix("")
    offer = " ".join(f"WHEN lower(trim(offer_{k})) = 'true' THEN {k}" for k in range(1, 6))
    count = " + ".join(f"coalesce(lower(trim(offer_{k})) = 'true', false)::INT" for k in range(1, 6))
    parts = "string_split(trim(shipping_address), '/')"
    con.execute(f"""
    CREATE OR REPLACE TEMP TABLE d_agents AS
      SELECT try_cast(trim(sales_person_id) AS INT) AS sales_agent_id, {_title('name')} AS name,
             {_date('hire_date')} AS hire_date
      FROM '{agents}' WHERE try_cast(trim(sales_person_id) AS INT) IS NOT NULL
      QUALIFY row_number() OVER (PARTITION BY sales_agent_id ORDER BY _row_number DESC) = 1;
    CREATE OR REPLACE TEMP TABLE d_branches AS
      SELECT try_cast(trim(branch_id) AS INT) AS branch_id, nullif(trim(location), '') AS location,
             {_date('establish_date')} AS establish_date, upper(nullif(trim(class), '')) AS class
      FROM '{branches}' WHERE try_cast(trim(branch_id) AS INT) IS NOT NULL
      QUALIFY row_number() OVER (PARTITION BY branch_id ORDER BY _row_number DESC) = 1;
    COPY (SELECT hash(sales_agent_id, TIMESTAMP '1900-01-01') AS sales_agent_sk, *, TIMESTAMP '1900-01-01' AS valid_from,
                 NULL::TIMESTAMP AS valid_to, true AS is_current FROM d_agents) TO '{base}_sales_agents.parquet' (FORMAT parquet);
    COPY (SELECT hash(branch_id, TIMESTAMP '1900-01-01') AS branch_sk, *, TIMESTAMP '1900-01-01' AS valid_from,
                 NULL::TIMESTAMP AS valid_to, true AS is_current FROM d_branches) TO '{base}_branches.parquet' (FORMAT parquet);
    CREATE OR REPLACE TEMP TABLE staged AS
      WITH typed AS (
        SELECT nullif(trim(transaction_id), '') AS transaction_id,
               {_date('transaction_date')} AS transaction_date,
               nullif(trim(customer_id), '') AS customer_id,
               {_title('customer_fname')} AS customer_first_name,
               {_title('cusomter_lname')} AS customer_last_name,
               coalesce(nullif(regexp_extract(lower(trim(cusomter_email, ' "')), '{EMAIL}', 1), ''),
                        nullif(regexp_extract(lower(trim(cusomter_email, ' "')), '{EMAIL_GENERIC}', 1), ''))
                 AS customer_email,
               try_cast(trim(sales_agent_id) AS INT) AS sales_agent_id, try_cast(trim(branch_id) AS INT) AS branch_id,
               try_cast(trim(product_id) AS INT) AS product_id, nullif(trim(product_name), '') AS product_name,
               nullif(trim(product_category), '') AS product_category,
               CASE WHEN ({count}) = 1 THEN CASE {offer} END END AS offer_id, {count} AS offer_count,
               try_cast(trim(units) AS INT) AS units, try_cast(trim(unit_price) AS DECIMAL(12,2)) AS unit_price,
               CASE WHEN lower(trim(is_online)) IN ('yes', 'y', 'true', '1') THEN true
                    WHEN lower(trim(is_online)) IN ('no', 'n', 'false', '0') THEN false END AS is_online,
               CASE lower(replace(trim(payment_method), ' ', '')) WHEN 'cash' THEN 'Cash'
                    WHEN 'creditcard' THEN 'Credit Card' WHEN 'debitcard' THEN 'Debit Card'
                    WHEN 'paypal' THEN 'PayPal' WHEN 'stripe' THEN 'Stripe'
                    ELSE nullif(trim(payment_method), '') END AS payment_method,
               CASE WHEN len({parts}) >= 4 THEN nullif(trim(array_to_string({parts}[1:len({parts}) - 3], '/')), '') END
                 AS shipping_street,
               CASE WHEN len({parts}) >= 4 THEN nullif(trim({parts}[-3]), '') END AS shipping_city,
               CASE WHEN len({parts}) >= 4 THEN nullif(trim({parts}[-2]), '') END AS shipping_state,
               CASE WHEN len({parts}) >= 4 THEN nullif(trim({parts}[-1]), '') END AS raw_postal_code,
               _source_file, _row_number
        FROM '{tx}'),
      priced AS (
        SELECT * EXCLUDE (raw_postal_code),
               CASE WHEN regexp_full_match(raw_postal_code, '\\d{{1,5}}') THEN lpad(raw_postal_code, 5, '0')
                    ELSE raw_postal_code END AS shipping_postal_code,
               CAST(coalesce([0, 5, 10, 15, 20, 25][coalesce(offer_id, 0) + 1], 0) AS DECIMAL(5,2)) AS discount_pct
        FROM typed)
      SELECT p.*, round(units * unit_price, 2)::DECIMAL(12,2) AS total_price,
             round(units * unit_price * (100 - discount_pct) * 0.01, 2)::DECIMAL(12,2) AS total_paid_price_after_discount,
             a.sales_agent_id IS NOT NULL AS agent_known, b.branch_id IS NOT NULL AS branch_known
      FROM priced p
      LEFT JOIN (SELECT sales_agent_id FROM d_agents) a USING (sales_agent_id)
      LEFT JOIN (SELECT branch_id FROM d_branches) b USING (branch_id);
    CREATE OR REPLACE TEMP TABLE city_of_zip AS
      WITH missing AS (SELECT DISTINCT shipping_postal_code, shipping_state FROM staged
                       WHERE is_online AND shipping_city IS NULL AND shipping_postal_code IS NOT NULL
                         AND shipping_state IS NOT NULL)
      SELECT shipping_postal_code, shipping_state, shipping_city AS city_from_zip
      FROM staged SEMI JOIN missing USING (shipping_postal_code, shipping_state)
      WHERE shipping_city IS NOT NULL
      GROUP BY shipping_postal_code, shipping_state, shipping_city
      QUALIFY row_number() OVER (PARTITION BY shipping_postal_code, shipping_state
                                 ORDER BY count(*) DESC, shipping_city) = 1;
    CREATE OR REPLACE TEMP TABLE filled AS
      SELECT * EXCLUDE (shipping_city, city_from_zip),
             coalesce(shipping_city, CASE WHEN is_online THEN city_from_zip END) AS shipping_city
      FROM staged LEFT JOIN city_of_zip USING (shipping_postal_code, shipping_state);
    CREATE OR REPLACE TEMP TABLE flagged AS
      SELECT *, list_filter([{", ".join(f"CASE WHEN NOT coalesce({c}, false) THEN '{n}' END" for n, c in RULES.items())}],
                            lambda x: x IS NOT NULL) AS failed_rules,
             sha256(concat_ws(chr(1), {", ".join(f"coalesce(CAST({c} AS VARCHAR), chr(0))" for c in BUSINESS)}))
               AS _row_hash
      FROM filled;
    COPY (SELECT {", ".join(f"count(*) FILTER (WHERE NOT coalesce({c}, false)) AS {n}" for n, c in {**RULES, **WARN_RULES}.items())}
          FROM flagged) TO '{base}_dq_results.parquet' (FORMAT parquet);
    COPY (SELECT f.failed_rules, to_json(t) AS raw_row, f._source_file, f._row_number
          FROM flagged f JOIN '{tx}' t USING (_row_number) WHERE len(f.failed_rules) > 0)
      TO '{base}_quarantine.parquet' (FORMAT parquet);
    CREATE OR REPLACE TEMP TABLE latest AS
      SELECT * EXCLUDE (failed_rules, agent_known, branch_known, offer_count) FROM flagged WHERE len(failed_rules) = 0
      QUALIFY row_number() OVER (PARTITION BY transaction_id ORDER BY _source_file DESC, _row_number DESC) = 1;
    COPY latest TO '{out}' (FORMAT parquet);
    COPY (SELECT hash(customer_id, TIMESTAMP '1900-01-01') AS customer_sk, customer_id,
                 customer_first_name AS first_name, customer_last_name AS last_name, customer_email AS email,
                 TIMESTAMP '1900-01-01' AS valid_from, NULL::TIMESTAMP AS valid_to, true AS is_current FROM latest
          QUALIFY row_number() OVER (PARTITION BY customer_id ORDER BY _source_file DESC, _row_number DESC) = 1)
      TO '{base}_customers.parquet' (FORMAT parquet);
    COPY (SELECT product_id, product_name, product_category, unit_price AS list_price FROM latest
          QUALIFY row_number() OVER (PARTITION BY product_id ORDER BY _source_file DESC, _row_number DESC) = 1)
      TO '{base}_products.parquet' (FORMAT parquet);
    """)
    return con.execute(f"SELECT count(*) FROM '{out}'").fetchone()[0]


def gold(con, silver_file: Path, bronze: Path, out: Path) -> int:
    """The star schema qlake builds, from DuckDB's silver: the dimensions (date, product, customer, branch,
    agent with a -1 "online" member, offer), the fact keyed by date and by the dimension versions valid when
    the sale arrived, then the three marketing aggregates (with product and offer names)."""
    base = silver_file.with_suffix("")
    out.mkdir(parents=True, exist_ok=True)
    con.execute(f"""
    CREATE OR REPLACE TEMP TABLE dim_date AS
      SELECT CAST(strftime(d, '%Y%m%d') AS INT) AS date_key, d::DATE AS date, year(d) AS year, quarter(d) AS quarter,
             month(d) AS month, monthname(d) AS month_name, strftime(d, '%Y-%m') AS year_month,
             day(d) AS day_of_month, dayofweek(d) + 1 AS day_of_week, dayname(d) AS day_name,
             weekofyear(d) AS week_of_year, dayofweek(d) IN (0, 6) AS is_weekend
      FROM (SELECT unnest(generate_series(min(transaction_date)::TIMESTAMP, max(transaction_date)::TIMESTAMP,
                                          INTERVAL 1 DAY)) AS d FROM '{silver_file}');
    CREATE OR REPLACE TEMP TABLE dim_product AS
      SELECT product_id AS product_key, * FROM '{base}_products.parquet';
    CREATE OR REPLACE TEMP TABLE dim_customer AS
      SELECT customer_sk AS customer_key, customer_id, first_name, last_name, valid_from, valid_to, is_current
      FROM '{base}_customers.parquet';
    CREATE OR REPLACE TEMP TABLE dim_branch AS
      SELECT branch_sk AS branch_key, branch_id, location, establish_date, class, valid_from, valid_to, is_current
      FROM '{base}_branches.parquet'
      UNION ALL SELECT -1, NULL, 'Online', NULL, NULL, TIMESTAMP '1900-01-01', NULL, true;
    CREATE OR REPLACE TEMP TABLE dim_sales_agent AS
      SELECT sales_agent_sk AS sales_agent_key, sales_agent_id, name AS sales_agent_name, hire_date, valid_from,
             valid_to, is_current FROM '{base}_sales_agents.parquet'
      UNION ALL SELECT -1, NULL, 'Online', NULL, TIMESTAMP '1900-01-01', NULL, true;
    CREATE OR REPLACE TEMP TABLE dim_offer AS
      SELECT * FROM (VALUES (0, 'No offer', 0.00), (1, 'Offer 1', 5.00), (2, 'Offer 2', 10.00), (3, 'Offer 3', 15.00),
                            (4, 'Offer 4', 20.00), (5, 'Offer 5', 25.00)) o(offer_key, offer_name, discount_pct);
    COPY dim_date TO '{out}/dim_date.parquet' (FORMAT parquet);
    COPY dim_product TO '{out}/dim_product.parquet' (FORMAT parquet);
    COPY dim_customer TO '{out}/dim_customer.parquet' (FORMAT parquet);
    COPY dim_branch TO '{out}/dim_branch.parquet' (FORMAT parquet);
    COPY dim_sales_agent TO '{out}/dim_sales_agent.parquet' (FORMAT parquet);
    COPY dim_offer TO '{out}/dim_offer.parquet' (FORMAT parquet);
    COPY (SELECT s.transaction_id, CAST(strftime(s.transaction_date, '%Y%m%d') AS INT) AS date_key,
                 s.transaction_date, s.product_id AS product_key, c.customer_key,
                 coalesce(b.branch_key, -1) AS branch_key, coalesce(a.sales_agent_key, -1) AS sales_agent_key,
                 coalesce(a.sales_agent_name, 'Online') AS sales_agent_name, s.product_name,
                 coalesce(s.offer_id, 0) AS offer_key, s.units, s.unit_price, s.discount_pct, s.total_price,
                 s.total_paid_price_after_discount, s.is_online, s.payment_method, s.shipping_city, s.shipping_state,
                 strftime(s.transaction_date, '%Y-%m') AS transaction_month
          FROM '{silver_file}' s
          LEFT JOIN dim_customer c ON s.customer_id = c.customer_id AND c.valid_from <= now()
               AND (c.valid_to IS NULL OR now() < c.valid_to)
          LEFT JOIN dim_branch b ON s.branch_id = b.branch_id AND b.valid_from <= now()
               AND (b.valid_to IS NULL OR now() < b.valid_to)
          LEFT JOIN dim_sales_agent a ON s.sales_agent_id = a.sales_agent_id AND a.valid_from <= now()
               AND (a.valid_to IS NULL OR now() < a.valid_to))
      TO '{out}/fact' (FORMAT parquet, PARTITION_BY (transaction_month), OVERWRITE_OR_IGNORE);
    COPY (WITH totals AS (
            SELECT 'ALL' AS period, product_key, sum(units) AS units, sum(total_paid_price_after_discount) AS revenue,
                   count(*) AS orders FROM read_parquet('{out}/fact/*/*.parquet', hive_partitioning = true) GROUP BY product_key
            UNION ALL
            SELECT transaction_month, product_key, sum(units), sum(total_paid_price_after_discount), count(*)
            FROM read_parquet('{out}/fact/*/*.parquet', hive_partitioning = true) GROUP BY transaction_month, product_key)
          SELECT t.period, t.product_key AS product_id, p.product_name, p.product_category, t.units, t.revenue,
                 t.orders, dense_rank() OVER (PARTITION BY t.period ORDER BY t.units DESC) AS rank_by_units
          FROM totals t LEFT JOIN dim_product p USING (product_key)) TO '{out}/top.parquet' (FORMAT parquet);
    COPY (WITH redeemed AS (SELECT * FROM read_parquet('{out}/fact/*/*.parquet', hive_partitioning = true) WHERE offer_key <> 0),
          both_scopes AS (
            SELECT 'ALL' AS scope, NULL::INT AS product_key, offer_key, count(*) AS redemptions, sum(units) AS units,
                   sum(total_price - total_paid_price_after_discount) AS discount_given FROM redeemed GROUP BY offer_key
            UNION ALL
            SELECT CAST(product_key AS VARCHAR), product_key, offer_key, count(*), sum(units),
                   sum(total_price - total_paid_price_after_discount) FROM redeemed GROUP BY product_key, offer_key)
          SELECT b.scope, b.product_key AS product_id, p.product_name, b.offer_key, o.offer_name, b.redemptions,
                 b.units, b.discount_given, dense_rank() OVER (PARTITION BY b.scope ORDER BY b.redemptions DESC)
          FROM both_scopes b LEFT JOIN dim_offer o USING (offer_key) LEFT JOIN dim_product p USING (product_key))
      TO '{out}/offers.parquet' (FORMAT parquet);
    COPY (SELECT shipping_city, shipping_state, sum(total_paid_price_after_discount) AS online_revenue,
                 count(*) AS orders, sum(units) AS units,
                 rank() OVER (ORDER BY sum(total_paid_price_after_discount)) AS rank_lowest_revenue
          FROM read_parquet('{out}/fact/*/*.parquet', hive_partitioning = true) WHERE is_online GROUP BY ALL) TO '{out}/cities.parquet' (FORMAT parquet);
    """)
    return con.execute(f"SELECT count(*) FROM read_parquet('{out}/fact/*/*.parquet', hive_partitioning = true)").fetchone()[0]


def b2b(con, fact_dir: Path, day: str, out: Path) -> int:
    con.execute(f"""COPY (SELECT sales_agent_name, product_name, sum(units) AS total_sold_units FROM read_parquet('{fact_dir}/fact/*/*.parquet', hive_partitioning = true)
                 WHERE transaction_date = DATE '{day}' AND NOT is_online GROUP BY ALL ORDER BY ALL) TO '{out}' (HEADER)""")
    return con.execute(f"SELECT count(*) FROM read_csv('{out}')").fetchone()[0]
