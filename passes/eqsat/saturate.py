"""Running rulesets to saturation, under limits, stopping cleanly.

Saturation runs one egglog iteration at a time and checks the limits in between, so it always
stops on a consistent e-graph: whatever it holds then is "the best result so far", and
extraction works on it as on a saturated one. The e-node count is egglog's own (every function
row, analyses included), which is what bounds memory and time.

One iteration cannot be interrupted, and e-graphs grow geometrically (a chain with scalars and
transposes roughly triples per iteration, and an iteration's time grows faster than the rows
it adds), so each limit is checked twice:

- before an iteration, against a prediction at the last iteration's growth rate g: rows x g,
  seconds x g^2, memory x g^1.5 (see MEMORY_GROWTH_EXPONENT). Saturation stops before an
  iteration predicted to pass the e-node, time or memory limit;
- after it, against what it made: an iteration that passed the e-node or memory limit, or left
  too little time for the stages that follow, is undone (egglog's push/pop: a snapshot before
  every iteration costs about 10 MiB and 10 ms per 65k rows), and saturation stops on the
  e-graph before it.

So the e-graph saturation returns is within the e-node and memory limits; what an undone
iteration costs is its own time, and its memory until the process reuses it.

The time and memory limits cover what follows saturation too: `optimize_graph` passes its
`Budget` and the seconds that exporting and extracting an e-graph of a given size will need,
and saturation keeps that time free; the memory that exporting it will take (budget.export_mb)
counts against the memory limit as well.

Stop reasons: "saturated" (nothing changed), "iterations", "enodes", "seconds", "memory".
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable, NamedTuple

from mirage_mlir.passes.eqsat.budget import Budget, export_mb, resident_mb

if TYPE_CHECKING:
    from egglog import EGraph, Schedule

#: Resident memory grows faster than the e-node count (egglog's indexes): on a 200-matrix
#: chain, 74k rows took 114 MiB and the next iteration's 260k rows 790 MiB, a 3.5x row growth
#: for a 6.9x memory growth. The next iteration's memory is predicted as growth ** this.
MEMORY_GROWTH_EXPONENT = 1.5

#: An iteration's time grows faster than the rows it adds (on a 200-matrix chain: 0.14 s for
#: 12k -> 66k rows, 5.9 s for 66k -> 425k): the next iteration's time is predicted as the last
#: one's times growth ** this.
TIME_GROWTH_EXPONENT = 2.0


@dataclass(frozen=True)
class Limits:
    """Bounds on one function's optimisation.

    seconds bounds the whole optimisation (encoding, saturation, export, extraction, kernel
    formation; see budget.py). iterations, enodes and memory_mb stop saturation (see the
    module docstring). memory_mb is the growth of the process's resident set since
    saturation began, in MiB; it is not enforced where the resident set cannot be read (only
    Linux's /proc/self/statm is read). ilp_enodes is the largest reachable e-graph (in tensor
    e-nodes) given to the exact ILP extractor, ilp_seconds its time limit.
    """

    iterations: int = 64
    enodes: int = 200_000
    seconds: float = 10.0
    memory_mb: float = 2048.0
    ilp_enodes: int = 2000
    ilp_seconds: float = 1.0

    def __post_init__(self) -> None:
        for name in (
            "iterations",
            "enodes",
            "seconds",
            "memory_mb",
            "ilp_enodes",
            "ilp_seconds",
        ):
            if getattr(self, name) < 0:
                raise ValueError(f"Limits.{name} must not be negative")


class EGraphSize(NamedTuple):
    """The rows of an e-graph: tensor e-nodes (what extraction reads) and all the others
    (analyses, relations, operand and factor lists), which export reads past."""

    tensor: int
    other: int

    @property
    def rows(self) -> int:
        """All rows: what the e-node limit bounds."""
        return self.tensor + self.other

    def scaled(self, factor: float) -> EGraphSize:
        """The size after growing by `factor`."""
        return EGraphSize(int(self.tensor * factor), int(self.other * factor))


@dataclass(frozen=True)
class SaturationStats:
    """What saturation did: iterations kept, whether it saturated, why it stopped, e-nodes.

    enodes counts all rows, size splits them; undone says the last iteration run was undone
    for passing a limit (it is not counted in iterations); memory_mb is the largest
    resident-set growth seen (None where the resident set cannot be read).
    """

    iterations: int
    saturated: bool
    stop_reason: str
    enodes: int
    seconds: float
    memory_mb: float | None = None
    size: EGraphSize = EGraphSize(0, 0)
    undone: bool = False


def egraph_sizes(egraph: EGraph) -> EGraphSize:
    """The e-graph's rows, tensor e-nodes apart."""
    tensor = other = 0
    for function, size in egraph.all_function_sizes():
        if str(function).startswith("Tensor."):
            tensor += size
        else:
            other += size
    return EGraphSize(tensor, other)


