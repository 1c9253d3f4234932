"""The `plan` dialect: the host side of a lowered program, as a launch plan.

After `convert-mirage-to-triton` a host `func.func` no longer computes: it
allocates buffers and launches kernels, in order.  Buffers are tensors with
value semantics dropped: a kernel writes its `outs` buffers in place, and a
later launch reads them.  Each buffer occupies a numbered `slot`; a slot whose
buffer is dead (no later launch reads it and it is not returned) is given to
a later buffer of the same byte size, which is how the plan reuses memory.
Kernels take only buffers (shapes and strides are constants inside them).

```mlir
func.func @main(%x: tensor<256x1024xf32>) -> tensor<256x1024xf32> {
  %y = plan.alloc slot 0 : tensor<256x1024xf32>
  plan.launch @main_softmax_0 grid [256, 1, 1] ins(%x : tensor<256x1024xf32>) outs(%y : tensor<256x1024xf32>)
  func.return %y : tensor<256x1024xf32>
}
```

`tensor.expand_shape` / `tensor.collapse_shape` stay in the host function
as views of a contiguous buffer; weights stay `arith.constant`s.
"""

from __future__ import annotations

from collections.abc import Sequence

from xdsl.dialects.builtin import (
    DenseArrayBase,
    I64,
    IntegerAttr,
    SymbolRefAttr,
    TensorType,
    i64,
)
from xdsl.ir import Dialect, Operation, SSAValue
from xdsl.irdl import (
    AttrSizedOperandSegments,
    IRDLOperation,
    irdl_op_definition,
    prop_def,
    result_def,
    var_operand_def,
)
from xdsl.parser import Parser
from xdsl.printer import Printer
from xdsl.utils.exceptions import VerifyException


@irdl_op_definition
class AllocOp(IRDLOperation):
    """A device buffer holding a tensor, placed in memory slot `slot`.

    ```mlir
    %b = plan.alloc slot 0 : tensor<256x512xf32>
    ```
    """

    name = "plan.alloc"

    slot = prop_def(IntegerAttr[I64])
    result = result_def(TensorType)

    assembly_format = "`slot` $slot attr-dict `:` type($result)"

    def __init__(self, slot: int, tensor_type: TensorType):
        super().__init__(
            properties={"slot": IntegerAttr(slot, i64)}, result_types=[tensor_type]
        )

    @property
    def slot_index(self) -> int:
        """The slot as a Python int."""
        return self.slot.value.data


@irdl_op_definition
class LaunchOp(IRDLOperation):
    """Run kernel `@kernel` on a grid of programs; it reads `ins` and writes `outs`.

    The kernel's arguments are the `ins` buffers then the `outs` buffers, as
    pointers, in that order.

    ```mlir
    plan.launch @k grid [4, 8, 1] ins(%x, %w : tensor<256x512xf32>, tensor<512x512xf32>) outs(%y : tensor<256x512xf32>)
    ```
    """

    name = "plan.launch"

    kernel = prop_def(SymbolRefAttr)
    grid = prop_def(DenseArrayBase)
    ins = var_operand_def(TensorType)
    outs = var_operand_def(TensorType)

    irdl_options = (AttrSizedOperandSegments(as_property=True),)


    def __init__(
        self,
        kernel: str,
        grid: Sequence[int],
        ins: Sequence[SSAValue | Operation],
        outs: Sequence[SSAValue | Operation],
    ):
        grid = (list(grid) + [1, 1, 1])[:3]
        super().__init__(
            operands=[ins, outs],
            properties={
                "kernel": SymbolRefAttr(kernel),
                "grid": DenseArrayBase.from_list(i64, grid),
            },
        )

    @property
    def grid_sizes(self) -> tuple[int, ...]:
        """The grid as three Python ints."""
        return tuple(int(g) for g in self.grid.get_values())

    @property
    def kernel_name(self) -> str:
        """The kernel's symbol name."""
        return self.kernel.root_reference.data

    def verify_(self) -> None:
        grid = self.grid_sizes
        if len(grid) != 3 or min(grid) < 1:
            raise VerifyException(f"grid must be three positive sizes, got {list(grid)}")
        if not self.outs:
            raise VerifyException("a launch must write at least one buffer")

    @classmethod
    def parse(cls, parser: Parser) -> LaunchOp:
        kernel = parser.parse_symbol_name().data
        parser.parse_keyword("grid")
        grid = parser.parse_comma_separated_list(
            parser.Delimiter.SQUARE, parser.parse_integer
        )
        groups = []
        for keyword in ("ins", "outs"):
            values = []
            if parser.parse_optional_keyword(keyword) is not None:
                parser.parse_punctuation("(")
                names = parser.parse_comma_separated_list(
                    parser.Delimiter.NONE, parser.parse_unresolved_operand
                )
                parser.parse_punctuation(":")
                types = parser.parse_comma_separated_list(
                    parser.Delimiter.NONE, parser.parse_type
                )
                parser.parse_punctuation(")")
                if len(names) != len(types):
                    parser.raise_error(f"{len(names)} {keyword} but {len(types)} types")
                values = [parser.resolve_operand(n, t) for n, t in zip(names, types)]
            groups.append(values)
        op = cls(kernel, grid, groups[0], groups[1])
        attributes = parser.parse_optional_attr_dict()
        op.attributes |= attributes
        return op

    def print(self, printer: Printer) -> None:
        printer.print_string(" ")
        printer.print_symbol_name(self.kernel_name)
        printer.print_string(" grid [" + ", ".join(map(str, self.grid_sizes)) + "]")
        for keyword, values in (("ins", self.ins), ("outs", self.outs)):
            if not values:
                continue
            printer.print_string(f" {keyword}(")
            printer.print_list(values, printer.print_operand)
            printer.print_string(" : ")
            printer.print_list([v.type for v in values], printer.print_attribute)
            printer.print_string(")")
        printer.print_op_attributes(self.attributes)


Plan = Dialect("plan", [AllocOp, LaunchOp], [])
"""The launch-plan dialect."""
