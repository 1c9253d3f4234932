"""Kernel template: a chain (any DAG) of elementwise ops, one flat block per program.

The iteration space (the outputs' shape) is walked in row-major order, `block`
elements per program; each element's index along every dimension is
recovered by division and remainder by constants, so inputs read through any
broadcast or permutation (`linalg.transpose` included) with plain strides.
The last block is masked.  Grid: `(cdiv(numel, block),)`.
"""

from __future__ import annotations

import math

from xdsl.builder import ImplicitBuilder

from mirage_mlir.dialects import tt
from mirage_mlir.lowering.fused_body import FusedBody, KernelGroup
from mirage_mlir.lowering.kernel_builder import (
    LoweringError,
    flat_tile_space,
    next_power_of_two,
)
from mirage_mlir.lowering.kernel_signature import kernel_for_group


def build_elementwise_kernel(
    name: str, group: KernelGroup, block: int = 1024
) -> tuple[tt.FuncOp, tuple[int, ...]]:
    """The elementwise kernel of `group` and its launch grid."""
    shapes = {tuple(v.type.get_shape()) for v in group.outputs}  # type: ignore[union-attr]
    if len(shapes) != 1:
        raise LoweringError("an elementwise kernel's outputs must share one shape", group.anchor)
    (space_shape,) = shapes
    numel = math.prod(space_shape)
    block = min(block, next_power_of_two(numel))
    kernel, pointers, out_pointers = kernel_for_group(name, group)
    with ImplicitBuilder(kernel.body.block):
        space = flat_tile_space(space_shape, block, tt.GetProgramIdOp(0).result)
        body = FusedBody(space, space_shape, pointers)
        for op in group.ops:
            if not body.run(op):
                raise LoweringError(
                    f"'{op.name}' cannot be lowered by the elementwise template", op
                )
        for value, pointer in zip(group.outputs, out_pointers):
            space.store(pointer, value.type, body.read(value, list(range(len(space_shape))), group.anchor))
        tt.ReturnOp()
    return kernel, (-(-numel // block),)
