# syntax=docker/dockerfile:1
# Sail's Spark Connect server for cluster mode: the same pysail version qlake pins (pyproject.toml), nothing else.
# Sail's Kubernetes mode launches its worker pods from this image too (SAIL_KUBERNETES__IMAGE).
FROM python:3.11-slim-bookworm
ARG PYSAIL_VERSION=0.7.2
RUN python3 -m pip install --no-cache-dir "pysail==${PYSAIL_VERSION}"
ENV RUST_LOG=info
EXPOSE 50051
ENTRYPOINT ["/usr/local/bin/sail"]
CMD ["spark", "server", "--ip", "0.0.0.0", "--port", "50051"]
