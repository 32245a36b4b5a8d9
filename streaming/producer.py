"""The app events producer for the Kafka topic (see docs: app events): sends :mod:`streaming.synthetic_events`.

- ``rate``: events per second (``None``: as fast as the client goes); a bound by ``count`` or ``duration``.
- ``seed``, ``extra_field_ratio``, ``malformed_ratio``: :func:`~streaming.synthetic_events.generate`'s knobs.

:class:`ProducerRun` is the one send loop: ``qlake produce`` (:func:`produce`) runs it in the foreground,
notebooks/app_event_producer.ipynb in a background thread (start / stats / stop), bounded by count or duration.

Keys are the customerId (so one customer's events stay ordered within a partition); acks=all with the idempotent
producer, so client retries never write a message twice.
"""

from __future__ import annotations

import json
import sys
import threading
import time
from dataclasses import dataclass
from datetime import datetime

from kafka import KafkaProducer

from qlake.config import Settings
from streaming.synthetic_events import count_message, generate, new_counts


def kafka_producer(settings: Settings) -> KafkaProducer:
    return KafkaProducer(
        bootstrap_servers=settings.bootstrap_servers,
        client_id="qlake-producer",
        acks="all",
        # Explicit: a config conflict must fail loudly instead of silently dropping to at-least-once.
        enable_idempotence=True,
        linger_ms=5,  # small batching window: big win in throughput, invisible at 1,000 ev/s
        batch_size=256 * 1024,
        max_in_flight_requests_per_connection=5,
    )


@dataclass(frozen=True)
class ProducerOptions:
    """What ``qlake produce`` takes: stop after ``count`` messages or ``duration`` seconds (whichever first; neither:
    until stopped), ``rate`` events/s (None: as fast as the client goes), and :func:`generate`'s knobs."""

    count: int | None = None
    duration: float | None = None
    rate: float | None = None
    seed: int | None = None
    start: datetime | str | None = None
    extra_field_ratio: float = 0.0
    malformed_ratio: float = 0.0
    topic: str | None = None  # None: the configured topic

    def __post_init__(self):
        for name in ("count", "duration", "rate"):
            value = getattr(self, name)
            if value is not None and (value < 0 if name == "count" else value <= 0):
                raise ValueError(f"{name} must be {'>= 0' if name == 'count' else '> 0'}, got {value}")
        for name in ("extra_field_ratio", "malformed_ratio"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"{name} must be within [0, 1], got {getattr(self, name)}")


