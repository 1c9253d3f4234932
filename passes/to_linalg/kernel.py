"""Lowering of `mirage.kernel`: its body inlined in place of the op.

A kernel only marks which ops share a GPU kernel; upstream MLIR has no such grouping, so the
body's ops move before the kernel (block arguments replaced by the kernel's operands) and the
values its `mirage.yield` returns replace the kernel's results. The mirage ops among the
moved ones are lowered like any other.

    %y = mirage.kernel (%x) : (tensor<4x8xf32>) -> tensor<4x8xf32> {
    ^bb0(%a: tensor<4x8xf32>):
      %s = mirage.softmax %a axis = -1 : tensor<4x8xf32>
      mirage.yield %s : tensor<4x8xf32>
    }

becomes `%s = mirage.softmax %x axis = -1 : tensor<4x8xf32>` (then the softmax's linalg),
with the uses of %y reading %s.
"""

from __future__ import annotations

from xdsl.ir import SSAValue
from xdsl.rewriter import InsertPoint, Rewriter

from mirage_mlir.dialects import mirage


def lower_kernel(op: mirage.KernelOp) -> list[SSAValue]:
    """mirage.kernel -> its body's ops in its place; returns the yielded values."""
    block = op.body.block
    terminator = block.last_op
    assert isinstance(terminator, mirage.YieldOp)
    # A kernel may yield one of its arguments as it is: that is the operand outside.
    arguments = {arg: value for arg, value in zip(block.args, op.inputs)}
    yielded = [arguments.get(v, v) for v in terminator.values]
    Rewriter.erase_op(terminator)
    Rewriter.inline_block(block, InsertPoint.before(op), list(op.inputs))
    return yielded
