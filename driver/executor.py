"""The reference executor: run linalg-on-tensors MLIR on the CPU.

`execute_mlir(text, *arrays)` parses a module as torch-mlir emits it (linalg named ops
and generics, tensor, arith and math ops, `dense_resource` weights), lowers it to LLVM
with upstream MLIR passes (`mirage_mlir.driver.cpu_lowering`), JIT-compiles it with
MLIR's execution engine from torch-mlir's bundled bindings, and calls one function on
NumPy arrays.

It is a correctness reference, not a fast path: linalg becomes naive loops (about
1 GFLOP/s). Compiled modules are cached per process, keyed by a hash of the text, so
calling the same module again costs only the call.

    import numpy as np
    from mirage_mlir.driver.executor import execute_mlir
    (y,) = execute_mlir(mlir_text, np.ones((3, 4), np.float32))
"""

from __future__ import annotations

import collections
import contextlib
import ctypes
import hashlib
import os
import re
import sys
import tempfile
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from mirage_mlir.driver.errors import MirageError

__all__ = [
    "ArgumentMismatchError",
    "ExecutorError",
    "JitModule",
    "MlirCompileError",
    "TensorSpec",
    "UnknownFunctionError",
    "clear_jit_cache",
    "execute_mlir",
    "jit_compile",
]

# MLIR element types the executor exchanges with NumPy. bf16 and the f8 types would need
# the ml_dtypes package, which is not a dependency; signed and unsigned (as opposed to
# signless) integer types do not appear in torch-mlir's output, and arith rejects them.
_NUMPY_DTYPES: dict[str, np.dtype] = {
    "f16": np.dtype(np.float16),
    "f32": np.dtype(np.float32),
    "f64": np.dtype(np.float64),
    "i1": np.dtype(np.bool_),
    "i8": np.dtype(np.int8),
    "i16": np.dtype(np.int16),
    "i32": np.dtype(np.int32),
    "i64": np.dtype(np.int64),
}

# Modules kept compiled; each holds its JIT code and its weights.
_CACHE_CAPACITY = 32


class ExecutorError(MirageError):
    """Base class of the reference executor's errors."""


class MlirCompileError(ExecutorError):
    """The MLIR did not parse, lower or JIT-compile; the message has MLIR's reasons."""


class ArgumentMismatchError(ExecutorError, ValueError):
    """The arrays do not match the function's signature (count, shape or dtype)."""


class UnknownFunctionError(ExecutorError, LookupError):
    """The module defines no function of the requested name."""


@dataclass(frozen=True)
class TensorSpec:
    """A static tensor type at a function boundary, as NumPy sees it."""

    shape: tuple[int, ...]
    dtype: np.dtype
    mlir_type: str

    def describe(self) -> str:
        """The spec in both vocabularies, e.g. ``tensor<3x4xf32> (float32[3, 4])``."""
        return f"{self.mlir_type} ({self.dtype.name}{list(self.shape)})"


@dataclass(frozen=True)
class FunctionSignature:
    """A function's arguments and results, or why the executor cannot call it."""

    name: str
    inputs: tuple[TensorSpec, ...]
    results: tuple[TensorSpec, ...]
    unsupported: str | None = None


