"""NumPy semantics of the arith, math and scf ops inside Triton kernels.

Values are NumPy arrays (a whole block) or NumPy scalars, with the exact
machine type of the IR: i32 arithmetic wraps around as on the GPU, i1 is
`bool`, f16 is `float16`.  NumPy has no bfloat16, so bf16 values are float32
arrays rounded to bf16 after every op; FP8 types are not supported.  These
differ from `mirage_elementwise` (int64 without wrap-around, for linalg
bodies), so the tt interpreter uses its own.

Division follows MLIR: `divsi`/`remsi` truncate toward zero, `floordivsi`
floors.  Lanes of a block that a mask will discard may divide by zero or
overflow; NumPy's warnings for those are silenced because the GPU does the
same without complaint.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
from xdsl.dialects import arith, math, scf
from xdsl.dialects.builtin import (
    BFloat16Type,
    DenseIntOrFPElementsAttr,
    Float16Type,
    Float32Type,
    Float64Type,
    FloatAttr,
    IndexType,
    IntegerAttr,
    IntegerType,
    TensorType,
)
from xdsl.interpreter import (
    Interpreter,
    InterpreterFunctions,
    PythonValues,
    ReturnedValues,
    TerminatorValue,
    impl,
    impl_terminator,
    register_impls,
)
from xdsl.ir import Attribute

from mirage_mlir.dialects import arith as fixed_arith

_INT_DTYPES = {1: np.bool_, 8: np.int8, 16: np.int16, 32: np.int32, 64: np.int64}


def dtype_of(value_type: Attribute) -> np.dtype:
    """The NumPy dtype of a scalar type or of a tensor type's elements."""
    element = value_type.get_element_type() if isinstance(value_type, TensorType) else value_type
    if isinstance(element, IntegerType) and element.width.data in _INT_DTYPES:
        return np.dtype(_INT_DTYPES[element.width.data])
    if isinstance(element, IndexType):
        return np.dtype(np.int64)
    if isinstance(element, Float16Type):
        return np.dtype(np.float16)
    if isinstance(element, BFloat16Type | Float32Type):
        return np.dtype(np.float32)
    if isinstance(element, Float64Type):
        return np.dtype(np.float64)
    raise NotImplementedError(f"the tt interpreter has no NumPy type for {element}")


def round_to_bfloat16(values: np.ndarray) -> np.ndarray:
    """Round float32 values to the nearest bfloat16 (ties to even), kept as float32."""
    bits = np.asarray(values, dtype=np.float32).view(np.uint32)
    rounded = bits + np.uint32(0x7FFF) + ((bits >> np.uint32(16)) & np.uint32(1))
    out = (rounded & np.uint32(0xFFFF0000)).view(np.float32)
    return np.where(np.isnan(values), values, out)


def as_type(value: Any, value_type: Attribute) -> Any:
    """`value` converted to `value_type`'s dtype (integers wrap, bf16 rounds)."""
    dtype = dtype_of(value_type)
    with np.errstate(all="ignore"):
        array = np.asarray(value)
        if array.dtype.kind == "f" and dtype.kind in "iu":
            array = np.trunc(array)
        out = array.astype(dtype)
    element = value_type.get_element_type() if isinstance(value_type, TensorType) else value_type
    if isinstance(element, BFloat16Type):
        out = round_to_bfloat16(out)
    return out[()] if out.ndim == 0 else out


def _unsigned(value: Any) -> np.ndarray:
    array = np.asarray(value)
    if array.dtype == np.bool_:
        return array
    return array.view(np.dtype(f"uint{array.dtype.itemsize * 8}"))


def _trunc_div(a: Any, b: Any) -> Any:
    a, b = np.asarray(a), np.asarray(b)
    safe = np.where(b == 0, 1, b)
    quotient = np.abs(a) // np.abs(safe)
    return np.where((a < 0) != (safe < 0), -quotient, quotient)


def _compare_ints(predicate: int, a: Any, b: Any) -> Any:
    signed = [np.equal, np.not_equal, np.less, np.less_equal, np.greater, np.greater_equal]
    if predicate < 6:
        return signed[predicate](a, b)
    return signed[predicate - 4](_unsigned(a), _unsigned(b))


