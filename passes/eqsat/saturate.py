"""Running rulesets to saturation, under limits, stopping cleanly.

Saturation runs one egglog iteration at a time and checks the limits in between, so it always
stops on a consistent e-graph: whatever it holds then is "the best result so far", and
extraction works on it as on a saturated one. The e-node count is egglog's own (every function
row, analyses included), which is what bounds memory and time.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from egglog import EGraph, Schedule


@dataclass(frozen=True)
class Limits:
    """Bounds on saturation and extraction.

    iterations, enodes and seconds stop saturation (checked between iterations, so one
    iteration may overshoot `enodes` or `seconds`); ilp_enodes is the largest reachable e-graph
    (in tensor e-nodes) given to the exact ILP extractor, ilp_seconds its time limit.
    """

    iterations: int = 64
    enodes: int = 200_000
    seconds: float = 10.0
    ilp_enodes: int = 2000
    ilp_seconds: float = 1.0

    def __post_init__(self) -> None:
        for name in ("iterations", "enodes", "seconds", "ilp_enodes", "ilp_seconds"):
            if getattr(self, name) < 0:
                raise ValueError(f"Limits.{name} must not be negative")


@dataclass(frozen=True)
class SaturationStats:
    """What saturation did: iterations run, whether it saturated, why it stopped, e-nodes."""

    iterations: int
    saturated: bool
    stop_reason: str
    enodes: int
    seconds: float


def egraph_size(egraph: EGraph) -> int:
    """All rows of all functions of the e-graph (constructors, analyses, relations)."""
    return sum(size for _, size in egraph.all_function_sizes())


def saturate(egraph: EGraph, rules: Schedule, limits: Limits) -> SaturationStats:
    """Run `rules` on `egraph` until nothing changes or a limit is reached."""
    start = time.perf_counter()
    iterations = 0
    size = egraph_size(egraph)
    growth, last_seconds = 1.0, 0.0
    while True:
        if iterations >= limits.iterations:
            reason = "iterations"
            break
        # One iteration cannot be interrupted, and e-graphs grow geometrically (a chain with
        # scalars and transposes roughly triples per iteration): stop before an iteration
        # that would, at the last iteration's rate, pass the e-node or time limit.
        if size >= limits.enodes or size * growth > limits.enodes:
            reason = "enodes"
            break
        elapsed = time.perf_counter() - start
        if elapsed >= limits.seconds or elapsed + last_seconds * growth > limits.seconds:
            reason = "seconds"
            break
        began = time.perf_counter()
        report = egraph.run(1, ruleset=rules)
        iterations += 1
        last_seconds = time.perf_counter() - began
        previous, size = size, egraph_size(egraph)
        growth = max(1.0, size / max(previous, 1))
        if not report.updated:
            return SaturationStats(
                iterations, True, "saturated", size, time.perf_counter() - start
            )
    return SaturationStats(iterations, False, reason, size, time.perf_counter() - start)
