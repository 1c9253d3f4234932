"""tensor-dialect ops and tensor constants as terms.

    tensor.expand_shape / collapse_shape / reshape   Reshape (row-major, no data moves)
    tensor.extract_slice (static)                    slice, then Reshape if rank-reducing
    tensor.concat                                    concat
    tensor.cast (static to static, same type)        its operand
    arith.constant dense<splat>                      Full
    arith.constant dense<[...]> / dense_resource     Constant, value decoded

`tensor.empty` has no term of its own: its only meaning is "uninitialised storage", which the
ops reading it overwrite (see RecognitionState.node).
"""

from __future__ import annotations

from xdsl.dialects import arith, tensor
from xdsl.dialects.builtin import DenseIntOrFPElementsAttr, DenseResourceAttr
from xdsl.ir import Operation

from mirage_mlir.passes.eqsat.graph import Full, Node, concat, strided_slice
from mirage_mlir.passes.recognize.constants import (
    decode_blob,
    dense_value,
    resource_blob,
    splat_value,
    static_tensor_type,
)
from mirage_mlir.passes.recognize.state import (
    RecognitionError,
    RecognitionState,
    Unrecognized,
    location_of,
    reshape,
)

_RESHAPES = (tensor.ExpandShapeOp, tensor.CollapseShapeOp, tensor.ReshapeOp)


def is_tensor_op(op: Operation) -> bool:
    """Whether `tensor_terms` models ops of this class."""
    if isinstance(op, arith.ConstantOp):
        return static_tensor_type(op.result.type) is not None
    return isinstance(op, _RESHAPES + (tensor.ExtractSliceOp, tensor.ConcatOp, tensor.CastOp))


def tensor_terms(state: RecognitionState, op: Operation) -> list[Node]:
    """The term of the single result of a tensor op or tensor constant."""
    typed = static_tensor_type(op.results[0].type)
    if typed is None:
        raise Unrecognized(f"'{op.name}' with a result of type {op.results[0].type}")
    shape, dtype = typed
    if isinstance(op, arith.ConstantOp):
        return [_constant(state, op, shape, dtype)]
    if isinstance(op, _RESHAPES):
        source = op.operands[0]
        return [reshape(state.node(source), shape)]
    if isinstance(op, tensor.CastOp):
        x = state.node(op.source)
        if x.shape != shape or x.dtype != dtype:
            raise Unrecognized("tensor.cast that changes the static type")
        return [x]
    if isinstance(op, tensor.ExtractSliceOp):
        if op.offsets or op.sizes or op.strides:
            raise Unrecognized("tensor.extract_slice with dynamic offsets, sizes or strides")
        offsets = op.static_offsets.get_values()
        sizes = op.static_sizes.get_values()
        strides = op.static_strides.get_values()
        sliced = strided_slice(state.node(op.source), offsets, sizes, strides)
        return [reshape(sliced, shape)]
    if isinstance(op, tensor.ConcatOp):
        return [concat([state.node(v) for v in op.inputs], op.dim.value.data)]
    raise Unrecognized(f"'{op.name}'")


def _constant(state: RecognitionState, op: arith.ConstantOp, shape, dtype: str) -> Node:
    """A splat becomes Full; any other literal or blob a named Constant with its value."""
    attr = op.value
    if isinstance(attr, DenseIntOrFPElementsAttr):
        value = splat_value(attr)
        if value is not None:
            return Full(value, shape, dtype)
        name = f"dense{state.dense_count}"
        state.dense_count += 1
        return state.make_constant(op.result, name, dense_value(attr, shape, dtype))
    if isinstance(attr, DenseResourceAttr):
        name = attr.resource_handle.data
        if name in state.leaves and state.leaves[name] is not op.result:
            # The same blob defined twice: one tensor, read through the first definition.
            node = state.values[state.leaves[name]]
            state.values[op.result] = node
            return node
        blob = resource_blob(attr)
        array = None
        if blob is not None:
            try:
                array = decode_blob(blob, shape, dtype)
            except ValueError as error:
                raise RecognitionError(f"{location_of(op)}: dense_resource<{name}>: {error}") from None
        return state.make_constant(op.result, name, array)
    raise Unrecognized(f"a tensor constant {attr}")