class ProducerRun:
    """One producer run: the send loop, its live counts and a clean stop.

    ``qlake produce`` runs it in the foreground (:meth:`run`, Ctrl-C stops it); a notebook runs it in a background
    thread (:meth:`start`, then :meth:`stats` while it runs and :meth:`stop` or :meth:`wait`). Either way the
    client is flushed and closed at the end, so every message handed to it is delivered (or reported as failed).
    Delivery reports give the partition and offset of every message: :meth:`stats` ``offsets`` is, per partition,
    the first and last offset this run wrote and how many messages it wrote there.
    """

    def __init__(self, settings: Settings, options: ProducerOptions | None = None, on_send=None):
        self.settings = settings
        self.options = options or ProducerOptions()
        self.topic = self.options.topic or settings.kafka_topic
        self._on_send = on_send  # on_send(message, send_time) after each hand-over (the latency benchmark)
        self._lock = threading.Lock()  # counts are written by the send loop and the client's I/O thread
        self._counts = new_counts()
        self._offsets: dict[int, list[int]] = {}  # partition -> [first offset, last offset, messages]
        self._failures: list[BaseException] = []
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._error: BaseException | None = None
        self._started = self._ended = None
        self._sample = (0.0, 0)  # (time, sent) at the previous stats() call, for the current rate

    # -- control ------------------------------------------------------------------------------------------------
    def run(self, progress: bool = False) -> dict:
        """Produce in this thread until the bound, :meth:`stop` or Ctrl-C; the final stats (raises on failures)."""
        self._send_all(progress)
        return self.result()

    def start(self) -> ProducerRun:
        """Produce in a daemon thread and return at once."""
        if self._thread is not None:
            raise RuntimeError("this producer run was already started")
        self._thread = threading.Thread(target=self._background, name="qlake-producer", daemon=True)
        self._thread.start()
        return self

    def stop(self, timeout: float = 60.0) -> dict:
        """Stop after the message in hand, flush, close; the final stats."""
        self._stop.set()
        return self.wait(timeout)

    def wait(self, timeout: float | None = None) -> dict:
        """Wait for a background run to end (its bound reached or stopped); the final stats."""
        if self._thread is not None:
            self._thread.join(timeout)
            if self._thread.is_alive():
                raise TimeoutError(f"the producer did not finish within {timeout:.0f}s")
        return self.result()

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    # -- figures ------------------------------------------------------------------------------------------------
    def stats(self) -> dict:
        """A consistent snapshot: counts per kind and event type, delivered/failed, offsets, elapsed, rates."""
        now = time.perf_counter()
        with self._lock:
            out = json.loads(json.dumps(self._counts))  # deep copy of plain data
            out["delivered"] = sum(n for _, _, n in self._offsets.values())
            out["failed"] = len(self._failures)
            out["offsets"] = {p: {"first": f, "last": last, "messages": n}
                              for p, (f, last, n) in sorted(self._offsets.items())}
        started, ended = self._started, self._ended
        seconds = ((ended or now) - started) if started else 0.0
        previous_at, previous_sent = self._sample
        if ended or not started:
            current = None
        else:
            current = (out["sent"] - previous_sent) / (now - previous_at) if previous_at else None
            self._sample = (now, out["sent"])
        out.update(
            topic=self.topic, count=self.options.count, duration=self.options.duration,
            seconds=round(seconds, 3), rate=round(out["sent"] / seconds, 1) if seconds > 0 else None,
            current_rate=None if current is None else round(current, 1),
            running=self.running or (started is not None and ended is None), done=ended is not None,
            error=None if self._error is None else f"{type(self._error).__name__}: {self._error}",
        )
        return out

    def progress(self, stats: dict | None = None) -> float | None:
        """Share of a bounded run done (count or duration, whichever is further along); None when unbounded.
        ``stats``: a snapshot just taken (each :meth:`stats` call restarts the current-rate interval)."""
        stats, shares = stats or self.stats(), []
        if self.options.count:
            shares.append(stats["sent"] / self.options.count)
        if self.options.duration:
            shares.append(stats["seconds"] / self.options.duration)
        if not shares:
            return None
        return 1.0 if stats["done"] and not self._stop.is_set() else min(1.0, max(shares))

    def result(self) -> dict:
        if self._error is not None:
            raise self._error
        stats = self.stats()
        if self._failures:
            raise RuntimeError(f"{len(self._failures)} of {stats['sent']} messages were not delivered: "
                               f"{self._failures[0]!r}")
        return stats

    # -- the send loop (the only one) -----------------------------------------------------------------------------
    def _background(self) -> None:
        try:
            self._send_all(progress=False)
        except BaseException as exc:  # noqa: BLE001 - kept for stats()/wait(): a thread has nobody to raise to
            self._error = exc

    def _delivered(self, metadata) -> None:
        with self._lock:
            seen = self._offsets.get(metadata.partition)
            if seen is None:
                self._offsets[metadata.partition] = [metadata.offset, metadata.offset, 1]
            else:
                seen[0], seen[1], seen[2] = min(seen[0], metadata.offset), max(seen[1], metadata.offset), seen[2] + 1

    def _failed(self, exc: BaseException) -> None:
        with self._lock:
            self._failures.append(exc)

    def _send_all(self, progress: bool) -> None:
        o = self.options
        producer = kafka_producer(self.settings)
        started = self._started = time.perf_counter()
        deadline = started + o.duration if o.duration else None
        last_report = started
        try:
            for index, message in enumerate(generate(o.count, o.seed, o.start, o.extra_field_ratio,
                                                     o.malformed_ratio)):
                if o.rate is not None:
                    # Schedule against the start time (not the previous send) so pauses do not accumulate drift.
                    due = started + index / o.rate
                    if deadline is not None and due >= deadline:
                        break
                    if self._stop.wait(max(0.0, due - time.perf_counter())):
                        break
                elif self._stop.is_set() or (deadline is not None and time.perf_counter() >= deadline):
                    break
                future = producer.send(self.topic, key=message.key, value=message.value)
                future.add_callback(self._delivered)
                future.add_errback(self._failed)
                with self._lock:
                    count_message(self._counts, message)
                if self._on_send is not None:
                    self._on_send(message, time.time())
                now = time.perf_counter()
                if progress and now - last_report >= 2.0:
                    last_report = now
                    total = f"/{o.count:,}" if o.count else ""
                    sent = self._counts["sent"]
                    print(f"produced {sent:,}{total} ({sent / (now - started):,.0f} ev/s)", file=sys.stderr)
        except KeyboardInterrupt:
            pass  # produce until Ctrl-C: flush what was sent and report
        finally:
            try:
                producer.flush()
                producer.close()
            finally:
                self._ended = time.perf_counter()
        if progress:
            print(f"produced {self._counts['sent']:,} messages in {self._ended - started:.1f}s", file=sys.stderr)


def produce(
    settings: Settings,
    count: int | None = None,
    rate: float | None = None,
    seed: int | None = None,
    extra_field_ratio: float = 0.0,
    malformed_ratio: float = 0.0,
    progress: bool = True,
    start: datetime | str | None = None,
    topic: str | None = None,
    on_send=None,
    duration: float | None = None,
) -> dict:
    """Send ``count`` messages (or for ``duration`` seconds; neither: until interrupted) in this thread; return
    :meth:`ProducerRun.stats` (counts per kind, rate, offsets). Raises if any message could not be delivered."""
    options = ProducerOptions(count=count, duration=duration, rate=rate, seed=seed, start=start,
                              extra_field_ratio=extra_field_ratio, malformed_ratio=malformed_ratio, topic=topic)
    return ProducerRun(settings, options, on_send=on_send).run(progress=progress)
