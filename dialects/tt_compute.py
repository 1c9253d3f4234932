"""Compute ops of the `tt` dialect: dot, reduce, bitcast and fp_to_fp.

Elementwise arithmetic in Triton kernels is MLIR's own `arith` and `math`;
these are the ops Triton adds.  `tt.dot` is a block matrix product with an
accumulator, `tt.reduce` folds one axis of one or more blocks with the
combiner in its region (Triton always prints it in generic form):

```mlir
%acc2 = tt.dot %a, %b, %acc, inputPrecision = tf32 : tensor<64x32xf32> * tensor<32x64xf32> -> tensor<64x64xf32>
%m = "tt.reduce"(%x) <{axis = 0 : i32}> ({
^bb0(%l: f32, %r: f32):
  %v = arith.maxnumf %l, %r : f32
  tt.reduce.return %v : f32
}) : (tensor<256xf32>) -> f32
```
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from xdsl.builder import ImplicitBuilder
from xdsl.dialects.builtin import IntegerAttr, IntegerType, TensorType
from xdsl.ir import Attribute, Block, Operation, Region, SSAValue
from xdsl.irdl import (
    IRDLOperation,
    irdl_op_definition,
    operand_def,
    opt_prop_def,
    prop_def,
    region_def,
    result_def,
    traits_def,
    var_operand_def,
    var_result_def,
)
from xdsl.parser import Parser
from xdsl.printer import Printer
from xdsl.traits import HasParent, IsTerminator, Pure
from xdsl.utils.exceptions import VerifyException

from mirage_mlir.dialects.tt_syntax import i32_attr, parse_attr_dict, print_attr_dict
from mirage_mlir.dialects.tt_types import block_type, element_type_of, shape_of

INPUT_PRECISIONS = ("tf32", "tf32x3", "ieee", "bf16x3", "bf16x6")
"""Triton's `InputPrecision` cases, by value: how tensor cores treat f32 inputs."""

ROUNDING_MODES = ("rtz", "rtne")
"""Triton's `RoundingMode` cases, by value."""

_DEFAULT_PRECISION = INPUT_PRECISIONS.index("ieee")


@irdl_op_definition
class DotOp(IRDLOperation):
    """`d = a @ b + c` on blocks: a is MxK, b is KxN, c and d are MxN.

    `inputPrecision` says how f32 inputs reach the tensor cores: `tf32`
    (rounded to TF32, Triton's default in `tl.dot`), `tf32x3`, `bf16x3`,
    `bf16x6`, or `ieee` (no tensor cores, exact f32 products).

    ```mlir
    %d = tt.dot %a, %b, %c, inputPrecision = tf32 : tensor<64x32xf32> * tensor<32x64xf32> -> tensor<64x64xf32>
    ```
    """

    name = "tt.dot"

    a = operand_def(TensorType)
    b = operand_def(TensorType)
    c = operand_def(TensorType)
    d = result_def(TensorType)

    inputPrecision = opt_prop_def(IntegerAttr[IntegerType])
    maxNumImpreciseAcc = opt_prop_def(IntegerAttr[IntegerType])

    traits = traits_def(Pure())

    def __init__(
        self,
        a: SSAValue | Operation,
        b: SSAValue | Operation,
        c: SSAValue | Operation,
        input_precision: str = "tf32",
    ):
        super().__init__(
            operands=[a, b, c],
            result_types=[SSAValue.get(c).type],
            properties={
                "inputPrecision": i32_attr(INPUT_PRECISIONS.index(input_precision))
            },
        )

    @property
    def input_precision(self) -> str:
        """The input precision's name (`ieee` when the property is absent)."""
        if self.inputPrecision is None:
            return INPUT_PRECISIONS[_DEFAULT_PRECISION]
        return INPUT_PRECISIONS[self.inputPrecision.value.data]

    def verify_(self) -> None:
        a, b, c = (shape_of(v.type) for v in (self.a, self.b, self.c))
        if self.d.type != self.c.type:
            raise VerifyException(
                f"result type {self.d.type} differs from accumulator type {self.c.type}"
            )
        if not (len(a) == len(b) == len(c) and len(a) in (2, 3)):
            raise VerifyException("tt.dot operands must all be 2-D (or all 3-D, batched)")
        if a[-1] != b[-2] or c[-2:] != (a[-2], b[-1]) or not a[:-2] == b[:-2] == c[:-2]:
            raise VerifyException(
                f"shapes do not multiply: {self.a.type} * {self.b.type} -> {self.c.type}"
            )
        if self.inputPrecision is not None and not (
            0 <= self.inputPrecision.value.data < len(INPUT_PRECISIONS)
        ):
            raise VerifyException(f"unknown input precision {self.inputPrecision}")

    @classmethod
    def parse(cls, parser: Parser) -> DotOp:
        operands = [parser.parse_unresolved_operand()]
        for _ in range(2):
            parser.parse_punctuation(",")
            operands.append(parser.parse_unresolved_operand())
        precision = _DEFAULT_PRECISION
        if parser.parse_optional_punctuation(","):
            parser.parse_keyword("inputPrecision")
            parser.parse_punctuation("=")
            name = parser.parse_keyword_in(INPUT_PRECISIONS, " as the input precision")
            precision = INPUT_PRECISIONS.index(name)
        properties, attributes = parse_attr_dict(
            parser, ("inputPrecision", "maxNumImpreciseAcc")
        )
        parser.parse_punctuation(":")
        a_type = parser.parse_type()
        parser.parse_punctuation("*")
        b_type = parser.parse_type()
        parser.parse_punctuation("->")
        d_type = parser.parse_type()
        a, b, c = (
            parser.resolve_operand(v, t)
            for v, t in zip(operands, (a_type, b_type, d_type))
        )
        op = cls(a, b, c, INPUT_PRECISIONS[precision])
        op.properties |= properties
        op.attributes |= attributes
        return op

    def print(self, printer: Printer) -> None:
        printer.print_string(" ")
        printer.print_list(self.operands, printer.print_operand)
        if self.input_precision != INPUT_PRECISIONS[_DEFAULT_PRECISION]:
            printer.print_string(f", inputPrecision = {self.input_precision}")
        print_attr_dict(
            printer,
            self,
            elide=("inputPrecision",),
            defaults={"maxNumImpreciseAcc": i32_attr(0)},
        )
        printer.print_string(" : ")
        printer.print_attribute(self.a.type)
        printer.print_string(" * ")
        printer.print_attribute(self.b.type)
        printer.print_string(" -> ")
        printer.print_attribute(self.d.type)


