"""Pointer arithmetic and memory access ops of the `tt` dialect.

A kernel reaches memory through pointers: `tt.addptr` offsets a pointer (or a
block of pointers) by a number of elements, `tt.load` reads through a block of
pointers and `tt.store` writes through one.  A mask (an i1 block of the same
shape) switches lanes off; a masked-off load lane yields `other`.

```mlir
%p = tt.addptr %base, %offsets : tensor<128x!tt.ptr<f32>>, tensor<128xi32>
%x = tt.load %p, %mask, %zeros : tensor<128x!tt.ptr<f32>>
tt.store %p, %x, %mask : tensor<128x!tt.ptr<f32>>
```
"""

from __future__ import annotations

from xdsl.dialects.builtin import BoolAttr, IntegerType
from xdsl.ir import Attribute, Operation, SSAValue
from xdsl.irdl import (
    AttrSizedOperandSegments,
    IRDLOperation,
    irdl_op_definition,
    operand_def,
    opt_operand_def,
    opt_prop_def,
    result_def,
    traits_def,
)
from xdsl.parser import Parser
from xdsl.printer import Printer
from xdsl.traits import Pure
from xdsl.utils.exceptions import VerifyException

from mirage_mlir.dialects.tt_syntax import parse_attr_dict, print_attr_dict
from mirage_mlir.dialects.tt_types import (
    PointerType,
    element_type_of,
    mask_like,
    pointee_like,
    shape_of,
)


def _check_pointer(value_type: Attribute, what: str) -> None:
    if not isinstance(element_type_of(value_type), PointerType):
        raise VerifyException(
            f"{what} must be a pointer or a tensor of pointers, got {value_type}"
        )


def _parse_pointer_type(parser: Parser) -> Attribute:
    """Parse the type after `:`, which must be a pointer or a block of them."""
    pos = parser.pos
    ptr_type = parser.parse_type()
    if not isinstance(element_type_of(ptr_type), PointerType):
        parser.raise_error(
            f"expected a pointer or a tensor of pointers, got {ptr_type}", pos, parser.pos
        )
    return ptr_type


def _check_type(value: SSAValue | None, expected: Attribute, what: str) -> None:
    if value is not None and value.type != expected:
        raise VerifyException(f"{what} has type {value.type}, expected {expected}")


@irdl_op_definition
class AddPtrOp(IRDLOperation):
    """Offsets pointers by whole elements: `ptr + offset * sizeof(pointee)`.

    ```mlir
    %p = tt.addptr %base, %offsets : tensor<128x!tt.ptr<f32>>, tensor<128xi32>
    %q = tt.addptr %x, %row_start : !tt.ptr<f32>, i32
    ```
    """

    name = "tt.addptr"

    ptr = operand_def()
    offset = operand_def()
    result = result_def()

    traits = traits_def(Pure())

    def __init__(self, ptr: SSAValue | Operation, offset: SSAValue | Operation):
        ptr_type = SSAValue.get(ptr).type
        super().__init__(operands=[ptr, offset], result_types=[ptr_type])

    def verify_(self) -> None:
        _check_pointer(self.ptr.type, "ptr")
        _check_type(self.result, self.ptr.type, "result")
        if not isinstance(element_type_of(self.offset.type), IntegerType):
            raise VerifyException(f"offset must be integer, got {self.offset.type}")
        if shape_of(self.offset.type) != shape_of(self.ptr.type):
            raise VerifyException(
                f"offset type {self.offset.type} does not have the shape of "
                f"ptr type {self.ptr.type}"
            )

    @classmethod
    def parse(cls, parser: Parser) -> AddPtrOp:
        ptr = parser.parse_unresolved_operand()
        parser.parse_punctuation(",")
        offset = parser.parse_unresolved_operand()
        _, attributes = parse_attr_dict(parser, ())
        parser.parse_punctuation(":")
        ptr_type = parser.parse_type()
        parser.parse_punctuation(",")
        offset_type = parser.parse_type()
        op = cls(
            parser.resolve_operand(ptr, ptr_type),
            parser.resolve_operand(offset, offset_type),
        )
        op.attributes |= attributes
        return op

    def print(self, printer: Printer) -> None:
        printer.print_string(" ")
        printer.print_operand(self.ptr)
        printer.print_string(", ")
        printer.print_operand(self.offset)
        print_attr_dict(printer, self)
        printer.print_string(" : ")
        printer.print_attribute(self.result.type)
        printer.print_string(", ")
        printer.print_attribute(self.offset.type)


_LOAD_PROPERTIES = ("cachePolicy", "isVolatile")


