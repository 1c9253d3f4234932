"""Building blocks of re-emission: types, init tensors, constants and `linalg.generic`.

Every emitter creates its ops inside an xDSL `ImplicitBuilder`, so an op is inserted where it
is constructed (before the function's `func.return`, or at the end of a `mirage.kernel` body)
and emitters only build and return values. The helpers here write init tensors the way
torch-mlir does (`tensor.empty`, then `linalg.fill` with an `arith.constant` when the op
accumulates), so emitted code reads like imported code.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

from xdsl.builder import ImplicitBuilder
from xdsl.dialects import arith, tensor
from xdsl.dialects.builtin import (
    AffineMapAttr,
    AnyFloat,
    BFloat16Type,
    DenseIntOrFPElementsAttr,
    Float16Type,
    Float32Type,
    Float64Type,
    FloatAttr,
    IntegerAttr,
    IntegerType,
    TensorType,
)
from xdsl.ir import Attribute, Block, Region, SSAValue
from xdsl.ir.affine import AffineExpr, AffineMap

from mirage_mlir.dialects import linalg


class EmitError(ValueError):
    """A graph node that cannot be written as MLIR (the message names the node)."""


def element_type(dtype: str) -> Attribute:
    """The MLIR element type of a graph dtype ("f32", "i1", ...)."""
    floats = {"f16": Float16Type, "bf16": BFloat16Type, "f32": Float32Type, "f64": Float64Type}
    if dtype in floats:
        return floats[dtype]()
    if dtype.startswith("i") and dtype[1:].isdigit():
        return IntegerType(int(dtype[1:]))
    raise EmitError(f"no MLIR element type for dtype {dtype!r}")


def tensor_type(shape: Sequence[int], dtype: str) -> TensorType:
    """tensor<shape x dtype>."""
    return TensorType(element_type(dtype), list(shape))


def is_float(dtype: str) -> bool:
    """Whether a graph dtype is a floating-point type."""
    return isinstance(element_type(dtype), AnyFloat)


def scalar_attr(value: float, elem: Attribute) -> Attribute:
    """A FloatAttr or IntegerAttr holding `value` in element type `elem`."""
    if isinstance(elem, AnyFloat):
        return FloatAttr(float(value), elem)
    assert isinstance(elem, IntegerType)
    if elem.width.data == 1:
        return IntegerAttr(int(bool(value)), elem)
    return IntegerAttr(int(value), elem)


def scalar(value: float, elem: Attribute) -> SSAValue:
    """`arith.constant value : elem`."""
    return arith.ConstantOp(scalar_attr(value, elem)).result


def splat(value: float, shape: Sequence[int], dtype: str) -> SSAValue:
    """`arith.constant dense<value> : tensor<shape x dtype>`."""
    ttype = tensor_type(shape, dtype)
    elem = ttype.get_element_type()
    if isinstance(elem, AnyFloat):
        attr = DenseIntOrFPElementsAttr.from_list(ttype, [float(value)])
    else:
        attr = DenseIntOrFPElementsAttr.from_list(ttype, [int(value)])
    return arith.ConstantOp(attr).result


def empty(shape: Sequence[int], dtype: str) -> SSAValue:
    """`tensor.empty() : tensor<shape x dtype>`: a destination whose contents are undefined."""
    return tensor.EmptyOp([], tensor_type(shape, dtype)).tensor


def filled(value: float, shape: Sequence[int], dtype: str) -> SSAValue:
    """A destination filled with `value`: `tensor.empty` + `linalg.fill`, as torch-mlir writes it."""
    init = empty(shape, dtype)
    fill_value = scalar(value, element_type(dtype))
    return linalg.FillOp([fill_value], [init]).results[0]


def affine_map(num_dims: int, results: Sequence[int | None]) -> AffineMapAttr:
    """An indexing map over `num_dims` loops; None in `results` is the constant 0."""
    exprs = [
        AffineExpr.constant(0) if r is None else AffineExpr.dimension(r) for r in results
    ]
    return AffineMapAttr(AffineMap(num_dims, 0, tuple(exprs)))


def broadcast_map(operand_shape: Sequence[int], out_shape: Sequence[int]) -> AffineMapAttr:
    """The indexing map reading an operand that NumPy-broadcasts to `out_shape`.

    Operand axes align with the trailing output axes; a size-1 axis that is stretched reads
    index 0 (a constant result), as torch-mlir writes broadcasts of size-1 dimensions.
    """
    rank, offset = len(out_shape), len(out_shape) - len(operand_shape)
    results: list[int | None] = []
    for axis, size in enumerate(operand_shape):
        loop = axis + offset
        results.append(None if size == 1 and out_shape[loop] != 1 else loop)
    return affine_map(rank, results)


BodyBuilder = Callable[[Sequence[SSAValue]], Sequence[SSAValue]]
"""Builds a generic's scalar body from its block arguments; returns the yielded values."""


def generic(
    inputs: Sequence[SSAValue],
    inits: Sequence[SSAValue],
    maps: Sequence[AffineMapAttr],
    iterators: Sequence[str],
    body: BodyBuilder,
) -> list[SSAValue]:
    """`linalg.generic` on tensors; returns its results (one per init)."""
    arg_types = [
        v.type.get_element_type() if isinstance(v.type, TensorType) else v.type
        for v in (*inputs, *inits)
    ]
    block = Block(arg_types=arg_types)
    with ImplicitBuilder(block) as args:
        yielded = list(body(args))
        linalg.YieldOp(*yielded)
    kinds = [
        linalg.IteratorTypeAttr.parallel()
        if it == "parallel"
        else linalg.IteratorTypeAttr.reduction()
        for it in iterators
    ]
    op = linalg.GenericOp(
        list(inputs),
        list(inits),
        Region(block),
        list(maps),
        kinds,
        [v.type for v in inits],
    )
    return list(op.results)


def numel(shape: Sequence[int]) -> int:
    """The number of elements of a shape."""
    return math.prod(shape)
