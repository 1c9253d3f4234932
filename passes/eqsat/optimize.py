"""`optimize_graph`: equality saturation of a term graph under a cost model.

    graph --encode--> e-graph --saturate(rulesets, limits)--> e-graph
          --export + read + type--> EGraphView --cost per e-node (target)--> extraction
          --decode--> cheaper graph

The chosen graph is partitioned into kernels (fusion.py), and its cost is the fusion-aware
cost of those kernels. The result is never worse than the input under the target's cost model:
the input graph is always one of the candidates the final choice compares by that cost, so if
extraction (which is only greedy on large e-graphs, or when time is short) finds nothing
cheaper once both are fused, the input graph is returned. The one exception is stability: a
numerically unstable input loses to a stable program even when that costs more (stability.py).

Limits (saturate.py, budget.py): `Limits.seconds` is one wall-clock budget for all the stages
above and kernel formation. In order: the input's kernels are formed if that is predicted to
fit in a quarter of the time left; contraction orders are seeded at encoding if that fits in
three quarters; saturation keeps free the time that exporting and greedily extracting its
e-graph is predicted to take; the optional parts of extraction (whether greedy is exact, the
ILP, the fusion-anticipating extraction, the program count) run only when they fit in what is
left; and the candidates' kernels are formed if they fit, the programs being compared unfused
otherwise. What the budget left out is listed in `skipped`. If not even the export and one
greedy extraction fit, the input passes through unchanged (extraction "none", stop reason
"seconds"); a time limit of 0 returns the input without encoding it. A graph with no outputs
computes nothing and is returned unchanged at once (extraction "none", stop reason "saturated").
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace
from typing import Sequence

from mirage_mlir.passes.eqsat.cost import (
    GraphCost,
    Target,
    get_target,
    graph_cost,
    kernel_cost,
    node_work,
)
from mirage_mlir.passes.eqsat.budget import (
    Budget,
    export_seconds,
    fuse_seconds,
    required_seconds,
    resident_mb,
    seed_seconds,
    stage_seconds,
)
from mirage_mlir.passes.eqsat.extract import (
    PROGRAM_COUNT_CAP,
    Candidate,
    Extraction,
    Problem,
    count_programs,
    extract,
)
from mirage_mlir.passes.eqsat.fusion import (
    Kernel,
    anticipated_cost,
    form_kernels,
    fused_cost,
)
from mirage_mlir.passes.eqsat.fusion_choice import choose_program, unstable_exps
from mirage_mlir.passes.eqsat.graph import Graph
from mirage_mlir.passes.eqsat.networks import lift_networks
from mirage_mlir.passes.eqsat.unit_axes import squeeze_transposes
from mirage_mlir.passes.eqsat.saturate import (
    EGraphSize,
    Limits,
    SaturationStats,
    saturate,
)
from mirage_mlir.passes.eqsat.serialized import (
    EGraphView,
    decode,
    export_json,
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
    e-graph is cyclic, or was not counted: see skipped). extraction is "ilp" when the ILP
    proved the choice optimal, "greedy" otherwise, and "none" when the time limit left no time
    to export and extract (the input is returned); extraction_optimal says the choice is proven cheapest among the e-graph's
    programs (by the ILP, or because no program can share a value and greedy is exact).
    kept_input says the input graph was returned because nothing cheaper was found.
    seconds holds the time of each stage: encode, saturate, export, extract, decode, fuse.
    skipped names the stages the time limit left out ("contraction seeding", "export and
    extraction", "exactness check and ILP", "fusion-anticipating extraction", "program count",
    "kernel formation": then `kernels` is None and costs are unfused). memory_mb is the
    largest growth of the process's resident set seen during saturation and export, in MiB
    (None where it cannot be read).

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
    kernels: tuple[Kernel, ...] | None = ()
    unfused_kernels_before: int = 0
    fused_cost_before: float = 0.0
    fused_bytes_before: int = 0
    fused_kernels_before: int = 0
    fusion_choice: str = "extracted"
    skipped: tuple[str, ...] = ()
    memory_mb: float | None = None

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
            f"programs {_programs_text(self.programs)}; "
            f"extraction {self.extraction}{' (optimal)' if self.extraction_optimal else ''}"
        )


def _programs_text(programs: int | None) -> str:
    if programs is None:
        return "infinite (cyclic)"
    if programs >= PROGRAM_COUNT_CAP:
        return "at least 2^256"
    return str(programs)


def extraction_problem(
    view: EGraphView, target: Target, anticipate_fusion: bool = False
) -> Problem:
    """Every typed e-node with its kernel cost on `target`.

    With anticipate_fusion, ops that usually fuse cost what fusion.anticipated_cost says.

    Layout ops on constants are free (folding.py); unstable exp/log forms carry a penalty
    above any program's cost, which keeps them out of any program with a stable alternative
    (stability.py).
    """
    from mirage_mlir.passes.eqsat.folding import folded_enodes
    from mirage_mlir.passes.eqsat.stability import instability_penalty, unstable_enodes

    folded = folded_enodes(view)
    unstable = unstable_enodes(view)
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
            cands.append(Candidate(node.id, eclass, cost, node.children))
        classes[eclass] = cands
    if unstable:
        # No program uses an e-class twice, so the most expensive e-node of every e-class
        # bounds any program's cost from above.
        bound = sum(
            max((c.cost for c in cands), default=0) for cands in classes.values()
        )
        penalty = instability_penalty(bound)
        classes = {
            eclass: [
                replace(c, cost=c.cost + penalty) if c.key in unstable else c
                for c in cands
            ]
            for eclass, cands in classes.items()
        }
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

    run = _Run(graph, get_target(target), Budget(limits.seconds))
    budget = run.budget
    if not graph.outputs:
        # Nothing is computed, so there is nothing to rewrite (and egglog rejects an empty
        # e-graph): the input, the one program there is, comes back as it is, in no kernel.
        run.input_kernels = ()
        return run.choose(
            [], [], SaturationStats(0, True, "saturated", 0, 0.0), None, 1, None
        )
    if budget.left() <= 0:
        return run.unchanged(SaturationStats(0, False, "seconds", 0, 0.0), None, None)
    run.fuse_input()

    # Chains of products enter the e-graph as einsum networks, so every contraction order is
    # reachable; the input itself stays a candidate for extraction's final choice. Transposes
    # too wide to encode lose their axes of size 1 first (unit_axes.py).
    lifted = lift_networks(squeeze_transposes(graph))
    # Seeded contraction orders are what large networks get when saturation cannot climb
    # their factor lists, but finding them is cubic in the factors: seed where that leaves a
    # quarter of the time for the rest.
    seed = budget.fits(seed_seconds(lifted) / 0.75)
    if not seed:
        run.skipped.append("contraction seeding")
    encoding = encode(lifted, seed_contractions=seed)
    rules = combined(tuple(rulesets))
    run.lap("encode")
    memory_start = resident_mb()

    def reserve(size: EGraphSize) -> float:
        return required_seconds(size) + run.fuse_seconds(1)

    stats = saturate(encoding.egraph, rules, limits, budget, reserve)
    run.lap("saturate")
    if not budget.fits(reserve(stats.size)):
        return run.unchanged(stats, None, stats.memory_mb)
    view = read_egraph(export_json(encoding.egraph), encoding.leaves)
    infer_types(view)
    memory = _peak(stats.memory_mb, memory_start)
    problem = extraction_problem(view, run.target)
    run.lap("export")
    # A busier machine than the rates were measured on makes every later stage as slow.
    budget.observe(export_seconds(stats.size), run.seconds["export"])

    enodes = view.enodes
    decode_s = stage_seconds("decode", enodes)
    if not budget.fits(
        stage_seconds("greedy", enodes) + decode_s + run.fuse_seconds(1)
    ):
        return run.unchanged(stats, view, memory)
    # What stays free after the first extraction: the optional second one, and for each
    # extraction its decoding and kernel formation.
    anticipate = run.target.objective != "flops"
    second_s = stage_seconds("anticipate", enodes) + decode_s + run.fuse_seconds(1)
    keep = decode_s + run.fuse_seconds(1) + (second_s if anticipate else 0.0)
    extraction = extract(problem, limits.ilp_enodes, limits.ilp_seconds, budget, keep)
    if extraction.ilp_status.startswith("skipped: no time left"):
        run.skipped.append("exactness check and ILP")
    extractions = [extraction]
    if anticipate and budget.fits(keep):
        # A second candidate: the cheapest program if fusible ops rode in other kernels.
        anticipating = extraction_problem(view, run.target, anticipate_fusion=True)
        extractions.append(
            extract(
                anticipating,
                limits.ilp_enodes,
                limits.ilp_seconds,
                budget,
                decode_s + run.fuse_seconds(1),
            )
        )
    elif anticipate:
        run.skipped.append("fusion-anticipating extraction")
    programs = None
    decode_all = len(extractions) * decode_s + run.fuse_seconds(len(extractions))
    if budget.fits(stage_seconds("count", enodes) + decode_all):
        programs = count_programs(problem)
    else:
        run.skipped.append("program count")
    run.lap("extract")
    node_of = {node.id: node for nodes in view.classes.values() for node in nodes}
    candidates = []
    for found in extractions:
        choice = {eclass: node_of[cand.key] for eclass, cand in found.choice.items()}
        candidates.append(decode(view, choice, graph.inputs))
    run.lap("decode")
    return run.choose(candidates, extractions, stats, view, programs, memory)


def _peak(saturation_mb: float | None, memory_start: float | None) -> float | None:
    """The larger of saturation's peak and the resident-set growth now."""
    now = resident_mb()
    if saturation_mb is None or now is None or memory_start is None:
        return saturation_mb
    return max(saturation_mb, now - memory_start)


