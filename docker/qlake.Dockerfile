# syntax=docker/dockerfile:1
# The qlake jobs (scheduler, stream) as a client of the cluster: Python 3.11 + this repository, Java 17 for the
# classic Spark the streaming job runs, and the Hadoop client + libhdfs for pyarrow's hdfs:// file system.
# Build context: the repository root (docker compose build does that).
ARG HADOOP_IMAGE=apache/hadoop:3.4.1
FROM ${HADOOP_IMAGE} AS hadoop

FROM python:3.11-slim-bookworm
RUN apt-get update \
    && apt-get install -y --no-install-recommends openjdk-17-jre-headless procps tini \
    && rm -rf /var/lib/apt/lists/*
COPY --from=hadoop /opt/hadoop /opt/hadoop
ENV HADOOP_HOME=/opt/hadoop \
    HADOOP_CONF_DIR=/opt/hadoop/etc/hadoop \
    ARROW_LIBHDFS_DIR=/opt/hadoop/lib/native \
    HADOOP_USER_NAME=qlake \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /opt/qlake
COPY pyproject.toml README.md ./
COPY qlake ./qlake
COPY bronze ./bronze
COPY silver ./silver
COPY gold ./gold
COPY streaming ./streaming
COPY jobs ./jobs
COPY cli ./cli
COPY expectations ./expectations
RUN pip install /opt/qlake

COPY docker/qlake-entrypoint.sh /usr/local/bin/qlake-entrypoint
RUN chmod 755 /usr/local/bin/qlake-entrypoint \
    && useradd --system --uid 10001 --create-home qlake \
    && mkdir -p /var/lib/qlake /data/incoming \
    && chown qlake:qlake /var/lib/qlake /data/incoming
USER qlake
WORKDIR /var/lib/qlake
ENTRYPOINT ["/usr/bin/tini", "--", "/usr/local/bin/qlake-entrypoint"]
CMD ["qlake", "--help"]
