"""The linalg dialect as mirage-mlir reads and writes it.

This is xDSL 0.74's linalg dialect with the repairs that torch-mlir's
linalg-on-tensors output needs, so that every module it imports parses and
prints back as MLIR itself prints it:

* `linalg.batch_matmul` exists (xDSL 0.74 has no such op).  einsum and
  attention arrive as batch matmuls.
* `linalg.generic` with several results, `-> (tensor<4xf32>, tensor<4xi64>)`,
  parses.  xDSL prints that form but reads the parenthesised list as the start
  of a function type and fails with "Expected '->'"; softmax's max/argmax
  generic has two results.
* the convolutions and poolings of `mirage_mlir.dialects.linalg_convolution`
  (1-D, 3-D and depthwise convolutions, sum pooling) exist.
* `linalg.generic` keeps attributes of its leading dictionary other than the
  four it understands, where xDSL silently dropped them.
* `linalg.matmul` and `linalg.batch_matmul` read MLIR's
  `indexing_maps = [...]` syntax and print non-default indexing maps.  xDSL's
  matmul never prints them, which silently turns a transposed matmul into a
  plain one on a round trip.  Their hidden body is MLIR's: operands cast to the
  output element type, `mulf`, then `addf(acc, product)`.

Hex float literals in dense attributes are a parser matter, repaired in
`mirage_mlir.dialects.parser`.

Every other op and attribute is xDSL's own, re-exported here so that the rest
of the project imports linalg from one place.  The fixed ops subclass xDSL's,
so `isinstance` checks in xDSL's own transforms still hold.

Example (all of these round-trip unchanged):

```mlir
%0 = linalg.batch_matmul ins(%a, %b : tensor<2x8x4xf32>, tensor<2x4x8xf32>)
       outs(%c : tensor<2x8x8xf32>) -> tensor<2x8x8xf32>
%1:2 = linalg.generic {indexing_maps = [#id, #row, #row],
                       iterator_types = ["parallel", "reduction"]}
       ins(%x : tensor<4x16xf32>) outs(%m, %i : tensor<4xf32>, tensor<4xi64>) {
  ...
} -> (tensor<4xf32>, tensor<4xi64>)
```
"""

from __future__ import annotations

from abc import ABC
from collections.abc import Sequence
from typing import ClassVar, Self

from xdsl.builder import Builder
from xdsl.dialects import arith
from xdsl.dialects.builtin import (
    AffineMapAttr,
    AnyFloat,
    AnyTensorType,
    ArrayAttr,
    IntegerType,
    StringAttr,
)
from xdsl.dialects.linalg import Linalg as _XdslLinalg
from xdsl.dialects.linalg import ops as _xdsl_ops
from xdsl.dialects.linalg.abstract_ops import (
    LinalgStructuredOperation,
    NamedOperation,
)
from xdsl.dialects.linalg.attrs import IteratorType, IteratorTypeAttr
from xdsl.dialects.linalg.ops import (
    AddOp,
    BroadcastOp,
    Conv2DNchwFchwOp,
    Conv2DNgchwFgchwOp,
    Conv2DNgchwGfchwOp,
    Conv2DNhwc_FhwcOp,
    Conv2DNhwc_HwcfOp,
    Conv2DNhwgcGfhwcOp,
    CopyOp,
    ExpOp,
    FillOp,
    IndexOp,
    LogOp,
    MaxOp,
    MinOp,
    MulOp,
    PoolingNchwMaxOp,
    QuantizedMatmulOp,
    ReduceOp,
    SelectOp,
    SqrtOp,
    SubOp,
    TransposeOp,
    YieldOp,
)
from xdsl.ir import Attribute, BlockArgument, Dialect, Operation, Region, SSAValue
from xdsl.ir.affine import AffineMap
from xdsl.irdl import irdl_op_definition, prop_def
from xdsl.parser import Parser
from xdsl.printer import Printer
from xdsl.utils.hints import isa

from mirage_mlir.dialects.linalg_convolution import CONVOLUTION_OPERATIONS

__all__ = [
    "AddOp",
    "BatchMatmulOp",
    "BroadcastOp",
    "Conv2DNchwFchwOp",
    "Conv2DNgchwFgchwOp",
    "Conv2DNgchwGfchwOp",
    "Conv2DNhwc_FhwcOp",
    "Conv2DNhwc_HwcfOp",
    "Conv2DNhwgcGfhwcOp",
    "ContractionOperation",
    "CopyOp",
    "ExpOp",
    "FillOp",
    "GenericOp",
    "IndexOp",
    "IteratorType",
    "IteratorTypeAttr",
    "Linalg",
    "LinalgStructuredOperation",
    "LogOp",
    "MatmulOp",
    "MaxOp",
    "MinOp",
    "MulOp",
    "NamedOperation",
    "PoolingNchwMaxOp",
    "QuantizedMatmulOp",
    "parse_operand_group",
    "parse_result_types",
    "print_operand_group",
    "print_result_types",
    "ReduceOp",
    "SelectOp",
    "SqrtOp",
    "SubOp",
    "TransposeOp",
    "YieldOp",
]