@irdl_op_definition
class ReduceOp(IRDLOperation):
    """Folds `axis` of one or more blocks of the same shape with a combiner.

    The region takes two scalars per source (accumulated, next) and returns
    one per source through `tt.reduce.return`; results drop `axis` (a 1-D
    block reduces to a scalar).  The combiner must be associative and
    commutative: Triton folds in a tree, in no fixed order.
    """

    name = "tt.reduce"

    srcs = var_operand_def(TensorType)
    axis = prop_def(IntegerAttr[IntegerType])
    result = var_result_def()
    combineOp = region_def("single_block")

    traits = traits_def(Pure())

    def __init__(
        self,
        srcs: Sequence[SSAValue | Operation],
        axis: int,
        combine: Callable[..., Sequence[SSAValue | Operation]],
    ):
        """Build a reduction whose combiner is made by `combine(*lhs, *rhs)`.

        Ops created inside `combine` go into the region; the values it returns
        are the combined scalars, one per source.
        """
        src_types = [SSAValue.get(s).type for s in srcs]
        elements = [element_type_of(t) for t in src_types]
        block = Block(arg_types=[*elements, *elements])
        with ImplicitBuilder(block) as args:
            ReduceReturnOp(*combine(*args))
        result_types = [
            block_type(e, [d for i, d in enumerate(shape_of(t)) if i != axis])
            for e, t in zip(elements, src_types)
        ]
        super().__init__(
            operands=[srcs],
            result_types=[result_types],
            properties={"axis": i32_attr(axis)},
            regions=[Region(block)],
        )

    def verify_(self) -> None:
        if not self.srcs:
            raise VerifyException("tt.reduce needs at least one source")
        shapes = {shape_of(s.type) for s in self.srcs}
        if len(shapes) != 1:
            raise VerifyException("all sources of tt.reduce must have the same shape")
        (shape,) = shapes
        axis = self.axis.value.data
        if not 0 <= axis < len(shape):
            raise VerifyException(f"axis {axis} is out of range for shape {shape}")
        kept = [d for i, d in enumerate(shape) if i != axis]
        elements = [element_type_of(s.type) for s in self.srcs]
        expected = [block_type(e, kept) for e in elements]
        if [r.type for r in self.result] != expected:
            raise VerifyException(
                "result types ("
                + ", ".join(str(r.type) for r in self.result)
                + ") should be ("
                + ", ".join(map(str, expected))
                + ")"
            )
        block = self.combineOp.block
        if list(block.arg_types) != [*elements, *elements]:
            raise VerifyException(
                "the combiner must take two scalars per source, of the source element types"
            )
        terminator = block.last_op
        if not isinstance(terminator, ReduceReturnOp) or [
            v.type for v in terminator.result
        ] != elements:
            raise VerifyException(
                "the combiner must end in tt.reduce.return of one scalar per source"
            )


