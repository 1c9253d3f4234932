"""End-to-end checking of an optimised function: both it and the original are judged against
a float64 evaluation of the original.

Three runs on the same random inputs:

- the original, through MLIR's JIT (`mirage_mlir.execute_mlir`, linalg only), as written;
- its float64 twin, through the same JIT: the original function with every float type
  narrower than f64 widened to f64 (passes/emit/widen.py), on the same inputs converted
  exactly to float64. This is the reference;
- the optimised function, through the NumPy semantics of mirage + linalg
  (`interpreters.mirage.run_function`).

Why this reference: it is the program the user wrote, not a rewrite of it, run by the same
independent executor as the original, so a recognition or rewrite bug cannot leak into it
(evaluating the recognised term graph in float64 would share recognition with the optimised
program). Widening only removes roundings, overflows and underflows, so where the original
overflows (exp(13.9) is inf in fp16) the reference still holds the value the program means,
and a rewrite that is more accurate than the original (a max-subtracted softmax) is judged
right rather than different. The judgement (accuracy.py) is elementwise: the optimised value
may be more accurate than the original by any amount, and less accurate by at most the
tolerance, so a rewrite that overflows where the original did not fails. Where no twin can be
built or compiled (an op whose meaning depends on a narrow float type), the original itself
is the reference, as the report's `verify_reference` says.

Float inputs are uniform in [-1, 1) (bf16 inputs rounded to bf16 and held as float32, as the
interpreter holds them); integer inputs are small non-negative ints; i1 inputs are random
booleans. Tolerances (atol + rtol * |reference|) are 1e-4 for f32 and f64 outputs and 8 units
in the last place at 1.0 for the narrow floats: 2**-7 (about 7.8e-3) for f16 and 2**-4
(6.25e-2) for bf16, whose rounding at every stage of the original differs from a reordered
program's by a few units.

MLIR's execution engine cannot take bf16 arrays at a function's boundary, so a bf16 function
is run through a wrapper that takes and returns f32 and converts at its boundary (the
function itself still runs in bf16). The original, its wrappers and its twins are compiled as
one module, once.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from xdsl.dialects import arith, func, tensor
from xdsl.dialects.builtin import (
    AnyFloat,
    BFloat16Type,
    DenseIntOrFPElementsAttr,
    DenseResourceAttr,
    IntegerType,
    ModuleOp,
    TensorType,
)
from xdsl.ir import Attribute, SSAValue

from mirage_mlir.passes.emit.accuracy import OutputCheck, judge_output
from mirage_mlir.passes.emit.structured import EmitError


class VerificationError(EmitError):
    """The optimised function computes something else than the original."""


@dataclass(frozen=True)
class Verification:
    """How the optimised function and the original compare with the reference.

    `max_abs_error` is the optimised function's worst absolute error per output against
    the reference; `reference` is "float64" (the original's float64 twin) or "original"
    (no twin could be run: `note` says why); `outputs` has the details per output.
    """

    function: str
    max_abs_error: tuple[float, ...]
    reference: str = "float64"
    outputs: tuple[OutputCheck, ...] = ()
    note: str = ""

    @property
    def original_overflowed(self) -> bool:
        """Whether the original is inf or NaN where the float64 reference is finite."""
        return any(o.original_nonfinite for o in self.outputs)

    def summary(self) -> str:
        """One sentence on the original's and the optimised function's accuracy."""
        if self.reference != "float64":
            return f"judged against the original ({self.note})" if self.note else (
                "judged against the original"
            )
        parts = []
        for index, out in enumerate(self.outputs):
            if not out.original_wrong and not out.optimized_wrong:
                continue
            parts.append(
                f"output #{index}: against float64 the original is wrong on "
                f"{out.original_wrong} of {out.elements} elements ({out.original_nonfinite} "
                f"of them inf or NaN{', it overflowed' if out.original_nonfinite else ''}), "
                f"the optimised function on {out.optimized_wrong}"
            )
        if not parts:
            return "the original and the optimised function agree with float64"
        return "; ".join(parts)


_FLOAT_DTYPES = {16: np.float16, 32: np.float32, 64: np.float64}

#: (rtol, atol) by the element type of an output.
_TOLERANCES = {"f16": (2.0**-7, 2.0**-7), "bf16": (2.0**-4, 2.0**-4)}
_DEFAULT_TOLERANCE = (1e-4, 1e-4)


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
    if isinstance(elem, BFloat16Type):
        from mirage_mlir.interpreters.mirage_numpy import round_to_bfloat16

        return round_to_bfloat16(rng.uniform(-1.0, 1.0, shape).astype(np.float32))
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
    rtol: float | None = None,
    atol: float | None = None,
) -> Verification:
    """Judge @name of the optimised module and of the original text against the original's
    float64 twin, on the same random inputs.

    The tolerances default to those of each output's element type (see the module
    docstring). Raises VerificationError naming the function, the output, the errors and the
    tolerance where the optimised function is less accurate than the original.
    """

    fn = next(
        (op for op in optimized.walk() if isinstance(op, func.FuncOp) and op.sym_name.data == name),
        None,
    )
    if fn is None:
        raise VerificationError(f"@{name}: no such function in the optimised module")
    arrays = random_arguments(fn, seed)
    reference = run_reference(original_text, name, arrays)
    expected = reference.original
    got = run_optimized(optimized, name, [a.copy() for a in arrays])
    if len(got) != len(expected):
        raise VerificationError(
            f"@{name}: the optimised function returns {len(got)} values, the original {len(expected)}"
        )
    exact = reference.exact if reference.exact is not None else expected
    outputs = fn.function_type.outputs.data
    checks = []
    for index, (g, e, r) in enumerate(zip(got, expected, exact)):
        output_type = outputs[index] if index < len(outputs) else None
        default_rtol, default_atol = _tolerance(output_type)
        checks.append(_compare(
            name,
            index,
            np.asarray(g),
            np.asarray(e),
            np.asarray(r),
            _dtype(output_type),
            default_rtol if rtol is None else rtol,
            default_atol if atol is None else atol,
            "float64 reference" if reference.exact is not None else "original",
        ))
    return Verification(
        name,
        tuple(c.max_abs_error for c in checks),
        "float64" if reference.exact is not None else "original",
        tuple(checks),
        reference.note,
    )


def _dtype(output_type: Attribute | None) -> str | None:
    if isinstance(output_type, TensorType):
        from mirage_mlir.passes.recognize.constants import static_tensor_type

        typed = static_tensor_type(output_type)
        if typed is not None:
            return typed[1]
    return None


def _tolerance(output_type: Attribute | None) -> tuple[float, float]:
    return _TOLERANCES.get(_dtype(output_type) or "", _DEFAULT_TOLERANCE)


@dataclass(frozen=True)
class Reference:
    """The original's results, and its float64 twin's (None when it could not run: `note`)."""

    original: list[np.ndarray]
    exact: list[np.ndarray] | None
    note: str = ""


def run_reference(original_text: str, name: str, arrays: Sequence[np.ndarray]) -> Reference:
    """Run @name of `original_text` as written and as its float64 twin (one JIT module).

    The whole module (with its twins) is compiled once for all its functions; where that
    fails, @name is run from a module of itself and the functions it calls (see
    run_original). Where no twin can be built or run, the original runs alone and is its
    own reference.
    """
    from mirage_mlir.driver.executor import ExecutorError, MlirCompileError, jit_compile
    from mirage_mlir.passes.emit.widen import widened_name

    problem = ""
    for attempt in range(2):
        # The second attempt, a module of @name and its callees, only where the first failed.
        text = original_text if attempt == 0 else _with_callees_only(original_text, name)
        if text is None:
            break
        try:
            combined, entry = _with_twins(text, name)
        except Exception as error:  # a twin that cannot be built: no float64 reference
            problem = str(error)
            break
        try:
            jit = jit_compile(combined)
        except MlirCompileError as error:
            problem = str(error)
            continue
        original = jit.run(entry, *arrays)
        try:
            exact = jit.run(widened_name(name), *[_widened_array(a) for a in arrays])
        except ExecutorError as error:
            return Reference(original, None, f"no float64 reference: {error}")
        return Reference(original, exact)
    first_line = problem.strip().splitlines()[0] if problem.strip() else "unknown"
    return Reference(
        run_original(original_text, name, arrays), None, f"no float64 reference: {first_line}"
    )


def _widened_array(array: np.ndarray) -> np.ndarray:
    return array.astype(np.float64) if np.issubdtype(array.dtype, np.floating) else array


def _with_twins(text: str, name: str) -> tuple[str, str]:
    """`text` with the float64 twin of every function and an f32 wrapper for @name where its
    boundary is bf16; and the function that runs @name as written."""
    from mirage_mlir.dialects.context import parse_mlir, print_mlir
    from mirage_mlir.passes.emit.widen import widened_functions

    module = parse_mlir(text)
    twins = widened_functions(module)
    entry = name
    fn = next(
        (op for op in module.body.block.ops if isinstance(op, func.FuncOp) and op.sym_name.data == name),
        None,
    )
    if fn is not None and any(_is_bf16(t) for t in _boundary_types(fn)):
        wrapper = _f32_boundary(fn)
        module.body.block.add_op(wrapper)
        entry = wrapper.sym_name.data
    for twin in twins:
        module.body.block.add_op(twin)
    return print_mlir(module), entry


def run_original(original_text: str, name: str, arrays: Sequence[np.ndarray]) -> list[np.ndarray]:
    """Run @name of `original_text` through MLIR's execution engine (bf16 through a wrapper).

    The whole module is compiled once for all its functions. Where that fails, @name is run
    from a module of itself and the functions it calls: another function may hold what the
    CPU lowering refuses (a loop through a back edge between blocks, which eqsat-optimize
    passes through unchanged) without @name needing it.
    """
    from mirage_mlir.driver.executor import MlirCompileError

    try:
        return _run_module(original_text, name, arrays)
    except MlirCompileError:
        alone = _with_callees_only(original_text, name)
        if alone is None:
            raise
        return _run_module(alone, name, arrays)


def _with_callees_only(text: str, name: str) -> str | None:
    """`text` without the functions @name does not reach through calls; None when that
    drops nothing (or the text does not parse here)."""
    from xdsl.dialects.builtin import SymbolRefAttr

    from mirage_mlir.dialects.context import parse_mlir, print_mlir
    from mirage_mlir.dialects.diagnostics import MlirError

    try:
        module = parse_mlir(text)
    except MlirError:
        return None
    functions = {
        op.sym_name.data: op for op in module.body.block.ops if isinstance(op, func.FuncOp)
    }
    reached, pending = set(), [name]
    while pending:
        current = pending.pop()
        if current in reached or current not in functions:
            continue
        reached.add(current)
        for op in functions[current].walk():
            for attr in (*op.properties.values(), *op.attributes.values()):
                if isinstance(attr, SymbolRefAttr):
                    pending.append(attr.root_reference.data)
    if len(reached) == len(functions):
        return None
    for fn_name, fn in functions.items():
        if fn_name not in reached:
            module.body.block.erase_op(fn)
    return print_mlir(module)


def _run_module(original_text: str, name: str, arrays: Sequence[np.ndarray]) -> list[np.ndarray]:
    from mirage_mlir import execute_mlir

    from mirage_mlir.dialects.context import parse_mlir, print_mlir

    if "bf16" not in original_text:  # the common case: no second parse
        return execute_mlir(original_text, *arrays, function=name)
    module = parse_mlir(original_text)
    fn = next(
        (op for op in module.walk() if isinstance(op, func.FuncOp) and op.sym_name.data == name),
        None,
    )
    if fn is None or not any(_is_bf16(t) for t in _boundary_types(fn)):
        return execute_mlir(original_text, *arrays, function=name)
    wrapper = _f32_boundary(fn)
    module.body.block.add_op(wrapper)
    return execute_mlir(print_mlir(module), *arrays, function=wrapper.sym_name.data)


def _boundary_types(fn: func.FuncOp) -> list[Attribute]:
    return [*fn.function_type.inputs.data, *fn.function_type.outputs.data]


def _is_bf16(value_type: Attribute) -> bool:
    return isinstance(value_type, TensorType) and isinstance(
        value_type.get_element_type(), BFloat16Type
    )


def _f32_boundary(fn: func.FuncOp) -> func.FuncOp:
    """A function calling `fn` whose bf16 tensor arguments and results are f32 instead."""
    from xdsl.builder import ImplicitBuilder
    from xdsl.dialects.builtin import Float32Type
    from xdsl.ir import Block, Region

    from mirage_mlir.passes.emit.emit_elementwise import cast_scalar
    from mirage_mlir.passes.emit.structured import affine_map, generic

    def widened(value_type: Attribute) -> Attribute:
        if _is_bf16(value_type):
            assert isinstance(value_type, TensorType)
            return TensorType(Float32Type(), value_type.get_shape())
        return value_type

    def converted(value: SSAValue, to: Attribute) -> SSAValue:
        if value.type == to:
            return value
        assert isinstance(to, TensorType)
        shape = tuple(to.get_shape())
        identity = affine_map(len(shape), list(range(len(shape))))
        init = tensor.EmptyOp([], to).tensor
        element = to.get_element_type()
        (result,) = generic(
            [value], [init], [identity, identity], ["parallel"] * len(shape),
            lambda args: [cast_scalar(args[0], element)],
        )
        return result

    inputs = list(fn.function_type.inputs.data)
    outputs = list(fn.function_type.outputs.data)
    block = Block(arg_types=[widened(t) for t in inputs])
    with ImplicitBuilder(block):
        args = [converted(a, t) for a, t in zip(block.args, inputs)]
        call = func.CallOp(fn.sym_name.data, args, outputs)
        func.ReturnOp(*[converted(r, widened(t)) for r, t in zip(call.results, outputs)])
    return func.FuncOp(
        f"{fn.sym_name.data}__f32_boundary",
        ([widened(t) for t in inputs], [widened(t) for t in outputs]),
        Region(block),
    )


def run_optimized(module: ModuleOp, name: str, arrays: Sequence[np.ndarray]) -> list[np.ndarray]:
    """Run @name of the optimised module: on the mirage interpreter, or, where the
    function holds an op the interpreter has no semantics for (torch-mlir's tm_tensor ops,
    which eqsat-optimize passes through), through MLIR's execution engine after
    convert-mirage-to-linalg (every mirage op as upstream linalg)."""
    from xdsl.interpreter import InterpretationError

    try:
        return run_with_weights(module, name, arrays)
    except InterpretationError as error:
        if "Could not find interpretation function" not in str(error):
            raise
    from xdsl.context import Context

    from mirage_mlir.dialects.context import print_mlir
    from mirage_mlir.passes.convert_mirage_to_linalg import ConvertMirageToLinalg

    lowered = module.clone()
    ConvertMirageToLinalg().apply(Context(allow_unregistered=True), lowered)
    return run_original(print_mlir(lowered), name, arrays)


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
    name: str,
    index: int,
    got: np.ndarray,
    original: np.ndarray,
    reference: np.ndarray,
    dtype: str | None,
    rtol: float,
    atol: float,
    against: str,
) -> OutputCheck:
    if got.shape != original.shape or reference.shape != original.shape:
        raise VerificationError(
            f"@{name}: output #{index} has shape {got.shape}, the original {original.shape}"
        )
    check = judge_output(got, original, reference, dtype, rtol, atol)
    if check.failed:
        nonfinite = ""
        if check.optimized_nonfinite > check.original_nonfinite:
            nonfinite = (
                f"; {check.optimized_nonfinite} elements are inf or NaN, "
                f"{check.original_nonfinite} in the original"
            )
        comparison = (
            "the original" if against == "original"
            else f"the {against} by more than the original does"
        )
        raise VerificationError(
            f"@{name}: output #{index} differs from {comparison}: max abs error "
            f"{check.worst_failure:.3g} (the original's {check.worst_failure_original:.3g}) "
            f"exceeds the tolerance {atol:g} abs + {rtol:g} rel "
            f"({check.failed} of {check.elements} elements{nonfinite})"
        )
    return check


def verify_functions(
    original_text: str, optimized: ModuleOp, names: Sequence[str], seed: int = 0
) -> list[Verification]:
    """verify_function for each name."""
    return [verify_function(original_text, optimized, n, seed) for n in names]