class JitModule:
    """A module compiled for the CPU; `run` calls one of its functions on NumPy arrays.

    Holds the MLIR context, the lowered module and the execution engine together,
    because the engine's code refers to memory (weights among it) the context owns.
    """

    def __init__(
        self,
        context: Any,
        module: Any,
        engine: Any,
        signatures: dict[str, FunctionSignature],
    ) -> None:
        self._context = context
        self._module = module
        self._engine = engine
        self._entry_points: dict[str, Any] = {}
        self.signatures = signatures

    @property
    def function_names(self) -> list[str]:
        """Names of the functions the module defines, in module order."""
        return list(self.signatures)

    def run(self, function: str, *arrays: Any) -> list[np.ndarray]:
        """Call `function` on `arrays`; return its results as fresh NumPy arrays."""
        signature = self._signature(function)
        inputs = _check_arguments(signature, arrays)
        # The function writes its results into these (they are out-parameters after
        # lowering), so the arrays returned are ours, not views of the engine's memory.
        results = [np.zeros(spec.shape, spec.dtype) for spec in signature.results]
        self._invoke(function, [*inputs, *results])
        return results

    def _signature(self, function: str) -> FunctionSignature:
        signature = self.signatures.get(function)
        if signature is None:
            available = ", ".join(f"@{name}" for name in self.signatures) or "none"
            raise UnknownFunctionError(
                f"no function @{function} in the module; "
                f"available functions: {available}"
            )
        if signature.unsupported is not None:
            raise MlirCompileError(
                f"the executor cannot call @{function}: {signature.unsupported}"
            )
        return signature

    def _invoke(self, function: str, buffers: Sequence[np.ndarray]) -> None:
        from torch_mlir.runtime import get_ranked_memref_descriptor

        entry = self._entry_points.get(function)
        if entry is None:
            entry = self._entry_points[function] = self._engine.lookup(function)
        # The C interface takes one pointer per memref descriptor; the engine's packed
        # calling convention takes a pointer to each of those. `buffers` keeps the
        # arrays (the memory the descriptors point at) alive until the call returns.
        descriptors = [get_ranked_memref_descriptor(array) for array in buffers]
        packed = (ctypes.c_void_p * len(descriptors))()
        pointers = [ctypes.pointer(ctypes.pointer(d)) for d in descriptors]
        for index, pointer in enumerate(pointers):
            packed[index] = ctypes.cast(pointer, ctypes.c_void_p)
        entry(packed)


def execute_mlir(
    mlir_text: str, *arrays: np.ndarray, function: str = "main"
) -> list[np.ndarray]:
    """Run `function` of a linalg-on-tensors module on the CPU; return its results.

    `arrays` must match the function's arguments in count, shape and dtype (f32 is
    `numpy.float32`, i64 `numpy.int64`, i1 `numpy.bool_`, and so on); they are copied,
    never written. Every result comes back as a new array, 0-d tensors as 0-d arrays.
    Raises
    `ArgumentMismatchError` (a `ValueError`) for arrays that do not match,
    `UnknownFunctionError` naming the functions the module has, and `MlirCompileError`
    with MLIR's diagnostics for text that does not parse or lower.
    """
    return jit_compile(mlir_text).run(function, *arrays)


_cache: collections.OrderedDict[str, JitModule] = collections.OrderedDict()
_cache_lock = threading.Lock()


def jit_compile(mlir_text: str) -> JitModule:
    """Compile a module for the CPU, or return the one cached for the same text.

    One compilation serves every function in the module, so the cache key is a hash of
    the text alone. The least recently used modules are dropped beyond a fixed capacity.
    """
    key = hashlib.sha256(mlir_text.encode("utf-8")).hexdigest()
    with _cache_lock:
        cached = _cache.get(key)
        if cached is not None:
            _cache.move_to_end(key)
            return cached
    compiled = _compile(mlir_text)
    with _cache_lock:
        _cache[key] = compiled
        while len(_cache) > _CACHE_CAPACITY:
            _cache.popitem(last=False)
    return compiled


def clear_jit_cache() -> None:
    """Forget every compiled module (freed once no caller holds it)."""
    with _cache_lock:
        _cache.clear()