class _Run:
    """One `optimize_graph` call's input, clock and kernel formation, shared by its endings.

    Kernel formation (fusion.py) of a graph takes time that grows faster than its size
    (about 20 ms for a 200-matrix chain, 3 s for the 570 nodes of a 64-operand einsum as
    torch-mlir writes it; budget.fuse_seconds is a cautious quadratic prediction). The input's
    kernels are formed first, when that fits in a quarter of the time left, and the
    candidates' at the end, when their predictions fit in what is left then. When it does
    not fit, the candidates and the input are compared unfused (each op its own kernel),
    kernels is None and "kernel formation" is in `skipped`.
    """

    def __init__(self, graph: Graph, target: Target, budget: Budget) -> None:
        self.graph = graph
        self.target = target
        self.budget = budget
        self.seconds: dict[str, float] = {}
        self.skipped: list[str] = []
        self._clock = budget.start
        self.before = graph_cost(graph, target)
        self.input_kernels: tuple[Kernel, ...] | None = None

    def lap(self, stage: str) -> None:
        """Add the time since the last lap to `stage`'s."""
        now = time.perf_counter()
        self.seconds[stage] = self.seconds.get(stage, 0.0) + now - self._clock
        self._clock = now

    def fuse_input(self) -> None:
        """Form the input's kernels, if that is predicted to take at most a quarter of the time
        left (the candidates' kernel formation will take about as long again)."""
        predicted = fuse_seconds(len(self.graph.nodes()))
        if not self.budget.fits(predicted * 4):
            self.skipped.append("kernel formation")
            return
        began = time.perf_counter()
        self.input_kernels = form_kernels(self.graph, self.target)
        self.budget.observe(predicted, time.perf_counter() - began)
        self.lap("fuse")

    def fuse_seconds(self, candidates: int) -> float:
        """Predicted seconds to form the kernels of `candidates` graphs the size of the input
        (none when the input's were not formed: then candidates are compared unfused).
        """
        if self.input_kernels is None:
            return 0.0
        return candidates * fuse_seconds(len(self.graph.nodes()))

    def unchanged(
        self, stats: SaturationStats, view: EGraphView | None, memory: float | None
    ) -> OptimizationResult:
        """The input, returned because no time was left to export or extract."""
        self.skipped.insert(0, "export and extraction")
        stats = SaturationStats(
            stats.iterations,
            stats.saturated,
            "seconds",
            stats.enodes,
            stats.seconds,
            memory,
            stats.size,
        )
        return self.choose([], [], stats, view, None, memory)

    def choose(
        self,
        candidates: list[Graph],
        extractions: list[Extraction],
        stats: SaturationStats,
        view: EGraphView | None,
        programs: int | None,
        memory: float | None,
    ) -> OptimizationResult:
        """The cheapest of the candidates and the input, by the cost of their kernels.

        The input is always a candidate, so the result never costs more than it (the first
        candidate wins ties); a program with more unstable nodes loses to one with fewer.
        """
        from mirage_mlir.passes.eqsat.stability import prefer_stable

        pool = candidates + [self.graph]
        allowed = prefer_stable(pool)
        fused = self.input_kernels is not None and self.budget.fits(
            sum(fuse_seconds(len(c.nodes())) for c in candidates)
        )
        if self.input_kernels is not None and not fused:
            self.skipped.append("kernel formation")
        programs_allowed = [pool[i] for i in allowed]
        input_allowed = allowed[-1] == len(candidates)
        if fused:
            input_fused = fused_cost(self.input_kernels, self.target)
            picked, kernels, after = _choose_fused(
                programs_allowed, self.target, input_allowed, self.input_kernels
            )
        else:
            input_fused = self.before
            picked, after = _choose_unfused(programs_allowed, self.target)
            kernels = None
        chosen = allowed[picked]
        kept_input = chosen == len(candidates)
        extraction = extractions[0] if extractions else None
        if not kept_input:
            extraction = extractions[chosen]
        fusion_choice = ("extracted", "fusion-anticipating", "input")[
            2 if kept_input else chosen
        ]
        self.lap("fuse")
        before = self.before
        return OptimizationResult(
            graph=pool[chosen],
            target=self.target.name,
            cost_before=before.cost,
            cost_after=after.cost,
            flops_before=before.flops,
            flops_after=after.flops,
            bytes_before=before.bytes,
            bytes_after=after.bytes,
            kernels_before=before.kernels,
            kernels_after=after.kernels,
            eclasses=len(view.classes) if view is not None else 0,
            enodes=view.enodes if view is not None else stats.enodes,
            iterations=stats.iterations,
            saturated=stats.saturated,
            stop_reason=stats.stop_reason,
            programs=programs,
            extraction=extraction.method if extraction else "none",
            ilp_status=extraction.ilp_status if extraction else "skipped: no time left",
            extraction_optimal=extraction.optimal if extraction else False,
            kept_input=kept_input,
            seconds=self.seconds,
            kernels=kernels,
            unfused_kernels_before=before.kernels,
            fused_cost_before=input_fused.cost,
            fused_bytes_before=input_fused.bytes,
            fused_kernels_before=input_fused.kernels,
            fusion_choice=fusion_choice,
            skipped=tuple(self.skipped),
            memory_mb=memory,
        )


