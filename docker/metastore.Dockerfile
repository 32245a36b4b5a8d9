# syntax=docker/dockerfile:1
# Hive standalone metastore (apache/hive) + the PostgreSQL JDBC driver, which the image does not ship.
ARG HIVE_IMAGE=apache/hive:4.0.1
FROM ${HIVE_IMAGE}
ARG POSTGRES_JDBC_VERSION=42.7.4
USER root
ADD --chmod=644 \
    https://repo1.maven.org/maven2/org/postgresql/postgresql/${POSTGRES_JDBC_VERSION}/postgresql-${POSTGRES_JDBC_VERSION}.jar \
    /opt/hive/lib/postgres.jar
USER hive
