"""Whole models by regions: cut a large graph where little crosses, search each distinct
region once, and stitch the results back together.

    graph --partition--> regions --canonical form + structural hash-->
          distinct regions --optimize_graph (or the region cache)--> results
          --instantiate per region--> one graph and its kernels

Partition. The compute nodes (those with operands) are taken in the graph's topological order;
the width of the cut after position p is the number of compute values made at or before p
that a later node reads (or that the graph returns). Leaves (inputs, weights, splats, opaque
ops without operands) are not counted: every region that reads one gets its own copy. A cut
is made at p when its width is the smallest within `MIN_REGION` positions on either side,
which in a transformer is each residual add, between the attention and the MLP block, and in
a CNN between its blocks; where such points are closer than `MIN_REGION`, the narrower wins,
and of equally narrow ones the later (a chain of equal layers is cut at the same place in
every layer), so cuts are at least `MIN_REGION` apart. A region larger than `MAX_REGION` is cut again at its narrowest
point. Graphs of at most `WHOLE_GRAPH` compute nodes are searched whole.

Canonical form. A region's graph is written with its leaves renamed by first use: inputs
(the function's and the values earlier regions make) `in0, in1, ...`, weights `w0, ...` and
opaque ops by their op and result with the op renumbered (`linalg.generic#op0:0`); types,
attributes and splat values stay. Two regions with the same
canonical form (the same layer repeated, weights aside) are one search. The key of a search
is the sha256 of that form, the target, the limits and the rulesets (`region_key`); a
`RegionCache` given a directory also keeps results on disk under that key, so a second compile
of any model with the same layer finds it.

Budget. The function's time limit is shared among the distinct regions, in proportion to
their compute nodes (at least MIN_REGION_SECONDS each, at most what is left of the limit: a
region searched with less than half its share is not cached); each gets the function's e-node,
iteration and memory limits (a region's e-graph is smaller than the whole one's).

Products stay whole: no cut is made where a value made by a contraction (through layout ops)
and read by another crosses, so a chain of matmuls or an einsum network torch-mlir wrote as
batch matmuls is one region, whose contraction order the search chooses as a whole.
"""

from __future__ import annotations

import contextlib
import contextvars
import hashlib
import os
import pickle
import tempfile
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Callable, Mapping, Sequence

from mirage_mlir.passes.eqsat.kinds import KINDS
from mirage_mlir.passes.eqsat.kinds.kind import Origin
from mirage_mlir.passes.eqsat.graph import (
    Constant,
    Graph,
    Input,
    Node,
    Opaque,
    make_node,
)


def _origin(node: Node) -> Origin:
    return KINDS[node.kind].origin


__all__ = [
    "MAX_REGION",
    "MIN_REGION",
    "WHOLE_GRAPH",
    "Region",
    "RegionCache",
    "canonical_region",
    "optimize_by_regions",
    "partition",
]

#: Graphs with at most this many compute nodes are searched whole.
WHOLE_GRAPH = 120
#: The least distance between two cuts, in compute nodes (see the module docstring).
MIN_REGION = 24
#: A region with more compute nodes than this is cut again at its narrowest point.
MAX_REGION = 320
#: The least time a searched region gets, in seconds, however small its share.
MIN_REGION_SECONDS = 0.5


@dataclass(frozen=True)
class Region:
    """A run of the graph's compute nodes (in topological order) and what leaves it."""

    nodes: tuple[Node, ...]
    outputs: tuple[Node, ...]


def _compute_nodes(graph: Graph) -> list[Node]:
    return [n for n in graph.nodes() if n.operands]


def _last_uses(graph: Graph, compute: list[Node]) -> list[int]:
    """Per compute node, the position of its last reader (len(compute) if returned)."""
    position = {id(n): i for i, n in enumerate(compute)}
    last = list(range(len(compute)))
    for k, node in enumerate(compute):
        for operand in node.operands:
            j = position.get(id(operand))
            if j is not None:
                last[j] = max(last[j], k)
    for output in graph.outputs:
        j = position.get(id(output))
        if j is not None:
            last[j] = len(compute)
    return last


