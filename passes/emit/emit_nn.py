"""Re-emission of the neural-network nodes as `mirage` ops: softmax, attention and the norms.

Each is one op of the `mirage` dialect. `batch_norm` in the graph is the normalisation alone
(training statistics, result y); `mirage.batch_norm` also updates running statistics, so it
is given constant running statistics (zeros and ones, momentum 0) and only its first result
is used: the two extra results are dead and disappear with the rest of the dead code.

    %p = mirage.softmax %s axis = -1 : tensor<2x128x128xf32>
    %o = mirage.attention %q, %k, %v scale 1.250000e-01 causal : ... -> tensor<1x8x128x64xf32>
"""

from __future__ import annotations

from collections.abc import Sequence

from xdsl.ir import SSAValue

from mirage_mlir.dialects import mirage
from mirage_mlir.passes.emit.emit_elementwise import is_float_value
from mirage_mlir.passes.emit.structured import EmitError, splat, tensor_type
from mirage_mlir.passes.eqsat.graph import Node


def _floats(node: Node, operands: Sequence[SSAValue]) -> None:
    if not all(is_float_value(v) for v in operands):
        raise EmitError(f"{node.kind}: the mirage op needs float tensors")


def emit_softmax(node: Node, operands: Sequence[SSAValue]) -> SSAValue:
    """softmax -> mirage.softmax."""
    _floats(node, operands)
    return mirage.SoftmaxOp(operands[0], node.attrs[0]).result


def emit_attention(node: Node, operands: Sequence[SSAValue]) -> SSAValue:
    """attention -> mirage.attention (rank 3 is one head, rank 4 has heads)."""
    _floats(node, operands)
    if len(node.shape) not in (3, 4):
        raise EmitError(f"attention of rank {len(node.shape)}: mirage.attention takes rank 3 or 4")
    scale, causal = node.attrs
    q, k, v = operands[:3]
    mask = operands[3] if len(operands) == 4 else None
    return mirage.AttentionOp(
        q,
        k,
        v,
        scale=scale,
        causal=causal,
        mask=mask,
        result_type=tensor_type(node.shape, node.dtype),
    ).result


def emit_rms_norm(node: Node, operands: Sequence[SSAValue]) -> SSAValue:
    """rms_norm -> mirage.rms_norm."""
    _floats(node, operands)
    return mirage.RmsNormOp(operands[0], operands[1], node.attrs[0]).result


def emit_layer_norm(node: Node, operands: Sequence[SSAValue]) -> SSAValue:
    """layer_norm -> mirage.layer_norm."""
    _floats(node, operands)
    return mirage.LayerNormOp(operands[0], operands[1], operands[2], node.attrs[0]).result


def emit_batch_norm(node: Node, operands: Sequence[SSAValue]) -> SSAValue:
    """batch_norm -> mirage.batch_norm with constant running statistics; its y result."""
    _floats(node, operands)
    x, gamma, beta = operands
    channels = node.shape[1]
    dtype = node.dtype
    running_mean = splat(0.0, (channels,), dtype)
    running_var = splat(1.0, (channels,), dtype)
    op = mirage.BatchNormOp(x, gamma, beta, running_mean, running_var, node.attrs[0], 0.0)
    return op.result
