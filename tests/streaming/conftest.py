"""Fixtures for the streaming tests: a real broker and metastore, the job as a real subprocess.

The root conftest already points QLAKE_HOME and the ports at a temp lake and free ports. Here each test module
gets its own topic (so a kept test lake or another module never leaks messages in), a clean checkpoint and clean
stream tables; the broker is stopped when the module ends (the root conftest stops the metastore at the end).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
from deltalake import DeltaTable

from qlake.storage import read_delta
from streaming.kafka_records import close_readers
from streaming.state import checkpoint_location

REPO = Path(__file__).resolve().parents[2]


class StreamHarness:
    """Runs ``python -m cli ...`` the way an operator runs ``qlake ...``, and reads the results."""

    def __init__(self, settings):
        self.settings = settings
        self.produced: list[dict] = []  # generate() kwargs of every produce call, in order

    # -- processes --------------------------------------------------------------------------------------------
    def env(self, **extra: str) -> dict:
        env = dict(os.environ, PYTHONPATH=str(REPO), **extra)
        env.pop("SPARK_CONNECT_MODE_ENABLED", None)
        return env

    def cli(self, *args: str, timeout: float = 240, **env: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, "-m", "cli", *args], env=self.env(**env), cwd=REPO,
            capture_output=True, text=True, timeout=timeout,
        )

    def stream(self, *args: str, timeout: float = 240, **env: str) -> subprocess.CompletedProcess:
        result = self.cli("stream", *args, timeout=timeout, **env)
        return result

    def stream_killed_after(self, table: str, batch_id: int, *args: str,
                            timeout: float = 240) -> subprocess.CompletedProcess:
        """The job with a SIGKILL right after ``table``'s commit of batch ``batch_id`` (the test seam)."""
        return subprocess.run(
            [sys.executable, str(Path(__file__).with_name("kill_mid_batch.py")), f"{table}:{batch_id}", *args],
            env=self.env(), cwd=REPO, capture_output=True, text=True, timeout=timeout,
        )

    def start_stream(self, *args: str, **env: str) -> subprocess.Popen:
        return subprocess.Popen(
            [sys.executable, "-m", "cli", "stream", *args], env=self.env(**env), cwd=REPO,
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        )

    def produce(self, late: bool = False, **kwargs) -> dict:
        """Produce to the module's topic and remember how (``late``: expected to miss the live reports)."""
        from streaming.producer import produce

        counts = produce(self.settings, progress=False, **kwargs)
        self.produced.append({**{k: v for k, v in kwargs.items() if k != "rate"}, "late": late})
        return counts

    @staticmethod
    def stop(proc: subprocess.Popen, timeout: float = 60) -> int:
        """SIGTERM (what an operator or a service manager sends), then wait; SIGKILL only if it hangs."""
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        return proc.returncode

    # -- results ----------------------------------------------------------------------------------------------
    def location(self, name: str) -> str:
        db, table = name.split(".")
        return self.settings.table_location(db, table)

    def table(self, name: str, columns: list[str] | None = None):
        return read_delta(self.location(name), columns=columns)

    def count(self, name: str) -> int:
        return DeltaTable(self.location(name)).count()

    def version(self, name: str) -> int:
        return DeltaTable(self.location(name)).version()

    def has_batch(self, name: str, batch_id: int) -> bool:
        """Did the stream's query commit ``batch_id`` to this table (its Delta app transaction says so)?"""
        query_id = json.loads(Path(checkpoint_location(self.settings), "metadata").read_text())["id"]
        done = DeltaTable(self.location(name)).transaction_version(query_id)
        return done is not None and done >= batch_id

    def wait_for(self, name: str, rows: int, timeout: float = 120, proc: subprocess.Popen | None = None) -> None:
        deadline = time.monotonic() + timeout
        seen = None
        while time.monotonic() < deadline:
            try:
                seen = self.count(name)
            except Exception:  # noqa: BLE001 - table not created yet
                seen = None
            if seen == rows:
                return
            assert seen is None or seen < rows, f"{name}: {seen} rows, more than the {rows} expected"
            if proc is not None and proc.poll() is not None:
                raise AssertionError(f"stream exited early ({proc.returncode}):\n{proc.stdout.read()[-3000:]}")
            time.sleep(0.5)
        raise AssertionError(f"{name}: {seen} rows after {timeout:.0f}s, expected {rows}")

    def end_offsets(self) -> dict[int, int]:
        from kafka import KafkaConsumer, TopicPartition

        consumer = KafkaConsumer(bootstrap_servers=self.settings.bootstrap_servers)
        try:
            topic = self.settings.kafka_topic
            parts = sorted(consumer.partitions_for_topic(topic) or [])
            ends = consumer.end_offsets([TopicPartition(topic, p) for p in parts])
            return {tp.partition: o for tp, o in ends.items()}
        finally:
            consumer.close()


@pytest.fixture(scope="module")
def harness():
    from qlake.broker import Broker, create_topic
    from qlake.config import settings as load_settings
    from qlake.services import Metastore
    from streaming.outputs import tables

    previous_topic = os.environ.get("QLAKE_KAFKA_TOPIC")
    os.environ["QLAKE_KAFKA_TOPIC"] = f"app_events_{uuid.uuid4().hex[:8]}"
    cfg = load_settings()
    broker, metastore = Broker(cfg), Metastore(cfg)
    broker.up()
    create_topic(cfg, cfg.kafka_topic, 3)  # this module's own topic (up() alone skips it if already running)
    metastore.up()  # no-op when another module already started it
    shutil.rmtree(checkpoint_location(cfg), ignore_errors=True)
    for spec in tables():
        shutil.rmtree(cfg.table_location(spec.database, spec.table), ignore_errors=True)
    try:
        yield StreamHarness(cfg)
    finally:
        close_readers()  # a read made in this process keeps its consumer; it must not outlive the broker
        broker.down()
        if previous_topic is None:
            os.environ.pop("QLAKE_KAFKA_TOPIC", None)
        else:
            os.environ["QLAKE_KAFKA_TOPIC"] = previous_topic
