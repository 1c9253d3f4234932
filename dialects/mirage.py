"""The `mirage` dialect: graph-level tensor ops the optimiser emits.

Where linalg cannot say a thing in one op, the optimiser writes a mirage op:
a broadcasting batched matmul, a stable softmax, attention with grouped KV
heads, the RMS/layer/batch norms, concat and slice, and `mirage.kernel`, a
region that marks one fused group as one GPU kernel.  The ops live in small
modules by theme and are re-exported here; their NumPy reference semantics are
in `mirage_mlir.interpreters.mirage`.
"""

from __future__ import annotations

from xdsl.ir import Dialect

from mirage_mlir.dialects.mirage_attention import AttentionOp
from mirage_mlir.dialects.mirage_kernel import KernelOp, YieldOp
from mirage_mlir.dialects.mirage_linear import ConcatOp, MatmulOp, SliceOp
from mirage_mlir.dialects.mirage_normalization import (
    BatchNormOp,
    LayerNormOp,
    RmsNormOp,
    SoftmaxOp,
)

__all__ = [
    "Mirage",
    "AttentionOp",
    "BatchNormOp",
    "ConcatOp",
    "KernelOp",
    "LayerNormOp",
    "MatmulOp",
    "RmsNormOp",
    "SliceOp",
    "SoftmaxOp",
    "YieldOp",
]

Mirage = Dialect(
    "mirage",
    [
        MatmulOp,
        SoftmaxOp,
        AttentionOp,
        RmsNormOp,
        LayerNormOp,
        BatchNormOp,
        ConcatOp,
        SliceOp,
        KernelOp,
        YieldOp,
    ],
    [],
)
