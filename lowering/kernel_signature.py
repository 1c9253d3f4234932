"""The signature every template gives its kernel: one pointer per buffer.

A kernel reads the group's inputs and writes its outputs through pointer
arguments, inputs first, in the order of the launch's `ins` then `outs`.
Shapes are static and baked into the kernel, so there are no scalar
arguments.  Each pointer carries Triton's 16-byte alignment hint.
"""

from __future__ import annotations

from xdsl.dialects.builtin import TensorType
from xdsl.ir import SSAValue

from mirage_mlir.dialects import tt
from mirage_mlir.dialects.tt_syntax import i32_attr
from mirage_mlir.lowering.fused_body import KernelGroup
from mirage_mlir.lowering.kernel_builder import LoweringError


def kernel_for_group(
    name: str, group: KernelGroup
) -> tuple[tt.FuncOp, dict[SSAValue, SSAValue], list[SSAValue]]:
    """A `tt.func` for `group`; maps each input to its pointer, and lists output pointers."""
    types = []
    for value in [*group.inputs, *group.outputs]:
        if not isinstance(value.type, TensorType):
            raise LoweringError(f"kernel buffers must be tensors, got {value.type}", group.anchor)
        types.append(tt.ptr(value.type.get_element_type()))
    kernel = tt.FuncOp(
        name, types, arg_attrs=[{"tt.divisibility": i32_attr(16)} for _ in types]
    )
    args = kernel.body.block.args
    pointers = dict(zip(group.inputs, args[: len(group.inputs)]))
    return kernel, pointers, list(args[len(group.inputs) :])
