"""The Great Expectations worker (``python -m qlake.gx_worker SOCKET``): a resident process that validates the
runs' batches, renders their Data Docs and sends their OpenLineage events. :mod:`qlake.gx_client` starts it;
`qlake services down` stops it.

It listens on a Unix socket in the lake's ``run/`` folder (its owner's only) before it imports GX, then imports
GX once: ~1.8 s of CPU an hourly run no longer pays. Each run is one connection, JSON lines each way, a reply per
request:

- ``hello``: the worker's code version (a run never uses a worker of other code) and pid;
- ``validate``: a batch (a materialized Delta folder, read through the run's own Spark Connect server) against
  a suite, answered with each rule's counts;
- ``publish``: the Data Docs of what the run validated;
- ``lineage``: the run's OpenLineage START or COMPLETE/FAIL event, built and sent here
  (:func:`qlake.lineage_events.answer`), answered whatever GX is doing.

A connection's GX context and Connect session are its run's alone and are dropped when the connection closes,
whether the run finished or was killed (a validation still running for a killed run then fails at once). GX
works on one request at a time.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import queue
import socket
import sys
import threading

from pyspark.sql import SparkSession
from pyspark.sql.connect.client.retries import DefaultPolicy

from qlake import quality_gx, spark as qspark
from qlake.config import Settings
from qlake.gx_client import code_version, jsonable
from qlake.resident import listen

CODE = code_version()  # the code this process loaded, whatever changes on disk later
_gx = threading.Lock()  # GX's work, one request at a time; held while GX imports
# A run's engine answers at once or is gone (a killed run takes its embedded engine with it): a few quick retries,
# not the client's default of ten minutes, during which every other run would wait for the GX lock.
_RETRIES = DefaultPolicy(max_retries=2, initial_backoff=100, backoff_multiplier=2.0, max_backoff=400)


class _Run:
    """What one connection (one run) opened: its GX context and its Connect session."""

    def __init__(self) -> None:
        self.validator: quality_gx.Validator | None = None
        self.session: SparkSession | None = None
        self.ended = False  # the run closed its connection (finished, or was killed)
        self._lock = threading.Lock()

    def answer(self, request: dict) -> dict:
        if request["op"] == "lineage":
            from qlake import lineage_events  # heavy: imported by main(), unless this run came first

            return lineage_events.answer(request)
        with _gx:
            if self.validator is None:
                self.validator = quality_gx.Validator(Settings(**request["cfg"]))
            if request["op"] == "publish":
                return {"index": self.validator.publish()}
            with self._lock:
                if self.ended:
                    raise RuntimeError("the run has gone")
                if self.session is None:
                    self.session = SparkSession.builder.remote(request["remote"]).create()
                    self.session.client.set_retry_policies([_RETRIES])
                    qspark.configure(self.session)  # as the run's session
                session = self.session
            batch = session.read.format("delta").load(request["path"])
            results = self.validator.validate(batch, request["suite"], request["run_name"], request["params"],
                                              table=request["table"])
            return {"results": [dataclasses.asdict(r) for r in results]}

    def end(self) -> None:
        """The run has gone: release its session now, so a validation still running for it fails at once (its
        queries end with the session) instead of holding up the next run."""
        with self._lock:
            self.ended = True
            session, self.session = self.session, None
        if session is not None:
            threading.Thread(target=_release, args=(session,), name="qlake-gx-release", daemon=True).start()


def _release(session: SparkSession) -> None:
    """Release a run's server-side session and close its channel. Not ``SparkSession.stop()``: that holds
    pyspark's global session lock while it retries, and the next run's session would wait for it."""
    with contextlib.suppress(Exception):
        session.client.release_session()
    with contextlib.suppress(Exception):
        session.client.close()


def _serve(connection: socket.socket) -> None:
    """One run's requests, answered in order. They are read on a thread of their own, so the run's end is seen
    while a request is still being answered."""
    run = _Run()
    requests: queue.Queue[dict | None] = queue.Queue()

    def read() -> None:
        try:
            with connection.makefile("r", encoding="utf-8") as lines:
                for line in lines:
                    requests.put(json.loads(line))
        except (OSError, ValueError):
            pass
        run.end()
        requests.put(None)

    threading.Thread(target=read, name="qlake-gx-requests", daemon=True).start()
    with connection, connection.makefile("w", encoding="utf-8") as replies:
        while (request := requests.get()) is not None:
            try:
                reply = {"code": CODE, "pid": os.getpid()} if request["op"] == "hello" else run.answer(request)
            except Exception as exc:  # noqa: BLE001 - reported to the run, which raises it as its error
                reply = {"error": str(exc) if type(exc) is RuntimeError else f"{type(exc).__name__}: {exc}"}
            with contextlib.suppress(OSError):  # the run went away meanwhile
                replies.write(json.dumps({"id": request["id"], **reply}, default=jsonable) + "\n")
                replies.flush()


def main() -> None:
    listener = listen(sys.argv[1])
    with _gx:  # requests wait for the import; a hello does not
        threading.Thread(target=_accept, args=(listener,), name="qlake-gx-accept", daemon=True).start()
        quality_gx.import_great_expectations()
    from qlake import lineage_events  # noqa: F401 - heavy: imported while no run waits (a run's first event would)
    threading.Event().wait()  # serve until stopped (`qlake services down`: SIGTERM)


def _accept(listener: socket.socket) -> None:
    while True:
        connection, _ = listener.accept()
        threading.Thread(target=_serve, args=(connection,), name="qlake-gx-run", daemon=True).start()


if __name__ == "__main__":
    main()
