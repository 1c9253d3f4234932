"""Candidate tile configurations per launch, for autotuning on the GPU.

```python
from mirage_mlir.lowering.tile_variants import lower_variants

lowered, variants = lower_variants(optimised_mlir)     # default lowering + per-launch variants
export_plan(lowered, "plan_dir/", variants)            # plan.json lists them per launch
```

The program is lowered once per entry of `CANDIDATES` (the pass's options are
module-wide, but every launch keeps its own list, so the runtime picks per
launch).  A candidate only changes kernels whose template reads its options,
and the templates clamp tiles to the problem's size, so a launch keeps only
its distinct kernels (by TTIR text); each distinct kernel is then offered
with every count of `NUM_WARPS`.  The default lowering with 4 warps comes
first: it is what a runtime that ignores variants runs.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mirage_mlir.lowering.program import LoweredProgram

__all__ = ["CANDIDATES", "NUM_WARPS", "LaunchVariant", "lower_variants"]

CANDIDATES: tuple[dict[str, int], ...] = (
    {},
    {"block_m": 64, "block_n": 64, "block_k": 32,
     "attention_block_m": 128, "attention_block_n": 64},
    {"block_m": 128, "block_n": 128, "block_k": 32},
    {"block_m": 64, "block_n": 128, "block_k": 64},
)
"""Pass options tried besides the caller's own (the first, empty, entry).

Matmul tiles (64,64,32), (128,128,32), (64,128,64) besides the sm_90 table's
(128,64,32); attention 128x64 besides the template's 64x64."""

NUM_WARPS: tuple[int, ...] = (4, 8)
"""Warps per program offered for every distinct kernel; 4 is Triton's default."""


@dataclass(frozen=True)
class LaunchVariant:
    """One way to run a launch: a kernel's TTIR, its grid and `triton.compile` options."""

    ttir: str
    grid: tuple[int, ...]
    num_warps: int

    @property
    def digest(self) -> str:
        """The TTIR's sha256, which names the kernel's content."""
        return hashlib.sha256(self.ttir.encode()).hexdigest()


def _launch_signature(lowered: "LoweredProgram") -> list[tuple[str, tuple[str, ...]]]:
    """Kernel names and argument types of each launch: what must not change between tiles."""
    return [(op.kernel_name, tuple(str(v.type) for v in (*op.ins, *op.outs)))
            for op in lowered.launches()]


def lower_variants(
    mlir: Any, function: str = "main", **options: Any
) -> tuple["LoweredProgram", list[list[LaunchVariant]]]:
    """The default lowering of `mlir` and, per launch in plan order, its variants.

    `options` are the caller's `convert-mirage-to-triton` options; each
    candidate overrides some of them.  Raises `ValueError` if a candidate
    changed the launch sequence (it may only change kernels and grids).
    """
    from mirage_mlir.lowering.program import lower_module

    lowerings = [lower_module(mlir, function, **{**options, **extra}) for extra in CANDIDATES]
    default = lowerings[0]
    signature = _launch_signature(default)
    per_launch: list[list[LaunchVariant]] = [[] for _ in signature]
    for lowered in lowerings:
        if _launch_signature(lowered) != signature:
            raise ValueError("a tile candidate changed the launch sequence")
        texts = dict(lowered.kernels)
        for index, op in enumerate(lowered.launches()):
            per_launch[index].append(
                LaunchVariant(texts[op.kernel_name], tuple(op.grid_sizes), NUM_WARPS[0]))
    variants = []
    for candidates in per_launch:
        seen: dict[tuple[str, int], LaunchVariant] = {}
        for warps in NUM_WARPS:
            for candidate in candidates:
                variant = LaunchVariant(candidate.ttir, candidate.grid, warps)
                seen.setdefault((variant.digest, warps), variant)
        variants.append(list(seen.values()))
    return default, variants
