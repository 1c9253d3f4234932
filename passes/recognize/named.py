"""Named linalg ops as terms: matmuls, transpose, broadcast, fill, copy and elementwise ops.

    linalg.matmul ins(%a, %b) outs(%fill0)          a @ b
    linalg.matmul ins(%a, %b) outs(%c)              a @ b + c        (any init but a 0 fill)
    linalg.batch_matmul ...                         the same, batched
    linalg.transpose ... permutation = [0, 2, 1]    Transpose
    linalg.broadcast ... dimensions = [0]           Reshape to size-1 axes, then broadcast
    linalg.fill ins(%c : f32) outs(%t)              Full(c)          (the contents of %t are
                                                                      overwritten)
    linalg.copy                                     its input
    linalg.add / sub / mul / max / min / exp / log / sqrt / select    Elementwise

A matmul whose `indexing_maps` differ from the default (a transposed operand) becomes the
einsum its maps describe.
"""

from __future__ import annotations

from xdsl.dialects.linalg import ops as xdsl_linalg
from xdsl.ir import Operation

from mirage_mlir.dialects import linalg
from mirage_mlir.passes.eqsat.graph import Elementwise, Full, Node, Transpose, broadcast
from mirage_mlir.passes.recognize.constants import scalar_constant, static_tensor_type
from mirage_mlir.passes.recognize.contraction import accumulate, einsum, widened
from mirage_mlir.passes.recognize.state import RecognitionState, Unrecognized, reshape

#: Named elementwise linalg ops -> the algebra's elementwise op.
_ELEMENTWISE = {
    xdsl_linalg.AddOp: "add",
    xdsl_linalg.SubOp: "sub",
    xdsl_linalg.MulOp: "mul",
    xdsl_linalg.MaxOp: "max",
    xdsl_linalg.MinOp: "min",
    xdsl_linalg.ExpOp: "exp",
    xdsl_linalg.LogOp: "log",
    xdsl_linalg.SqrtOp: "sqrt",
    xdsl_linalg.SelectOp: "where",
}


def is_named(op: Operation) -> bool:
    """Whether `named_terms` models ops of this class."""
    return isinstance(
        op,
        linalg.MatmulOp
        | linalg.BatchMatmulOp
        | xdsl_linalg.TransposeOp
        | xdsl_linalg.BroadcastOp
        | xdsl_linalg.FillOp
        | xdsl_linalg.CopyOp,
    ) or type(op) in _ELEMENTWISE


def _result_type(op: Operation) -> tuple[tuple[int, ...], str]:
    if len(op.results) != 1:
        raise Unrecognized(f"'{op.name}' on buffers (no tensor result)")
    typed = static_tensor_type(op.results[0].type)
    if typed is None:
        raise Unrecognized(f"'{op.name}' with a result of type {op.results[0].type}")
    return typed


def named_terms(state: RecognitionState, op: Operation) -> list[Node]:
    """The term of each result of a named linalg op (see the module docstring)."""
    shape, dtype = _result_type(op)
    if isinstance(op, linalg.MatmulOp | linalg.BatchMatmulOp):
        return [_matmul(state, op, shape, dtype)]
    if isinstance(op, xdsl_linalg.FillOp):
        value = scalar_constant(op.inputs[0])
        if value is None:
            raise Unrecognized("linalg.fill with a value that is not a constant")
        return [Full(value.value, shape, dtype)]
    if isinstance(op, xdsl_linalg.TransposeOp):
        perm = tuple(op.permutation.get_values())
        return [Transpose(state.node(op.inputs[0]), perm)]
    if isinstance(op, xdsl_linalg.BroadcastOp):
        x = state.node(op.input)
        added = set(op.dimensions.get_values())
        spread = tuple(1 if axis in added else size for axis, size in enumerate(shape))
        return [broadcast(reshape(x, spread), shape)]
    if isinstance(op, xdsl_linalg.CopyOp):
        x = state.node(op.inputs[0])
        if x.dtype != dtype or x.shape != shape:
            raise Unrecognized("linalg.copy that converts its input")
        return [x]
    name = _ELEMENTWISE[type(op)]
    term = Elementwise(name, tuple(state.node(v) for v in op.inputs))
    if term.shape != shape or term.dtype != dtype:
        raise Unrecognized(f"'{op.name}' whose operands do not match its result")
    return [term]


def _matmul(state: RecognitionState, op: Operation, shape, dtype: str) -> Node:
    """A (batched) matmul: MatMul, or the einsum of non-default maps, plus a non-zero init."""
    a, b = (widened(state.node(v), dtype) for v in op.inputs)
    maps = op.properties.get("indexing_maps")
    if maps is None:
        maps = type(op).default_indexing_maps()
    lhs, rhs, out = (m.data for m in maps.data)
    product = einsum([a, b], [lhs, rhs], out, shape)
    return accumulate(state, product, op.outputs[0], "sum")
