"""`optimize_graph`: equality saturation of a term graph under a cost model.

    graph --encode--> e-graph --saturate(rulesets, limits)--> e-graph
          --export + read + type--> EGraphView --cost per e-node (target)--> extraction
          --decode--> cheaper graph

The chosen graph is partitioned into kernels (fusion.py), and its cost is the fusion-aware
cost of those kernels. The result is never worse than the input under the target's cost model:
if extraction (which is only greedy on large e-graphs) finds nothing cheaper once both are
fused, the input graph is returned.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Sequence

from mirage_mlir.passes.eqsat.cost import (
    Target,
    get_target,
    graph_cost,
    kernel_cost,
    node_work,
)
from mirage_mlir.passes.eqsat.extract import Candidate, Problem, count_programs, extract
from mirage_mlir.passes.eqsat.fusion import (
    Kernel,
    anticipated_cost,
    form_kernels,
    fused_cost,
)
from mirage_mlir.passes.eqsat.fusion_choice import choose_program
from mirage_mlir.passes.eqsat.graph import Graph
from mirage_mlir.passes.eqsat.networks import lift_networks
from mirage_mlir.passes.eqsat.saturate import Limits, saturate
from mirage_mlir.passes.eqsat.serialized import (
    EGraphView,
    decode,
    infer_types,
    read_egraph,
)

DEFAULT_RULESETS = (
    "linear_algebra",
    "contraction",
    "elementwise",
    "softmax",
    "attention",
    "normalisation",
    "shared_input",
)


@dataclass(frozen=True)
class OptimizationResult:
    """The optimised graph and the report: costs, e-graph size, how extraction went, timings.

    cost_* are in the target's objective (seconds by the roofline, or FLOPs for "flops").
    programs counts the distinct programs the e-graph holds for the outputs (None when the
    e-graph is cyclic). extraction is "ilp" when the ILP proved the choice optimal, otherwise
    "greedy"; extraction_optimal says the choice is proven cheapest among the e-graph's
    programs (by the ILP, or because no program can share a value and greedy is exact).
    kept_input says the input graph was returned because nothing cheaper was found.
    seconds holds the time of each stage: encode, saturate, export, extract, decode, fuse.

    Before is the input graph run op by op, each compute node its own kernel; after is the
    chosen graph run as `kernels` (its kernel formation), with the fusion-aware cost. The
    kernel counts of the unfused input and of the fused input (fusion without rewriting) are
    kept apart as well, since a caller may report kernels_before from its own recognition.
    fusion_choice says which candidate won (fusion_choice.py): "extracted" (the extraction
    above), "fusion-anticipating" (an extraction that charged fusible ops their arithmetic
    alone, chosen because its kernels cost less), or "input".
    """

    graph: Graph
    target: str
    cost_before: float
    cost_after: float
    flops_before: int
    flops_after: int
    bytes_before: int
    bytes_after: int
    kernels_before: int
    kernels_after: int
    eclasses: int
    enodes: int
    iterations: int
    saturated: bool
    stop_reason: str
    programs: int | None
    extraction: str
    ilp_status: str
    extraction_optimal: bool
    kept_input: bool
    seconds: dict[str, float] = field(default_factory=dict)
    kernels: tuple[Kernel, ...] = ()
    unfused_kernels_before: int = 0
    fused_cost_before: float = 0.0
    fused_bytes_before: int = 0
    fused_kernels_before: int = 0
    fusion_choice: str = "extracted"

    def summary(self) -> str:
        """A short human-readable report."""
        unit = "FLOPs" if self.target == "flops" else "s"
        return (
            f"cost {self.cost_before:.6g} -> {self.cost_after:.6g} {unit} on {self.target}; "
            f"FLOPs {self.flops_before:,} -> {self.flops_after:,}; "
            f"bytes {self.bytes_before:,} -> {self.bytes_after:,}; "
            f"kernels {self.kernels_before} -> {self.kernels_after}; "
            f"{self.eclasses} e-classes, {self.enodes} e-nodes, {self.iterations} iterations, "
            f"{'saturated' if self.saturated else 'stopped: ' + self.stop_reason}; "
            f"programs {self.programs if self.programs is not None else 'infinite (cyclic)'}; "
            f"extraction {self.extraction}{' (optimal)' if self.extraction_optimal else ''}"
        )


def extraction_problem(
    view: EGraphView, target: Target, anticipate_fusion: bool = False
) -> Problem:
    """Every typed e-node with its kernel cost on `target`.

    With anticipate_fusion, ops that usually fuse cost what fusion.anticipated_cost says.

    Layout ops on constants are free (folding.py); unstable softmax forms carry a penalty
    that keeps them out of any program with a stable alternative (stability.py).
    """
    from mirage_mlir.passes.eqsat.folding import folded_enodes
    from mirage_mlir.passes.eqsat.stability import instability_penalty, unstable_enodes

    folded = folded_enodes(view)
    unstable = unstable_enodes(view)
    penalty = instability_penalty(target)
    classes = {}
    for eclass, nodes in view.classes.items():
        cands = []
        for node in nodes:
            kind, attrs = view.signature(node)
            work = node_work(
                kind, attrs, [view.types[c] for c in node.children], view.types[eclass]
            )
            if node.id in folded:
                cost = 0
            elif anticipate_fusion:
                cost = anticipated_cost(target, kind, work)
            else:
                cost = kernel_cost(target, work)
            if node.id in unstable:
                cost += penalty
            cands.append(Candidate(node.id, eclass, cost, node.children))
        classes[eclass] = cands
    return Problem(classes, view.roots)


def optimize_graph(
    graph: Graph,
    target: str | Target = "h100",
    limits: Limits = Limits(),
    rulesets: Sequence[str] = DEFAULT_RULESETS,
) -> OptimizationResult:
    """Find the cheapest graph equivalent to `graph` under the rulesets, within `limits`."""
    from mirage_mlir.passes.eqsat.language import encode
    from mirage_mlir.passes.eqsat.rulesets import combined

    tgt = get_target(target)
    seconds: dict[str, float] = {}
    clock = time.perf_counter()

    def lap(stage: str) -> None:
        nonlocal clock
        now = time.perf_counter()
        seconds[stage] = now - clock
        clock = now

    # Chains of products enter the e-graph as einsum networks, so every contraction order is
    # reachable; the input itself stays a candidate for extraction's final choice.
    encoding = encode(lift_networks(graph))
    rules = combined(tuple(rulesets))
    lap("encode")
    stats = saturate(encoding.egraph, rules, limits)
    lap("saturate")
    view = read_egraph(encoding.egraph._serialize().to_json(), encoding.leaves)
    infer_types(view)
    problem = extraction_problem(view, tgt)
    lap("export")
    extraction = extract(problem, limits.ilp_enodes, limits.ilp_seconds)
    programs = count_programs(problem)
    extractions = [extraction]
    if tgt.objective != "flops":
        # A second candidate: the cheapest program if fusible ops rode in other kernels.
        anticipating = extraction_problem(view, tgt, anticipate_fusion=True)
        extractions.append(extract(anticipating, limits.ilp_enodes, limits.ilp_seconds))
    lap("extract")
    node_of = {node.id: node for nodes in view.classes.values() for node in nodes}
    candidates = []
    for found in extractions:
        choice = {eclass: node_of[cand.key] for eclass, cand in found.choice.items()}
        candidates.append(decode(view, choice, graph.inputs))
    lap("decode")

    # The program that runs is the chosen graph's kernels: compare candidates by their cost.
    before = graph_cost(graph, tgt)
    fused_in = fused_cost(form_kernels(graph, tgt), tgt)
    # A numerically unstable program is never chosen over a stable one (stability.py).
    from mirage_mlir.passes.eqsat.stability import prefer_stable

    pool = candidates + [graph]
    allowed = prefer_stable(pool)
    picked, kernels, after = choose_program([pool[i] for i in allowed], tgt)
    chosen = allowed[picked]
    optimized = pool[chosen]
    kept_input = chosen == len(candidates)
    if not kept_input:
        extraction = extractions[chosen]
    fusion_choice = ("extracted", "fusion-anticipating", "input")[
        2 if kept_input else chosen
    ]
    lap("fuse")
    return OptimizationResult(
        graph=optimized,
        target=tgt.name,
        cost_before=before.cost,
        cost_after=after.cost,
        flops_before=before.flops,
        flops_after=after.flops,
        bytes_before=before.bytes,
        bytes_after=after.bytes,
        kernels_before=before.kernels,
        kernels_after=after.kernels,
        eclasses=len(view.classes),
        enodes=view.enodes,
        iterations=stats.iterations,
        saturated=stats.saturated,
        stop_reason=stats.stop_reason,
        programs=programs,
        extraction=extraction.method,
        ilp_status=extraction.ilp_status,
        extraction_optimal=extraction.optimal,
        kept_input=kept_input,
        seconds=seconds,
        kernels=kernels,
        unfused_kernels_before=before.kernels,
        fused_cost_before=fused_in.cost,
        fused_bytes_before=fused_in.bytes,
        fused_kernels_before=fused_in.kernels,
        fusion_choice=fusion_choice,
    )
