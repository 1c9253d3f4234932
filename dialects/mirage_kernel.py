"""`mirage.kernel` and its terminator `mirage.yield`.

A kernel op marks one fused group: the ops in its body become exactly one GPU
kernel, so the MLIR itself shows which ops share a kernel.  It is isolated
from above, so the tensors a kernel reads are its operands (bound to the block
arguments) and the tensors it writes are its results (the yielded values).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from xdsl.builder import ImplicitBuilder
from xdsl.ir import Attribute, Block, BlockArgument, Operation, Region, SSAValue
from xdsl.irdl import (
    IRDLOperation,
    irdl_op_definition,
    region_def,
    traits_def,
    var_operand_def,
    var_result_def,
)
from xdsl.traits import (
    HasParent,
    IsolatedFromAbove,
    IsTerminator,
    Pure,
    RecursiveMemoryEffect,
)
from xdsl.utils.exceptions import VerifyException

from mirage_mlir.dialects.mirage_shapes import FloatTensorConstr

KERNEL_BODY_DIALECTS = frozenset({"mirage", "linalg", "tensor", "arith", "math"})
"""Dialects whose ops may appear directly in a kernel body."""


@irdl_op_definition
class KernelOp(IRDLOperation):
    """One fused group of ops that becomes exactly one GPU kernel.

    Operands are the tensors the kernel reads; the single block has one
    argument per operand, of the same type, and ends in `mirage.yield` of
    values whose types are the result types.  The body holds mirage, linalg,
    tensor, arith and math ops on tensors, never another kernel.  The op is
    isolated from above: everything the body reads comes in as an operand.

    ```mlir
    %y = mirage.kernel (%x, %w) : (tensor<16x64xf32>, tensor<64xf32>) -> tensor<16x64xf32> {
    ^bb0(%a: tensor<16x64xf32>, %b: tensor<64xf32>):
      %n = mirage.rms_norm %a, %b eps 1.000000e-06 : tensor<16x64xf32>, tensor<64xf32>
      %s = mirage.softmax %n axis = -1 : tensor<16x64xf32>
      mirage.yield %s : tensor<16x64xf32>
    }
    ```
    """

    name = "mirage.kernel"

    inputs = var_operand_def(FloatTensorConstr)
    outputs = var_result_def(FloatTensorConstr)
    body = region_def("single_block")

    traits = traits_def(IsolatedFromAbove(), RecursiveMemoryEffect())

    assembly_format = (
        "` ` `(` $inputs `)` `:` functional-type($inputs, $outputs) "
        "attr-dict-with-keyword $body"
    )

    def __init__(
        self,
        inputs: Sequence[SSAValue | Operation],
        result_types: Sequence[Attribute],
        body: Region,
    ):
        super().__init__(
            operands=[inputs], result_types=[result_types], regions=[body]
        )

    @staticmethod
    def from_body(
        inputs: Sequence[SSAValue | Operation],
        build_body: Callable[..., Sequence[SSAValue | Operation]],
    ) -> KernelOp:
        """Build a kernel whose body is made by `build_body(*block_args)`.

        Ops created inside `build_body` are appended to the body; the values it
        returns are yielded and give the kernel's result types.
        """
        block = Block(arg_types=[SSAValue.get(v).type for v in inputs])
        with ImplicitBuilder(block) as args:
            yielded = [SSAValue.get(v) for v in build_body(*args)]
            YieldOp(*yielded)
        return KernelOp(inputs, [v.type for v in yielded], Region(block))

    @property
    def block_args(self) -> tuple[BlockArgument, ...]:
        """The body's arguments, one per kernel operand."""
        return self.body.block.args

    def verify_(self) -> None:
        block = self.body.block
        if len(block.args) != len(self.inputs):
            raise VerifyException(
                f"body has {len(block.args)} arguments but the kernel has "
                f"{len(self.inputs)} operands"
            )
        for index, (arg, operand) in enumerate(zip(block.args, self.inputs)):
            if arg.type != operand.type:
                raise VerifyException(
                    f"body argument #{index} has type {arg.type}, but operand "
                    f"#{index} has type {operand.type}"
                )
        if not self.outputs:
            raise VerifyException("a kernel must have at least one result")
        for op in block.ops:
            if isinstance(op, KernelOp):
                raise VerifyException("kernels may not be nested")
            if op.name.split(".", 1)[0] not in KERNEL_BODY_DIALECTS:
                raise VerifyException(
                    f"'{op.name}' may not appear in a kernel body (allowed "
                    "dialects: " + ", ".join(sorted(KERNEL_BODY_DIALECTS)) + ")"
                )
        terminator = block.last_op
        if not isinstance(terminator, YieldOp):
            raise VerifyException("body must end in mirage.yield")
        yielded = [v.type for v in terminator.values]
        results = [r.type for r in self.outputs]
        if yielded != results:
            raise VerifyException(
                "yielded types ("
                + ", ".join(map(str, yielded))
                + ") do not match the result types ("
                + ", ".join(map(str, results))
                + ")"
            )


@irdl_op_definition
class YieldOp(IRDLOperation):
    """Terminator of a `mirage.kernel` body: the tensors the kernel writes.

    ```mlir
    mirage.yield %s, %t : tensor<16x64xf32>, tensor<16xf32>
    ```
    """

    name = "mirage.yield"

    values = var_operand_def(FloatTensorConstr)

    traits = traits_def(IsTerminator(), HasParent(KernelOp), Pure())

    assembly_format = "($values^ `:` type($values))? attr-dict"

    def __init__(self, *values: SSAValue | Operation):
        super().__init__(operands=[values])
