"""Where a run's time goes: named phases timed with a wall clock, printed by ``qlake run hourly --profile``.

A job marks its phases with :func:`phase`; the numbers are collected only while a profile is active (the
command line activates one), so marking a phase costs nothing in a normal run. Phases nest: a phase's time
includes the phases inside it, and the report indents them.
"""

from __future__ import annotations

import sys
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass, field


@dataclass
class Profile:
    """The timed phases of one process, in the order they started (name, depth, seconds)."""

    started_at: float = field(default_factory=time.perf_counter)
    phases: list[tuple[str, int, float]] = field(default_factory=list)
    echo: bool = False  # also print a line as each phase ends (long runs: see progress as it happens)
    _depth: threading.local = field(default_factory=threading.local)

    def lines(self) -> list[str]:
        total = time.perf_counter() - self.started_at
        width = max([len(n) + 2 * d for n, d, _ in self.phases] + [len("total (command)")])
        out = [f"{'phase'.ljust(width)}  seconds"]
        out += [f"{('  ' * d + n).ljust(width)}  {s:7.3f}" for n, d, s in self.phases]
        out.append(f"{'total (command)'.ljust(width)}  {total:7.3f}")
        return out


_active: Profile | None = None


def start(echo: bool = False) -> Profile:
    """Activate a profile for this process from now on (imports before the command ran are not counted)."""
    global _active
    _active = Profile(echo=echo)
    return _active


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
    profile._depth.value = depth + 1
    began = time.perf_counter()
    try:
        yield
    finally:
        seconds = time.perf_counter() - began
        profile._depth.value = depth
        profile.phases[index] = (name, depth, seconds)
        if profile.echo:
            print(f"[profile] {'  ' * depth}{name}: {seconds:.3f} s", file=sys.stderr, flush=True)