def _compare_floats(predicate: int, a: Any, b: Any) -> Any:
    a, b = np.asarray(a), np.asarray(b)
    ordered = ~(np.isnan(a) | np.isnan(b))
    relations = [np.equal, np.greater, np.greater_equal, np.less, np.less_equal, np.not_equal]
    shape = np.broadcast(a, b).shape
    if predicate == 0:
        return np.zeros(shape, dtype=bool)
    if predicate == 15:
        return np.ones(shape, dtype=bool)
    if predicate == 7:
        return ordered
    if predicate == 14:
        return ~ordered
    if predicate <= 6:
        return ordered & relations[predicate - 1](a, b)
    return ~ordered | relations[predicate - 8](a, b)


def _rsqrt(x: Any) -> Any:
    return 1 / np.sqrt(x)


def _erf(x: Any) -> Any:
    from scipy.special import erf

    return erf(x)


# Ops computed by one NumPy function of their operands, then cast to the result type.
_ELEMENTWISE: dict[type, Callable[..., Any]] = {
    arith.AddfOp: np.add,
    arith.SubfOp: np.subtract,
    arith.MulfOp: np.multiply,
    arith.DivfOp: np.divide,
    arith.NegfOp: np.negative,
    arith.MaxnumfOp: np.fmax,
    arith.MinnumfOp: np.fmin,
    arith.MaximumfOp: np.maximum,
    arith.MinimumfOp: np.minimum,
    arith.AddiOp: np.add,
    arith.SubiOp: np.subtract,
    arith.MuliOp: np.multiply,
    arith.DivSIOp: _trunc_div,
    arith.RemSIOp: lambda a, b: np.asarray(a) - np.asarray(b) * _trunc_div(a, b),
    arith.FloorDivSIOp: lambda a, b: np.floor_divide(a, np.where(np.asarray(b) == 0, 1, b)),
    arith.DivUIOp: lambda a, b: _unsigned(a) // np.where(_unsigned(b) == 0, 1, _unsigned(b)),
    arith.RemUIOp: lambda a, b: _unsigned(a) % np.where(_unsigned(b) == 0, 1, _unsigned(b)),
    arith.MaxSIOp: np.maximum,
    arith.MinSIOp: np.minimum,
    arith.MaxUIOp: lambda a, b: np.maximum(_unsigned(a), _unsigned(b)),
    arith.MinUIOp: lambda a, b: np.minimum(_unsigned(a), _unsigned(b)),
    arith.AndIOp: np.bitwise_and,
    arith.OrIOp: np.bitwise_or,
    arith.XOrIOp: np.bitwise_xor,
    arith.ShLIOp: np.left_shift,
    arith.ShRSIOp: np.right_shift,
    arith.ShRUIOp: lambda a, b: _unsigned(a) >> _unsigned(b),
    arith.ExtFOp: lambda a: a,
    arith.TruncFOp: lambda a: a,
    arith.ExtSIOp: lambda a: a,
    arith.ExtUIOp: _unsigned,
    arith.TruncIOp: lambda a: a,
    arith.SIToFPOp: lambda a: a,
    arith.UIToFPOp: _unsigned,
    arith.FPToSIOp: lambda a: a,
    arith.IndexCastOp: lambda a: a,
    math.ExpOp: np.exp,
    math.Exp2Op: np.exp2,
    math.LogOp: np.log,
    math.Log2Op: np.log2,
    math.SqrtOp: np.sqrt,
    math.RsqrtOp: _rsqrt,
    math.TanhOp: np.tanh,
    math.SinOp: np.sin,
    math.CosOp: np.cos,
    math.AbsFOp: np.abs,
    math.AbsIOp: np.abs,
    math.FloorOp: np.floor,
    math.CeilOp: np.ceil,
    math.ErfOp: _erf,
    math.PowFOp: np.power,
    math.FmaOp: lambda a, b, c: np.asarray(a) * b + c,
}


