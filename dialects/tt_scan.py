"""Scan and assert ops of the `tt` dialect: `tt.scan` and `tt.assert`.

`tt.scan` is an inclusive prefix scan of one axis of one or more blocks with
the combiner in its region (Triton prints it in generic form); `tt.assert`
stops the kernel with a device-side assertion where a lane's condition is
false (Triton lowers it to CUDA's `__assertfail`, debug mode or not):

```mlir
%r = "tt.scan"(%x) <{axis = 0 : i32, reverse = false}> ({
^bb0(%l: i64, %r: i64):
  %s = arith.addi %l, %r : i64
  tt.scan.return %s : i64
}) : (tensor<16xi64>) -> tensor<16xi64>
tt.assert %ok, "index out of range" : tensor<16xi1>
```
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from xdsl.builder import ImplicitBuilder
from xdsl.dialects.builtin import (
    BoolAttr,
    IntegerAttr,
    IntegerType,
    StringAttr,
    TensorType,
)
from xdsl.ir import Block, Operation, Region, SSAValue
from xdsl.irdl import (
    IRDLOperation,
    irdl_op_definition,
    operand_def,
    prop_def,
    region_def,
    traits_def,
    var_operand_def,
    var_result_def,
)
from xdsl.traits import HasParent, IsTerminator, Pure
from xdsl.utils.exceptions import VerifyException

from mirage_mlir.dialects.tt_syntax import i32_attr
from mirage_mlir.dialects.tt_types import element_type_of, shape_of


@irdl_op_definition
class ScanOp(IRDLOperation):
    """Inclusive scan of `axis` of one or more blocks of the same shape.

    The region takes two scalars per source (running value, next element)
    and returns one per source through `tt.scan.return`; the results have the
    sources' types.  `reverse` scans from the end of the axis.
    """

    name = "tt.scan"

    srcs = var_operand_def(TensorType)
    axis = prop_def(IntegerAttr[IntegerType])
    reverse = prop_def(BoolAttr)
    result = var_result_def()
    combineOp = region_def("single_block")

    traits = traits_def(Pure())

    def __init__(
        self,
        srcs: Sequence[SSAValue | Operation],
        axis: int,
        combine: Callable[..., Sequence[SSAValue | Operation]],
        reverse: bool = False,
    ):
        """Build a scan whose combiner is made by `combine(*running, *next)`."""
        src_types = [SSAValue.get(s).type for s in srcs]
        elements = [element_type_of(t) for t in src_types]
        block = Block(arg_types=[*elements, *elements])
        with ImplicitBuilder(block) as args:
            ScanReturnOp(*combine(*args))
        super().__init__(
            operands=[srcs],
            result_types=[src_types],
            properties={"axis": i32_attr(axis), "reverse": BoolAttr.from_bool(reverse)},
            regions=[Region(block)],
        )

    def verify_(self) -> None:
        if not self.srcs:
            raise VerifyException("tt.scan needs at least one source")
        shapes = {shape_of(s.type) for s in self.srcs}
        if len(shapes) != 1:
            raise VerifyException("all sources of tt.scan must have the same shape")
        (shape,) = shapes
        if not 0 <= self.axis.value.data < len(shape):
            raise VerifyException(
                f"axis {self.axis.value.data} is out of range for shape {shape}"
            )
        if [r.type for r in self.result] != [s.type for s in self.srcs]:
            raise VerifyException("tt.scan results must have the types of its sources")
        elements = [element_type_of(s.type) for s in self.srcs]
        terminator = self.combineOp.block.last_op
        if (
            not isinstance(terminator, ScanReturnOp)
            or [v.type for v in terminator.result] != elements
        ):
            raise VerifyException(
                "the combiner must end in tt.scan.return of one scalar per source"
            )


@irdl_op_definition
class ScanReturnOp(IRDLOperation):
    """Returns the combined scalars from a `tt.scan` combiner."""

    name = "tt.scan.return"

    result = var_operand_def()

    traits = traits_def(IsTerminator(), HasParent(ScanOp), Pure())

    assembly_format = "$result attr-dict `:` type($result)"

    def __init__(self, *values: SSAValue | Operation):
        super().__init__(operands=[values])


@irdl_op_definition
class AssertOp(IRDLOperation):
    """A device-side assertion: every lane's `condition` must hold, else `message`."""

    name = "tt.assert"

    condition = operand_def()
    message = prop_def(StringAttr)

    assembly_format = "$condition `,` $message attr-dict `:` type($condition)"

    def __init__(self, condition: SSAValue | Operation, message: str):
        super().__init__(
            operands=[condition], properties={"message": StringAttr(message)}
        )
