"""Compute at compile time what depends only on weights, before kernels are built.

A model's host function holds work no input reaches: BatchNorm's running statistics
turned into a scale (`sqrt(var + eps)` and its zero check), position ids and causal
masks built from `linalg.index`, a bias broadcast to the batch, a weight transposed
or joined with another for one matmul. `fold_compile_time_ops` runs every such op
once, with the CPU runtime's semantics (`driver.torch_executor.build_step`, the one
definition of what each op computes), and puts a weight holding its result in its
place, so no kernel is built or launched for it.

An op is folded when every value it reads (operands and values its regions capture)
is a weight, a splat, an empty tensor, a view of one, or an earlier folded result;
the op is not a view or init (those stay in the host function and cost nothing); and
its result is not much larger than what it reads (`passes/eqsat/folding.worth_folding`:
a broadcast that would turn a small weight into a large one stays a kernel). An op
that fails when evaluated (an unsupported op, an assertion that fails) is left as it
is: it then fails or asserts at run time, exactly as it would have.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from xdsl.dialects import arith
from xdsl.dialects.builtin import BFloat16Type, DenseResourceAttr, TensorType
from xdsl.ir import Block, Operation, SSAValue

from mirage_mlir.passes.eqsat.folding import worth_folding

#: Ops that stay in the host function whatever they read: weights, inits and views are free
#: there (convert-mirage-to-triton builds no kernel for them either).
HOST_OPS = frozenset(
    {
        "arith.constant",
        "tensor.empty",
        "linalg.fill",
        "tensor.expand_shape",
        "tensor.collapse_shape",
        "func.return",
    }
)


def _bytes(value_type: Any) -> int:
    if not isinstance(value_type, TensorType):
        return 8
    width = getattr(value_type.get_element_type(), "bitwidth", 32)
    return int(np.prod(value_type.get_shape(), dtype=np.int64)) * max(1, width // 8)


def keep_blobs_printable(ctx: Any) -> None:
    """Load the builtin dialect into `ctx` (a pass's context), whose printer writes the
    `dialect_resources` of the blobs folding made only for dialects `ctx` has loaded."""
    from xdsl.dialects.builtin import Builtin

    if all(d.name != "builtin" for d in ctx.loaded_dialects):
        if "builtin" in ctx.registered_dialect_names:
            ctx.load_registered_dialect("builtin")
        else:
            ctx.load_dialect(Builtin)


def blob_constant(
    array: np.ndarray, tensor_type: TensorType, hint: str
) -> arith.ConstantOp:
    """An `arith.constant` of a new `dense_resource` blob holding `array`'s bytes.

    `array` already has the blob's element layout: bf16 as its 16-bit patterns, i1 as
    one byte per element.
    """
    from xdsl.dialect_interfaces.op_asm import OpAsmDialectInterface

    from mirage_mlir.dialects.context import mirage_context

    interface = (
        mirage_context().get_dialect("builtin").get_interface(OpAsmDialectInterface)
    )
    if interface is None:
        raise ValueError("the builtin dialect has no resource table")
    key = interface.declare_resource(hint)
    data = np.ascontiguousarray(array).tobytes()
    # MLIR blob: its alignment as a little-endian 4-byte word, then the raw data.
    alignment = array.dtype.itemsize.to_bytes(4, "little")
    interface.parse_resource(key, "0x" + (alignment + data).hex().upper())
    return arith.ConstantOp(
        DenseResourceAttr.from_params(key, tensor_type), tensor_type
    )


def _blob_array(tensor: Any, tensor_type: TensorType) -> np.ndarray | None:
    """A torch result as the array a blob of `tensor_type` holds, None if no blob can."""
    import torch

    from mirage_mlir.passes.recognize.constants import static_tensor_type

    if not isinstance(tensor, torch.Tensor) or static_tensor_type(tensor_type) is None:
        return None
    tensor = tensor.detach().contiguous()
    if tuple(tensor.shape) != tuple(tensor_type.get_shape()):
        return None
    if isinstance(tensor_type.get_element_type(), BFloat16Type):
        return tensor.to(torch.bfloat16).view(torch.int16).numpy()
    if tensor.dtype == torch.bool:
        return tensor.numpy().astype(np.uint8)
    return tensor.numpy()


def _holds_data(value: SSAValue) -> bool:
    """Whether `value` is data an op reads, not an init (an empty tensor or a fill)."""
    owner = value.owner
    return not (
        isinstance(owner, Operation) and owner.name in ("tensor.empty", "linalg.fill")
    )


class _Known:
    """Values known at compile time in one block, evaluated only when read."""

    def __init__(self) -> None:
        self._ops: dict[SSAValue, Operation] = {}
        self._values: dict[SSAValue, Any] = {}

    def note(self, op: Operation) -> None:
        for result in op.results:
            self._ops[result] = op

    def __contains__(self, value: SSAValue) -> bool:
        return value in self._values or value in self._ops

    def value(self, value: SSAValue) -> Any:
        if value not in self._values:
            from mirage_mlir.driver.torch_executor import build_step

            op = self._ops[value]
            function, operands = build_step(op, {})
            outs = function(*(self.value(v) for v in operands))
            self._values.update(zip(op.results, outs))
        return self._values[value]


def fold_compile_time_ops(block: Block) -> int:
    """Replace each op of `block` that reads only compile-time values by a weight.

    Returns how many ops were folded. The folded ops are erased; weights nothing
    reads any more are left for the caller's dead-code pass.
    """
    from mirage_mlir.driver.torch_executor import build_step

    known = _Known()
    folded = 0
    for op in list(block.ops):
        if op.name in HOST_OPS:
            if op.name == "arith.constant" or all(v in known for v in op.operands):
                known.note(op)
            continue
        if not op.results or not any(r.uses for r in op.results):
            continue
        try:
            function, operands = build_step(op, {})
        except (
            Exception
        ):  # the CPU runtime cannot run it: it stays a kernel (or an error)
            continue
        if not all(v in known for v in operands):
            continue
        if not all(isinstance(r.type, TensorType) for r in op.results):
            continue
        read = sum(_bytes(v.type) for v in operands if _holds_data(v))
        if not all(worth_folding(_bytes(r.type), read) for r in op.results):
            continue
        try:
            outs = function(*(known.value(v) for v in operands))
        except (
            Exception
        ):  # an assertion that fails on these weights: it fails at run time
            continue
        arrays = [_blob_array(out, r.type) for out, r in zip(outs, op.results)]
        if any(a is None for a in arrays):
            continue
        hint = f"folded_{op.name.split('.')[-1]}"
        for result, array in zip(op.results, arrays):
            constant = blob_constant(array, result.type, hint)
            block.insert_op_before(constant, op)
            known.note(constant)
            result.replace_all_uses_with(constant.result)
        block.erase_op(op)
        folded += 1
    return folded