# ---------------------------------------------------------------------------
# Pieces of syntax shared by the structured ops.
# ---------------------------------------------------------------------------


def parse_operand_group(parser: Parser, keyword: str) -> Sequence[SSAValue]:
    """Parse an optional `keyword(%a, %b : t1, t2)` group; empty if absent."""
    pos = parser.pos
    if parser.parse_optional_characters(keyword) is None:
        return ()
    parser.parse_punctuation("(")
    names = parser.parse_comma_separated_list(
        Parser.Delimiter.NONE, parser.parse_unresolved_operand
    )
    parser.parse_punctuation(":")
    types = parser.parse_comma_separated_list(Parser.Delimiter.NONE, parser.parse_type)
    parser.parse_punctuation(")")
    return parser.resolve_operands(names, types, pos)


def print_operand_group(
    printer: Printer, keyword: str, values: Sequence[SSAValue]
) -> None:
    """Print ` keyword(%a, %b : t1, t2)`, or nothing for no values."""
    if not values:
        return
    printer.print_string(f" {keyword}(")
    printer.print_list(values, printer.print_ssa_value)
    printer.print_string(" : ")
    printer.print_list([v.type for v in values], printer.print_attribute)
    printer.print_string(")")


def parse_result_types(parser: Parser) -> Sequence[Attribute]:
    """Parse an optional `-> t` or `-> (t1, t2, ...)`; empty if absent.

    The parenthesised list is read as a list of types, never as a function
    type, which is what made xDSL fail on multi-result generics.
    """
    if parser.parse_optional_punctuation("->") is None:
        return ()
    types = parser.parse_optional_comma_separated_list(
        Parser.Delimiter.PAREN, parser.parse_type
    )
    if types is not None:
        return types
    return (parser.parse_type(),)


def print_result_types(printer: Printer, types: Sequence[Attribute]) -> None:
    """Print ` -> t` for one result, ` -> (t1, t2)` for several, nothing for none."""
    if not types:
        return
    printer.print_string(" -> ")
    if len(types) == 1:
        printer.print_attribute(types[0])
        return
    with printer.in_parens():
        printer.print_list(types, printer.print_attribute)


# ---------------------------------------------------------------------------
# linalg.generic
# ---------------------------------------------------------------------------

_GENERIC_TRAIT_NAMES = ("indexing_maps", "iterator_types", "doc", "library_call")


class GenericOp(_xdsl_ops.GenericOp):
    """`linalg.generic`: a loop nest over indexing maps with a scalar body.

    xDSL's op, with a parser that reads several results and keeps unknown
    attributes of the leading dictionary.

    ```mlir
    %r:2 = linalg.generic {indexing_maps = [#id, #row, #row],
                           iterator_types = ["parallel", "reduction"]}
        ins(%x : tensor<4x16xf32>) outs(%m, %i : tensor<4xf32>, tensor<4xi64>) {
    ^bb0(%in: f32, %max: f32, %arg: i64):
      ...
      linalg.yield %new_max, %new_arg : f32, i64
    } -> (tensor<4xf32>, tensor<4xi64>)
    ```
    """

    @classmethod
    def parse(cls, parser: Parser) -> Self:
        dict_start = parser.pos
        attrs = dict(parser.parse_optional_attr_dict())
        dict_end = parser.pos

        indexing_maps = attrs.pop("indexing_maps", None)
        if not isa(indexing_maps, ArrayAttr[AffineMapAttr]):
            parser.raise_error(
                "expected 'indexing_maps' to be an array of affine maps "
                "in the attribute dictionary of linalg.generic",
                dict_start,
                dict_end,
            )
        raw_iterators = attrs.pop("iterator_types", None)
        if not isa(raw_iterators, ArrayAttr):
            parser.raise_error(
                "expected 'iterator_types' to be an array "
                "in the attribute dictionary of linalg.generic",
                dict_start,
                dict_end,
            )
        iterator_types = [
            _iterator_type(parser, attr, dict_start, dict_end) for attr in raw_iterators
        ]
        doc = attrs.pop("doc", None)
        library_call = attrs.pop("library_call", None)
        for name, value in (("doc", doc), ("library_call", library_call)):
            if value is not None and not isinstance(value, StringAttr):
                parser.raise_error(
                    f"expected '{name}' to be a string", dict_start, dict_end
                )

        inputs = parse_operand_group(parser, "ins")
        outputs = parse_operand_group(parser, "outs")
        if parser.parse_optional_keyword("attrs") is not None:
            parser.parse_punctuation("=")
            attrs |= parser.expect(
                parser.parse_optional_attr_dict, "expected an attribute dictionary"
            )
        body = parser.parse_region()
        result_types = parse_result_types(parser)

        generic = cls(
            inputs,
            outputs,
            body,
            indexing_maps,
            iterator_types,
            result_types,
            doc,
            library_call,
        )
        generic.attributes |= attrs
        return generic


