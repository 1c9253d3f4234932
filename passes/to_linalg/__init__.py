"""Lowerings of the `mirage` dialect to upstream linalg, tensor, arith and math on tensors.

`LOWERINGS` is the one table of them, keyed by op class: each entry builds, before the op it
is given, the upstream ops that compute the op's results (by its reference semantics in
`mirage_mlir.interpreters.mirage_numpy`) and returns one value per result (None for a
result without uses that it chose not to compute). `mirage.yield` has no entry: it is
consumed by the lowering of its `mirage.kernel`. The pass that applies the table is
`mirage_mlir.passes.convert_mirage_to_linalg`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from xdsl.ir import Operation, SSAValue

from mirage_mlir.dialects import mirage
from mirage_mlir.passes.to_linalg.attention import lower_attention
from mirage_mlir.passes.to_linalg.builders import LoweringError
from mirage_mlir.passes.to_linalg.kernel import lower_kernel
from mirage_mlir.passes.to_linalg.linear import lower_concat, lower_matmul, lower_slice
from mirage_mlir.passes.to_linalg.normalization import (
    lower_batch_norm,
    lower_layer_norm,
    lower_rms_norm,
    lower_softmax,
)

__all__ = ["LOWERINGS", "Lowering", "LoweringError"]

Lowering = Callable[[Operation], Sequence[SSAValue | None]]
"""Builds an op's upstream form before it; returns one value per result (None: unused)."""

LOWERINGS: dict[type[Operation], Lowering] = {
    mirage.MatmulOp: lower_matmul,
    mirage.ConcatOp: lower_concat,
    mirage.SliceOp: lower_slice,
    mirage.SoftmaxOp: lower_softmax,
    mirage.RmsNormOp: lower_rms_norm,
    mirage.LayerNormOp: lower_layer_norm,
    mirage.BatchNormOp: lower_batch_norm,
    mirage.AttentionOp: lower_attention,
    mirage.KernelOp: lower_kernel,
}