def _product_of_computed(node: Node, computed: set[int]) -> bool:
    """A contraction of two values the function computes (no weight, no input)."""
    return (
        KINDS[node.kind].contraction
        and len(node.operands) == 2
        and all(id(o) in computed for o in node.operands)
    )


def _in_products(compute: list[Node]) -> list[bool]:
    """Per compute node: whether it links two products. A cut that such a value crosses
    would split a chain of products whose order the search must choose as a whole, or an
    attention whose pattern the search must see whole.

    Two kinds of link: a contraction's value, through layout ops, read by another
    contraction through layout ops (a matrix chain, an einsum network); and any value on a
    path, through other ops (scale, mask, softmax, the guard), between two products of
    computed values (attention's scores q @ kᵀ and the probabilities' product with v).
    Products with a weight (a linear layer) neither start nor end a link of the second
    kind, so the residual stream between layers stays a place to cut."""
    computed = {id(n) for n in compute}
    from_product: dict[int, bool] = {}
    from_scores: dict[int, bool] = {}
    for node in compute:
        kind = KINDS[node.kind]
        from_product[id(node)] = kind.contraction or (
            kind.layout and any(from_product.get(id(o), False) for o in node.operands)
        )
        from_scores[id(node)] = _product_of_computed(node, computed) or (
            not kind.contraction
            and any(from_scores.get(id(o), False) for o in node.operands)
        )
    into_product: dict[int, bool] = {}
    into_scores: dict[int, bool] = {}
    readers: dict[int, list[Node]] = {}
    for node in compute:
        for operand in node.operands:
            readers.setdefault(id(operand), []).append(node)
    for node in reversed(compute):
        into_product[id(node)] = any(
            KINDS[r.kind].contraction
            or (KINDS[r.kind].layout and into_product.get(id(r), False))
            for r in readers.get(id(node), ())
        )
        into_scores[id(node)] = any(
            _product_of_computed(r, computed)
            or (not KINDS[r.kind].contraction and into_scores.get(id(r), False))
            for r in readers.get(id(node), ())
        )
    return [
        (from_product[id(n)] and into_product[id(n)])
        or (from_scores[id(n)] and into_scores[id(n)])
        for n in compute
    ]


def cut_widths(graph: Graph) -> list[int]:
    """The width of the cut after each compute node (see the module docstring)."""
    compute = _compute_nodes(graph)
    last = _last_uses(graph, compute)
    change = [0] * (len(compute) + 1)
    for j, end in enumerate(last):
        if end > j:
            change[j] += 1
            change[end] -= 1
    widths, width = [], 0
    for p in range(len(compute)):
        width += change[p]
        widths.append(width)
    return widths


def _cuts(
    widths: list[int], start: int, stop: int, allowed: list[bool] | None = None
) -> list[int]:
    """Cut positions in [start, stop): local minima of the width (module docstring)."""
    candidates = []
    for p in range(start, stop - 1):
        if allowed is not None and not allowed[p]:
            continue
        window = widths[max(start, p - MIN_REGION) : min(stop, p + 1 + MIN_REGION)]
        if widths[p] > min(window):
            continue
        if p - start + 1 < MIN_REGION // 2 or stop - p - 1 < MIN_REGION // 2:
            continue
        candidates.append(p)
    # Narrowest first, and of equally narrow points the later: a chain of equal layers is cut
    # at the same place in every layer, counted from its end.
    cuts: list[int] = []
    for p in sorted(candidates, key=lambda q: (widths[q], -q)):
        if all(abs(p - c) >= MIN_REGION for c in cuts):
            cuts.append(p)
    return sorted(cuts)


