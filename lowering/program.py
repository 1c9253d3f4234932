"""Lowered programs: TTIR per kernel plus the launch plan, and running them on the CPU.

```python
from mirage_mlir.lowering.program import lower_module, run_plan_interpreted

lowered = lower_module(optimised_mlir_text)
for name, ttir in lowered.kernels: ...          # compile_ttir(ttir) for a GPU
outputs = run_plan_interpreted(lowered, x)       # NumPy, through the tt interpreter
```

`run_plan_interpreted` walks the host function's launch plan in order: each
slot is one flat NumPy buffer (so buffer reuse is exercised for real),
weights come from their `dense_resource` blobs, views are reshapes, and
every launch runs its kernel over its grid in the tt interpreter.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from xdsl.dialects.builtin import (
    BFloat16Type,
    DenseIntOrFPElementsAttr,
    DenseResourceAttr,
    ModuleOp,
    TensorType,
)

from mirage_mlir.dialects import plan, tt


@dataclass
class LoweredProgram:
    """The kernels as TTIR text (name, text), in plan order, and the plan module.

    `plan` is the lowered module: the host functions of `plan` ops and the
    `tt.func` kernels they launch.
    """

    kernels: list[tuple[str, str]]
    plan: ModuleOp
    function: str = "main"

    def launches(self) -> list[plan.LaunchOp]:
        """The launches of the host function, in order."""
        host = _host_function(self.plan, self.function)
        return [op for op in host.body.block.ops if isinstance(op, plan.LaunchOp)]


def lower_module(
    mlir: str | ModuleOp, function: str = "main", **options: Any
) -> LoweredProgram:
    """Run `convert-mirage-to-triton` (with `options`) on a module or its text."""
    from mirage_mlir.dialects.context import mirage_context, parse_mlir
    from mirage_mlir.lowering.convert_mirage_to_triton import ConvertMirageToTriton
    from mirage_mlir.lowering.ttir import print_ttir

    module = parse_mlir(mlir) if isinstance(mlir, str) else mlir.clone()
    ConvertMirageToTriton(**options).apply(mirage_context(), module)
    kernels = []
    for op in module.body.block.ops:
        if isinstance(op, tt.FuncOp):
            kernels.append((op.sym_name.data, print_ttir(ModuleOp([op.clone()]))))
    return LoweredProgram(kernels, module, function)


def _host_function(module: ModuleOp, name: str):
    from xdsl.dialects import func

    for op in module.body.block.ops:
        if isinstance(op, func.FuncOp) and op.sym_name.data == name:
            return op
    raise KeyError(f"no host function @{name}")


def _dtype(tensor_type: TensorType) -> np.dtype:
    from mirage_mlir.interpreters.tt_arith import dtype_of

    return dtype_of(tensor_type)


def constant_array(value: Any, tensor_type: TensorType) -> np.ndarray:
    """The array of a tensor `arith.constant` (dense, or a dense_resource blob)."""
    shape = tuple(tensor_type.get_shape())
    dtype = _dtype(tensor_type)
    if isinstance(value, DenseIntOrFPElementsAttr):
        data = np.asarray(value.get_values(), dtype=dtype)
        if data.size == 1:  # a splat; reshape first so rank-0 tensors broadcast too
            return np.broadcast_to(data.reshape(()), shape).copy()
        return data.reshape(shape).copy()
    if isinstance(value, DenseResourceAttr):
        from xdsl.dialect_interfaces.op_asm import OpAsmDialectInterface

        from mirage_mlir.dialects.context import mirage_context

        interface = mirage_context().get_dialect("builtin").get_interface(OpAsmDialectInterface)
        blob = interface.lookup(value.resource_handle.data) if interface else None
        if blob is None:
            raise ValueError(f"no blob for dense_resource<{value.resource_handle.data}>")
        # MLIR blobs: "0x", a 4-byte alignment word, then the raw little-endian data.
        raw = bytes.fromhex(blob[2:])[4:]
        if isinstance(tensor_type.get_element_type(), BFloat16Type):
            # bf16 blobs hold 2-byte values: the top half of each float32.
            bits = np.frombuffer(raw, dtype="<u2").astype(np.uint32) << np.uint32(16)
            return bits.view(np.float32).reshape(shape).copy()
        return np.frombuffer(raw, dtype=dtype).reshape(shape).copy()
    raise ValueError(f"unsupported constant {value}")


def run_plan_interpreted(lowered: LoweredProgram, *inputs: np.ndarray) -> list[np.ndarray]:
    """Run the launch plan on NumPy inputs, every kernel in the tt interpreter."""
    from mirage_mlir.interpreters.tt import run_kernel

    host = _host_function(lowered.plan, lowered.function)
    kernels = {
        op.sym_name.data: op for op in lowered.plan.body.block.ops if isinstance(op, tt.FuncOp)
    }
    block = host.body.block
    if len(inputs) != len(block.args):
        raise ValueError(f"@{lowered.function} takes {len(block.args)} inputs, got {len(inputs)}")
    values: dict[Any, np.ndarray] = {}
    for arg, array in zip(block.args, inputs):
        values[arg] = np.ascontiguousarray(array, dtype=_dtype(arg.type)).copy()
    slots: dict[int, np.ndarray] = {}
    for op in block.ops:
        if op.name == "arith.constant":
            value = op.properties.get("value") or op.attributes.get("value")
            values[op.results[0]] = constant_array(value, op.results[0].type)
        elif isinstance(op, plan.AllocOp):
            tensor_type = op.result.type
            count = int(np.prod(tensor_type.get_shape()))
            dtype = _dtype(tensor_type)
            buffer = slots.get(op.slot_index)
            if buffer is None or buffer.nbytes != count * dtype.itemsize:
                buffer = slots[op.slot_index] = np.full(count * dtype.itemsize, 0xFF, np.uint8)
            values[op.result] = buffer.view(dtype).reshape(tensor_type.get_shape())
        elif op.name in ("tensor.expand_shape", "tensor.collapse_shape"):
            values[op.results[0]] = values[op.operands[0]].reshape(op.results[0].type.get_shape())
        elif isinstance(op, plan.LaunchOp):
            args = [values[v] for v in (*op.ins, *op.outs)]
            run_kernel(kernels[op.kernel_name], op.grid_sizes, *args)
        elif op.name == "func.return":
            return [values[v].copy() for v in op.operands]
        else:
            raise ValueError(f"the plan interpreter cannot run '{op.name}'")
    raise ValueError(f"@{lowered.function} has no func.return")