@irdl_op_definition
class ReduceReturnOp(IRDLOperation):
    """Returns the combined scalars from a `tt.reduce` combiner.

    ```mlir
    tt.reduce.return %v : f32
    ```
    """

    name = "tt.reduce.return"

    result = var_operand_def()

    traits = traits_def(IsTerminator(), HasParent(ReduceOp), Pure())

    assembly_format = "$result attr-dict `:` type($result)"

    def __init__(self, *values: SSAValue | Operation):
        super().__init__(operands=[values])


@irdl_op_definition
class BitcastOp(IRDLOperation):
    """Reinterprets the bits of each element as another type of the same width.

    ```mlir
    %i = tt.bitcast %x : tensor<16xf32> -> tensor<16xi32>
    ```
    """

    name = "tt.bitcast"

    src = operand_def()
    result = result_def()

    traits = traits_def(Pure())

    assembly_format = "$src attr-dict `:` type($src) `->` type($result)"

    def __init__(self, src: SSAValue | Operation, result_type: Attribute):
        super().__init__(operands=[src], result_types=[result_type])

    def verify_(self) -> None:
        if shape_of(self.src.type) != shape_of(self.result.type):
            raise VerifyException(
                f"cannot bitcast {self.src.type} to {self.result.type}: shapes differ"
            )
        widths = []
        for t in (self.src.type, self.result.type):
            element = element_type_of(t)
            width = getattr(element, "bitwidth", None)
            widths.append(width)
        if None not in widths and widths[0] != widths[1]:
            raise VerifyException(
                f"cannot bitcast {self.src.type} to {self.result.type}: "
                f"element widths {widths[0]} and {widths[1]} differ"
            )


@irdl_op_definition
class FpToFpOp(IRDLOperation):
    """Converts between float types, including FP8, with an optional rounding mode.

    ```mlir
    %h = tt.fp_to_fp %f, rounding = rtne : tensor<16xf32> -> tensor<16xf8E5M2>
    ```
    """

    name = "tt.fp_to_fp"

    src = operand_def()
    result = result_def()
    rounding = opt_prop_def(IntegerAttr[IntegerType])

    traits = traits_def(Pure())

    def __init__(
        self, src: SSAValue | Operation, result_type: Attribute, rounding: str | None = None
    ):
        properties = {}
        if rounding is not None:
            properties["rounding"] = i32_attr(ROUNDING_MODES.index(rounding))
        super().__init__(
            operands=[src], result_types=[result_type], properties=properties
        )

    def verify_(self) -> None:
        if shape_of(self.src.type) != shape_of(self.result.type):
            raise VerifyException(
                f"cannot convert {self.src.type} to {self.result.type}: shapes differ"
            )

    @classmethod
    def parse(cls, parser: Parser) -> FpToFpOp:
        src = parser.parse_unresolved_operand()
        _, attributes = parse_attr_dict(parser, ())
        rounding = None
        if parser.parse_optional_punctuation(","):
            parser.parse_keyword("rounding")
            parser.parse_punctuation("=")
            rounding = parser.parse_keyword_in(ROUNDING_MODES, " as the rounding mode")
        parser.parse_punctuation(":")
        src_type = parser.parse_type()
        parser.parse_punctuation("->")
        result_type = parser.parse_type()
        op = cls(parser.resolve_operand(src, src_type), result_type, rounding)
        op.attributes |= attributes
        return op

    def print(self, printer: Printer) -> None:
        printer.print_string(" ")
        printer.print_operand(self.src)
        print_attr_dict(printer, self, elide=("rounding",))
        if self.rounding is not None:
            printer.print_string(
                f", rounding = {ROUNDING_MODES[self.rounding.value.data]}"
            )
        printer.print_string(" : ")
        printer.print_attribute(self.src.type)
        printer.print_string(" -> ")
        printer.print_attribute(self.result.type)
