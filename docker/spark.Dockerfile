# syntax=docker/dockerfile:1
# Spark 4 (apache/spark) with Delta Lake on the system classpath: master, worker, Spark Connect and the Thrift server
# all run this image. Delta and its dependencies are resolved once, at build time (the runtime network is internal,
# with no route to a package registry), by the same mechanism as `--packages`.
ARG SPARK_IMAGE=apache/spark:4.2.0
FROM ${SPARK_IMAGE}
# Delta publishes one artifact per Spark line: delta-spark_<spark major.minor>_2.13 (Delta 4.4 supports 4.0/4.1/4.2).
ARG DELTA_PACKAGE=io.delta:delta-spark_4.2_2.13:4.4.0
USER spark
RUN /opt/spark/bin/spark-submit --master "local[1]" --packages "${DELTA_PACKAGE}" \
        --conf spark.jars.ivy=/tmp/ivy \
        --conf spark.sql.extensions=io.delta.sql.DeltaSparkSessionExtension \
        --conf spark.sql.catalog.spark_catalog=org.apache.spark.sql.delta.catalog.DeltaCatalog \
        --class org.apache.spark.examples.SparkPi /opt/spark/examples/jars/spark-examples.jar 2 \
    && ls /tmp/ivy/jars/*.jar
USER root
# Spark's own artifacts are never part of a --packages resolution, so these are Delta and what Delta needs.
RUN cp -n /tmp/ivy/jars/*.jar /opt/spark/jars/ && rm -rf /tmp/ivy && mkdir -p /opt/spark/conf /opt/spark/logs \
    && chown spark:spark /opt/spark/conf /opt/spark/logs
USER spark
ENV SPARK_NO_DAEMONIZE=true