def _compile(mlir_text: str) -> JitModule:
    """Parse, lower and JIT-compile `mlir_text` (no caching)."""
    from torch_mlir import ir, passmanager
    from torch_mlir.execution_engine import ExecutionEngine

    from mirage_mlir.driver import cpu_lowering

    context = ir.Context()
    if "tm_tensor." in mlir_text:
        cpu_lowering.load_tm_tensor_dialect(context)
    with context:
        try:
            module = ir.Module.parse(mlir_text)
        except ir.MLIRError as error:
            raise MlirCompileError(
                "MLIR does not parse:\n" + _format_diagnostics(error)
            ) from None
        signatures = _read_signatures(module)

        def run_stage(stage: cpu_lowering.LoweringStage) -> None:
            try:
                manager = passmanager.PassManager.parse(stage.pipeline)
                manager.run(module.operation)
            except ir.MLIRError as error:
                raise MlirCompileError(
                    f"lowering for the CPU failed in pass '{stage.passes}':\n"
                    + _format_diagnostics(error)
                    + "\nfull lowering pipeline:\n"
                    + cpu_lowering.full_pipeline_text()
                ) from None

        cpu_lowering.lower_to_llvm(module, run_stage)
        _check_fully_lowered(module)
        # Translation to LLVM IR reports its errors on stderr and raises a bare
        # RuntimeError; keep that text for the exception.
        engine = None
        failure = ""
        with _captured_stderr() as captured:
            try:
                engine = ExecutionEngine(module, opt_level=3)
            except RuntimeError as error:
                failure = str(error)
        if engine is None:
            detail = _rename_locations(f"{failure}\n{captured.text}".strip())
            raise MlirCompileError(f"translation to LLVM IR failed: {detail}")

    compiled = JitModule(context, module, engine, signatures)
    # Resolving an entry point is what makes LLVM's JIT link the code. Link failures (an
    # unresolved symbol) are reported on the process's stderr and leave the lookup
    # empty, so resolve every callable function now and turn that text into the error.
    for name, signature in signatures.items():
        if signature.unsupported is not None:
            continue
        with _captured_stderr() as captured:
            address = engine.raw_lookup("_mlir_ciface_" + name)
        if not address:
            detail = captured.text.strip() or "the JIT did not produce the function"
            raise MlirCompileError(f"JIT compilation of @{name} failed: {detail}")
    return compiled


def _read_signatures(module: Any) -> dict[str, FunctionSignature]:
    """The signature of every function defined at the top level of `module`."""
    signatures: dict[str, FunctionSignature] = {}
    for op in module.body.operations:
        if op.operation.name != "func.func" or op.is_external:
            continue
        name = op.sym_name.value
        function_type = op.type
        problems: list[str] = []
        inputs = tuple(
            _tensor_spec(t, f"argument {i}", problems)
            for i, t in enumerate(function_type.inputs)
        )
        results = tuple(
            _tensor_spec(t, f"result {i}", problems)
            for i, t in enumerate(function_type.results)
        )
        if problems:
            signatures[name] = FunctionSignature(name, (), (), "; ".join(problems))
        else:
            signatures[name] = FunctionSignature(
                name, inputs, results  # type: ignore[arg-type]
            )
    return signatures


def _tensor_spec(mlir_type: Any, role: str, problems: list[str]) -> TensorSpec | None:
    """The NumPy view of a boundary type; None, with the reason added to `problems`."""
    from torch_mlir import ir

    if not isinstance(mlir_type, ir.RankedTensorType):
        problems.append(
            f"{role} has type {mlir_type}; only ranked tensors are supported"
        )
        return None
    if not mlir_type.has_static_shape:
        problems.append(
            f"{role} has type {mlir_type}; only static shapes are supported"
        )
        return None
    element = str(mlir_type.element_type)
    dtype = _NUMPY_DTYPES.get(element)
    if dtype is None:
        supported = ", ".join(_NUMPY_DTYPES)
        problems.append(
            f"{role} has element type {element}; supported element types: {supported}"
        )
        return None
    return TensorSpec(tuple(mlir_type.shape), dtype, str(mlir_type))