def _iterator_type(
    parser: Parser, attr: Attribute, start: int, end: int
) -> IteratorTypeAttr:
    """Read one iterator type, written `"parallel"` or `#linalg.iterator_type<..>`."""
    if isinstance(attr, IteratorTypeAttr):
        return attr
    if isinstance(attr, StringAttr):
        try:
            return IteratorTypeAttr(IteratorType(attr.data))
        except ValueError:
            pass
    parser.raise_error(f"unknown iterator type {attr}", start, end)


# ---------------------------------------------------------------------------
# linalg.matmul and linalg.batch_matmul
# ---------------------------------------------------------------------------


def _cast_to(value: SSAValue, to_type: Attribute) -> SSAValue:
    """Cast a scalar to `to_type` as MLIR's named ops do (`cast_signed`)."""
    from_type = value.type
    if from_type == to_type:
        return value
    if isinstance(from_type, AnyFloat) and isinstance(to_type, AnyFloat):
        if from_type.bitwidth < to_type.bitwidth:
            return arith.ExtFOp(value, to_type).result
        return arith.TruncFOp(value, to_type).result
    if isinstance(from_type, IntegerType) and isinstance(to_type, IntegerType):
        if from_type.width.data < to_type.width.data:
            return arith.ExtSIOp(value, to_type).result
        return arith.TruncIOp(value, to_type).result
    if isinstance(from_type, IntegerType) and isinstance(to_type, AnyFloat):
        return arith.SIToFPOp(value, to_type).result
    if isinstance(from_type, AnyFloat) and isinstance(to_type, IntegerType):
        return arith.FPToSIOp(value, to_type).result
    raise ValueError(f"cannot cast {from_type} to {to_type} in a contraction body")


class ContractionOperation(NamedOperation, ABC):
    """Syntax and body of the matmul family, as MLIR writes them.

    ```mlir
    linalg.batch_matmul indexing_maps = [#lhs, #rhs, #acc] {extra = 1 : i32}
        ins(%a, %b : tensor<2x4x8xf32>, tensor<2x8x4xf32>)
        outs(%c : tensor<2x4x4xf32>) -> tensor<2x4x4xf32>
    ```

    `indexing_maps = [...]` appears only when the maps differ from the op's
    default.  The older xDSL spelling, the maps inside the attribute
    dictionary, is read too.
    """

    PRINT_ATTRS_IN_FRONT: ClassVar[bool] = True

    @classmethod
    def default_indexing_maps(cls) -> ArrayAttr[AffineMapAttr]:
        """The indexing maps this op has when none are written."""
        definition = cls.get_irdl_definition()
        default = definition.properties["indexing_maps"].default_value
        assert default is not None
        return default

    @classmethod
    def parse(cls, parser: Parser) -> Self:
        maps_start = parser.pos
        indexing_maps: Attribute | None = None
        if parser.parse_optional_keyword("indexing_maps") is not None:
            parser.parse_punctuation("=")
            indexing_maps = parser.parse_attribute()
        attrs = dict(parser.parse_optional_attr_dict())
        if indexing_maps is None:
            indexing_maps = attrs.pop("indexing_maps", None)
        if indexing_maps is not None and not isa(
            indexing_maps, ArrayAttr[AffineMapAttr]
        ):
            parser.raise_error(
                f"expected 'indexing_maps' of {cls.name} to be an array of "
                "affine maps",
                maps_start,
                parser.pos,
            )
        operands_start = parser.pos
        inputs = parse_operand_group(parser, "ins")
        outputs = parse_operand_group(parser, "outs")
        if len(inputs) != 2 or len(outputs) != 1:
            parser.raise_error(
                f"{cls.name} expects 2 inputs and 1 output, got "
                f"{len(inputs)} and {len(outputs)}",
                operands_start,
                parser.pos,
            )
        result_types = parse_result_types(parser)
        try:
            body = cls.get_hidden_region(inputs, outputs)
        except (ValueError, AssertionError):
            parser.raise_error(
                f"{cls.name} needs integer or float element types",
                operands_start,
                parser.pos,
            )
        properties = {} if indexing_maps is None else {"indexing_maps": indexing_maps}
        return cls.build(
            operands=(inputs, outputs),
            result_types=(result_types,),
            properties=properties,
            attributes=attrs,
            regions=(body,),
        )

    def print(self, printer: Printer) -> None:
        maps = self.properties.get("indexing_maps")
        if maps is not None and maps != self.default_indexing_maps():
            printer.print_string(" indexing_maps = ")
            printer.print_attribute(maps)
        extra = {
            name: value
            for name, value in (self.attributes | self.properties).items()
            if name not in ("indexing_maps", "operandSegmentSizes")
        }
        printer.print_op_attributes(extra)
        print_operand_group(printer, "ins", self.inputs)
        print_operand_group(printer, "outs", self.outputs)
        print_result_types(printer, self.result_types)

    @classmethod
    def get_hidden_region(
        cls, inputs: Sequence[SSAValue], outputs: Sequence[SSAValue]
    ) -> Region:
        """MLIR's body: `acc + cast(lhs) * cast(rhs)`, in the accumulator's type."""
        arg_types = NamedOperation.body_arg_types((*inputs, *outputs))
        acc_type = arg_types[-1]
        floating = isinstance(acc_type, AnyFloat)
        mul = arith.MulfOp if floating else arith.MuliOp
        add = arith.AddfOp if floating else arith.AddiOp

        @Builder.implicit_region(arg_types)
        def body(args: tuple[BlockArgument, ...]) -> None:
            lhs = _cast_to(args[0], acc_type)
            rhs = _cast_to(args[1], acc_type)
            product = mul(lhs, rhs)
            YieldOp(add(args[2], product))

        return body


