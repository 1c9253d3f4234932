"""NumPy implementations of arith, math, tensor and cf ops for `mirage.kernel` bodies.

xDSL's own arith and math interpreters work on Python scalars.  These work on
NumPy arrays (whole tensors, or the vectorised loop space of a linalg body,
see `mirage_linalg`) and on scalars alike, so they replace xDSL's versions in
`mirage_interpreter`.  Integer arithmetic is NumPy int64 without wrap-around
(the indices and counts linalg bodies compute); unsigned comparisons treat
values as non-negative, and `arith.uitofp` reads its operand's bits as an
unsigned number.  `tensor.extract` with array indices is a gather, and
`cf.assert` fails the run unless every element of its condition holds (the
bounds checks torch-mlir writes around an embedding lookup).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from xdsl.dialects import arith, cf, math, tensor
from xdsl.dialects.builtin import (
    DYNAMIC_INDEX,
    BFloat16Type,
    DenseIntOrFPElementsAttr,
    FloatAttr,
    IndexType,
    IntegerAttr,
    IntegerType,
    TensorType,
)
from xdsl.interpreter import (
    InterpretationError,
    Interpreter,
    InterpreterFunctions,
    PythonValues,
    impl,
    register_impls,
)
from xdsl.interpreters.shaped_array import ShapedArray
from xdsl.ir import Attribute

from mirage_mlir.dialects import tensor as fixed_tensor
from mirage_mlir.interpreters import mirage_numpy as ref
from mirage_mlir.interpreters.mirage import numpy_dtype


def element_dtype(value_type: Attribute) -> np.dtype:
    """The NumPy dtype of a scalar or tensor type's elements (bf16 held as float32)."""
    element = (
        value_type.get_element_type()
        if isinstance(value_type, TensorType)
        else value_type
    )
    if isinstance(element, IntegerType) and element.width.data == 1:
        return np.dtype(np.bool_)
    if isinstance(element, IntegerType | IndexType):
        return np.dtype(np.int64)
    return numpy_dtype(element)


def cast_to(value: Any, value_type: Attribute) -> Any:
    """Convert a computed value to `value_type`'s dtype, rounding bf16."""
    out = np.asarray(value, dtype=element_dtype(value_type))
    element = (
        value_type.get_element_type()
        if isinstance(value_type, TensorType)
        else value_type
    )
    if isinstance(element, BFloat16Type):
        out = ref.round_to_bfloat16(out)
    return out


def _compare_floats(predicate: int, a: Any, b: Any) -> Any:
    """arith.cmpf: predicates 0-15 in MLIR's order (ordered, then unordered)."""
    a, b = np.asarray(a), np.asarray(b)
    ordered = ~(np.isnan(a) | np.isnan(b))
    relations = {
        1: np.equal,
        2: np.greater,
        3: np.greater_equal,
        4: np.less,
        5: np.less_equal,
        6: np.not_equal,
    }
    if predicate == 0:
        return np.zeros(np.broadcast(a, b).shape, dtype=bool)
    if predicate == 15:
        return np.ones(np.broadcast(a, b).shape, dtype=bool)
    if predicate == 7:
        return ordered
    if predicate == 14:
        return ~ordered
    if predicate <= 6:
        return ordered & relations[predicate](a, b)
    return ~ordered | relations[predicate - 7](a, b)


def _compare_ints(predicate: int, a: Any, b: Any) -> Any:
    """arith.cmpi: eq, ne, slt, sle, sgt, sge, ult, ule, ugt, uge."""
    relations = [
        np.equal,
        np.not_equal,
        np.less,
        np.less_equal,
        np.greater,
        np.greater_equal,
    ]
    if predicate >= 6:
        predicate -= 4
    return relations[predicate](a, b)


