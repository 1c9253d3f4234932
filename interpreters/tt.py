"""A NumPy interpreter of `tt` kernels: runs a kernel over its whole grid on the CPU.

Each program instance runs with NumPy arrays for its blocks (the block is
vectorised; only the grid is a Python loop), on xDSL's interpreter framework:

```python
from mirage_mlir.interpreters.tt import run_kernel

out = np.empty_like(x)
run_kernel(module, (triton.cdiv(n, 128),), x, y, out, n)   # writes `out`
```

Pointer arguments are C-contiguous NumPy arrays whose dtype matches the
pointee (`float32` for `!tt.ptr<f32>`); the kernel writes into them, as on a
GPU.  Scalar arguments are Python or NumPy numbers.  At run time a pointer is
a `Pointer`: the flat buffer and an array of element offsets into it.  Loads
and stores honour masks (masked-off lanes never touch memory, and a masked
load yields `other`, or zero without it); an active lane outside its buffer is
an error, not a silent read; a `tt.assert` whose condition is false on any
lane raises xDSL's `InterpretationError` with the assert's message.  `tt.dot`
with f32 inputs multiplies exactly unless `emulate_tf32=True` asks for the
TF32 rounding of tensor cores.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from xdsl.dialects.builtin import ModuleOp
from xdsl.interpreter import (
    Interpreter,
    InterpreterFunctions,
    PythonValues,
    ReturnedValues,
    TerminatorValue,
    impl,
    impl_callable,
    impl_terminator,
    register_impls,
)
from xdsl.ir import Attribute

from mirage_mlir.dialects import tt
from mirage_mlir.dialects.tt_types import PointerType, element_type_of, shape_of
from mirage_mlir.interpreters.tt_arith import KernelArithFunctions, as_type, dtype_of


class KernelError(ValueError):
    """A kernel cannot run: bad arguments, or an out-of-bounds access."""


@dataclass(frozen=True)
class Pointer:
    """A pointer or a block of pointers: element `offsets` into a flat `buffer`."""

    buffer: np.ndarray
    offsets: np.ndarray

    def with_offsets(self, offsets: Any) -> Pointer:
        """The same buffer at other offsets."""
        return Pointer(self.buffer, np.asarray(offsets, dtype=np.int64))

    def select(self, cond: Any, other: Pointer) -> Pointer:
        """`arith.select` lane by lane between two pointers into the same buffer."""
        if other.buffer is not self.buffer:
            raise KernelError("arith.select between pointers into different buffers")
        return self.with_offsets(np.where(cond, self.offsets, other.offsets))


def _check_bounds(interpreter: Interpreter, op_name: str, ptr: Pointer, active: np.ndarray):
    offsets = ptr.offsets[active]
    if offsets.size and (offsets.min() < 0 or offsets.max() >= ptr.buffer.size):
        bad = offsets[(offsets < 0) | (offsets >= ptr.buffer.size)][0]
        interpreter.raise_error(
            f"{op_name} out of bounds: element offset {bad} outside a buffer of "
            f"{ptr.buffer.size} elements"
        )


def _round_to_tf32(values: np.ndarray) -> np.ndarray:
    """Round float32 values to TF32 (10 mantissa bits), ties to even."""
    bits = np.asarray(values, dtype=np.float32).view(np.uint32)
    rounded = bits + np.uint32(0xFFF) + ((bits >> np.uint32(13)) & np.uint32(1))
    out = (rounded & np.uint32(0xFFFFE000)).view(np.float32)
    return np.where(np.isfinite(values), out, values)


@register_impls
class KernelFunctions(InterpreterFunctions):
    """NumPy implementations of the `tt` ops, for one program instance at a time.

    `program_id` and `grid` say which instance runs; `run_kernel` sets them.
    """

    def __init__(self, grid: Sequence[int] = (1,), *, emulate_tf32: bool = False):
        super().__init__()
        self.grid = (tuple(grid) + (1, 1, 1))[:3]
        self.program_id = (0, 0, 0)
        self.emulate_tf32 = emulate_tf32

    # -- kernel structure ---------------------------------------------------

    @impl_callable(tt.FuncOp)
    def call_func(self, interpreter: Interpreter, op: tt.FuncOp, args: PythonValues):
        return interpreter.run_ssacfg_region(op.body, args, op.sym_name.data)

    @impl_terminator(tt.ReturnOp)
    def run_return(
        self, interpreter: Interpreter, op: tt.ReturnOp, args: PythonValues
    ) -> tuple[TerminatorValue, PythonValues]:
        return ReturnedValues(args), ()

    @impl(tt.GetProgramIdOp)
    def run_get_program_id(self, interpreter: Interpreter, op: tt.GetProgramIdOp, args: PythonValues):
        return (np.int32(self.program_id[op.axis_index]),)

    @impl(tt.GetNumProgramsOp)
    def run_get_num_programs(
        self, interpreter: Interpreter, op: tt.GetNumProgramsOp, args: PythonValues
    ):
        return (np.int32(self.grid[op.axis_index]),)

    @impl(tt.MakeRangeOp)
    def run_make_range(self, interpreter: Interpreter, op: tt.MakeRangeOp, args: PythonValues):
        return (np.arange(op.start.value.data, op.end.value.data, dtype=np.int32),)

    # -- pointers and memory ------------------------------------------------

    @impl(tt.AddPtrOp)
    def run_addptr(self, interpreter: Interpreter, op: tt.AddPtrOp, args: PythonValues):
        ptr, offset = args
        return (ptr.with_offsets(ptr.offsets + np.asarray(offset, dtype=np.int64)),)

    @impl(tt.LoadOp)
    def run_load(self, interpreter: Interpreter, op: tt.LoadOp, args: PythonValues):
        ptr: Pointer = args[0]
        shape = ptr.offsets.shape
        mask = np.broadcast_to(args[1], shape) if op.mask is not None else np.ones(shape, bool)
        _check_bounds(interpreter, "tt.load", ptr, mask)
        safe = np.where(mask, ptr.offsets, 0)
        if op.other is not None:
            other = args[2]
        else:
            other = np.zeros((), dtype=ptr.buffer.dtype)
        values = np.where(mask, ptr.buffer[safe] if ptr.buffer.size else other, other)
        return (as_type(values, op.result.type),)

    @impl(tt.StoreOp)
    def run_store(self, interpreter: Interpreter, op: tt.StoreOp, args: PythonValues):
        ptr: Pointer = args[0]
        shape = ptr.offsets.shape
        mask = np.broadcast_to(args[2], shape) if op.mask is not None else np.ones(shape, bool)
        _check_bounds(interpreter, "tt.store", ptr, mask)
        values = np.broadcast_to(np.asarray(args[1], dtype=ptr.buffer.dtype), shape)
        ptr.buffer[ptr.offsets[mask]] = values[mask]
        return ()

    # -- shapes (on values and on pointers alike) ---------------------------

    @staticmethod
    def _reshaped(value: Any, fn: Any) -> Any:
        if isinstance(value, Pointer):
            return value.with_offsets(fn(value.offsets))
        return fn(np.asarray(value))

    @impl(tt.SplatOp)
    def run_splat(self, interpreter: Interpreter, op: tt.SplatOp, args: PythonValues):
        shape = shape_of(op.result.type)
        return (self._reshaped(args[0], lambda v: np.broadcast_to(v, shape)),)

    @impl(tt.BroadcastOp)
    def run_broadcast(self, interpreter: Interpreter, op: tt.BroadcastOp, args: PythonValues):
        shape = shape_of(op.result.type)
        return (self._reshaped(args[0], lambda v: np.broadcast_to(v, shape)),)

    @impl(tt.ExpandDimsOp)
    def run_expand_dims(self, interpreter: Interpreter, op: tt.ExpandDimsOp, args: PythonValues):
        axis = op.axis.value.data
        return (self._reshaped(args[0], lambda v: np.expand_dims(v, axis)),)

    @impl(tt.TransOp)
    def run_trans(self, interpreter: Interpreter, op: tt.TransOp, args: PythonValues):
        order = op.permutation
        return (self._reshaped(args[0], lambda v: np.transpose(v, order)),)

    @impl(tt.ReshapeOp)
    def run_reshape(self, interpreter: Interpreter, op: tt.ReshapeOp, args: PythonValues):
        shape = shape_of(op.result.type)
        return (self._reshaped(args[0], lambda v: np.reshape(v, shape)),)

    # -- compute ------------------------------------------------------------

    @impl(tt.DotOp)
    def run_dot(self, interpreter: Interpreter, op: tt.DotOp, args: PythonValues):
        a, b, c = (np.asarray(v) for v in args)
        if self.emulate_tf32 and op.input_precision == "tf32" and a.dtype == np.float32:
            a, b = _round_to_tf32(a), _round_to_tf32(b)
        if np.issubdtype(c.dtype, np.floating):
            product = np.matmul(a.astype(np.float64), b.astype(np.float64))
        else:
            product = np.matmul(a.astype(np.int64), b.astype(np.int64))
        return (as_type(product + c, op.d.type),)

    @impl(tt.ReduceOp)
    def run_reduce(self, interpreter: Interpreter, op: tt.ReduceOp, args: PythonValues):
        # Fold pairs of halves in a tree, as the GPU does; the combiner runs on
        # whole half-blocks at once because its arith ops are vectorised.
        axis = op.axis.value.data
        blocks = [np.moveaxis(np.asarray(a), axis, 0) for a in args]
        elements = [element_type_of(s.type) for s in op.srcs]
        while blocks[0].shape[0] > 1:
            n = blocks[0].shape[0]
            half = n // 2
            lhs = [b[:half] for b in blocks]
            rhs = [b[half : 2 * half] for b in blocks]
            combined = interpreter.run_ssacfg_region(op.combineOp, (*lhs, *rhs), "tt.reduce")
            combined = [
                np.broadcast_to(np.asarray(as_type(c, e)), lhs[0].shape)
                for c, e in zip(combined, elements)
            ]
            if n % 2:
                combined = [np.concatenate([c, b[2 * half :]]) for c, b in zip(combined, blocks)]
            blocks = combined
        return tuple(as_type(b[0], r.type) for b, r in zip(blocks, op.result))

    @impl_terminator(tt.ReduceReturnOp)
    def run_reduce_return(
        self, interpreter: Interpreter, op: tt.ReduceReturnOp, args: PythonValues
    ) -> tuple[TerminatorValue, PythonValues]:
        return ReturnedValues(args), ()

    @impl(tt.ScanOp)
    def run_scan(self, interpreter: Interpreter, op: tt.ScanOp, args: PythonValues):
        # One step per element of the axis; the combiner runs on whole slices.
        axis = op.axis.value.data
        blocks = [np.moveaxis(np.asarray(a), axis, 0) for a in args]
        if op.reverse.value.data:
            blocks = [b[::-1] for b in blocks]
        elements = [element_type_of(s.type) for s in op.srcs]
        running = [b[0] for b in blocks]
        steps = [[r] for r in running]
        for i in range(1, blocks[0].shape[0]):
            combined = interpreter.run_ssacfg_region(
                op.combineOp, (*running, *(b[i] for b in blocks)), "tt.scan"
            )
            running = [
                np.broadcast_to(np.asarray(as_type(c, e)), blocks[0].shape[1:])
                for c, e in zip(combined, elements)
            ]
            for step, value in zip(steps, running):
                step.append(value)
        out = [np.stack(step) for step in steps]
        if op.reverse.value.data:
            out = [o[::-1] for o in out]
        return tuple(as_type(np.moveaxis(o, 0, axis), r.type) for o, r in zip(out, op.result))

    @impl_terminator(tt.ScanReturnOp)
    def run_scan_return(
        self, interpreter: Interpreter, op: tt.ScanReturnOp, args: PythonValues
    ) -> tuple[TerminatorValue, PythonValues]:
        return ReturnedValues(args), ()

    @impl(tt.AssertOp)
    def run_assert(self, interpreter: Interpreter, op: tt.AssertOp, args: PythonValues):
        failed = ~np.asarray(args[0], dtype=bool)
        if failed.any():
            lane = tuple(int(i) for i in np.argwhere(failed)[0]) if failed.ndim else ()
            interpreter.raise_error(
                f"tt.assert failed in program {self.program_id}, lane {lane}: "
                f"{op.message.data}"
            )
        return ()

    @impl(tt.BitcastOp)
    def run_bitcast(self, interpreter: Interpreter, op: tt.BitcastOp, args: PythonValues):
        if isinstance(args[0], Pointer):
            # Pointers to elements of the same size: the buffer seen as the new type.
            pointee = element_type_of(element_type_of(op.result.type)).pointee
            dtype = dtype_of(pointee)
            if dtype.itemsize != args[0].buffer.dtype.itemsize:
                interpreter.raise_error(
                    f"tt.bitcast of pointers to {args[0].buffer.dtype} as {dtype}: sizes differ"
                )
            return (Pointer(args[0].buffer.view(dtype), args[0].offsets),)
        value = np.asarray(args[0])
        out = value.view(dtype_of(op.result.type))
        return (out[()] if out.ndim == 0 else out,)

    @impl(tt.FpToFpOp)
    def run_fp_to_fp(self, interpreter: Interpreter, op: tt.FpToFpOp, args: PythonValues):
        try:
            return (as_type(args[0], op.result.type),)
        except NotImplementedError as error:
            interpreter.raise_error(str(error))


def _find_kernel(module_or_func: ModuleOp | tt.FuncOp, name: str | None) -> tt.FuncOp:
    if isinstance(module_or_func, tt.FuncOp):
        return module_or_func
    kernels = [op for op in module_or_func.walk() if isinstance(op, tt.FuncOp)]
    if name is not None:
        kernels = [k for k in kernels if k.sym_name.data == name]
    if len(kernels) != 1:
        found = ", ".join(k.sym_name.data for k in kernels) or "none"
        wanted = f"named '{name}'" if name else "(pass name=...)"
        raise KernelError(f"expected exactly one tt.func {wanted}; found {found}")
    return kernels[0]


def _kernel_argument(index: int, value: Any, arg_type: Attribute) -> Any:
    if isinstance(arg_type, PointerType):
        if not isinstance(value, np.ndarray):
            raise KernelError(f"argument #{index} ({arg_type}) must be a NumPy array")
        expected = dtype_of(arg_type.pointee)
        if value.dtype != expected:
            raise KernelError(
                f"argument #{index} ({arg_type}) must have dtype {expected}, got {value.dtype}"
            )
        if not value.flags.c_contiguous or not value.flags.writeable:
            raise KernelError(f"argument #{index} must be a writeable C-contiguous array")
        return Pointer(value.reshape(-1), np.zeros((), dtype=np.int64))
    if isinstance(value, np.ndarray) and value.ndim > 0:
        raise KernelError(f"argument #{index} ({arg_type}) must be a scalar, got an array")
    return as_type(value, arg_type)


def run_kernel(
    module_or_func: ModuleOp | tt.FuncOp,
    grid: Sequence[int],
    *args: Any,
    name: str | None = None,
    emulate_tf32: bool = False,
) -> None:
    """Run a `tt.func` kernel for every program id of `grid` (1 to 3 axes).

    `args` are the kernel's arguments in order: NumPy arrays for pointers
    (written in place), numbers for scalars.  Program instances run one after
    another in row-major order of their ids.  Raises `KernelError` for
    arguments that do not fit the kernel's signature, and xDSL's
    `InterpretationError` for a failure inside the kernel (such as an access out
    of bounds).
    """
    kernel = _find_kernel(module_or_func, name)
    grid = tuple(int(g) for g in grid)
    if not 1 <= len(grid) <= 3 or min(grid) < 0:
        raise KernelError(f"grid must have 1 to 3 non-negative sizes, got {grid}")
    inputs = kernel.function_type.inputs.data
    if len(args) != len(inputs):
        raise KernelError(
            f"kernel @{kernel.sym_name.data} takes {len(inputs)} arguments, got {len(args)}"
        )
    values = tuple(_kernel_argument(i, v, t) for i, (v, t) in enumerate(zip(args, inputs)))
    module = kernel.get_toplevel_object()
    if not isinstance(module, ModuleOp):
        module = ModuleOp([])
    interpreter = Interpreter(module)
    functions = KernelFunctions(grid, emulate_tf32=emulate_tf32)
    interpreter.register_implementations(functions)
    interpreter.register_implementations(KernelArithFunctions())
    for program_id in np.ndindex(*grid):
        functions.program_id = (tuple(program_id) + (0, 0, 0))[:3]
        interpreter.call_op(kernel, values)