def _split_large(
    widths: list[int], start: int, stop: int, allowed: list[bool]
) -> list[int]:
    """Cuts that leave no run of [start, stop) longer than MAX_REGION where it can be cut."""
    if stop - start <= MAX_REGION:
        return []
    inner = [q for q in range(start + MIN_REGION, stop - MIN_REGION) if allowed[q]]
    # The narrowest point, the last of several; a run that cannot be cut stays whole.
    if not inner:
        return []
    p = min(inner, key=lambda q: (widths[q], -q))
    return (
        _split_large(widths, start, p + 1, allowed)
        + [p]
        + _split_large(widths, p + 1, stop, allowed)
    )


def partition(graph: Graph) -> list[Region]:
    """The graph's regions, in topological order (one region for a small graph)."""
    compute = _compute_nodes(graph)
    if len(compute) <= WHOLE_GRAPH:
        return [Region(tuple(compute), tuple(graph.outputs))]
    widths = cut_widths(graph)
    last = _last_uses(graph, compute)
    linking = _in_products(compute)
    # No cut inside a chain of products: a value linking two products may not cross it.
    blocked = [0] * (len(compute) + 1)
    for j, end in enumerate(last):
        if linking[j] and end > j:
            blocked[j] += 1
            blocked[min(end, len(compute))] -= 1
    allowed, running = [], 0
    for p in range(len(compute)):
        running += blocked[p]
        allowed.append(running == 0)
    cuts = _cuts(widths, 0, len(compute), allowed)
    bounds = [-1, *cuts, len(compute) - 1]
    final: list[int] = []
    for a, b in zip(bounds, bounds[1:]):
        final.extend(_split_large(widths, a + 1, b + 1, allowed))
        final.append(b)
    returned = {id(o) for o in graph.outputs}
    regions, start = [], 0
    for end in final:
        nodes = compute[start : end + 1]
        outputs = [
            n for i, n in enumerate(nodes, start) if last[i] > end or id(n) in returned
        ]
        regions.append(Region(tuple(nodes), tuple(outputs)))
        start = end + 1
    return regions


# --------------------------------------------------------------------------------------------
# Canonical form


@dataclass
class CanonicalRegion:
    """A region as a graph of canonical leaves, and what each canonical leaf stands for."""

    graph: Graph
    #: canonical leaf name -> the node it stands for (a leaf or an earlier region's value)
    leaves: dict[str, Node] = field(default_factory=dict)
    #: canonical opaque name -> the opaque op's own name
    opaque_names: dict[str, str] = field(default_factory=dict)

    @property
    def text(self) -> str:
        return str(self.graph)


def canonical_region(region: Region) -> CanonicalRegion:
    """The region's graph with its leaves renamed by first use (see the module docstring)."""
    inside = {id(n) for n in region.nodes}
    result = CanonicalRegion(Graph((), ()))
    copies: dict[int, Node] = {}
    renamed: dict[str, dict[str, str]] = {"w": {}, "op": {}}
    inputs: list[Input] = []

    def rename(prefix: str, original: str) -> str:
        table = renamed[prefix]
        return table.setdefault(original, f"{prefix}{len(table)}")

    def opaque_name(node: Node) -> str:
        # `<op>#<n>:<result>`: the op and the result stay (kernel formation reads them), the
        # op's number is renumbered by first use.
        op, numbered, index = node.name, node.name, ""
        if "#" in node.name and ":" in node.name:
            numbered, index = node.name.rsplit(":", 1)
            op = numbered.split("#", 1)[0]
            name = f"{op}#{rename('op', numbered)}:{index}"
        else:
            name = rename("op", node.name)
        result.opaque_names[name] = node.name
        return name

    def leaf(node: Node) -> Node:
        if id(node) in copies:
            return copies[id(node)]
        origin = _origin(node)
        if origin is Origin.SPLAT:
            # Its value is its whole meaning: it stays as it is.
            copies[id(node)] = node
            return node
        if origin is Origin.CONSTANT:
            copy: Node = Constant(rename("w", node.name), node.shape, node.dtype)
        elif origin is Origin.OPAQUE and not node.operands:
            copy = Opaque(opaque_name(node), (), node.shape, node.dtype)
        else:
            # A function input, or a value an earlier region makes.
            copy = Input(f"in{len(inputs)}", node.shape, node.dtype)
            inputs.append(copy)
        result.leaves[_leaf_name(copy)] = node
        copies[id(node)] = copy
        return copy

    for node in region.nodes:
        operands = [
            copies[id(o)] if id(o) in inside else leaf(o) for o in node.operands
        ]
        if _origin(node) is Origin.OPAQUE:
            copies[id(node)] = Opaque(
                opaque_name(node), operands, node.shape, node.dtype
            )
        else:
            copies[id(node)] = make_node(node.kind, node.attrs, operands)
    result.graph = Graph(tuple(inputs), tuple(copies[id(o)] for o in region.outputs))
    return result


