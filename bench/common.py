"""Timing, peak-RSS sampling and the JSON/Markdown result format shared by the benchmarks."""

from __future__ import annotations

import contextlib
import json
import os
import threading
import time
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path

import psutil


@dataclass
class Measure:
    seconds: float = 0.0
    peak_rss_mb: float = 0.0


def tree_rss(proc: psutil.Process, skip: frozenset[int] = frozenset()) -> int:
    """RSS of a process and all its descendants (a child gone meanwhile counts 0), without the process trees
    rooted at ``skip``."""
    total = proc.memory_info().rss
    children = proc.children(recursive=True)
    parent = {}
    for child in children:
        with contextlib.suppress(psutil.Error):
            parent[child.pid] = child.ppid()

    def under_skip(pid: int) -> bool:
        while pid in parent:
            if pid in skip:
                return True
            pid = parent[pid]
        return pid in skip

    for child in children:
        if under_skip(child.pid):
            continue
        with contextlib.suppress(psutil.Error):
            total += child.memory_info().rss
    return total


def service_pids() -> frozenset[int]:
    """The lake's services (metastore, broker) this process started: shared servers, not the job's memory (the
    scale bench measures them apart too)."""
    from qlake import services
    from qlake.config import settings

    return frozenset(pid for service in services.managed_services(settings()) if (pid := service.pid()) is not None)


@contextmanager
def measured():
    """Wall time and peak RSS of this process and its children while the block runs (sampled every 50 ms, as
    bench/scale.py does), the lake's services apart.

    Not finer: a sample walks the process table (~1.3 ms of Python, more with the services' processes), and
    every 20 ms that was ~7 % of a core taken, with the GIL, from the measured side's Python (the engine's
    client, Great Expectations) on this 2-core box, against DuckDB's C++, which does not wait for the GIL."""
    result = Measure()
    proc = psutil.Process(os.getpid())
    stop = threading.Event()
    services = service_pids()

    def rss() -> int:
        return tree_rss(proc, services)

    peak = [rss()]

    def sample():
        while not stop.wait(0.05):
            peak[0] = max(peak[0], rss())

    thread = threading.Thread(target=sample, daemon=True)
    thread.start()
    start = time.perf_counter()
    try:
        yield result
    finally:
        result.seconds = time.perf_counter() - start
        stop.set()
        thread.join()
        result.peak_rss_mb = round(max(peak[0], rss()) / 2**20, 1)


@dataclass
class Comparison:
    stage: str
    rows: int
    qlake: Measure
    baseline: Measure
    baseline_name: str = "duckdb"
    target_ratio: float | None = 3.0  # None: measured and shown, no goal set for it
    notes: dict = field(default_factory=dict)

    @property
    def ratio(self) -> float:
        return round(self.qlake.seconds / max(self.baseline.seconds, 1e-9), 2)

    @property
    def meets_target(self) -> bool | None:
        return None if self.target_ratio is None else self.ratio <= self.target_ratio

    def as_dict(self) -> dict:
        d = asdict(self)
        d.update(ratio=self.ratio, meets_target=self.meets_target,
                 qlake_rows_per_s=round(self.rows / max(self.qlake.seconds, 1e-9)))
        return d


def markdown(results: list[Comparison]) -> str:
    lines = ["| stage | rows | qlake s | qlake peak RSS MB | DuckDB s | DuckDB peak RSS MB | ratio | target | met |",
             "|---|---:|---:|---:|---:|---:|---:|---:|:-:|"]
    for r in results:
        lines.append(f"| {r.stage} | {r.rows:,} | {r.qlake.seconds:.2f} | {r.qlake.peak_rss_mb:.0f} | "
                     f"{r.baseline.seconds:.2f} | {r.baseline.peak_rss_mb:.0f} | {r.ratio} | "
                     + ("none set | — |" if r.meets_target is None else
                        f"≤ {r.target_ratio} | {'yes' if r.meets_target else 'NO'} |"))
    return "\n".join(lines)


def write_results(results: list[Comparison], path: Path, extra: dict | None = None) -> None:
    payload = {"results": [r.as_dict() for r in results], **(extra or {})}
    path.write_text(json.dumps(payload, indent=2, default=str) + "\n")
