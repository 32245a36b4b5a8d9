"""The local Kafka-protocol broker (noida-db) as a qlake service, plus topic helpers.

``noida-db start --only kafka`` runs a Kafka-compatible broker in the foreground. Its Python wrapper spawns the
real binary as a child and does not take it down when it dies, which is why :meth:`Service.down` collects
descendants before signalling. Topic creation is idempotent so ``qlake up`` can be re-run freely.
"""

from __future__ import annotations

import shutil
import sys
import time
from pathlib import Path

from qlake.config import Settings
from qlake.services import Service, ServiceError

# kafka-python is imported by the functions that talk to the broker (~0.15 s): every process that starts the
# metastore imports this module, few of them produce or consume.

# 3 partitions: enough to show per-partition offsets / lag and to parallelise the reader on 2 cores.
DEFAULT_PARTITIONS = 3


def noida_db_executable() -> str:
    """The ``noida-db`` script of the running interpreter's environment (the venv's bin), else from PATH."""
    candidate = Path(sys.executable).parent / "noida-db"
    if candidate.exists():
        return str(candidate)
    found = shutil.which("noida-db")
    if not found:
        raise ServiceError("broker: the noida-db script was found neither next to python nor on PATH")
    return found


class Broker(Service):
    """noida-db's Kafka service bound to ``settings.host`` only, data under ``settings.kafka_dir``."""

    startup_timeout: float = 60.0

    def __init__(self, settings: Settings):
        super().__init__("broker", settings.kafka_port, settings)

    def signature(self) -> str:
        return f"--data-dir {self.settings.kafka_dir}"

    def prepare(self) -> None:
        Path(self.settings.kafka_dir).mkdir(parents=True, exist_ok=True)

    def command(self) -> list[str]:
        return [
            noida_db_executable(),
            "start",
            "--only",
            "kafka",
            "--host",
            self.settings.host,
            "--kafka-port",
            str(self.port),
            "--data-dir",
            self.settings.kafka_dir,
        ]

    def after_start(self) -> None:
        # An open port is not yet a broker that answers metadata requests: wait for a real client round trip.
        wait_for_kafka(self.settings, timeout=self.startup_timeout)
        create_topic(self.settings, self.settings.kafka_topic, DEFAULT_PARTITIONS)


def wait_for_kafka(settings: Settings, timeout: float = 60.0) -> None:
    from kafka import KafkaAdminClient
    from kafka.errors import KafkaError

    deadline = time.monotonic() + timeout
    last: Exception | None = None
    while time.monotonic() < deadline:
        try:
            admin = KafkaAdminClient(
                bootstrap_servers=settings.bootstrap_servers, request_timeout_ms=5000, client_id="qlake-wait"
            )
            try:
                admin.list_topics()
                return
            finally:
                admin.close()
        except (KafkaError, OSError, ValueError) as exc:  # ValueError: kafka-python on a half-open socket
            last = exc
            time.sleep(0.3)
    raise ServiceError(f"broker: {settings.bootstrap_servers} did not answer a Kafka client in {timeout:.0f}s: {last}")


def create_topic(settings: Settings, name: str, partitions: int = DEFAULT_PARTITIONS) -> bool:
    """Create ``name`` with ``partitions`` partitions (replication 1); False when it already existed."""
    from kafka import KafkaAdminClient
    from kafka.admin import NewTopic
    from kafka.errors import TopicAlreadyExistsError

    admin = KafkaAdminClient(bootstrap_servers=settings.bootstrap_servers, client_id="qlake-admin")
    try:
        if name in admin.list_topics():
            return False
        try:
            admin.create_topics([NewTopic(name=name, num_partitions=partitions, replication_factor=1)])
        except TopicAlreadyExistsError:  # created concurrently between list and create
            return False
    finally:
        admin.close()
    _wait_for_partitions(settings, name, partitions)
    return True


def _wait_for_partitions(settings: Settings, name: str, partitions: int, timeout: float = 30.0) -> None:
    """Topic metadata propagates asynchronously: wait until a consumer sees every partition."""
    from kafka import KafkaConsumer

    consumer = KafkaConsumer(bootstrap_servers=settings.bootstrap_servers, client_id="qlake-admin")
    try:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = consumer.partitions_for_topic(name) or set()
            if len(found) >= partitions:
                return
            time.sleep(0.2)
            consumer.topics()  # refresh metadata
    finally:
        consumer.close()
    raise ServiceError(f"broker: topic {name} did not show {partitions} partitions within {timeout:.0f}s")


def topic_partitions(settings: Settings, topic: str | None = None) -> list[int]:
    from kafka import KafkaConsumer

    consumer = KafkaConsumer(bootstrap_servers=settings.bootstrap_servers, client_id="qlake-meta")
    try:
        return sorted(consumer.partitions_for_topic(topic or settings.kafka_topic) or [])
    finally:
        consumer.close()


def ensure_broker(settings: Settings) -> None:
    """Start the broker if qlake manages it and it is not running (producers and the stream job call this)."""
    if settings.manages_broker:
        service = Broker(settings)
        if not service.running():
            print(service.up(), file=sys.stderr)


def broker_problem(settings: Settings, timeout: float = 5.0) -> str | None:
    """None when a Kafka client gets an answer from ``settings.bootstrap_servers`` within ``timeout`` seconds;
    otherwise one line saying which broker is unreachable and how to get one (no traceback: notebooks print it)."""
    try:
        wait_for_kafka(settings, timeout=timeout)
        return None
    except ServiceError:
        how = "start it with `qlake services up`" if settings.manages_broker else "check QLAKE_KAFKA_BOOTSTRAP"
        return (f"no Kafka broker reachable at {settings.bootstrap_servers} (no answer within {timeout:.0f}s): "
                f"{how}, then re-run this notebook")
