"""The roofline cost model: what a kernel costs on a target.

Every kernel costs

    time = max(FLOPs / peak, bytes / bandwidth) + launch

where the peak is the matrix-engine (tensor-core) peak for matmuls and binary contractions that
sum over an index (a batched matmul over strided operands) and the vector peak otherwise, and
bytes are the kernel's inputs read plus its outputs written. A multiply-add counts
as 2 FLOPs. Before fusion every op is its own kernel, so an intermediate value is paid for twice:
written by its producer and read again by each consumer. `fused_work` combines ops into one
kernel whose intermediates stay on chip (they are neither written nor re-read); kernel formation
will use it.

The numbers live in one table, `TARGETS`:

- `h100` (default): H100 SXM5 80 GB. Contractions in f32 run on tensor cores as TF32
  (Triton's default input precision for `tl.dot`): 494.7 TFLOP/s dense; f16/bf16 989.4 TFLOP/s
  dense. Vector (CUDA-core) f32 66.9 TFLOP/s. HBM3 3.35 TB/s. 4 us per kernel launch.
- `a100`: A100 SXM4 80 GB. TF32 156 TFLOP/s, f16/bf16 312 TFLOP/s dense tensor cores; vector
  f32 19.5 TFLOP/s; HBM2e 2.039 TB/s; 4 us per launch.
- `cpu`: this project's 2-core x86 machine (AMD EPYC), measured with NumPy and torch: sgemm
  65-69 GFLOP/s, dgemm about 12 GFLOP/s, an in-cache elementwise multiply about 8 GFLOP/s,
  a large copy 24 GB/s (read plus written), about 1.5 us per torch op dispatch.
- `flops`: the cost of a program is its FLOP count alone (an integer); for comparing plans
  with opt_einsum and the matrix-chain dynamic programme.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Iterable, Mapping, Sequence

from mirage_mlir.passes.eqsat.graph import Graph, GraphError, TensorType, parse_spec, index_sizes
from mirage_mlir.passes.eqsat.kinds import NO_ENGINE, kind_named


@dataclass(frozen=True)
class Target:
    """A machine description for the roofline model; `objective` is "seconds" or "flops"."""

    name: str
    description: str
    matrix_flops: Mapping[str, float] = field(default_factory=dict)
    vector_flops: Mapping[str, float] = field(default_factory=dict)
    bandwidth: float = 1.0
    launch: float = 0.0
    objective: str = "seconds"

    def peak(self, engine: str, dtype: str) -> float:
        """FLOP/s of `engine` ("matrix" or "vector") for `dtype` (f32 when not listed)."""
        table = self.matrix_flops if engine == "matrix" else self.vector_flops
        return table.get(dtype, table["f32"])


TARGETS: dict[str, Target] = {
    "h100": Target(
        name="h100",
        description="NVIDIA H100 SXM5 80 GB",
        matrix_flops={
            "f32": 494.7e12,
            "bf16": 989.4e12,
            "f16": 989.4e12,
            "f64": 66.9e12,
        },
        vector_flops={
            "f32": 66.9e12,
            "bf16": 133.8e12,
            "f16": 133.8e12,
            "f64": 33.5e12,
        },
        bandwidth=3.35e12,
        launch=4e-6,
    ),
    "a100": Target(
        name="a100",
        description="NVIDIA A100 SXM4 80 GB",
        matrix_flops={"f32": 156e12, "bf16": 312e12, "f16": 312e12, "f64": 19.5e12},
        vector_flops={"f32": 19.5e12, "bf16": 78e12, "f16": 78e12, "f64": 9.7e12},
        bandwidth=2.039e12,
        launch=4e-6,
    ),
    "cpu": Target(
        name="cpu",
        description="2-core x86 (AMD EPYC) running NumPy/torch ops",
        matrix_flops={"f32": 65e9, "f64": 12e9},
        vector_flops={"f32": 8e9, "f64": 4e9},
        bandwidth=24e9,
        launch=1.5e-6,
    ),
    "flops": Target(name="flops", description="FLOP count alone", objective="flops"),
}


def get_target(target: str | Target) -> Target:
    """The Target named `target` (or `target` itself)."""
    if isinstance(target, Target):
        return target
    if target not in TARGETS:
        raise ValueError(
            f"unknown target {target!r}; known targets: {', '.join(TARGETS)}"
        )
    return TARGETS[target]


@dataclass(frozen=True)
class KernelWork:
    """What one kernel does: FLOPs, bytes moved, the engine it runs on.

    engine is "matrix" (tensor cores), "vector", "loop_nest" (an einsum of three or more
    operands, which no kernel template runs: see UNLOWERABLE_SECONDS), or "none" for what needs
    no kernel at all (arguments, constants, views).
    """

    flops: int
    bytes_read: int
    bytes_written: int
    engine: str
    dtype: str = "f32"

    @property
    def bytes(self) -> int:
        """Bytes moved to and from memory."""
        return self.bytes_read + self.bytes_written

    @property
    def is_kernel(self) -> bool:
        """Whether this work is launched as a kernel."""
        return self.engine != "none"


NO_KERNEL = KernelWork(0, 0, 0, "none")

#: The cost, in seconds, of work no kernel template can run (an hour: no real kernel costs
#: that). It keeps such terms out of every extracted program that has an alternative.
UNLOWERABLE_SECONDS = 3600.0


def node_work(
    kind: str, attrs: tuple, operands: Sequence[TensorType], result: TensorType
) -> KernelWork:
    """The work of one op run as its own kernel (FLOPs and engine from the op registry)."""
    try:
        flops, engine = kind_named(kind).work(attrs, operands, result)
    except GraphError:
        raise ValueError(f"no cost rule for node kind {kind!r}") from None
    if engine == NO_ENGINE:
        return NO_KERNEL
    read = sum(t.nbytes for t in operands)
    return KernelWork(flops, read, result.nbytes, engine, result.dtype)


def contraction_flops(spec: str, shapes: Sequence[tuple[int, ...]]) -> tuple[int, bool]:
    """FLOPs of an einsum evaluated as one loop nest, and whether it sums over any index.

    The loop nest visits every combination of the letters; each visit multiplies the n
    operands (n - 1 multiplies, at least 1) and, when some letter is summed, adds (1 more).
    This is opt_einsum's convention, so a binary contraction with a summed index costs 2 FLOPs
    per point (a multiply-add) and one without (an outer or Hadamard product) costs 1.
    """
    layouts, out = parse_spec(spec, len(shapes))
    sizes = index_sizes(layouts, shapes, spec)
    summed = bool(set(sizes) - set(out))
    per_point = max(1, len(layouts) - 1) + (1 if summed else 0)
    return math.prod(sizes.values()) * per_point, summed


def kernel_cost(target: Target, work: KernelWork) -> float | int:
    """The objective value of one kernel: seconds by the roofline, or FLOPs."""
    if target.objective == "flops":
        return work.flops
    if not work.is_kernel:
        return 0.0
    if work.engine == "loop_nest":
        # No kernel template runs an einsum of three or more operands as one loop nest:
        # such a term only exists in the e-graph to be split into binary contractions.
        return UNLOWERABLE_SECONDS
    compute = work.flops / target.peak(work.engine, work.dtype)
    memory = work.bytes / target.bandwidth
    return max(compute, memory) + target.launch


def combined_engine(engines: Iterable[str]) -> str:
    """The engine of one kernel doing work on `engines`: loop_nest over matrix over vector."""
    found = set(engines)
    return next((e for e in ("loop_nest", "matrix") if e in found), "vector")


def fused_work(parts: Sequence[KernelWork], intermediate_bytes: int) -> KernelWork:
    """One kernel doing the work of `parts`, whose intermediates stay on chip.

    `intermediate_bytes` is the size of the values produced and consumed inside the kernel:
    their writes and their reads are not paid (each intermediate is read once here; a caller
    fusing a value read twice passes it twice).
    """
    flops = sum(p.flops for p in parts)
    read = sum(p.bytes_read for p in parts) - intermediate_bytes
    written = sum(p.bytes_written for p in parts) - intermediate_bytes
    if read < 0 or written < 0:
        raise ValueError(
            "a fused kernel cannot keep more bytes on chip than its ops move"
        )
    engine = combined_engine(p.engine for p in parts)
    dtype = next((p.dtype for p in parts if p.is_kernel), "f32")
    return KernelWork(flops, read, written, engine, dtype)


@dataclass(frozen=True)
class GraphCost:
    """The cost of a program: the objective, FLOPs, bytes moved and kernels launched."""

    cost: float | int
    flops: int
    bytes: int
    kernels: int


def graph_cost(graph: Graph, target: str | Target = "h100") -> GraphCost:
    """The cost of running every op of `graph` as its own kernel (shared values once)."""
    tgt = get_target(target)
    cost: float | int = 0 if tgt.objective == "flops" else 0.0
    flops = moved = kernels = 0
    for node in graph.nodes():
        work = node_work(
            node.kind, node.attrs, [o.type for o in node.operands], node.type
        )
        cost += kernel_cost(tgt, work)
        flops += work.flops
        moved += work.bytes
        kernels += work.is_kernel
    return GraphCost(cost, flops, moved, kernels)
