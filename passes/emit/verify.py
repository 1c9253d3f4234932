"""End-to-end checking of an optimised function against the original on random inputs.

The original runs through MLIR's JIT (`mirage_mlir.execute_mlir`, linalg only), the optimised
one through the NumPy semantics of mirage + linalg (`interpreters.mirage.run_function`).
Float inputs are uniform in [-1, 1); integer inputs are small non-negative ints; i1 inputs
are random booleans. Results must agree within `atol + rtol * |expected|` elementwise.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from xdsl.dialects import arith, func
from xdsl.dialects.builtin import (
    AnyFloat,
    DenseIntOrFPElementsAttr,
    DenseResourceAttr,
    IntegerType,
    ModuleOp,
    TensorType,
)
from xdsl.ir import Attribute

from mirage_mlir.passes.emit.structured import EmitError


class VerificationError(EmitError):
    """The optimised function computes something else than the original."""


@dataclass(frozen=True)
class Verification:
    """How closely the optimised function matched: the worst absolute error per output."""

    function: str
    max_abs_error: tuple[float, ...]


_FLOAT_DTYPES = {16: np.float16, 32: np.float32, 64: np.float64}


def random_arguments(fn: func.FuncOp, seed: int = 0) -> list[np.ndarray]:
    """Random arrays for every argument of `fn` (static tensor types only)."""
    rng = np.random.default_rng(seed)
    arrays = []
    for index, arg_type in enumerate(fn.function_type.inputs.data):
        arrays.append(_random_array(rng, arg_type, f"@{fn.sym_name.data} argument #{index}"))
    return arrays


def _random_array(rng: np.random.Generator, arg_type: Attribute, what: str) -> np.ndarray:
    if not isinstance(arg_type, TensorType):
        raise VerificationError(f"{what}: cannot make random values of type {arg_type}")
    shape = tuple(arg_type.get_shape())
    if any(d < 0 for d in shape):
        raise VerificationError(f"{what}: cannot make random values of dynamic type {arg_type}")
    elem = arg_type.get_element_type()
    if isinstance(elem, AnyFloat):
        dtype = _FLOAT_DTYPES.get(elem.bitwidth, np.float32)
        return rng.uniform(-1.0, 1.0, shape).astype(dtype)
    if isinstance(elem, IntegerType):
        width = elem.width.data
        if width == 1:
            return rng.random(shape) < 0.5
        ints = {8: np.int8, 16: np.int16, 32: np.int32, 64: np.int64}
        return rng.integers(0, 4, shape).astype(ints.get(width, np.int64))
    raise VerificationError(f"{what}: cannot make random values of type {arg_type}")


def verify_function(
    original_text: str,
    optimized: ModuleOp,
    name: str,
    seed: int = 0,
    rtol: float = 1e-4,
    atol: float = 1e-4,
) -> Verification:
    """Run @name of the original text and of the optimised module on the same random inputs.

    Raises VerificationError naming the function, the output, the largest absolute error
    and the tolerance when they differ.
    """
    from mirage_mlir import execute_mlir

    fn = next(
        (op for op in optimized.walk() if isinstance(op, func.FuncOp) and op.sym_name.data == name),
        None,
    )
    if fn is None:
        raise VerificationError(f"@{name}: no such function in the optimised module")
    arrays = random_arguments(fn, seed)
    expected = execute_mlir(original_text, *arrays, function=name)
    got = run_with_weights(optimized, name, [a.copy() for a in arrays])
    if len(got) != len(expected):
        raise VerificationError(
            f"@{name}: the optimised function returns {len(got)} values, the original {len(expected)}"
        )
    errors = []
    for index, (g, e) in enumerate(zip(got, expected)):
        errors.append(_compare(name, index, np.asarray(g), np.asarray(e), rtol, atol))
    return Verification(name, tuple(errors))


def run_with_weights(module: ModuleOp, name: str, arrays: Sequence[np.ndarray]) -> list[np.ndarray]:
    """Run @name by the NumPy semantics of mirage + linalg, with weights and 0-d constants.

    The mirage interpreter's `arith.constant` reads neither `dense_resource` weights nor
    0-d tensor literals (`dense<1.0> : tensor<f32>`); both are decoded here.
    """
    from xdsl.interpreter import impl, register_impls

    from mirage_mlir.interpreters.mirage import mirage_interpreter
    from mirage_mlir.interpreters.mirage_elementwise import TensorArithFunctions

    @register_impls
    class _Constants(TensorArithFunctions):
        @impl(arith.ConstantOp)
        def run_constant(self, interpreter: Any, op: arith.ConstantOp, args: Any) -> Any:
            value = constant_array(op)
            if value is None:
                # The inherited method is the @impl wrapper: it returns an OpImplResult.
                return super().run_constant(interpreter, op, args).values
            return (value,)

    interpreter = mirage_interpreter(module)
    interpreter.register_implementations(_Constants(), override=True)
    return [np.asarray(r) for r in interpreter.call_op(name, tuple(arrays))]


def constant_array(op: arith.ConstantOp) -> np.ndarray | None:
    """The value of a tensor constant the interpreter cannot read itself, else None."""
    from mirage_mlir.passes.recognize.constants import (
        decode_blob,
        dense_value,
        resource_blob,
        static_tensor_type,
    )

    typed = static_tensor_type(op.result.type)
    if typed is None:
        return None
    shape, dtype = typed
    if isinstance(op.value, DenseResourceAttr):
        blob = resource_blob(op.value)
        if blob is None:
            raise VerificationError(
                f"weight {op.value.resource_handle.data} is not in the module's resources"
            )
        array = decode_blob(blob, shape, dtype)
    elif isinstance(op.value, DenseIntOrFPElementsAttr) and not shape:
        array = dense_value(op.value, shape, dtype)
    else:
        return None
    # bf16 weights are held as float32, as the interpreter holds bf16 tensors.
    return array.astype(np.float32) if dtype == "bf16" else array


def _compare(
    name: str, index: int, got: np.ndarray, expected: np.ndarray, rtol: float, atol: float
) -> float:
    if got.shape != expected.shape:
        raise VerificationError(
            f"@{name}: output #{index} has shape {got.shape}, the original {expected.shape}"
        )
    g, e = got.astype(np.float64), expected.astype(np.float64)
    same_specials = (np.isnan(g) == np.isnan(e)) & ((g == e) | np.isfinite(e))
    diff = np.where(np.isfinite(e) & np.isfinite(g), np.abs(g - e), 0.0)
    error = float(diff.max()) if diff.size else 0.0
    close = same_specials & (diff <= atol + rtol * np.abs(np.where(np.isfinite(e), e, 0.0)))
    if not close.all():
        worst = float(np.abs(g - e)[~close].max()) if (~close).any() else error
        raise VerificationError(
            f"@{name}: output #{index} differs from the original: max abs error {worst:.3g} "
            f"exceeds the tolerance {atol:g} abs + {rtol:g} rel "
            f"({int((~close).sum())} of {close.size} elements)"
        )
    return error


def verify_functions(
    original_text: str, optimized: ModuleOp, names: Sequence[str], seed: int = 0
) -> list[Verification]:
    """verify_function for each name."""
    return [verify_function(original_text, optimized, n, seed) for n in names]