@irdl_op_definition
class LoadOp(IRDLOperation):
    """Reads a block through a block of pointers (or a scalar through a pointer).

    Lanes where `mask` is false read nothing and yield `other` (undefined
    without one).  The result type is the pointee type in the pointer's shape.

    ```mlir
    %x = tt.load %p, %mask, %zeros : tensor<128x!tt.ptr<f32>>
    ```
    """

    name = "tt.load"

    ptr = operand_def()
    mask = opt_operand_def()
    other = opt_operand_def()
    result = result_def()

    cachePolicy = opt_prop_def(Attribute)
    isVolatile = opt_prop_def(BoolAttr)

    irdl_options = (AttrSizedOperandSegments(as_property=True),)

    def __init__(
        self,
        ptr: SSAValue | Operation,
        mask: SSAValue | Operation | None = None,
        other: SSAValue | Operation | None = None,
    ):
        if other is not None and mask is None:
            raise ValueError("tt.load with `other` needs a mask")
        result_type = pointee_like(SSAValue.get(ptr).type)
        super().__init__(
            operands=[ptr, [mask] if mask else [], [other] if other else []],
            result_types=[result_type],
        )

    def verify_(self) -> None:
        _check_pointer(self.ptr.type, "ptr")
        _check_type(self.result, pointee_like(self.ptr.type), "result")
        _check_type(self.mask, mask_like(self.ptr.type), "mask")
        if self.other is not None and self.mask is None:
            raise VerifyException("`other` needs a mask")
        _check_type(self.other, pointee_like(self.ptr.type), "other")

    @classmethod
    def parse(cls, parser: Parser) -> LoadOp:
        ptr = parser.parse_unresolved_operand()
        rest = []
        while parser.parse_optional_punctuation(","):
            rest.append(parser.parse_unresolved_operand())
        properties, attributes = parse_attr_dict(parser, _LOAD_PROPERTIES)
        parser.parse_punctuation(":")
        ptr_type = _parse_pointer_type(parser)
        if len(rest) > 2:
            parser.raise_error("tt.load takes a pointer, a mask and `other` at most")
        mask = (
            parser.resolve_operand(rest[0], mask_like(ptr_type)) if rest else None
        )
        other = (
            parser.resolve_operand(rest[1], pointee_like(ptr_type))
            if len(rest) == 2
            else None
        )
        op = cls(parser.resolve_operand(ptr, ptr_type), mask, other)
        op.properties |= properties
        op.attributes |= attributes
        return op

    def print(self, printer: Printer) -> None:
        printer.print_string(" ")
        printer.print_list(self.operands, printer.print_operand)
        print_attr_dict(
            printer,
            self,
            elide=("operandSegmentSizes",),
            defaults={"isVolatile": BoolAttr.from_bool(False)},
        )
        printer.print_string(" : ")
        printer.print_attribute(self.ptr.type)


_STORE_PROPERTIES = ("cachePolicy", "ignore_cta")


@irdl_op_definition
class StoreOp(IRDLOperation):
    """Writes a block through a block of pointers; masked-off lanes write nothing.

    ```mlir
    tt.store %p, %x, %mask : tensor<128x!tt.ptr<f32>>
    ```
    """

    name = "tt.store"

    ptr = operand_def()
    value = operand_def()
    mask = opt_operand_def()

    cachePolicy = opt_prop_def(Attribute)
    ignore_cta = opt_prop_def(Attribute)

    def __init__(
        self,
        ptr: SSAValue | Operation,
        value: SSAValue | Operation,
        mask: SSAValue | Operation | None = None,
    ):
        super().__init__(operands=[ptr, value, [mask] if mask else []])

    def verify_(self) -> None:
        _check_pointer(self.ptr.type, "ptr")
        _check_type(self.value, pointee_like(self.ptr.type), "value")
        _check_type(self.mask, mask_like(self.ptr.type), "mask")

    @classmethod
    def parse(cls, parser: Parser) -> StoreOp:
        ptr = parser.parse_unresolved_operand()
        parser.parse_punctuation(",")
        value = parser.parse_unresolved_operand()
        mask = None
        if parser.parse_optional_punctuation(","):
            mask = parser.parse_unresolved_operand()
        properties, attributes = parse_attr_dict(parser, _STORE_PROPERTIES)
        parser.parse_punctuation(":")
        ptr_type = _parse_pointer_type(parser)
        op = cls(
            parser.resolve_operand(ptr, ptr_type),
            parser.resolve_operand(value, pointee_like(ptr_type)),
            parser.resolve_operand(mask, mask_like(ptr_type)) if mask else None,
        )
        op.properties |= properties
        op.attributes |= attributes
        return op

    def print(self, printer: Printer) -> None:
        printer.print_string(" ")
        printer.print_list(self.operands, printer.print_operand)
        print_attr_dict(printer, self)
        printer.print_string(" : ")
        printer.print_attribute(self.ptr.type)

