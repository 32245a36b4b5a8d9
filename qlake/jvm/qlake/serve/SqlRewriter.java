package qlake.serve;

/** Rewrites a statement before Spark parses it; implemented in Python (qlake.serve_sql, over py4j). */
public interface SqlRewriter {
    String rewrite(String sql);
}
