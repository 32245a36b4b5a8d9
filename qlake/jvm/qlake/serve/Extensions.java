package qlake.serve;

import org.apache.spark.sql.SparkSessionExtensions;
import scala.runtime.AbstractFunction1;
import scala.runtime.AbstractFunction2;
import scala.runtime.BoxedUnit;

/** `spark.sql.extensions=qlake.serve.Extensions`: installs {@link RewritingParser} in front of Spark's. */
public final class Extensions extends AbstractFunction1<SparkSessionExtensions, BoxedUnit> {
    @Override
    public BoxedUnit apply(SparkSessionExtensions extensions) {
        extensions.injectParser(new AbstractFunction2<org.apache.spark.sql.SparkSession,
                org.apache.spark.sql.catalyst.parser.ParserInterface,
                org.apache.spark.sql.catalyst.parser.ParserInterface>() {
            @Override
            public org.apache.spark.sql.catalyst.parser.ParserInterface apply(
                    org.apache.spark.sql.SparkSession session,
                    org.apache.spark.sql.catalyst.parser.ParserInterface delegate) {
                return new RewritingParser(delegate);
            }
        });
        return BoxedUnit.UNIT;
    }
}