def _leaf_name(node: Node) -> str:
    """The key of a renamed leaf (an input, a weight or an opaque op without operands)."""
    return f"{node.kind}:{node.attrs[0]}"


def instantiate(
    canonical: CanonicalRegion,
    graph: Graph,
    kernels: Sequence | None,
    replaced: Mapping[int, Node],
) -> tuple[list[Node], tuple | None]:
    """`graph` (a result for the canonical region) and its kernels in terms of the region's
    own leaves, each leaf an earlier region computed taken as its new value (`replaced`, by
    the id of the old one): the nodes standing for the region's outputs, and the kernels.
    """
    from mirage_mlir.passes.eqsat.fusion import Kernel

    mapped: dict[int, Node] = {}
    for node in graph.nodes():
        origin = _origin(node)
        if origin is Origin.SPLAT:
            mapped[id(node)] = node
            continue
        if not node.operands and origin is not Origin.COMPUTED:
            original = canonical.leaves[_leaf_name(node)]
            mapped[id(node)] = replaced.get(id(original), original)
            continue
        operands = [mapped[id(o)] for o in node.operands]
        if origin is Origin.OPAQUE:
            mapped[id(node)] = Opaque(
                canonical.opaque_names[node.name], operands, node.shape, node.dtype
            )
        else:
            mapped[id(node)] = make_node(node.kind, node.attrs, operands)

    def each(nodes: Sequence[Node]) -> tuple[Node, ...]:
        return tuple(mapped.get(id(n), n) for n in nodes)

    new_kernels = None
    if kernels is not None:
        new_kernels = tuple(
            Kernel(k.template, each(k.nodes), each(k.inputs), each(k.outputs))
            for k in kernels
        )
    return [mapped[id(o)] for o in graph.outputs], new_kernels


# --------------------------------------------------------------------------------------------
# Cache


def region_key(text: str, target: str, limits: object, rulesets: Sequence[str]) -> str:
    """The key of one region's search: what decides its result."""
    digest = hashlib.sha256()
    for part in (text, target, repr(limits), ",".join(rulesets), _code_version()):
        digest.update(part.encode())
        digest.update(b"\0")
    return digest.hexdigest()


def _code_version() -> str:
    try:
        from mirage_mlir.driver.cache import code_version
    except ImportError:  # pragma: no cover - the driver is part of every install
        return ""
    return code_version()


class RegionCache:
    """Region results by key: in memory, and on disk when given a directory.

    Results on disk are pickled `OptimizationResult`s of canonical regions, written to a
    temporary name and renamed into place; an unreadable entry is treated as missing.
    """

    def __init__(self, directory: str | os.PathLike | None = None) -> None:
        self.directory = Path(directory) if directory else None
        self.memory: dict[str, object] = {}

    def get(self, key: str) -> object | None:
        if key in self.memory:
            return self.memory[key]
        if self.directory is None:
            return None
        path = self.directory / f"{key}.pickle"
        try:
            with open(path, "rb") as stream:
                value = pickle.load(stream)
        except Exception:  # a missing, truncated or foreign entry: search again
            return None
        self.memory[key] = value
        return value

    def put(self, key: str, value: object) -> None:
        self.memory[key] = value
        if self.directory is None:
            return
        temporary = None
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            handle, temporary = tempfile.mkstemp(dir=self.directory, suffix=".tmp")
            with os.fdopen(handle, "wb") as stream:
                pickle.dump(value, stream, protocol=pickle.HIGHEST_PROTOCOL)
            os.replace(temporary, self.directory / f"{key}.pickle")
        except Exception:  # a cache that cannot be written is only slower
            if temporary is not None and os.path.exists(temporary):
                os.unlink(temporary)


