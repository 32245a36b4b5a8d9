"""Great Expectations in a process of its own (:mod:`qlake.gx_worker`), seen from the run: its batches are
submitted as they are gated and their results collected at the run's end.

GX is pure Python: ~1.8 s of CPU to import, then ~0.8 s an hour to validate and render Data Docs. On a thread of
the run's process it held the interpreter lock against the run's own Python (building plans, reading replies):
a 2,000-row hour took 5.6-5.8 s with it and 3.4-3.9 s with GX left out. In a process of its own it runs beside
the run: 4.2-4.6 s (measured 2026-12-07 on the same 2-core lake).

- :class:`BackgroundValidation` (the run's side) submits each flagged batch as the Delta path it was
  materialized to; :meth:`~BackgroundValidation.finish` waits for the batches' results, then for Data Docs.
- The worker (``python -m qlake.gx_worker``) imports GX as soon as it starts, connects to the run's engine
  (the same Spark Connect server: embedded Sail's port, or ``QLAKE_SPARK_REMOTE``) on its first batch, and
  validates with :class:`qlake.quality_gx.Validator`, a fresh GX context per run, as the run did in-process.
- One worker per process at a time, shared by the runs open in it (a backfill's passes) and stopped when the
  last of them has finished: idle, it held ~250 MB, which a process's next stage (gold, after a 550,000-row
  silver run in bench/) added to its peak. Requests and replies are JSON lines on the worker's stdin and
  stdout; if it dies, every pending batch fails with its last words, and the next run starts another.
"""

from __future__ import annotations

import atexit
import collections
import dataclasses
import itertools
import json
import os
import subprocess
import sys
import threading
import uuid
from datetime import date, datetime

from qlake.config import Settings
from qlake.quality import RuleResult


def jsonable(value):
    """Dates as ISO strings (as GX takes a suite's parameters); any other value as its text."""
    return value.isoformat() if isinstance(value, (date, datetime)) else str(value)


class WorkerError(RuntimeError):
    """The worker could not do what it was asked (its message says why)."""


class _Worker:
    """The parent's handle on the worker process: requests out, replies matched to them by id."""

    def __init__(self):
        env = {**os.environ, "GX_ANALYTICS_ENABLED": "false", "PYTHONUNBUFFERED": "1"}
        self._process = subprocess.Popen([sys.executable, "-m", "qlake.gx_worker"], stdin=subprocess.PIPE,
                                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, text=True,
                                         encoding="utf-8")
        self._ids = itertools.count(1)
        self._replies: dict[int, dict] = {}
        self._done = threading.Condition()
        self._write = threading.Lock()
        self._stderr: collections.deque[str] = collections.deque(maxlen=40)
        self.alive = True
        threading.Thread(target=self._read_replies, name="qlake-gx-replies", daemon=True).start()
        threading.Thread(target=self._read_stderr, name="qlake-gx-stderr", daemon=True).start()

    def request(self, op: str, **payload) -> int:
        request_id = next(self._ids)
        line = json.dumps({"id": request_id, "op": op, **payload}, default=jsonable)
        try:
            with self._write:
                self._process.stdin.write(line + "\n")
                self._process.stdin.flush()
        except (BrokenPipeError, OSError, ValueError):
            self._exited()
        return request_id

    def reply(self, request_id: int) -> dict:
        """The reply to a request: waits for it (or for the worker's end)."""
        with self._done:
            self._done.wait_for(lambda: request_id in self._replies or not self.alive)
            if request_id in self._replies:
                return self._replies.pop(request_id)
        raise WorkerError(self.last_words())

    def last_words(self) -> str:
        lines = [line for line in self._stderr if line.strip()]
        said = lines[-1].strip() if lines else "no output"
        return f"the Great Expectations worker exited (code {self._process.poll()}): {said}"

    def close(self) -> None:
        """Stop the worker now: a run waits for all it asked (results and Data Docs), so nothing awaited is lost;
        a worker still importing GX (a run that had no batch for it) is not waited for."""
        with self._write:
            try:
                self._process.stdin.close()
            except OSError:
                pass
        self._process.terminate()
        try:
            self._process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()

    def _read_replies(self) -> None:
        for line in self._process.stdout:
            try:
                reply = json.loads(line)
            except ValueError:  # printed while the worker's modules load, before it moves prints to stderr
                self._stderr.append(line)
                continue
            with self._done:
                self._replies[reply["id"]] = reply
                self._done.notify_all()
        self._process.wait()
        self._exited()

    def _read_stderr(self) -> None:
        for line in self._process.stderr:
            self._stderr.append(line)

    def _exited(self) -> None:
        with self._done:
            self.alive = False
            self._done.notify_all()