def egraph_size(egraph: EGraph) -> int:
    """All rows of all functions of the e-graph (constructors, analyses, relations)."""
    return egraph_sizes(egraph).rows


class _Memory:
    """Resident-set growth since saturation began, and its peak."""

    def __init__(self) -> None:
        self.start = resident_mb()
        self.peak: float | None = 0.0 if self.start is not None else None

    def now(self) -> float | None:
        """The growth now (also folded into the peak)."""
        current = resident_mb()
        if self.start is None or current is None:
            return None
        growth = max(0.0, current - self.start)
        self.peak = max(self.peak or 0.0, growth)
        return growth


def saturate(
    egraph: EGraph,
    rules: Schedule,
    limits: Limits,
    budget: Budget | None = None,
    reserve: Callable[[EGraphSize], float] | None = None,
) -> SaturationStats:
    """Run `rules` on `egraph` until nothing changes or a limit is reached.

    `budget` is the clock the time limit reads (by default one of `limits.seconds` starting
    now); `reserve(size)` is the seconds that must stay free after saturation for an e-graph
    of that size (by default none). The e-graph keeps the snapshots taken before each
    iteration on egglog's push stack.
    """
    start = time.perf_counter()
    budget = budget if budget is not None else Budget(limits.seconds, start)
    reserve = reserve if reserve is not None else (lambda size: 0.0)
    memory = _Memory()
    iterations = 0
    size = egraph_sizes(egraph)
    growth, last_seconds = 1.0, 0.0

    def stats(reason: str, undone: bool = False) -> SaturationStats:
        return SaturationStats(
            iterations,
            reason == "saturated",
            reason,
            size.rows,
            time.perf_counter() - start,
            memory.peak,
            size,
            undone,
        )

    while True:
        if iterations >= limits.iterations:
            return stats("iterations")
        reason = _predicted_limit(
            limits, budget, reserve, size, growth, last_seconds, memory.now()
        )
        if reason:
            return stats(reason)
        egraph.push()
        began = time.perf_counter()
        report = egraph.run(1, ruleset=rules)
        last_seconds = time.perf_counter() - began
        grown = egraph_sizes(egraph)
        reason = _passed_limit(limits, budget, reserve, grown, memory.now())
        if reason:
            egraph.pop()
            return stats(reason, undone=True)
        iterations += 1
        growth = max(1.0, grown.rows / max(size.rows, 1))
        size = grown
        if not report.updated:
            memory.now()
            return stats("saturated")


def _predicted_limit(
    limits: Limits,
    budget: Budget,
    reserve: Callable[[EGraphSize], float],
    size: EGraphSize,
    growth: float,
    last_seconds: float,
    memory: float | None,
) -> str:
    """The limit the next iteration is predicted to pass ("" if none)."""
    if size.rows >= limits.enodes or size.rows * growth > limits.enodes:
        return "enodes"
    # The e-graph as it is must stay exportable, and so must the one the next iteration makes
    # (the reserve is a prediction, scaled like the budget's; the iteration's own time is
    # extrapolated from the last one's, measured).
    left = budget.left()
    if left <= 0 or not budget.fits(reserve(size)):
        return "seconds"
    next_seconds = last_seconds * growth**TIME_GROWTH_EXPONENT
    if next_seconds + reserve(size.scaled(growth)) * budget.slowdown > left:
        return "seconds"
    if memory is not None:
        if memory + export_mb(size) > limits.memory_mb or memory >= limits.memory_mb:
            return "memory"
        predicted = memory * growth**MEMORY_GROWTH_EXPONENT
        if predicted + export_mb(size.scaled(growth)) > limits.memory_mb:
            return "memory"
    return ""


def _passed_limit(
    limits: Limits,
    budget: Budget,
    reserve: Callable[[EGraphSize], float],
    size: EGraphSize,
    memory: float | None,
) -> str:
    """The limit the e-graph an iteration made has passed ("" if none)."""
    if size.rows > limits.enodes:
        return "enodes"
    if not budget.fits(reserve(size)):
        return "seconds"
    if memory is not None and memory + export_mb(size) > limits.memory_mb:
        return "memory"
    return ""
