package qlake.serve;

import org.apache.spark.sql.catalyst.FunctionIdentifier;
import org.apache.spark.sql.catalyst.TableIdentifier;
import org.apache.spark.sql.catalyst.expressions.Expression;
import org.apache.spark.sql.catalyst.parser.ParameterContext;
import org.apache.spark.sql.catalyst.parser.ParseException;
import org.apache.spark.sql.catalyst.parser.ParserInterface;
import org.apache.spark.sql.catalyst.plans.logical.LogicalPlan;
import org.apache.spark.sql.types.DataType;
import org.apache.spark.sql.types.StructType;

/**
 * Spark's parser, with each statement first passed through the process's {@link SqlRewriter} (if one is set):
 * `qlake serve` answers time travel and catalog statements the thrift server's Spark cannot (README "SQL").
 * Everything else is Spark's own parser.
 */
public final class RewritingParser implements ParserInterface {
    private static volatile SqlRewriter rewriter;
    private final ParserInterface delegate;

    public RewritingParser(ParserInterface delegate) {
        this.delegate = delegate;
    }

    public static void setRewriter(SqlRewriter value) {
        rewriter = value;
    }

    private static String rewrite(String sql) {
        SqlRewriter current = rewriter;
        if (current == null || sql == null) {
            return sql;
        }
        String rewritten = current.rewrite(sql);
        return rewritten == null ? sql : rewritten;
    }

    @Override
    public LogicalPlan parsePlan(String sql) throws ParseException {
        return delegate.parsePlan(rewrite(sql));
    }

    @Override
    public LogicalPlan parsePlanWithParameters(String sql, ParameterContext context) throws ParseException {
        return delegate.parsePlanWithParameters(rewrite(sql), context);
    }

    @Override
    public LogicalPlan parseQuery(String sql) throws ParseException {
        return delegate.parseQuery(sql);
    }

    @Override
    public Expression parseExpression(String sql) throws ParseException {
        return delegate.parseExpression(sql);
    }

    @Override
    public TableIdentifier parseTableIdentifier(String sql) throws ParseException {
        return delegate.parseTableIdentifier(sql);
    }

    @Override
    public FunctionIdentifier parseFunctionIdentifier(String sql) throws ParseException {
        return delegate.parseFunctionIdentifier(sql);
    }

    @Override
    public scala.collection.immutable.Seq<String> parseMultipartIdentifier(String sql) throws ParseException {
        return delegate.parseMultipartIdentifier(sql);
    }

    @Override
    public StructType parseRoutineParam(String sql) throws ParseException {
        return delegate.parseRoutineParam(sql);
    }

    @Override
    public StructType parseTableSchema(String sql) throws ParseException {
        return delegate.parseTableSchema(sql);
    }

    @Override
    public DataType parseDataType(String sql) throws ParseException {
        return delegate.parseDataType(sql);
    }
}
