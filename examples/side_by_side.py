"""Wall-clock timing of several implementations of one computation, side by side.

    times = time_side_by_side({"compiled": lambda: cm(*x), "eager": lambda: model(*x)})
    times["compiled"].median_s

Each implementation is warmed up, then the calls are interleaved (one call of
each per round, in turn) so that a change in machine load during the run
affects all of them alike; the figure is the median over the rounds.  Rounds
continue until both a minimum count and a time budget are reached, or a
maximum count is.
"""

from __future__ import annotations

import statistics
import time
from dataclasses import dataclass
from typing import Callable

__all__ = ["Timing", "idle_cpus", "time_once", "time_side_by_side"]


@dataclass(frozen=True)
class Timing:
    """The median wall-clock seconds of one implementation, and how many calls it is over."""

    median_s: float
    repeats: int


def time_side_by_side(
    functions: dict[str, Callable[[], object]],
    budget_s: float = 0.5,
    min_repeats: int = 5,
    max_repeats: int = 200,
    warmup: int = 2,
) -> dict[str, Timing]:
    """Median seconds per call of each function, measured in interleaved rounds."""
    for function in functions.values():
        for _ in range(warmup):
            function()
    samples: dict[str, list[float]] = {name: [] for name in functions}
    started = time.perf_counter()
    rounds = 0
    while rounds < max_repeats and (
        rounds < min_repeats or time.perf_counter() - started < budget_s
    ):
        for name, function in functions.items():
            begin = time.perf_counter()
            function()
            samples[name].append(time.perf_counter() - begin)
        rounds += 1
    return {name: Timing(statistics.median(values), len(values))
            for name, values in samples.items()}


def time_once(function: Callable[[], object]) -> Timing:
    """Seconds of a single call, for implementations too slow to repeat (no warm-up)."""
    begin = time.perf_counter()
    function()
    return Timing(time.perf_counter() - begin, 1)


def idle_cpus() -> int:
    """CPUs this process may use that other processes are not already keeping busy.

    torch's intra-op threads meet at a barrier after every op: one thread that
    cannot get a core (another process holds it) stalls each op for a
    scheduler slice, tens of milliseconds, whatever its size.  So timings use
    as many threads as there are idle CPUs (the 1-minute load average taken
    from the usable ones), and at least one.
    """
    import os

    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else \
        (os.cpu_count() or 1)
    busy = round(os.getloadavg()[0]) if hasattr(os, "getloadavg") else 0
    return max(1, min(usable, usable - busy))
