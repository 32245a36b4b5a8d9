"""Great Expectations in a resident process of its own (:mod:`qlake.gx_worker`), seen from the run: its batches
are submitted as they are gated and their results collected at the run's end.

GX is pure Python: ~1.8 s of CPU to import, then ~0.8 s an hour to validate and render Data Docs. On a thread of
the run's process it held the interpreter lock against the run's own Python (a 2,000-row hour took 5.6-5.8 s with
it, 3.4-3.9 s with GX left out); in a worker process started by each run, the run still waited for its import at
the end (measured 2026-12-07 on the same 2-core lake). So the worker stays:

- :class:`GxWorker` is one of qlake's services (`qlake services up/down/status`), listening on a Unix socket in
  the lake's ``run/`` folder. A run starts it if it is not running, as it does the metastore, and it stays
  for the next runs (~250 MB idle, counted apart from the runs' memory like the metastore's). A worker of other
  code than the run's (an upgrade, another checkout on the same lake) is replaced.
- :class:`BackgroundValidation` (the run's side) holds one connection for the run: it submits each flagged batch
  as the Delta path it was materialized to; :meth:`~BackgroundValidation.finish` waits for the batches' results,
  then for Data Docs. The worker reads the batches through the run's own engine (the same Spark Connect server:
  embedded Sail's port, or ``QLAKE_SPARK_REMOTE``) with a fresh GX context per run, as the run did in-process.
- If the worker dies, every pending batch fails with its last words (its log's last line), and the next run
  starts another.
"""

from __future__ import annotations

import dataclasses
import itertools
import json
import socket
import sys
import threading
from datetime import date, datetime
from pathlib import Path

from qlake.config import Settings
from qlake.quality import RuleResult
from qlake.resident import connect as connect_socket, source_version
from qlake.services import SocketService, log_tail


def jsonable(value):
    """Dates as ISO strings (as GX takes a suite's parameters); any other value as its text."""
    return value.isoformat() if isinstance(value, (date, datetime)) else str(value)


class WorkerError(RuntimeError):
    """The worker could not do what it was asked (its message says why)."""


def code_version() -> str:
    """Which code a process runs: its interpreter and the qlake package (the worker imports no layer)."""
    return source_version([Path(__file__).parent])


class GxWorker(SocketService):
    """The resident worker as a service: its address is its socket, not a port."""

    def __init__(self, settings: Settings):
        super().__init__("gx-worker", settings)

    def command(self) -> list[str]:
        return [sys.executable, "-m", "qlake.gx_worker", self.socket]

    def env(self) -> dict[str, str]:
        return {**super().env(), "GX_ANALYTICS_ENABLED": "false"}


_start_lock = threading.Lock()  # one start at a time in this process (a run starts it early, on a thread)


def ensure_worker(cfg: Settings) -> GxWorker:
    """The lake's worker, started if it is not running (it imports GX as it starts)."""
    worker = GxWorker(cfg)
    with _start_lock:
        if not worker.running():
            print(worker.up(), file=sys.stderr)
    return worker


def start_ahead(cfg: Settings) -> None:
    """Have the worker running by the time the run's first batch is gated: when it is not (the first run on a
    machine, or after an upgrade) it starts on a thread while the engine starts. A failure to start is left for
    the run's first :meth:`BackgroundValidation.start` to meet and report."""
    def start() -> None:
        try:
            ensure_worker(cfg)
        except Exception:  # noqa: BLE001 - reported where the run connects
            pass

    threading.Thread(target=start, name="qlake-gx-start", daemon=True).start()


