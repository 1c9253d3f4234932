"""The resources one function's optimisation may use: a wall-clock budget and resident memory.

`Limits.seconds` bounds the whole of `optimize_graph`: encoding (with contraction seeding),
saturation, export (egglog's serialisation, reading and typing it, pricing every e-node),
extraction, decoding and kernel formation. Saturation is the stage whose length is a choice,
so it gets what is left after a reserve for the stages that follow, predicted from the
e-graph's size (`required_seconds`); the stages that are optional (seeding, the exactness
check and the ILP, the fusion-anticipating second extraction, the program count, kernel
formation) run only when their prediction fits in what is left; and when not even the export
and one greedy extraction fit, the function passes through unchanged.

The predictions are linear in the e-graph's size (quadratic or cubic where the algorithm is),
with rates measured on the project's machine (2 cores shared with other jobs, Python 3.11,
egglog 13.2) on 200-matrix chains, einsum networks and the mission's examples, and rounded up
(`STAGE_RATES` and the constants below). A busier or slower machine is noticed when a stage
takes longer than predicted (`Budget.observe`), and the later predictions are scaled by the
same factor.

The overshoot: encoding is not interruptible (egglog's declarations and the graph's terms:
0.05 s for the examples, 0.3-0.55 s for the 570-node einsum torch-mlir writes for 64
operands), and one saturation iteration or stage can take longer than predicted. Measured over
7 graphs (200-matrix chain, 64-input einsum generic, torch's 64-operand einsum, the chain that
once exploded, E2, E3, E7) x 2 targets x 8 limits from 0.05 s to 10 s, with a load average of
2.3-3.6 on the 2 cores, optimize_graph ended at most 0.25 s after its limit (0.55 s in an
earlier run at load 2.9); the tests allow 1 s.

Memory is the resident set of the process (Linux `/proc/self/statm`), whose growth since
saturation began, with the predicted memory of exporting the e-graph (`export_mb`), is what
`Limits.memory_mb` bounds. Memory the process had already taken from the system and freed is
reused without growing the resident set, so the limit bounds what the optimisation adds to the
process's footprint, not what it allocates.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from mirage_mlir.passes.eqsat.graph import Graph
    from mirage_mlir.passes.eqsat.saturate import EGraphSize

#: Seconds per tensor e-node of each stage after saturation: the largest rate measured on
#: the project's machine while other jobs shared its two cores (load average 2-5), over
#: matrix chains (12k-66k tensor e-nodes), einsum networks and the examples, rounded up.
#: The ranges measured are in the comments.
STAGE_RATES = {
    # egglog serialisation, JSON, read_egraph, infer_types and pricing (extraction_problem):
    # 45-72 us (66k e-nodes of a 200-matrix chain: 4.4 s)
    "export": 70e-6,
    # the same for rows of other functions: analyses and lists, read past and not typed, and
    # the split relations of einsum networks, deleted before serialisation (serialized.py):
    # 18-20 us a row when they were serialised, about 1 us now
    "export_other": 3e-6,
    # one greedy DAG extraction (extract.greedy_dag), growing with the depth of the
    # programs: 20-35 us
    "greedy": 35e-6,
    # pricing the e-nodes again and extracting for fusion-anticipating costs: 35-54 us
    "anticipate": 55e-6,
    # count_programs: 3-13 us
    "count": 12e-6,
    # decoding a chosen program into a graph: under 1 us
    "decode": 2e-6,
}

#: Seconds any export and extraction takes, however small the e-graph (calls, JSON parsing).
FIXED_SECONDS = 0.005

#: Seconds per (tensor e-node x e-class) of extract.tree_exact, whose bit sets make it
#: quadratic in the e-graph's size (0.7e-9 to 1.7e-9 measured).
TREE_EXACT_RATE = 1.5e-9

#: Seconds per node squared of kernel formation (see `fuse_seconds`).
FUSE_RATE = 1e-5

#: Seconds per factor cubed of seeding one einsum network's contraction orders (two greedy
#: searches and one dynamic programme over runs, each O(n^3) steps, contraction_seed.py:
#: 0.05 s for 32 factors; twice that allowed), and per matrix cubed for a chain of matmuls
#: (an O(n^3) dynamic programme: 0.3 s for 200).
SEED_NETWORK_RATE = 3e-6
SEED_CHAIN_RATE = 0.05e-6

#: Seconds per pair of connected sub-networks of the subset search (contraction_seed.
#: subset_tree): 1.6-1.9 us measured on random networks of 12-16 factors (8k-190k pairs)
#: with the machine otherwise idle, 0.6 us a pair when it gives up at its cap; rounded up
#: for a loaded machine. The pairs are predicted as those of n factors that all share
#: letters, (3^n - 2^(n+1) + 1) / 2, capped at MAX_SUBSET_PAIRS: a sparse network has fewer,
#: so the prediction is an upper bound (0.375 s at the cap).
SEED_PAIR_RATE = 2.5e-6


def export_seconds(size: EGraphSize) -> float:
    """Predicted seconds to export an e-graph of `size` (serialise, read, type, price)."""
    return (
        FIXED_SECONDS
        + size.tensor * STAGE_RATES["export"]
        + size.other * STAGE_RATES["export_other"]
    )


def required_seconds(size: EGraphSize) -> float:
    """Predicted seconds to export an e-graph of `size`, extract one program greedily and
    decode it: what saturation must leave for the stages that follow (kernel formation apart).
    """
    return export_seconds(size) + size.tensor * (
        STAGE_RATES["greedy"] + STAGE_RATES["decode"]
    )


def stage_seconds(stage: str, enodes: int) -> float:
    """Predicted seconds of one stage on `enodes` tensor e-nodes."""
    return FIXED_SECONDS + enodes * STAGE_RATES[stage]


def tree_exact_seconds(enodes: int, eclasses: int) -> float:
    """Predicted seconds of extract.tree_exact."""
    return FIXED_SECONDS + enodes * eclasses * TREE_EXACT_RATE


def fuse_seconds(nodes: int) -> float:
    """A cautious prediction of the seconds kernel formation (fusion.form_kernels) takes on a
    graph of `nodes` nodes: the worst rate measured, a 64-operand einsum as torch-mlir writes it
    (572 nodes, most of them reshapes and transposes, 2.9 s), taken as quadratic in the size.
    """
    return FIXED_SECONDS + nodes * nodes * FUSE_RATE


def seed_seconds(graph: Graph) -> float:
    """Predicted seconds of seeding contraction orders when `graph` (networks lifted) is encoded."""
    from mirage_mlir.passes.eqsat.contraction_seed import MAX_SUBSET_PAIRS
    from mirage_mlir.passes.eqsat.kinds import KINDS

    total = 0.0
    matmuls = 0
    for node in graph.nodes():
        kind = KINDS[node.kind]
        if kind.contraction and len(node.operands) > 2:
            n = len(node.operands)
            # 3^n passes the cap from 12 factors on; no need to compute it beyond.
            pairs = (3**n - 2 ** (n + 1) + 1) // 2 if n < 16 else MAX_SUBSET_PAIRS
            total += (
                n**3 * SEED_NETWORK_RATE + min(pairs, MAX_SUBSET_PAIRS) * SEED_PAIR_RATE
            )
        elif kind.matrix_chain:
            matmuls += 1
    return total + matmuls**3 * SEED_CHAIN_RATE


#: Resident memory (KiB) that exporting takes per tensor e-node (the JSON text, its parsed
#: form and the EGraphView: 75 MiB for the 66k e-nodes of a 200-matrix chain, 410 MiB for
#: 260k), and per other row (lists and analyses, read past).
EXPORT_KIB_PER_ENODE = 1.6
EXPORT_KIB_PER_OTHER_ROW = 0.6


def export_mb(size: EGraphSize) -> float:
    """Predicted growth of the resident set (MiB) while an e-graph of `size` is exported."""
    return (
        size.tensor * EXPORT_KIB_PER_ENODE + size.other * EXPORT_KIB_PER_OTHER_ROW
    ) / 1024


@dataclass
class Budget:
    """A wall-clock budget that started when the object was made.

    slowdown scales every prediction `fits` is asked about: when a stage took longer than
    predicted (a busier or slower machine than the one the rates were measured on),
    `observe` raises it to that ratio, so the stages after it are predicted as slow.
    """

    seconds: float
    start: float = field(default_factory=time.perf_counter)
    slowdown: float = 1.0

    def elapsed(self) -> float:
        """Seconds since the budget started."""
        return time.perf_counter() - self.start

    def left(self) -> float:
        """Seconds still to spend (negative once overspent)."""
        return self.seconds - self.elapsed()

    def fits(self, predicted: float) -> bool:
        """Whether `predicted` seconds of work (times slowdown) end within the budget."""
        return predicted * self.slowdown <= self.left()

    def observe(self, predicted: float, actual: float) -> None:
        """Learn from a stage that was predicted to take `predicted` seconds and took `actual`
        (stages under 50 ms are too noisy to learn from)."""
        if actual >= 0.05 and predicted > 0:
            self.slowdown = max(self.slowdown, actual / predicted)


def resident_mb() -> float | None:
    """The process's resident set in MiB, or None where /proc/self/statm does not exist."""
    try:
        with open("/proc/self/statm", encoding="ascii") as statm:
            pages = int(statm.read().split()[1])
        page_bytes = os.sysconf("SC_PAGE_SIZE")
    except (OSError, IndexError, ValueError, AttributeError):
        return None
    return pages * page_bytes / 2**20