# --------------------------------------------------------------------------------------------
# Optimising by regions


#: Who hears of each distinct region searched (done, total) when `optimize_by_regions` is
#: given no `progress` of its own: set by a driver around a whole pass (`region_progress`).
_PROGRESS: contextvars.ContextVar[Callable[[int, int], None] | None] = (
    contextvars.ContextVar("region_progress", default=None)
)


@contextlib.contextmanager
def region_progress(callback: Callable[[int, int], None] | None):
    """Report the regions searched to `callback` within this block."""
    token = _PROGRESS.set(callback)
    try:
        yield
    finally:
        _PROGRESS.reset(token)


@dataclass
class RegionStats:
    """What the region search did, for the report."""

    regions: int = 1
    distinct: int = 1
    searched: int = 1
    cache_hits: int = 0


def optimize_by_regions(
    graph: Graph,
    target: str,
    limits,
    rulesets: Sequence[str] | None = None,
    cache: RegionCache | None = None,
    progress: Callable[[int, int], None] | None = None,
):
    """`optimize_graph` of `graph`, region by region (see the module docstring).

    Returns (OptimizationResult of the whole graph, RegionStats). A graph of one region is
    optimised whole, as `optimize_graph` does. `progress(done, total)` is called after each
    distinct region.
    """
    from mirage_mlir.passes.eqsat.optimize import DEFAULT_RULESETS, optimize_graph

    rulesets = tuple(rulesets if rulesets is not None else DEFAULT_RULESETS)
    progress = progress if progress is not None else _PROGRESS.get()
    regions = partition(graph)
    if len(regions) == 1:
        result = optimize_graph(graph, target, limits, rulesets)
        return result, RegionStats()
    cache = cache if cache is not None else RegionCache()
    canonicals = [canonical_region(r) for r in regions]
    texts = [c.text for c in canonicals]
    distinct: dict[str, int] = {}
    for i, text in enumerate(texts):
        distinct.setdefault(text, i)
    total_nodes = sum(len(regions[i].nodes) for i in distinct.values())
    results: dict[str, object] = {}
    stats = RegionStats(len(regions), len(distinct), 0, 0)
    started = time.perf_counter()
    for done, (text, i) in enumerate(distinct.items(), 1):
        # The region's share of the time limit decides its search (and its cache key); what
        # it may really use is that share or what is left of the limit, if less.
        share = limits.seconds * len(regions[i].nodes) / max(total_nodes, 1)
        nominal = replace(
            limits, seconds=min(limits.seconds, max(share, MIN_REGION_SECONDS))
        )
        left = max(0.0, limits.seconds - (time.perf_counter() - started))
        key = region_key(text, str(target), nominal, rulesets)
        cached = cache.get(key)
        if cached is None:
            short = left < nominal.seconds
            run_limits = replace(nominal, seconds=left) if short else nominal
            # A search with under half its share may be a worse one: it is not kept.
            short = left < nominal.seconds / 2
            cached = optimize_graph(canonicals[i].graph, target, run_limits, rulesets)
            if not short:
                cache.put(key, cached)
            stats.searched += 1
        else:
            stats.cache_hits += 1
        results[text] = cached
        if progress is not None:
            progress(done, len(distinct))
    return _stitch(graph, regions, canonicals, texts, results), stats


