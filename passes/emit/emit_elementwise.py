"""Re-emission of pointwise and reducing nodes: full, scale, elementwise, cast, reduce.

Each becomes one `linalg.generic` with an arith/math body, as torch-mlir writes them (a `full`
is an `arith.constant` splat, a `mean` adds a division). Broadcasting operands are read through
indexing maps with constant-0 results for stretched size-1 axes, so no broadcast is
materialised.

    %r = linalg.generic {indexing_maps = [#map, #map1, #map], iterator_types = [...]}
        ins(%x, %bias : tensor<64x256xf32>, tensor<256xf32>) outs(%e : tensor<64x256xf32>) {
    ^bb0(%in: f32, %in_0: f32, %out: f32):
      %s = arith.addf %in, %in_0 : f32
      linalg.yield %s : f32
    } -> tensor<64x256xf32>
"""

from __future__ import annotations

import math as pymath
from collections.abc import Callable, Sequence

from xdsl.dialects import arith, math
from xdsl.dialects.builtin import AnyFloat, IntegerType, TensorType
from xdsl.ir import Attribute, SSAValue

from mirage_mlir.passes.emit.structured import (
    EmitError,
    affine_map,
    broadcast_map,
    element_type,
    empty,
    filled,
    generic,
    numel,
    scalar,
    splat,
)
from mirage_mlir.passes.eqsat.graph import Node

_FLOAT_PREDICATES = {"gt": "ogt", "ge": "oge", "lt": "olt", "le": "ole", "eq": "oeq", "ne": "une"}
_INT_PREDICATES = {"gt": "sgt", "ge": "sge", "lt": "slt", "le": "sle", "eq": "eq", "ne": "ne"}

_FLOAT_UNARY: dict[str, Callable[[SSAValue], SSAValue]] = {
    "neg": lambda x: arith.NegfOp(x).result,
    "abs": lambda x: math.AbsFOp(x).result,
    "exp": lambda x: math.ExpOp(x).result,
    "log": lambda x: math.LogOp(x).result,
    "tanh": lambda x: math.TanhOp(x).result,
    "sqrt": lambda x: math.SqrtOp(x).result,
    "rsqrt": lambda x: math.RsqrtOp(x).result,
    "erf": lambda x: math.ErfOp(x).result,
    "sin": lambda x: math.SinOp(x).result,
    "cos": lambda x: math.CosOp(x).result,
}

_FLOAT_BINARY: dict[str, Callable[[SSAValue, SSAValue], SSAValue]] = {
    "add": lambda a, b: arith.AddfOp(a, b).result,
    "sub": lambda a, b: arith.SubfOp(a, b).result,
    "mul": lambda a, b: arith.MulfOp(a, b).result,
    "div": lambda a, b: arith.DivfOp(a, b).result,
    # NumPy's maximum/minimum propagate NaN, as arith.maximumf/minimumf do.
    "max": lambda a, b: arith.MaximumfOp(a, b).result,
    "min": lambda a, b: arith.MinimumfOp(a, b).result,
    "pow": lambda a, b: math.PowFOp(a, b).result,
}

_INT_BINARY: dict[str, Callable[[SSAValue, SSAValue], SSAValue]] = {
    "add": lambda a, b: arith.AddiOp(a, b).result,
    "sub": lambda a, b: arith.SubiOp(a, b).result,
    "mul": lambda a, b: arith.MuliOp(a, b).result,
    "max": lambda a, b: int_extremum("max", a, b),
    "min": lambda a, b: int_extremum("min", a, b),
}


def int_extremum(op: str, a: SSAValue, b: SSAValue) -> SSAValue:
    """max or min of two integers as cmpi + select (booleans compare unsigned, as NumPy's).

    A select on a comparison says it in ops every backend and the NumPy interpreter know.
    """
    assert isinstance(a.type, IntegerType)
    unsigned = a.type.width.data == 1
    predicate = ("ugt" if unsigned else "sgt") if op == "max" else ("ult" if unsigned else "slt")
    return arith.SelectOp(arith.CmpiOp(a, b, predicate).result, a, b).result