class MatmulOp(ContractionOperation, _xdsl_ops.MatmulOp):
    """`linalg.matmul`: C += A B over 2-D operands.

    xDSL's op, with MLIR's `indexing_maps = [...]` syntax and body.

    ```mlir
    %0 = linalg.matmul ins(%a, %b : tensor<4x16xf32>, tensor<16x8xf32>)
           outs(%c : tensor<4x8xf32>) -> tensor<4x8xf32>
    ```
    """


def _batch_maps() -> ArrayAttr[AffineMapAttr]:
    return ArrayAttr(
        [
            AffineMapAttr(AffineMap.from_callable(lambda b, i, _, k: (b, i, k))),
            AffineMapAttr(AffineMap.from_callable(lambda b, _, j, k: (b, k, j))),
            AffineMapAttr(AffineMap.from_callable(lambda b, i, j, _: (b, i, j))),
        ]
    )


@irdl_op_definition
class BatchMatmulOp(ContractionOperation):
    """`linalg.batch_matmul`: C[b] += A[b] B[b] over 3-D operands.

    See MLIR's [documentation](https://mlir.llvm.org/docs/Dialects/Linalg/#linalgbatch_matmul-linalgbatchmatmulop).

    ```mlir
    %0 = linalg.batch_matmul ins(%a, %b : tensor<2x8x4xf32>, tensor<2x4x8xf32>)
           outs(%c : tensor<2x8x8xf32>) -> tensor<2x8x8xf32>
    ```
    """

    name = "linalg.batch_matmul"

    indexing_maps = prop_def(ArrayAttr[AffineMapAttr], default_value=_batch_maps())

    def __init__(
        self,
        inputs: Sequence[SSAValue],
        outputs: Sequence[SSAValue] = (),
        res: Sequence[Attribute] | None = None,
        attributes: dict[str, Attribute] | None = None,
        indexing_maps: ArrayAttr[AffineMapAttr] | None = None,
    ):
        if res is None:
            result_types: Sequence[Attribute] = tuple(
                output_type
                for output in outputs
                if isa(output_type := output.type, AnyTensorType)
            )
        else:
            result_types = res
        super().__init__(
            ins=inputs,
            outs=outputs,
            result_types=result_types,
            attributes=attributes,
            properties={"indexing_maps": indexing_maps},
            hidden_region=self.get_hidden_region(inputs, outputs),
        )

    def get_default_indexing_maps(self) -> Sequence[AffineMap]:
        return tuple(m.data for m in self.indexing_maps.data)

    def get_indexing_maps(self) -> ArrayAttr[AffineMapAttr]:
        return self.indexing_maps

    def get_iterator_types(self) -> ArrayAttr[IteratorTypeAttr]:
        return ArrayAttr(
            [IteratorTypeAttr.parallel()] * 3 + [IteratorTypeAttr.reduction()]
        )


def _linalg_operations() -> list[type[Operation]]:
    """xDSL's linalg ops with the fixed ones swapped in, plus batch_matmul."""
    replacements = {GenericOp.name: GenericOp, MatmulOp.name: MatmulOp}
    operations = [replacements.get(op.name, op) for op in _XdslLinalg.operations]
    operations.append(BatchMatmulOp)
    operations.extend(CONVOLUTION_OPERATIONS)
    return operations


Linalg = Dialect("linalg", _linalg_operations(), list(_XdslLinalg.attributes))
"""The linalg dialect mirage-mlir registers in place of xDSL's."""
