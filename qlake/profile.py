"""Where a run's time and memory go: named phases timed with a wall clock, printed by ``qlake run hourly --profile``.

A job marks its phases with :func:`phase`; the numbers are collected only while a profile is active (the
command line activates one), so marking a phase costs nothing in a normal run. Phases nest: a phase's time
includes the phases inside it, and the report indents them. With ``rss=True`` a thread samples the process's
resident memory (embedded Sail's threads included) every 50 ms and each phase keeps the peak seen while it ran
(``bench/scale.py`` reads it as JSON).
"""

from __future__ import annotations

import functools
import sys
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass, field

import psutil


@dataclass
class Profile:
    """The timed phases of one process, in the order they started (name, depth, seconds)."""

    started_at: float = field(default_factory=time.perf_counter)
    phases: list[tuple[str, int, float]] = field(default_factory=list)
    echo: bool = False  # also print a line as each phase ends (long runs: see progress as it happens)
    rss: bool = False  # also sample resident memory: peak MB per phase in ``peak_rss_mb`` (same index)
    peak_rss_mb: list[float] = field(default_factory=list)
    _depth: threading.local = field(default_factory=threading.local)
    _open: set[int] = field(default_factory=set)  # indexes of the phases running now (the sampler updates them)

    def sample_rss(self) -> None:
        """Raise the peak of every running phase to the process's resident memory now."""
        mb = _process().memory_info().rss / 2**20
        for index in list(self._open):
            self.peak_rss_mb[index] = max(self.peak_rss_mb[index], mb)

    def _sample_while_active(self) -> None:
        while _active is self:
            self.sample_rss()
            time.sleep(0.05)

    def as_dicts(self) -> list[dict]:
        """The phases as JSON-ready rows: name, depth, seconds and (when sampled) peak RSS in MB."""
        return [{"phase": n, "depth": d, "seconds": round(s, 3),
                 **({"peak_rss_mb": round(self.peak_rss_mb[i], 1)} if self.rss else {})}
                for i, (n, d, s) in enumerate(self.phases)]

    def lines(self) -> list[str]:
        total = time.perf_counter() - self.started_at
        width = max([len(n) + 2 * d for n, d, _ in self.phases] + [len("total (command)")])
        out = [f"{'phase'.ljust(width)}  seconds"]
        out += [f"{('  ' * d + n).ljust(width)}  {s:7.3f}" for n, d, s in self.phases]
        out.append(f"{'total (command)'.ljust(width)}  {total:7.3f}")
        return out


_active: Profile | None = None


def start(echo: bool = False, rss: bool = False) -> Profile:
    """Activate a profile for this process from now on (imports before the command ran are not counted)."""
    global _active
    _active = Profile(echo=echo, rss=rss)
    if rss:
        threading.Thread(target=_active._sample_while_active, name="qlake-profile-rss", daemon=True).start()
    return _active


@functools.cache
def _process() -> psutil.Process:
    return psutil.Process()


def active() -> Profile | None:
    return _active


@contextmanager
def phase(name: str):
    """Time the block as ``name`` when a profile is active; a no-op otherwise."""
    profile = _active
    if profile is None:
        yield
        return
    depth = getattr(profile._depth, "value", 0)
    index = len(profile.phases)
    profile.phases.append((name, depth, 0.0))
    profile.peak_rss_mb.append(0.0)
    profile._open.add(index)
    if profile.rss:
        profile.sample_rss()
    profile._depth.value = depth + 1
    began = time.perf_counter()
    try:
        yield
    finally:
        seconds = time.perf_counter() - began
        if profile.rss:
            profile.sample_rss()
        profile._open.discard(index)
        profile._depth.value = depth
        profile.phases[index] = (name, depth, seconds)
        if profile.echo:
            memory = f", peak RSS {profile.peak_rss_mb[index]:.0f} MB" if profile.rss else ""
            print(f"[profile] {'  ' * depth}{name}: {seconds:.3f} s{memory}", file=sys.stderr, flush=True)