def scalar_op(op: str, args: Sequence[SSAValue]) -> SSAValue:
    """The scalar body of elementwise `op` on block arguments `args`."""
    operand_type = args[-1].type
    floating = isinstance(operand_type, AnyFloat)
    if op == "where":
        return arith.SelectOp(args[0], args[1], args[2]).result
    if op in _FLOAT_PREDICATES:
        if floating:
            return arith.CmpfOp(args[0], args[1], _FLOAT_PREDICATES[op]).result
        return arith.CmpiOp(args[0], args[1], _INT_PREDICATES[op]).result
    if floating:
        if op in _FLOAT_UNARY:
            return _FLOAT_UNARY[op](args[0])
        if op in _FLOAT_BINARY:
            return _FLOAT_BINARY[op](args[0], args[1])
        if op == "reciprocal":
            return arith.DivfOp(scalar(1.0, operand_type), args[0]).result
        if op == "sigmoid":
            # 1 / (1 + exp(-x)), as torch-mlir decomposes it.
            e = math.ExpOp(arith.NegfOp(args[0]).result).result
            one = scalar(1.0, operand_type)
            return arith.DivfOp(one, arith.AddfOp(one, e).result).result
        if op == "relu":
            return arith.MaximumfOp(args[0], scalar(0.0, operand_type)).result
    else:
        if op in _INT_BINARY:
            return _INT_BINARY[op](args[0], args[1])
        if op == "neg":
            return arith.SubiOp(scalar(0, operand_type), args[0]).result
        if op == "abs":
            return math.AbsIOp(args[0]).result
        if op == "relu":
            return int_extremum("max", args[0], scalar(0, operand_type))
    raise EmitError(f"elementwise {op} on {operand_type} has no arith/math form")


def emit_full(node: Node, operands: Sequence[SSAValue]) -> SSAValue:
    """full -> `arith.constant dense<v>` (a splat)."""
    value, shape, dtype = node.attrs
    return splat(value, shape, dtype)


def emit_scale(node: Node, operands: Sequence[SSAValue]) -> SSAValue:
    """scale -> a generic multiplying by the scalar (the constant lives in the body)."""
    (s,) = node.attrs

    def body(args: Sequence[SSAValue]) -> list[SSAValue]:
        factor = scalar(s, args[0].type)
        if isinstance(args[0].type, AnyFloat):
            return [arith.MulfOp(args[0], factor).result]
        return [arith.MuliOp(args[0], factor).result]

    return _pointwise(node, operands, body)


def emit_elementwise(node: Node, operands: Sequence[SSAValue]) -> SSAValue:
    """elementwise -> one generic whose body is the op's arith/math form."""
    (op,) = node.attrs
    return _pointwise(node, operands, lambda args: [scalar_op(op, args[:-1])])


def _pointwise(
    node: Node,
    operands: Sequence[SSAValue],
    body: Callable[[Sequence[SSAValue]], list[SSAValue]],
) -> SSAValue:
    shape = node.shape
    maps = [broadcast_map(_shape(v), shape) for v in operands]
    maps.append(affine_map(len(shape), range(len(shape))))
    init = empty(shape, node.dtype)
    return generic(operands, [init], maps, ["parallel"] * len(shape), body)[0]


def _shape(value: SSAValue) -> tuple[int, ...]:
    assert isinstance(value.type, TensorType)
    return tuple(value.type.get_shape())