def _elementwise_impl(fn: Callable[..., Any]):
    def run(self: Any, interpreter: Interpreter, op: Any, args: PythonValues) -> PythonValues:
        with np.errstate(all="ignore"):
            return (as_type(fn(*args), op.results[0].type),)

    return run


def _compare_impl(compare: Callable[[int, Any, Any], Any]):
    def run(self: Any, interpreter: Interpreter, op: Any, args: PythonValues) -> PythonValues:
        return (np.asarray(compare(op.predicate.value.data, *args)),)

    return run


def _select(self: Any, interpreter: Interpreter, op: Any, args: PythonValues) -> PythonValues:
    cond, lhs, rhs = args
    if hasattr(lhs, "select"):  # blocks of pointers choose their offsets
        return (lhs.select(cond, rhs),)
    return (as_type(np.where(cond, lhs, rhs), op.result.type),)


def _bitcast(self: Any, interpreter: Interpreter, op: Any, args: PythonValues) -> PythonValues:
    value = np.asarray(args[0])
    out = value.view(dtype_of(op.result.type))
    return (out[()] if out.ndim == 0 else out,)


class _KernelArithBase(InterpreterFunctions):
    """The arith, math and scf ops that are not one NumPy function."""

    @impl(arith.ConstantOp)
    def run_constant(
        self, interpreter: Interpreter, op: arith.ConstantOp, args: PythonValues
    ) -> PythonValues:
        value = op.value
        if isinstance(value, DenseIntOrFPElementsAttr):
            values = np.asarray(value.get_values(), dtype=dtype_of(value.type))
            shape = value.get_shape()
            block = np.broadcast_to(values, shape) if values.size == 1 else values.reshape(shape)
            return (as_type(block, op.result.type),)
        if isinstance(value, FloatAttr | IntegerAttr):
            return (as_type(value.value.data, op.result.type),)
        interpreter.raise_error(f"arith.constant of {value} is not supported")

    @impl(scf.ForOp)
    def run_for(self, interpreter: Interpreter, op: scf.ForOp, args: PythonValues) -> PythonValues:
        lb, ub, step, *carried = args
        values = tuple(carried)
        induction_type = op.lb.type
        for i in range(int(lb), int(ub), int(step)):
            values = interpreter.run_ssacfg_region(
                op.body, (as_type(i, induction_type), *values), "scf.for"
            )
        return values

    @impl(scf.IfOp)
    def run_if(self, interpreter: Interpreter, op: scf.IfOp, args: PythonValues) -> PythonValues:
        region = op.true_region if bool(args[0]) else op.false_region
        return interpreter.run_ssacfg_region(region, (), "scf.if")

    @impl_terminator(scf.YieldOp)
    def run_yield(
        self, interpreter: Interpreter, op: scf.YieldOp, args: PythonValues
    ) -> tuple[TerminatorValue, PythonValues]:
        return ReturnedValues(args), ()


def _table() -> dict[str, Any]:
    methods: dict[str, Any] = {
        "__doc__": "NumPy implementations of the arith, math and scf ops of Triton kernels."
    }

    def add(op_type: type, run: Callable[..., Any]) -> None:
        methods[f"run_{op_type.__module__}_{op_type.__name__}"] = impl(op_type)(run)

    for op_type, fn in _ELEMENTWISE.items():
        add(op_type, _elementwise_impl(fn))
    # Scalar comparisons and selects are xDSL's classes, blocks the repaired ones.
    for op_type in (arith.CmpiOp, fixed_arith.CmpiOp):
        add(op_type, _compare_impl(_compare_ints))
    for op_type in (arith.CmpfOp, fixed_arith.CmpfOp):
        add(op_type, _compare_impl(_compare_floats))
    for op_type in (arith.SelectOp, fixed_arith.SelectOp):
        add(op_type, _select)
    add(arith.BitcastOp, _bitcast)
    return methods


KernelArithFunctions = register_impls(
    type("KernelArithFunctions", (_KernelArithBase,), _table())
)
"""The arith, math and scf implementations the tt interpreter registers."""
