#!/usr/bin/env bash
# qlake container entrypoint: the JVM environment pyarrow's HDFS client (libhdfs) needs, then the command.
set -euo pipefail
if [ -z "${JAVA_HOME:-}" ]; then
  JAVA_HOME="$(dirname "$(dirname "$(readlink -f "$(command -v java)")")")"
  export JAVA_HOME
fi
# libhdfs needs every Hadoop jar on CLASSPATH, wildcards expanded.
CLASSPATH="$("${HADOOP_HOME}/bin/hadoop" classpath --glob)"
export CLASSPATH
exec "$@"