def cast_scalar(x: SSAValue, to: Attribute) -> SSAValue:
    """Convert one scalar to element type `to` as NumPy's astype does."""
    src = x.type
    if src == to:
        return x
    if isinstance(src, AnyFloat) and isinstance(to, AnyFloat):
        if src.bitwidth < to.bitwidth:
            return arith.ExtFOp(x, to).result
        return arith.TruncFOp(x, to).result
    if isinstance(to, IntegerType) and to.width.data == 1:
        if isinstance(src, AnyFloat):
            return arith.CmpfOp(x, scalar(0.0, src), "une").result
        return arith.CmpiOp(x, scalar(0, src), "ne").result
    if isinstance(src, IntegerType) and isinstance(to, AnyFloat):
        if src.width.data == 1:
            return arith.UIToFPOp(x, to).result
        return arith.SIToFPOp(x, to).result
    if isinstance(src, AnyFloat) and isinstance(to, IntegerType):
        return arith.FPToSIOp(x, to).result
    if isinstance(src, IntegerType) and isinstance(to, IntegerType):
        if src.width.data == 1:
            return arith.ExtUIOp(x, to).result
        if src.width.data < to.width.data:
            return arith.ExtSIOp(x, to).result
        return arith.TruncIOp(x, to).result
    raise EmitError(f"cast from {src} to {to} is not supported")


def emit_cast(node: Node, operands: Sequence[SSAValue]) -> SSAValue:
    """cast -> a generic with extf/truncf (or the integer conversions)."""
    to = element_type(node.dtype)
    return _pointwise(node, operands, lambda args: [cast_scalar(args[0], to)])


_REDUCE_INIT = {"sum": 0.0, "mean": 0.0, "max": -pymath.inf, "min": pymath.inf}


def _int_reduce_init(op: str, dtype: str) -> int:
    """The identity of an integer sum/max/min (booleans: any = max from 0, all = min from 1)."""
    width = int(dtype[1:])
    if op == "sum":
        return 0
    if width == 1:
        return 0 if op == "max" else 1
    return -(2 ** (width - 1)) if op == "max" else 2 ** (width - 1) - 1


def emit_reduce(node: Node, operands: Sequence[SSAValue]) -> SSAValue:
    """reduce -> a reduction generic into a filled init (then a division for mean)."""
    op, axes, keepdims = node.attrs
    (x,) = operands
    in_shape = _shape(x)
    rank = len(in_shape)
    reduced = sorted({a % rank for a in axes})
    floating = is_float_value(x)
    if not floating and op == "mean":
        raise EmitError("reduce mean of integers is not supported")
    if keepdims:
        out_results = [None if a in reduced else a for a in range(rank)]
    else:
        out_results = [a for a in range(rank) if a not in reduced]
    maps = [affine_map(rank, range(rank)), affine_map(rank, out_results)]
    iterators = ["reduction" if a in reduced else "parallel" for a in range(rank)]
    init = filled(
        _REDUCE_INIT[op] if floating else _int_reduce_init(op, node.dtype), node.shape, node.dtype
    )

    def body(args: Sequence[SSAValue]) -> list[SSAValue]:
        if op in ("sum", "mean"):
            if floating:
                return [arith.AddfOp(args[0], args[1]).result]
            return [arith.AddiOp(args[0], args[1]).result]
        if not floating:
            return [int_extremum(op, args[0], args[1])]
        fn = arith.MaximumfOp if op == "max" else arith.MinimumfOp
        return [fn(args[0], args[1]).result]

    total = generic([x], [init], maps, iterators, body)[0]
    if op != "mean":
        return total
    count = numel([in_shape[a] for a in reduced])
    out_rank = len(node.shape)
    return generic(
        [total],
        [empty(node.shape, node.dtype)],
        [affine_map(out_rank, range(out_rank))] * 2,
        ["parallel"] * out_rank,
        lambda args: [arith.DivfOp(args[0], scalar(float(count), args[0].type)).result],
    )[0]


def is_float_value(value: SSAValue) -> bool:
    """Whether a tensor value has a floating-point element type."""
    assert isinstance(value.type, TensorType)
    return isinstance(value.type.get_element_type(), AnyFloat)
