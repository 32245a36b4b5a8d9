"""Test seam: run the stream job and SIGKILL it right after one table's commit for one batch, i.e. mid-batch, the
worst moment for exactly-once. Not part of the product: it passes ``StreamOptions.after_write``.

    python tests/streaming/kill_mid_batch.py TABLE:BATCH [--available-now] [--max-offsets-per-trigger N]
        [--read-on driver|executors]
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys

from qlake.config import settings as load_settings
from streaming.job import StreamOptions, log, run


def kill_after(table: str, batch_id: int):
    def after_write(written: str, batch: int) -> None:
        if written == table and batch == batch_id:
            log.warning("fault injection: SIGKILL after %s, batch %d", table, batch_id)
            logging.shutdown()
            os.kill(os.getpid(), signal.SIGKILL)

    return after_write


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("fault", help="TABLE:BATCH")
    parser.add_argument("--available-now", action="store_true")
    parser.add_argument("--max-offsets-per-trigger", type=int, default=None)
    parser.add_argument("--read-on", choices=["driver", "executors"], default=None)
    args = parser.parse_args()
    table, batch_id = args.fault.rsplit(":", 1)
    options = StreamOptions(available_now=args.available_now, max_offsets_per_trigger=args.max_offsets_per_trigger,
                            read_on=args.read_on, after_write=kill_after(table, int(batch_id)))
    return run(load_settings(), options)


if __name__ == "__main__":
    sys.exit(main())
