"""The stream job's files and what ``qlake stream status`` reads from them (no Spark needed).

``run/stream.pid`` while it runs, ``run/stream-state.json`` (state, query id, last batch; replaced atomically),
``run/stream-batches.jsonl`` (one line per batch), ``run/stream.log``; the checkpoint under the lake. Lag per
partition = the broker's end offset minus the offset the job has done, computed in one place (:func:`lag_of`)
for both the per-batch log and the status.
"""

from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path

from kafka import KafkaConsumer, TopicPartition

from qlake.config import Settings, settings as load_settings
from qlake.services import pid_alive
from streaming import app_events, delta_io
from streaming.kafka_offsets import describe_offsets


# ---- where the job keeps its files ------------------------------------------------------------------------------
def checkpoint_location(settings: Settings) -> str:
    return settings.path("checkpoints", "app_events")


def run_file(settings: Settings, name: str) -> Path:
    return Path(settings.run_dir, name)


def pid_file(settings: Settings) -> Path:
    return run_file(settings, "stream.pid")


def state_file(settings: Settings) -> Path:
    return run_file(settings, "stream-state.json")


def batches_file(settings: Settings) -> Path:
    return run_file(settings, "stream-batches.jsonl")


def log_file(settings: Settings) -> Path:
    return run_file(settings, "stream.log")


# ---- state ----------------------------------------------------------------------------------------------------
def write_state(settings: Settings, state: dict) -> None:
    path = state_file(settings)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(state | {"updated": datetime.now(timezone.utc).isoformat()}, indent=2))
    tmp.replace(path)  # atomic: status never reads half a file


def read_state(settings: Settings) -> dict:
    try:
        return json.loads(state_file(settings).read_text())
    except (OSError, ValueError):
        return {}


def append_batch(settings: Settings, record: dict) -> None:
    with open(batches_file(settings), "a") as out:
        out.write(json.dumps(record) + "\n")


def running_pid(settings: Settings) -> int | None:
    try:
        pid = int(pid_file(settings).read_text().strip())
    except (OSError, ValueError):
        return None
    return pid if pid_alive(pid) else None


# ---- lag ------------------------------------------------------------------------------------------------------
class BrokerOffsets:
    """A consumer that only asks the broker for end offsets (the job keeps one open from batch to batch)."""

    def __init__(self, settings: Settings, client_id: str):
        self.topic = settings.kafka_topic
        self.consumer = KafkaConsumer(bootstrap_servers=settings.bootstrap_servers, client_id=client_id,
                                      request_timeout_ms=5000)

    def end_offsets(self, partitions: list[int] | None = None) -> dict[int, int]:
        """{partition: end offset} of ``partitions`` (default: every partition of the topic)."""
        if partitions is None:
            partitions = sorted(self.consumer.partitions_for_topic(self.topic) or [])
        ends = self.consumer.end_offsets([TopicPartition(self.topic, p) for p in partitions])
        return {tp.partition: int(o) for tp, o in sorted(ends.items())}

    def close(self) -> None:
        self.consumer.close()


def lag_of(end_offsets: dict[int, int], done: dict[int, int]) -> dict[str, int]:
    """Per partition (as text, the JSON key): the broker's end offset minus the next offset the job reads."""
    return {str(p): end - done.get(p, 0) for p, end in sorted(end_offsets.items())}


def written_through(settings: Settings, topic: str, offsets: dict) -> bool:
    """Has the stream finished a batch past a producer run's last offsets (``{partition: {first, last}}``)?

    A batch writes its tables one after another (bronze first), so a reader that waits on one table alone can
    see the batch half written; the state's last batch is recorded only once every table has it."""
    done = describe_offsets((read_state(settings).get("last_batch") or {}).get("end_offsets") or {}, topic)
    return all(done.get(int(p), 0) > int(o["last"]) for p, o in offsets.items())


# ---- status ---------------------------------------------------------------------------------------------------
def status(settings: Settings | None = None) -> dict:
    """Job state without Spark: pid, last committed batch, committed offsets and lag per partition."""
    settings = settings or load_settings()
    checkpoint = checkpoint_location(settings)
    out: dict = {"running": running_pid(settings) is not None, "pid": running_pid(settings),
                 "checkpoint": checkpoint, "log": str(log_file(settings))}
    state = read_state(settings)
    out["last_batch"] = state.get("last_batch")
    if not settings.is_local or not Path(checkpoint, "metadata").exists():
        out["query_id"] = state.get("query_id")
        return out
    query_id = json.loads(Path(checkpoint, "metadata").read_text())["id"]
    out["query_id"] = query_id
    commits = sorted(int(p.name) for p in Path(checkpoint, "commits").glob("[0-9]*") if p.name.isdigit())
    out["last_committed_batch"] = commits[-1] if commits else None
    try:
        out["bronze_txn_batch"] = delta_io.applied_version(delta_io.open_table(settings, app_events.BRONZE), query_id)
    except Exception:  # noqa: BLE001 - table not created yet
        out["bronze_txn_batch"] = None
    committed: dict[int, int] = {}
    if commits:
        lines = Path(checkpoint, "offsets", str(commits[-1])).read_text().splitlines()
        committed = describe_offsets(lines[2], settings.kafka_topic)
    out["committed_offsets"] = {str(p): o for p, o in sorted(committed.items())}
    out["end_offsets"], out["lag"] = {}, {}
    try:
        broker = BrokerOffsets(settings, "qlake-status")
        try:
            ends = broker.end_offsets()
        finally:
            broker.close()
        out["end_offsets"] = {str(p): o for p, o in ends.items()}
        out["lag"] = lag_of(ends, committed)
        out["total_lag"] = sum(out["lag"].values())
    except Exception as exc:  # noqa: BLE001 - broker down: say so, the rest is still useful
        out["broker_error"] = str(exc)
    return out
