-- Analyst statements over every gold table and the ops tables. Each runs through `qlake sql`'s code path
-- (qlake.sql.run on the test session) and through pyhive against `qlake serve`; rows must be equal.
-- A header line `-- @ <id> [only=sql] [beeline] [note=classic|rewritten]` starts each statement; `only=sql` marks
-- what HiveServer2 (classic Spark) cannot answer the same way (see README "SQL"); `note=` what `qlake sql` must
-- say about the path it took.

-- @ total_sales
SELECT count(*) AS sales, sum(total_paid_price_after_discount) AS paid FROM gold.fact_sales;
-- @ sales_by_month beeline
SELECT transaction_month, count(*) AS sales, sum(units) AS units FROM gold.fact_sales GROUP BY transaction_month ORDER BY transaction_month;
-- @ join_product_top_by_count
SELECT p.product_id FROM gold.fact_sales f JOIN gold.dim_product p ON f.product_key = p.product_key GROUP BY p.product_id ORDER BY count(*) DESC, p.product_id LIMIT 3;
-- @ join_product_top_by_units
SELECT p.product_id, p.product_name FROM gold.fact_sales f JOIN gold.dim_product p ON f.product_key = p.product_key GROUP BY p.product_id, p.product_name ORDER BY sum(f.units) DESC, p.product_id LIMIT 5;
-- @ join_category_revenue
SELECT p.product_category, sum(f.total_paid_price_after_discount) AS revenue, round(avg(f.units), 4) AS avg_units FROM gold.fact_sales f JOIN gold.dim_product p ON f.product_key = p.product_key GROUP BY p.product_category ORDER BY revenue DESC;
-- @ join_customer_top
SELECT c.customer_id, c.first_name, c.last_name, sum(f.total_paid_price_after_discount) AS spent FROM gold.fact_sales f JOIN gold.dim_customer c ON f.customer_key = c.customer_key GROUP BY c.customer_id, c.first_name, c.last_name ORDER BY spent DESC, c.customer_id LIMIT 10;
-- @ join_branch_offline
SELECT b.branch_id, b.location, count(*) AS sales FROM gold.fact_sales f JOIN gold.dim_branch b ON f.branch_key = b.branch_key WHERE NOT f.is_online GROUP BY b.branch_id, b.location ORDER BY sales DESC, b.branch_id;
-- @ join_agent_left
SELECT a.sales_agent_id, a.sales_agent_name, count(f.transaction_id) AS sales FROM gold.dim_sales_agent a LEFT JOIN gold.fact_sales f ON f.sales_agent_key = a.sales_agent_key GROUP BY a.sales_agent_id, a.sales_agent_name ORDER BY sales DESC, a.sales_agent_id;
-- @ join_offer
SELECT o.offer_name, o.discount_pct, count(*) AS uses FROM gold.fact_sales f JOIN gold.dim_offer o ON f.offer_key = o.offer_key GROUP BY o.offer_name, o.discount_pct ORDER BY o.discount_pct;
-- @ join_date_weekday
SELECT d.day_name, d.is_weekend, count(*) AS sales FROM gold.fact_sales f JOIN gold.dim_date d ON f.date_key = d.date_key GROUP BY d.day_name, d.is_weekend ORDER BY sales DESC, d.day_name;
-- @ join_all_dimensions
SELECT d.year, p.product_category, o.offer_name, count(*) AS sales, count(DISTINCT c.customer_id) AS customers, count(DISTINCT a.sales_agent_id) AS agents FROM gold.fact_sales f JOIN gold.dim_date d ON f.date_key = d.date_key JOIN gold.dim_product p ON f.product_key = p.product_key JOIN gold.dim_customer c ON f.customer_key = c.customer_key JOIN gold.dim_offer o ON f.offer_key = o.offer_key LEFT JOIN gold.dim_sales_agent a ON f.sales_agent_key = a.sales_agent_key LEFT JOIN gold.dim_branch b ON f.branch_key = b.branch_key GROUP BY d.year, p.product_category, o.offer_name ORDER BY d.year, p.product_category, o.offer_name;
-- @ order_by_agg_having
SELECT shipping_state FROM gold.fact_sales WHERE is_online GROUP BY shipping_state ORDER BY sum(total_paid_price_after_discount) DESC, shipping_state LIMIT 5;
-- @ order_by_agg_with_having only=sql
-- classic Spark 4.2 itself rejects ORDER BY an unselected aggregate under HAVING (UNRESOLVED_COLUMN)
SELECT shipping_state FROM gold.fact_sales WHERE is_online GROUP BY shipping_state HAVING count(*) > 5 ORDER BY sum(total_paid_price_after_discount) DESC, shipping_state LIMIT 5;
-- @ order_by_avg_not_selected
SELECT payment_method, count(*) AS n FROM gold.fact_sales GROUP BY payment_method ORDER BY avg(units) DESC, payment_method;
-- @ window_rank_in_month
SELECT transaction_month, product_key, units FROM (SELECT transaction_month, product_key, sum(units) AS units, rank() OVER (PARTITION BY transaction_month ORDER BY sum(units) DESC, product_key) AS r FROM gold.fact_sales GROUP BY transaction_month, product_key) t WHERE r = 1 ORDER BY transaction_month;
-- @ window_running_total
SELECT transaction_month, revenue, sum(revenue) OVER (ORDER BY transaction_month ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) AS running FROM (SELECT transaction_month, sum(total_paid_price_after_discount) AS revenue FROM gold.fact_sales GROUP BY transaction_month) m ORDER BY transaction_month;
-- @ window_lag_growth
SELECT transaction_month, sales, lag(sales, 1) OVER (ORDER BY transaction_month) AS prev, sales - lag(sales, 1) OVER (ORDER BY transaction_month) AS delta FROM (SELECT transaction_month, count(*) AS sales FROM gold.fact_sales GROUP BY transaction_month) m ORDER BY transaction_month;
-- @ window_moving_avg
SELECT transaction_month, round(avg(sales) OVER (ORDER BY transaction_month ROWS BETWEEN 2 PRECEDING AND CURRENT ROW), 4) AS avg3 FROM (SELECT transaction_month, count(*) AS sales FROM gold.fact_sales GROUP BY transaction_month) m ORDER BY transaction_month;
-- @ window_ntile_dense
SELECT product_id, units, dense_rank() OVER (ORDER BY units DESC) AS dr, ntile(4) OVER (ORDER BY units DESC, product_id) AS quartile FROM gold.mkt_top_products WHERE period = 'ALL' ORDER BY units DESC, product_id;
-- @ window_share_of_total note=classic
SELECT product_category, revenue, round(revenue / sum(revenue) OVER (), 6) AS share FROM (SELECT product_category, sum(revenue) AS revenue FROM gold.mkt_top_products WHERE period = 'ALL' GROUP BY product_category) c ORDER BY revenue DESC;
-- @ qualify_top_product_per_category
SELECT product_category, product_id, units FROM gold.mkt_top_products WHERE period = 'ALL' QUALIFY row_number() OVER (PARTITION BY product_category ORDER BY units DESC, product_id) = 1 ORDER BY product_category;
-- @ qualify_alias
SELECT transaction_month, product_key, sum(units) AS units, rank() OVER (PARTITION BY transaction_month ORDER BY sum(units) DESC, product_key) AS r FROM gold.fact_sales GROUP BY transaction_month, product_key QUALIFY r <= 2 ORDER BY transaction_month, r;
-- @ qualify_latest_customer_version
SELECT customer_id, first_name, valid_from FROM gold.dim_customer QUALIFY row_number() OVER (PARTITION BY customer_id ORDER BY valid_from DESC) = 1 ORDER BY customer_id LIMIT 10;
-- @ rollup_state_city
SELECT shipping_state, shipping_city, count(*) AS orders, sum(total_paid_price_after_discount) AS revenue FROM gold.fact_sales WHERE is_online GROUP BY ROLLUP (shipping_state, shipping_city) ORDER BY shipping_state NULLS FIRST, shipping_city NULLS FIRST LIMIT 20;
-- @ cube_online_payment
SELECT is_online, payment_method, count(*) AS n, grouping_id() AS gid FROM gold.fact_sales GROUP BY CUBE (is_online, payment_method) ORDER BY gid, is_online, payment_method;
-- @ grouping_sets
SELECT transaction_month, is_online, sum(units) AS units FROM gold.fact_sales GROUP BY GROUPING SETS ((transaction_month), (is_online), ()) ORDER BY transaction_month NULLS LAST, is_online NULLS LAST;
-- @ grouping_flag
SELECT CASE WHEN grouping(payment_method) = 1 THEN 'all' ELSE payment_method END AS method, count(*) AS n FROM gold.fact_sales GROUP BY ROLLUP (payment_method) ORDER BY n DESC, method;
-- @ pivot_online_units
SELECT * FROM (SELECT transaction_month, is_online, units FROM gold.fact_sales) PIVOT (SUM(units) FOR is_online IN (true AS online, false AS offline)) ORDER BY transaction_month;
-- @ pivot_two_aggregates
SELECT * FROM (SELECT payment_method, is_online, units, total_paid_price_after_discount AS paid FROM gold.fact_sales) PIVOT (sum(units) AS u, sum(paid) AS p FOR is_online IN (true AS online, false AS offline)) ORDER BY payment_method NULLS FIRST;
-- @ pivot_offer_counts
SELECT * FROM (SELECT o.offer_name, f.transaction_month FROM gold.fact_sales f JOIN gold.dim_offer o ON f.offer_key = o.offer_key WHERE f.transaction_month LIKE '2022-0%') PIVOT (count(*) FOR transaction_month IN ('2022-01' AS jan, '2022-02' AS feb, '2022-03' AS mar)) ORDER BY offer_name;
-- @ unpivot_city_measures
SELECT * FROM (SELECT shipping_city, orders, units FROM gold.mkt_online_sales_by_city WHERE rank_lowest_revenue <= 3) UNPIVOT (amount FOR measure IN (orders, units)) ORDER BY shipping_city, measure;
-- @ unpivot_offer_alias
SELECT * FROM (SELECT offer_name, redemptions, units FROM gold.mkt_offer_redemptions WHERE scope = 'ALL') UNPIVOT (value FOR metric IN (redemptions AS r, units AS u)) ORDER BY offer_name, metric;
-- @ cte_simple
WITH monthly AS (SELECT transaction_month, sum(total_paid_price_after_discount) AS revenue FROM gold.fact_sales GROUP BY transaction_month) SELECT max(revenue) AS best, min(revenue) AS worst FROM monthly;
-- @ cte_two_levels
WITH per_customer AS (SELECT customer_key, count(*) AS orders FROM gold.fact_sales GROUP BY customer_key), buckets AS (SELECT CASE WHEN orders >= 3 THEN '3+' ELSE cast(orders AS STRING) END AS bucket FROM per_customer) SELECT bucket, count(*) AS customers FROM buckets GROUP BY bucket ORDER BY bucket;
-- @ cte_join_back
WITH top AS (SELECT product_id FROM gold.mkt_top_products WHERE period = 'ALL' AND rank_by_units <= 3) SELECT p.product_id, p.product_name, p.list_price FROM gold.dim_product p JOIN top t ON p.product_id = t.product_id ORDER BY p.product_id;
-- @ subquery_in
SELECT count(*) AS n FROM gold.fact_sales WHERE product_key IN (SELECT product_key FROM gold.dim_product WHERE product_category = 'Electronics');
-- @ subquery_exists
SELECT count(*) AS customers_with_offer FROM gold.dim_customer c WHERE EXISTS (SELECT 1 FROM gold.fact_sales f WHERE f.customer_key = c.customer_key AND f.offer_key > 0);
-- @ subquery_scalar
SELECT transaction_id, total_paid_price_after_discount FROM gold.fact_sales WHERE total_paid_price_after_discount > (SELECT avg(total_paid_price_after_discount) * 4 FROM gold.fact_sales) ORDER BY total_paid_price_after_discount DESC, transaction_id LIMIT 5;
-- @ subquery_not_in
SELECT count(*) AS never_sold_online FROM gold.dim_product WHERE product_key NOT IN (SELECT product_key FROM gold.fact_sales WHERE is_online);
-- @ filter_clause
SELECT transaction_month, count(*) FILTER (WHERE is_online) AS online, count(*) FILTER (WHERE NOT is_online) AS offline, sum(units) FILTER (WHERE offer_key > 0) AS offer_units FROM gold.fact_sales GROUP BY transaction_month ORDER BY transaction_month;
-- @ limit_offset
SELECT product_id, units FROM gold.mkt_top_products WHERE period = 'ALL' ORDER BY rank_by_units, product_id LIMIT 5 OFFSET 5;
-- @ distinct_values
SELECT DISTINCT payment_method FROM gold.fact_sales ORDER BY payment_method NULLS FIRST;
-- @ case_when_bands
SELECT CASE WHEN total_paid_price_after_discount < 50 THEN 'small' WHEN total_paid_price_after_discount < 200 THEN 'medium' ELSE 'large' END AS band, count(*) AS n FROM gold.fact_sales GROUP BY 1 ORDER BY 1;
-- @ date_functions
SELECT d.year, d.quarter, min(d.date) AS first_day, max(d.date) AS last_day, datediff(max(d.date), min(d.date)) AS span_days FROM gold.fact_sales f JOIN gold.dim_date d ON f.date_key = d.date_key GROUP BY d.year, d.quarter ORDER BY d.year, d.quarter;
-- @ date_trunc_month
SELECT date_format(date_trunc('MONTH', d.date), 'yyyy-MM') AS month, last_day(min(d.date)) AS month_end, count(*) AS sales FROM gold.fact_sales f JOIN gold.dim_date d ON f.date_key = d.date_key GROUP BY 1 ORDER BY 1 LIMIT 6;
-- @ date_add_months
SELECT date, add_months(date, 1) AS next_month, date_add(date, 7) AS next_week, dayofweek(date) AS dow, weekofyear(date) AS woy FROM gold.dim_date ORDER BY date LIMIT 5;
-- @ date_between
SELECT count(*) AS q1_sales FROM gold.fact_sales f JOIN gold.dim_date d ON f.date_key = d.date_key WHERE d.date BETWEEN DATE'2022-01-01' AND DATE'2022-03-31';
-- @ string_functions
SELECT upper(product_category) AS category, concat_ws(' / ', collect_list(product_name)) AS products FROM (SELECT product_category, product_name FROM gold.dim_product ORDER BY product_name) GROUP BY product_category ORDER BY category;
-- @ decimal_math
SELECT sum(total_price) AS gross, sum(total_paid_price_after_discount) AS net, sum(total_price) - sum(total_paid_price_after_discount) AS discount FROM gold.fact_sales;
-- @ coalesce_nulls
SELECT coalesce(shipping_state, '(store)') AS state, count(*) AS n FROM gold.fact_sales GROUP BY 1 ORDER BY n DESC, state LIMIT 5;
-- @ union_all
SELECT 'online' AS channel, count(*) AS n FROM gold.fact_sales WHERE is_online UNION ALL SELECT 'offline', count(*) FROM gold.fact_sales WHERE NOT is_online ORDER BY channel;
-- @ mkt_top_products_periods
SELECT period, count(*) AS products, max(units) AS best FROM gold.mkt_top_products GROUP BY period ORDER BY period DESC LIMIT 4;
-- @ mkt_offer_redemptions_all beeline
SELECT offer_key, offer_name, redemptions, units, discount_given FROM gold.mkt_offer_redemptions WHERE scope = 'ALL' ORDER BY rank_in_scope, offer_key;
-- @ mkt_online_sales_by_city_lowest
SELECT shipping_city, shipping_state, online_revenue, orders FROM gold.mkt_online_sales_by_city ORDER BY rank_lowest_revenue, shipping_city LIMIT 5;
-- @ dim_branch_current
SELECT branch_id, location, class, establish_date, is_current FROM gold.dim_branch WHERE is_current ORDER BY branch_id;
-- @ dim_sales_agent_hired
SELECT year(hire_date) AS hired, count(*) AS agents FROM gold.dim_sales_agent WHERE is_current GROUP BY 1 ORDER BY 1;
-- @ ops_row_accounting
SELECT table_name, sum(rows_in) AS rows_in, sum(inserted) AS inserted, sum(quarantined) AS quarantined, bool_and(balanced) AS balanced FROM ops.row_accounting GROUP BY table_name ORDER BY table_name;
-- @ ops_dq_results
SELECT table_name, count(*) AS checks, sum(CASE WHEN success THEN 0 ELSE 1 END) AS failing FROM ops.dq_results GROUP BY table_name ORDER BY table_name;
-- @ ops_pipeline_state
SELECT consumer, source, count(*) AS markers FROM ops.pipeline_state GROUP BY consumer, source ORDER BY consumer, source;
-- @ time_travel_option_version
SELECT count(*) AS n FROM gold.fact_sales WITH ('version' = '1');
-- @ time_travel_option_diff
SELECT (SELECT count(*) FROM gold.fact_sales WITH ('version' = '1')) - (SELECT count(*) FROM gold.fact_sales WITH ('version' = '0')) AS added_in_v1;
-- @ time_travel_option_timestamp
SELECT count(*) AS n, sum(units) AS units FROM gold.fact_sales WITH ('timestamp' = '2100-01-01 00:00:00');
-- @ time_travel_version
SELECT count(*) AS n FROM gold.fact_sales VERSION AS OF 0;
-- @ describe_no_table_keyword
DESCRIBE gold.dim_offer;
-- @ describe_table
DESCRIBE TABLE gold.dim_product;
-- @ show_columns
SHOW COLUMNS IN gold.dim_offer;
-- @ describe_partitioned
DESCRIBE gold.fact_sales;
-- @ describe_extended
DESCRIBE EXTENDED gold.dim_offer;
-- @ describe_detail
DESCRIBE DETAIL gold.fact_sales;
-- @ describe_history
DESCRIBE HISTORY gold.dim_offer;
-- @ show_partitions
SHOW PARTITIONS gold.fact_sales;
-- @ show_tblproperties
SHOW TBLPROPERTIES gold.dim_offer;
-- @ show_create_table
SHOW CREATE TABLE gold.dim_offer;
-- @ time_travel_as_of_diff
SELECT (SELECT count(*) FROM gold.fact_sales VERSION AS OF 1) - (SELECT count(*) FROM gold.fact_sales VERSION AS OF 0) AS added_in_v1;
-- @ time_travel_timestamp_as_of
SELECT count(*) AS n, sum(total_paid_price_after_discount) AS revenue FROM gold.fact_sales TIMESTAMP AS OF '2100-01-01 00:00:00';
-- @ time_travel_join_dimension_version
SELECT p.product_category, count(*) AS sales FROM gold.fact_sales VERSION AS OF 1 f JOIN gold.dim_product VERSION AS OF 1 p ON f.product_key = p.product_key GROUP BY p.product_category ORDER BY p.product_category;
-- @ percentile_approx_units note=rewritten
SELECT product_category, percentile_approx(units, 0.5) AS median_units, percentile_approx(units, array(0.25, 0.75)) AS quartiles FROM gold.mkt_top_products WHERE period = 'ALL' GROUP BY product_category ORDER BY product_category;
-- @ percentile_disc_cont note=rewritten
SELECT is_online, percentile_disc(0.5) WITHIN GROUP (ORDER BY units) AS median_units, percentile_cont(0.9) WITHIN GROUP (ORDER BY units DESC) AS p10_units FROM gold.fact_sales GROUP BY is_online ORDER BY is_online;
-- @ unaliased_window_columns
SELECT transaction_month, sum(units), rank() OVER (ORDER BY sum(units) DESC), sum(sum(units)) OVER (ORDER BY transaction_month) FROM gold.fact_sales GROUP BY transaction_month ORDER BY transaction_month;
-- @ unaliased_rank_lag_count
SELECT product_category, product_id, units, row_number() OVER (PARTITION BY product_category ORDER BY units DESC, product_id), lag(units) OVER (PARTITION BY product_category ORDER BY units DESC, product_id), count(*) OVER (PARTITION BY product_category) FROM gold.mkt_top_products WHERE period = 'ALL' ORDER BY product_category, product_id;
-- @ unaliased_null_in_between
SELECT transaction_id, sales_agent_key IS NULL, branch_key IS NOT NULL, payment_method IN ('Cash', 'Credit Card'), units BETWEEN 2 AND 5 FROM gold.fact_sales ORDER BY transaction_id LIMIT 25;