def _check_arguments(
    signature: FunctionSignature, arrays: Sequence[Any]
) -> list[np.ndarray]:
    """Validate `arrays` against `signature`; return C-contiguous private copies."""
    expected = signature.inputs
    if len(arrays) != len(expected):
        wanted = ", ".join(spec.mlir_type for spec in expected) or "none"
        raise ArgumentMismatchError(
            f"@{signature.name} takes {len(expected)} argument(s) ({wanted}), "
            f"got {len(arrays)}"
        )
    copies: list[np.ndarray] = []
    for index, (array, spec) in enumerate(zip(arrays, expected)):
        if not isinstance(array, (np.ndarray, np.generic)):
            raise ArgumentMismatchError(
                f"argument {index} of @{signature.name}: expected a numpy.ndarray "
                f"for {spec.describe()}, got "
                f"{type(array).__module__}.{type(array).__qualname__}"
            )
        array = np.asarray(array)
        if array.dtype != spec.dtype or array.shape != spec.shape:
            raise ArgumentMismatchError(
                f"argument {index} of @{signature.name}: expected {spec.describe()}, "
                f"got {array.dtype.name}{list(array.shape)}"
            )
        # A copy, because bufferization may reuse an argument's buffer in place.
        copies.append(np.array(array, dtype=spec.dtype, order="C", copy=True))
    return copies


# Module.parse names its buffer "-"; the executor calls it <mlir> in messages.
_LOCATION = re.compile(r'loc\("-":(\d+):(\d+)\)')


def _rename_locations(text: str) -> str:
    """Rewrite MLIR's ``loc("-":3:8)`` as ``<mlir>:3:8``."""
    return _LOCATION.sub(r"<mlir>:\1:\2", text)


def _check_fully_lowered(module: Any) -> None:
    """Raise `MlirCompileError` naming the first op left outside the LLVM dialect.

    Conversion passes are partial: an op without a lowering (linalg.softmax, say) stays
    in place, wrapped in unrealized casts, and would only fail later, tersely, in
    translation to LLVM IR.
    """
    from torch_mlir import ir

    leftovers: list[Any] = []

    def visit(op: Any) -> Any:
        if not op.name.startswith("llvm.") and op.name != "builtin.module":
            leftovers.append(op)
        return ir.WalkResult.ADVANCE

    module.operation.walk(visit)
    if not leftovers:
        return
    # Casts are the symptom; the op that caused them is the useful name.
    culprits = [
        op for op in leftovers if op.name != "builtin.unrealized_conversion_cast"
    ]
    op = (culprits or leftovers)[0]
    raise MlirCompileError(
        f"{_rename_locations(str(op.location))}: error: '{op.name}' has no lowering "
        "to LLVM in the CPU executor (it supports linalg structured ops, tensor, "
        "arith, math, func and scf)"
    )


def _format_diagnostics(error: Any) -> str:
    """MLIR's diagnostics as ``<mlir>:line:col: severity: message``, notes indented."""
    lines: list[str] = []

    def add(diagnostic: Any, depth: int) -> None:
        where = _rename_locations(str(diagnostic.location))
        severity = str(diagnostic.severity).rsplit(".", 1)[-1].lower()
        lines.append(f"{'  ' * depth}{where}: {severity}: {diagnostic.message}")
        for note in diagnostic.notes:
            add(note, depth + 1)

    diagnostics = getattr(error, "error_diagnostics", None) or []
    for diagnostic in diagnostics:
        add(diagnostic, 0)
    return "\n".join(lines) if lines else str(error)


class _CapturedText:
    """What was written to file descriptor 2 in a `_captured_stderr` block (on exit)."""

    text: str = ""


@contextlib.contextmanager
def _captured_stderr() -> Iterator[_CapturedText]:
    """Redirect file descriptor 2 (where LLVM reports JIT errors) to a temp file."""
    captured = _CapturedText()
    sys.stderr.flush()
    with tempfile.TemporaryFile() as sink:
        saved = os.dup(2)
        try:
            os.dup2(sink.fileno(), 2)
            yield captured
        finally:
            os.dup2(saved, 2)
            os.close(saved)
            sink.seek(0)
            captured.text = sink.read().decode("utf-8", errors="replace")