def _choose_fused(
    programs: list[Graph],
    target: Target,
    last_is_input: bool,
    input_kernels: tuple[Kernel, ...],
) -> tuple[int, tuple[Kernel, ...], GraphCost]:
    """fusion_choice.choose_program, reusing the input's kernels when it is the last program.

    As there, fewer unstable nodes win, then the least fused cost, and the
    first program wins ties (the input, being last, only wins when strictly cheaper).
    """
    others = programs[:-1] if last_is_input else programs
    if not others:
        return 0, input_kernels, fused_cost(input_kernels, target)
    picked, kernels, cost = choose_program(others, target)
    if last_is_input:
        input_cost = fused_cost(input_kernels, target)
        input_key = (unstable_exps(programs[-1]), input_cost.cost)
        if input_key < (unstable_exps(others[picked]), cost.cost):
            return len(programs) - 1, input_kernels, input_cost
    return picked, kernels, cost


def _choose_unfused(programs: list[Graph], target: Target) -> tuple[int, GraphCost]:
    """The program of fewest unstable nodes, then least unfused cost (each op its own kernel);
    the first on ties."""
    best = None
    for i, program in enumerate(programs):
        cost = graph_cost(program, target)
        key = (unstable_exps(program), cost.cost)
        if best is None or key < best[0]:
            best = (key, i, cost)
    return best[1], best[2]