class Connection:
    """A run's connection to the worker: requests out, replies matched to them by id."""

    def __init__(self, worker: GxWorker, connection: socket.socket):
        self._worker = worker
        self._socket = connection
        self._out = connection.makefile("w", encoding="utf-8")
        self._ids = itertools.count(1)
        self._replies: dict[int, dict] = {}
        self._done = threading.Condition()
        self._write = threading.Lock()
        self.alive = True
        threading.Thread(target=self._read_replies, name="qlake-gx-replies", daemon=True).start()

    def request(self, op: str, **payload) -> int:
        request_id = next(self._ids)
        line = json.dumps({"id": request_id, "op": op, **payload}, default=jsonable)
        try:
            with self._write:
                self._out.write(line + "\n")
                self._out.flush()
        except (OSError, ValueError):
            self._lost()
        return request_id

    def reply(self, request_id: int) -> dict:
        """The reply to a request: waits for it (or for the connection's end)."""
        with self._done:
            self._done.wait_for(lambda: request_id in self._replies or not self.alive)
            if request_id in self._replies:
                return self._replies.pop(request_id)
        raise WorkerError(self.last_words())

    def last_words(self) -> str:
        lines = [line for line in log_tail(self._worker.log_file, 40).splitlines() if line.strip()]
        said = lines[-1].strip() if lines else "no output"
        return f"the Great Expectations worker exited: {said}"

    def close(self) -> None:
        with self._write:
            for closing in (self._out.close, lambda: self._socket.shutdown(socket.SHUT_RDWR), self._socket.close):
                try:
                    closing()
                except OSError:
                    pass

    def _read_replies(self) -> None:
        with self._socket.makefile("r", encoding="utf-8") as replies:
            try:
                for line in replies:
                    reply = json.loads(line)
                    with self._done:
                        self._replies[reply["id"]] = reply
                        self._done.notify_all()
            except (OSError, ValueError):
                pass
        self._lost()

    def _lost(self) -> None:
        with self._done:
            self.alive = False
            self._done.notify_all()


def connect(cfg: Settings, code: str | None = None) -> Connection:
    """A connection to a worker running ``code`` (this process's by default), starting or replacing it as needed."""
    code = code or code_version()
    worker = ensure_worker(cfg)
    for attempt in range(2):
        connection = connect_socket(worker.socket)
        if connection is not None:
            opened = Connection(worker, connection)
            try:
                if opened.reply(opened.request("hello")).get("code") == code:
                    return opened
            except WorkerError:
                pass
            opened.close()
            if attempt == 0:
                with _start_lock:  # a worker of other code (or one dying): replace it
                    worker.down()
        worker = ensure_worker(cfg)
    raise RuntimeError(f"Great Expectations could not validate the run's batches: no worker answered at "
                       f"{worker.socket}; see {worker.log_file}")


class BackgroundValidation:
    """One run's batches, validated by the worker in the order they were submitted.

    :meth:`start` connects to the worker (starting it if needed); :meth:`submit` queues a materialized batch (the
    caller keeps its Delta folder until :meth:`finish`); :meth:`close` says no more will come, so the worker
    renders their Data Docs next while the run goes on (an hourly run builds gold meanwhile); :meth:`finish`
    waits for every submitted batch and for Data Docs, and returns the per-rule results, or raises the first
    error. A finished BackgroundValidation can start again, as a new run.
    """

    def __init__(self, cfg: Settings, remote: str):
        self.cfg = cfg
        self.remote = remote  # the run's Spark Connect address: the worker reads the batches through it
        self._pending: list[tuple[int, str]] = []  # (request id, table)
        self._publish: int | None = None  # the request rendering the pending batches' Data Docs
        self._connection: Connection | None = None

    def start(self) -> BackgroundValidation:
        if self._connection is None:
            self._connection = connect(self.cfg)
        return self

    def submit(self, path: str, suite: str, run_name: str, params: dict, table: str) -> None:
        request_id = self.start()._connection.request("validate", cfg=dataclasses.asdict(self.cfg),
                                                      remote=self.remote, path=path, suite=suite,
                                                      run_name=run_name, params=params, table=table)
        self._pending.append((request_id, table))

    def close(self) -> None:
        """No more batches: have their Data Docs rendered as soon as they are validated."""
        if self._pending and self._publish is None:
            self._publish = self._connection.request("publish", cfg=dataclasses.asdict(self.cfg))

    def finish(self) -> list[tuple[str, RuleResult]]:
        """Every submitted batch's results as (table, result), once validated and published."""
        self.close()
        pending, self._pending = self._pending, []
        publish, self._publish = self._publish, None
        connection, self._connection = self._connection, None
        try:
            return self._collect(connection, pending, publish)
        finally:
            if connection is not None:
                connection.close()  # the worker drops the run's GX context and Connect session

    @staticmethod
    def _collect(connection: Connection | None, pending: list[tuple[int, str]], publish: int | None):
        if not pending:
            return []
        results: list[tuple[str, RuleResult]] = []
        try:
            replies = [(table, connection.reply(request_id)) for request_id, table in pending]
            replies.append(("", connection.reply(publish)))
            for table, reply in replies:
                if "error" in reply:
                    raise WorkerError(reply["error"])
                results.extend((table, RuleResult(**r)) for r in reply.get("results", ()))
        except WorkerError as error:
            raise RuntimeError(f"Great Expectations could not validate the run's batches: {error}") from None
        return results
