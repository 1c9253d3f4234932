"""Reference semantics of the `mirage` dialect on xDSL's interpreter framework.

Runtime values are NumPy arrays (not xDSL's `ShapedArray`): one array per
tensor, with dtype float16, float32 or float64 from the element type.  NumPy
has no bfloat16, so a bf16 tensor is a float32 array whose values are rounded
to bf16 after every op.  `ShapedArray` inputs (from xDSL's own interpreters)
are accepted and converted.  The arithmetic is `mirage_numpy`'s.

`mirage.kernel` runs its body.  Kernel bodies may also hold linalg, tensor,
arith and math ops on tensors; `mirage_interpreter` registers NumPy versions
of those (`mirage_elementwise`, `mirage_linalg`) over xDSL's scalar ones.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from xdsl.dialects.builtin import (
    DYNAMIC_INDEX,
    BFloat16Type,
    Float16Type,
    Float32Type,
    Float64Type,
    ModuleOp,
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
from xdsl.interpreters.shaped_array import ShapedArray
from xdsl.ir import Attribute, SSAValue

from mirage_mlir.dialects import mirage
from mirage_mlir.interpreters import mirage_numpy as ref


def numpy_dtype(element_type: Attribute) -> np.dtype:
    """The NumPy dtype that holds values of a float element type."""
    if isinstance(element_type, Float16Type):
        return np.dtype(np.float16)
    if isinstance(element_type, BFloat16Type | Float32Type):
        return np.dtype(np.float32)
    if isinstance(element_type, Float64Type):
        return np.dtype(np.float64)
    raise ValueError(f"no NumPy dtype for element type {element_type}")


def to_array(interpreter: Interpreter, value: Any, value_type: Attribute) -> np.ndarray:
    """Convert a runtime value to an array of `value_type`, checking static dims."""
    assert isinstance(value_type, TensorType)
    if isinstance(value, ShapedArray):
        value = np.asarray(value.data).reshape(value.shape)
    element_type = value_type.get_element_type()
    array = np.asarray(value, dtype=numpy_dtype(element_type))
    if isinstance(element_type, BFloat16Type):
        array = ref.round_to_bfloat16(array)
    shape = value_type.get_shape()
    interpreter.interpreter_assert(
        array.ndim == len(shape)
        and all(d in (DYNAMIC_INDEX, n) for d, n in zip(shape, array.shape)),
        f"runtime shape {array.shape} does not match type {value_type}",
    )
    return array


def from_array(array: np.ndarray, value_type: Attribute) -> np.ndarray:
    """Convert a computed array to the runtime value of a result of `value_type`."""
    assert isinstance(value_type, TensorType)
    element_type = value_type.get_element_type()
    out = np.asarray(array, dtype=numpy_dtype(element_type))
    if isinstance(element_type, BFloat16Type):
        out = ref.round_to_bfloat16(out)
    return out


def _operands(
    interpreter: Interpreter, operands: Sequence[SSAValue], args: PythonValues
) -> list[np.ndarray]:
    return [to_array(interpreter, a, v.type) for a, v in zip(args, operands)]


@register_impls
class MirageFunctions(InterpreterFunctions):
    """NumPy implementations of every `mirage` op."""

    @impl(mirage.MatmulOp)
    def run_matmul(
        self, interpreter: Interpreter, op: mirage.MatmulOp, args: PythonValues
    ) -> PythonValues:
        lhs, rhs = _operands(interpreter, op.operands, args)
        out = ref.matmul(
            lhs,
            rhs,
            transpose_a=op.transpose_lhs is not None,
            transpose_b=op.transpose_rhs is not None,
        )
        return (from_array(out, op.result.type),)

    @impl(mirage.SoftmaxOp)
    def run_softmax(
        self, interpreter: Interpreter, op: mirage.SoftmaxOp, args: PythonValues
    ) -> PythonValues:
        (x,) = _operands(interpreter, op.operands, args)
        return (from_array(ref.softmax(x, op.normalized_axis), op.result.type),)

    @impl(mirage.AttentionOp)
    def run_attention(
        self, interpreter: Interpreter, op: mirage.AttentionOp, args: PythonValues
    ) -> PythonValues:
        arrays = _operands(interpreter, op.operands, args)
        mask = arrays[3] if op.mask is not None else None
        out = ref.attention(
            *arrays[:3],
            scale=op.scale.value.data,
            causal=op.causal is not None,
            mask=mask,
        )
        return (from_array(out, op.result.type),)

    @impl(mirage.RmsNormOp)
    def run_rms_norm(
        self, interpreter: Interpreter, op: mirage.RmsNormOp, args: PythonValues
    ) -> PythonValues:
        x, weight = _operands(interpreter, op.operands, args)
        out = ref.rms_norm(x, weight, op.eps.value.data)
        return (from_array(out, op.result.type),)

    @impl(mirage.LayerNormOp)
    def run_layer_norm(
        self, interpreter: Interpreter, op: mirage.LayerNormOp, args: PythonValues
    ) -> PythonValues:
        x, weight, bias = _operands(interpreter, op.operands, args)
        out = ref.layer_norm(x, weight, bias, op.eps.value.data)
        return (from_array(out, op.result.type),)

    @impl(mirage.BatchNormOp)
    def run_batch_norm(
        self, interpreter: Interpreter, op: mirage.BatchNormOp, args: PythonValues
    ) -> PythonValues:
        x, gamma, beta, mean, var = _operands(interpreter, op.operands, args)
        interpreter.interpreter_assert(
            x.size // x.shape[1] > 1,
            f"mirage.batch_norm: input of shape {x.shape} has only one value "
            "per channel",
        )
        outs = ref.batch_norm(
            x, gamma, beta, mean, var, op.eps.value.data, op.momentum.value.data
        )
        return tuple(from_array(o, r.type) for o, r in zip(outs, op.results))

    @impl(mirage.ConcatOp)
    def run_concat(
        self, interpreter: Interpreter, op: mirage.ConcatOp, args: PythonValues
    ) -> PythonValues:
        arrays = _operands(interpreter, op.operands, args)
        out = ref.concat(arrays, op.normalized_axis)
        return (from_array(out, op.result.type),)

    @impl(mirage.SliceOp)
    def run_slice(
        self, interpreter: Interpreter, op: mirage.SliceOp, args: PythonValues
    ) -> PythonValues:
        (x,) = _operands(interpreter, op.operands, args)
        out = ref.strided_slice(x, op.offsets, op.sizes, op.strides)
        return (from_array(out, op.result.type),)

    @impl(mirage.KernelOp)
    def run_kernel(
        self, interpreter: Interpreter, op: mirage.KernelOp, args: PythonValues
    ) -> PythonValues:
        inputs = _operands(interpreter, op.operands, args)
        outs = interpreter.run_ssacfg_region(op.body, tuple(inputs), "mirage.kernel")
        return tuple(
            from_array(to_array(interpreter, o, r.type), r.type)
            for o, r in zip(outs, op.results)
        )

    @impl_terminator(mirage.YieldOp)
    def run_yield(
        self, interpreter: Interpreter, op: mirage.YieldOp, args: PythonValues
    ) -> tuple[TerminatorValue, PythonValues]:
        return ReturnedValues(args), ()


def mirage_interpreter(module: ModuleOp) -> Interpreter:
    """An interpreter for modules of func, mirage, linalg, tensor, arith and math ops
    (and `cf.assert`).

    The NumPy tensor implementations replace xDSL's scalar arith and math
    ones; they accept scalars too, so linalg bodies still run.
    """
    from xdsl.interpreters.func import FuncFunctions

    from mirage_mlir.interpreters.mirage_elementwise import TensorArithFunctions
    from mirage_mlir.interpreters.mirage_linalg import linalg_functions_for

    interpreter = Interpreter(module)
    interpreter.register_implementations(FuncFunctions())
    interpreter.register_implementations(MirageFunctions())
    interpreter.register_implementations(TensorArithFunctions(), override=True)
    interpreter.register_implementations(linalg_functions_for(module), override=True)
    return interpreter


def run_function(
    module: ModuleOp, function: str, *arrays: np.ndarray
) -> list[np.ndarray]:
    """Call `func.func @function` in `module` on NumPy arrays; return its results."""
    interpreter = mirage_interpreter(module)
    return [np.asarray(r) for r in interpreter.call_op(function, tuple(arrays))]