_lock = threading.Lock()
_worker: _Worker | None = None
_open_runs = 0  # BackgroundValidations started and not finished: the worker is stopped when none is left


def worker() -> _Worker:
    """The process's worker, started (it begins importing GX at once) if none is alive."""
    global _worker
    with _lock:
        if _worker is None or not _worker.alive:
            _worker = _Worker()
        return _worker


def stop() -> None:
    """End the worker (at the process's exit; a test may call it)."""
    global _worker
    with _lock:
        if _worker is not None:
            _worker.close()
            _worker = None


atexit.register(stop)


class BackgroundValidation:
    """One run's batches, validated by the worker in the order they were submitted.

    :meth:`start` starts the worker if needed (it imports GX while the run stages its batches); :meth:`submit`
    queues a materialized batch (the caller keeps its Delta folder until :meth:`finish`); :meth:`close` says no
    more will come, so the worker renders their Data Docs next while the run goes on (an hourly run builds gold
    meanwhile); :meth:`finish` waits for every submitted batch and for Data Docs, and returns the per-rule
    results, or raises the first error.
    """

    def __init__(self, cfg: Settings, remote: str):
        self.cfg = cfg
        self._run = uuid.uuid4().hex  # the worker's GX context for these batches (one per run, as in-process)
        self.remote = remote  # the run's Spark Connect address: the worker reads the batches through it
        self._pending: list[tuple[int, str]] = []  # (request id, table)
        self._publish: int | None = None  # the request rendering the pending batches' Data Docs
        self._worker: _Worker | None = None  # the worker holding them (a new one, if it dies, knows none of them)

    def start(self) -> BackgroundValidation:
        global _open_runs
        if self._worker is None:
            with _lock:
                _open_runs += 1
            self._worker = worker()
        return self

    def submit(self, path: str, suite: str, run_name: str, params: dict, table: str) -> None:
        request_id = self.start()._worker.request("validate", run=self._run, cfg=dataclasses.asdict(self.cfg),
                                                  remote=self.remote, path=path, suite=suite, run_name=run_name,
                                                  params=params, table=table)
        self._pending.append((request_id, table))

    def close(self) -> None:
        """No more batches: have their Data Docs rendered as soon as they are validated."""
        if self._pending and self._publish is None:
            self._publish = self._worker.request("publish", run=self._run, cfg=dataclasses.asdict(self.cfg))

    def finish(self) -> list[tuple[str, RuleResult]]:
        """Every submitted batch's results as (table, result), once validated and published."""
        self.close()
        pending, self._pending = self._pending, []
        publish, self._publish = self._publish, None
        held_by, self._worker, self._run = self._worker, None, uuid.uuid4().hex
        try:
            return self._collect(held_by, pending, publish)
        finally:
            if held_by is not None:
                _run_finished()

    @staticmethod
    def _collect(held_by: _Worker | None, pending: list[tuple[int, str]], publish: int | None):
        if not pending:
            return []
        results: list[tuple[str, RuleResult]] = []
        try:
            replies = [(table, held_by.reply(request_id)) for request_id, table in pending]
            replies.append(("", held_by.reply(publish)))
            for table, reply in replies:
                if "error" in reply:
                    raise WorkerError(reply["error"])
                results.extend((table, RuleResult(**r)) for r in reply.get("results", ()))
        except WorkerError as error:
            raise RuntimeError(f"Great Expectations could not validate the run's batches: {error}") from None
        return results


def _run_finished() -> None:
    global _open_runs, _worker
    with _lock:
        _open_runs -= 1
        idle, _worker = (_worker, None) if _open_runs == 0 else (None, _worker)
    if idle is not None:
        idle.close()