@register_impls
class TensorArithFunctions(InterpreterFunctions):
    """arith, math and tensor ops on NumPy arrays and scalars."""

    @impl(arith.ConstantOp)
    def run_constant(
        self, interpreter: Interpreter, op: arith.ConstantOp, args: PythonValues
    ) -> PythonValues:
        value = op.value
        if isinstance(value, DenseIntOrFPElementsAttr):
            shape = value.get_shape()
            values = np.asarray(value.get_values(), dtype=element_dtype(value.type))
            if values.size == 1:
                # A splat, or the single value of a 0-d tensor: NumPy will not broadcast a
                # one-element array to shape (), so take the scalar first.
                return (np.full(shape, values.reshape(-1)[0], dtype=values.dtype),)
            return (values.reshape(shape),)
        if isinstance(value, FloatAttr):
            return (cast_to(value.value.data, op.result.type)[()],)
        if isinstance(value, IntegerAttr):
            return (cast_to(value.value.data, op.result.type)[()],)
        interpreter.raise_error(f"arith.constant of {value} is not supported")

    def _binary(self, op: Any, args: PythonValues, fn: Any) -> PythonValues:
        return (cast_to(fn(args[0], args[1]), op.result.type),)

    @impl(arith.AddfOp)
    def run_addf(self, interpreter: Interpreter, op: arith.AddfOp, args: PythonValues):
        return self._binary(op, args, np.add)

    @impl(arith.SubfOp)
    def run_subf(self, interpreter: Interpreter, op: arith.SubfOp, args: PythonValues):
        return self._binary(op, args, np.subtract)

    @impl(arith.MulfOp)
    def run_mulf(self, interpreter: Interpreter, op: arith.MulfOp, args: PythonValues):
        return self._binary(op, args, np.multiply)

    @impl(arith.DivfOp)
    def run_divf(self, interpreter: Interpreter, op: arith.DivfOp, args: PythonValues):
        with np.errstate(divide="ignore", invalid="ignore"):
            return self._binary(op, args, np.divide)

    @impl(arith.MaximumfOp)
    def run_maximumf(
        self, interpreter: Interpreter, op: arith.MaximumfOp, args: PythonValues
    ):
        return self._binary(op, args, np.maximum)

    @impl(arith.MinimumfOp)
    def run_minimumf(
        self, interpreter: Interpreter, op: arith.MinimumfOp, args: PythonValues
    ):
        return self._binary(op, args, np.minimum)

    @impl(arith.MaxnumfOp)
    def run_maxnumf(
        self, interpreter: Interpreter, op: arith.MaxnumfOp, args: PythonValues
    ):
        return self._binary(op, args, np.fmax)

    @impl(arith.MinnumfOp)
    def run_minnumf(
        self, interpreter: Interpreter, op: arith.MinnumfOp, args: PythonValues
    ):
        return self._binary(op, args, np.fmin)

    @impl(arith.AddiOp)
    def run_addi(self, interpreter: Interpreter, op: arith.AddiOp, args: PythonValues):
        return self._binary(op, args, np.add)

    @impl(arith.SubiOp)
    def run_subi(self, interpreter: Interpreter, op: arith.SubiOp, args: PythonValues):
        return self._binary(op, args, np.subtract)

    @impl(arith.MuliOp)
    def run_muli(self, interpreter: Interpreter, op: arith.MuliOp, args: PythonValues):
        return self._binary(op, args, np.multiply)

    # Bitwise ops: on i1 they are the logic of masks (causal masks combine comparisons).
    @impl(arith.AndIOp)
    def run_andi(self, interpreter: Interpreter, op: arith.AndIOp, args: PythonValues):
        return self._binary(op, args, np.bitwise_and)

    @impl(arith.OrIOp)
    def run_ori(self, interpreter: Interpreter, op: arith.OrIOp, args: PythonValues):
        return self._binary(op, args, np.bitwise_or)

    @impl(arith.XOrIOp)
    def run_xori(self, interpreter: Interpreter, op: arith.XOrIOp, args: PythonValues):
        return self._binary(op, args, np.bitwise_xor)

    @impl(arith.NegfOp)
    def run_negf(self, interpreter: Interpreter, op: arith.NegfOp, args: PythonValues):
        return (cast_to(np.negative(args[0]), op.result.type),)

    @impl(arith.CmpfOp)
    def run_cmpf(self, interpreter: Interpreter, op: arith.CmpfOp, args: PythonValues):
        return (_compare_floats(op.predicate.value.data, args[0], args[1]),)

    @impl(arith.CmpiOp)
    def run_cmpi(self, interpreter: Interpreter, op: arith.CmpiOp, args: PythonValues):
        return (_compare_ints(op.predicate.value.data, args[0], args[1]),)

    @impl(arith.SelectOp)
    def run_select(
        self, interpreter: Interpreter, op: arith.SelectOp, args: PythonValues
    ):
        return (cast_to(np.where(args[0], args[1], args[2]), op.result.type),)

    @impl(arith.ExtFOp)
    def run_extf(self, interpreter: Interpreter, op: arith.ExtFOp, args: PythonValues):
        return (cast_to(args[0], op.result.type),)

    @impl(arith.TruncFOp)
    def run_truncf(
        self, interpreter: Interpreter, op: arith.TruncFOp, args: PythonValues
    ):
        return (cast_to(args[0], op.result.type),)

    @impl(arith.SIToFPOp)
    def run_sitofp(
        self, interpreter: Interpreter, op: arith.SIToFPOp, args: PythonValues
    ):
        return (cast_to(args[0], op.result.type),)

    @impl(arith.UIToFPOp)
    def run_uitofp(
        self, interpreter: Interpreter, op: arith.UIToFPOp, args: PythonValues
    ):
        source = op.input.type
        value = np.asarray(args[0])
        if isinstance(source, IntegerType) and source.width.data > 1:
            # Values are held signed (int64): a negative one is a number with its top
            # bit set, 2**width more than it reads.
            value = value.astype(np.int64) % (1 << source.width.data)
        return (cast_to(value, op.result.type),)

    @impl(arith.IndexCastOp)
    def run_index_cast(
        self, interpreter: Interpreter, op: arith.IndexCastOp, args: PythonValues
    ):
        return (cast_to(args[0], op.result.type),)

    def _unary(self, op: Any, args: PythonValues, fn: Any) -> PythonValues:
        with np.errstate(divide="ignore", invalid="ignore"):
            return (cast_to(fn(args[0]), op.result.type),)

    @impl(math.ExpOp)
    def run_exp(self, interpreter: Interpreter, op: math.ExpOp, args: PythonValues):
        return self._unary(op, args, np.exp)

    @impl(math.LogOp)
    def run_log(self, interpreter: Interpreter, op: math.LogOp, args: PythonValues):
        return self._unary(op, args, np.log)

    @impl(math.SqrtOp)
    def run_sqrt(self, interpreter: Interpreter, op: math.SqrtOp, args: PythonValues):
        return self._unary(op, args, np.sqrt)

    @impl(math.RsqrtOp)
    def run_rsqrt(
        self, interpreter: Interpreter, op: math.RsqrtOp, args: PythonValues
    ):
        return self._unary(op, args, lambda x: 1.0 / np.sqrt(x))

    @impl(math.TanhOp)
    def run_tanh(self, interpreter: Interpreter, op: math.TanhOp, args: PythonValues):
        return self._unary(op, args, np.tanh)

    @impl(math.AbsFOp)
    def run_absf(self, interpreter: Interpreter, op: math.AbsFOp, args: PythonValues):
        return self._unary(op, args, np.abs)

    @impl(math.ErfOp)
    def run_erf(self, interpreter: Interpreter, op: math.ErfOp, args: PythonValues):
        from scipy.special import erf

        return self._unary(op, args, erf)

    @impl(math.PowFOp)
    def run_powf(self, interpreter: Interpreter, op: math.PowFOp, args: PythonValues):
        return (cast_to(np.power(args[0], args[1]), op.result.type),)

    @impl(tensor.EmptyOp)
    def run_empty(
        self, interpreter: Interpreter, op: tensor.EmptyOp, args: PythonValues
    ):
        result_type = op.tensor.type
        assert isinstance(result_type, TensorType)
        dynamic = iter(int(a) for a in args)
        shape = [
            next(dynamic) if d == DYNAMIC_INDEX else d
            for d in result_type.get_shape()
        ]
        return (np.zeros(shape, dtype=element_dtype(result_type)),)

    @impl(tensor.ExtractOp)
    def run_extract(
        self, interpreter: Interpreter, op: tensor.ExtractOp, args: PythonValues
    ):
        # Inside a linalg body run on its whole loop space at once, the indices are arrays
        # and the extraction is a gather.
        source, *indices = args
        if isinstance(source, ShapedArray):
            array = np.asarray(source.data).reshape(source.shape)
        else:
            array = np.asarray(source)
        return (array[tuple(np.asarray(i, dtype=np.int64) for i in indices)],)

    @impl(cf.AssertOp)
    def run_assert(
        self, interpreter: Interpreter, op: cf.AssertOp, args: PythonValues
    ):
        if not np.all(args[0]):
            raise InterpretationError(f"assertion failed: {op.msg.data}")
        return ()

    @impl(tensor.ExtractSliceOp)
    def run_extract_slice(
        self, interpreter: Interpreter, op: tensor.ExtractSliceOp, args: PythonValues
    ):
        interpreter.interpreter_assert(
            len(args) == 1, "tensor.extract_slice with dynamic indices is not supported"
        )
        result_type = op.result.type
        assert isinstance(result_type, TensorType)
        sizes = op.static_sizes.get_values()
        out = ref.strided_slice(
            np.asarray(args[0]),
            op.static_offsets.get_values(),
            sizes,
            op.static_strides.get_values(),
        )
        # A rank-reducing slice drops unit dimensions; the result type says which.
        return (out.reshape(result_type.get_shape()),)

    @impl(tensor.CollapseShapeOp)
    def run_collapse_shape(
        self, interpreter: Interpreter, op: tensor.CollapseShapeOp, args: PythonValues
    ):
        return (self._reshape(interpreter, args[0], op.result.type),)

    @impl(tensor.ExpandShapeOp)
    def run_expand_shape(
        self, interpreter: Interpreter, op: tensor.ExpandShapeOp, args: PythonValues
    ):
        return (self._reshape(interpreter, args[0], op.result.type),)

    # The project's tensor dialect (dialects/tensor.py) subclasses the two reshapes, and the
    # interpreter dispatches on the exact op class: parsed modules hold the subclasses.
    @impl(fixed_tensor.CollapseShapeOp)
    def run_fixed_collapse_shape(
        self, interpreter: Interpreter, op: tensor.CollapseShapeOp, args: PythonValues
    ):
        return (self._reshape(interpreter, args[0], op.result.type),)

    @impl(fixed_tensor.ExpandShapeOp)
    def run_fixed_expand_shape(
        self, interpreter: Interpreter, op: tensor.ExpandShapeOp, args: PythonValues
    ):
        return (self._reshape(interpreter, args[0], op.result.type),)

    @staticmethod
    def _reshape(interpreter: Interpreter, value: Any, result_type: Attribute):
        assert isinstance(result_type, TensorType)
        shape = result_type.get_shape()
        interpreter.interpreter_assert(
            DYNAMIC_INDEX not in shape, "reshape to a dynamic shape is not supported"
        )
        return np.asarray(value).reshape(shape)