def _unclaimed(kernels: Sequence, claimed: set[int]) -> list:
    """`kernels` without the leaves (ops without operands, such as an opaque op making a
    tensor) that a kernel of an earlier region already computes: those become inputs.
    Each region made its own copy of a leaf it reads, so two regions' kernels may both hold
    the one op; it must be computed once."""
    from mirage_mlir.passes.eqsat.fusion import Kernel

    out = []
    for kernel in kernels:
        nodes = tuple(n for n in kernel.nodes if n.operands or id(n) not in claimed)
        if len(nodes) != len(kernel.nodes):
            inside = {id(n) for n in nodes}
            inputs: dict[int, Node] = {}
            for n in nodes:
                for o in n.operands:
                    if id(o) not in inside:
                        inputs.setdefault(id(o), o)
            if not nodes:
                continue
            outputs = tuple(n for n in kernel.outputs if id(n) in inside)
            kernel = Kernel(kernel.template, nodes, tuple(inputs.values()), outputs)
        claimed.update(id(n) for n in kernel.nodes)
        out.append(kernel)
    return out


def _stitch(graph, regions, canonicals, texts, results):
    """One OptimizationResult for the whole graph from its regions' results."""
    replaced: dict[int, Node] = {}
    kernels: list | None = []
    claimed: set[int] = set()
    for region, canonical, text in zip(regions, canonicals, texts):
        result = results[text]
        outputs, region_kernels = instantiate(
            canonical, result.graph, result.kernels, replaced
        )
        for old, new in zip(region.outputs, outputs):
            replaced[id(old)] = new
        if region_kernels is None or kernels is None:
            kernels = None
        else:
            kernels.extend(_unclaimed(region_kernels, claimed))
    new_graph = Graph(
        graph.inputs, tuple(replaced.get(id(o), o) for o in graph.outputs)
    )
    parts = [results[t] for t in texts]
    first = parts[0]

    def total(name: str):
        return sum(getattr(p, name) for p in parts)

    stop_reasons = [p.stop_reason for p in parts if not p.saturated]
    choices = {p.fusion_choice for p in parts}
    seconds: dict[str, float] = {}
    for p in {id(p): p for p in parts}.values():
        for stage, s in p.seconds.items():
            seconds[stage] = seconds.get(stage, 0.0) + s
    programs = None
    if all(p.programs is not None for p in parts):
        from mirage_mlir.passes.eqsat.extract import PROGRAM_COUNT_CAP

        programs = 1
        for p in parts:
            programs = min(programs * p.programs, PROGRAM_COUNT_CAP)
    memory = [p.memory_mb for p in parts if p.memory_mb is not None]
    return replace(
        first,
        graph=new_graph,
        cost_before=total("cost_before"),
        cost_after=total("cost_after"),
        flops_before=total("flops_before"),
        flops_after=total("flops_after"),
        bytes_before=total("bytes_before"),
        bytes_after=total("bytes_after"),
        kernels_before=total("kernels_before"),
        kernels_after=len(kernels) if kernels is not None else total("kernels_after"),
        eclasses=total("eclasses"),
        enodes=total("enodes"),
        iterations=max(p.iterations for p in parts),
        saturated=not stop_reasons,
        stop_reason=stop_reasons[0] if stop_reasons else "saturated",
        programs=programs,
        extraction=(
            first.extraction
            if all(p.extraction == first.extraction for p in parts)
            else "greedy"
        ),
        ilp_status=first.ilp_status,
        extraction_optimal=all(p.extraction_optimal for p in parts),
        kept_input=all(p.kept_input for p in parts),
        seconds=seconds,
        kernels=tuple(kernels) if kernels is not None else None,
        unfused_kernels_before=total("unfused_kernels_before"),
        fused_cost_before=total("fused_cost_before"),
        fused_bytes_before=total("fused_bytes_before"),
        fused_kernels_before=total("fused_kernels_before"),
        fusion_choice=choices.pop() if len(choices) == 1 else "per region",
        skipped=tuple(sorted({s for p in parts for s in p.skipped})),
        memory_mb=max(memory) if memory else None,
    )
