"""The Great Expectations worker process (``python -m qlake.gx_worker``), started by :mod:`qlake.gx_client`.

It reads requests as JSON lines on stdin and answers each on stdout: ``validate`` a batch (a materialized Delta
folder, read through the run's Spark Connect server) with a suite, ``publish`` the Data Docs of what it
validated for a run. GX is imported as the worker starts, before the first batch arrives.
"""

from __future__ import annotations

import dataclasses
import json
import os
import sys
import threading
import time

from pyspark.sql import SparkSession

from qlake import quality_gx
from qlake.config import Settings
from qlake.gx_client import jsonable


def serve(requests, send) -> None:
    """Answer each request; a request that fails is answered with its error (the run raises it)."""
    quality_gx.import_great_expectations()  # before the first batch arrives: the run is staging meanwhile
    validators: dict[str, quality_gx.Validator] = {}  # one per run: a fresh GX context, as a run in-process had
    sessions: dict[str, SparkSession] = {}
    for line in requests:
        request = json.loads(line)
        try:
            validator = validators.get(request["run"])
            if validator is None:
                validator = validators[request["run"]] = quality_gx.Validator(Settings(**request["cfg"]))
            if request["op"] == "validate":
                remote = request["remote"]
                if remote not in sessions:
                    sessions[remote] = SparkSession.builder.remote(remote).create()
                    sessions[remote].conf.set("spark.sql.session.timeZone", "UTC")  # as the run's session
                batch = sessions[remote].read.format("delta").load(request["path"])
                results = validator.validate(batch, request["suite"], request["run_name"], request["params"],
                                             table=request["table"])
                send({"id": request["id"], "results": [dataclasses.asdict(r) for r in results]})
            else:
                validators.pop(request["run"])
                send({"id": request["id"], "index": validator.publish()})
        except Exception as exc:  # noqa: BLE001 - reported to the run, which raises it as its error
            said = str(exc) if type(exc) is RuntimeError else f"{type(exc).__name__}: {exc}"
            send({"id": request["id"], "error": said})


def _exit_with(parent: int) -> None:
    """End this process as soon as the run's process is gone (a SIGKILLed run sends no goodbye)."""
    while os.getppid() == parent:
        time.sleep(0.5)
    os._exit(0)


def main() -> None:
    # Replies go to the pipe the run reads; whatever GX, the client or a native library prints goes to stderr.
    replies = os.fdopen(os.dup(1), "w", encoding="utf-8")
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    threading.Thread(target=_exit_with, args=(os.getppid(),), name="qlake-gx-parent", daemon=True).start()

    def send(reply: dict) -> None:
        replies.write(json.dumps(reply, default=jsonable) + "\n")
        replies.flush()

    try:
        serve(sys.stdin, send)
    finally:
        # Without the interpreter's teardown: it would stop the Connect sessions, and a run's engine is gone by
        # now (measured: the client retried against it for minutes). Every reply was flushed when sent.
        os._exit(0)


if __name__ == "__main__":
    main()
