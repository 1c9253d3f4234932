"""Types of the `tt` dialect: Triton's pointer type, and helpers on tt values.

A Triton pointer `!tt.ptr<f32>` points into global memory (address space 1,
which Triton leaves out when it prints); a block of pointers is a ranked tensor
of them, `tensor<128x!tt.ptr<f32>>`.  The helpers here answer the questions the
op verifiers keep asking: the shape of a scalar-or-tensor type, its element
type, and the type of the same shape with another element type.
"""

from __future__ import annotations

from collections.abc import Sequence

from xdsl.dialects.builtin import (
    AnyFloat,
    IntAttr,
    IntegerType,
    TensorType,
    i1,
)
from xdsl.ir import Attribute, ParametrizedAttribute, TypeAttribute
from xdsl.irdl import irdl_attr_definition
from xdsl.parser import AttrParser
from xdsl.printer import Printer
from xdsl.utils.exceptions import VerifyException

GLOBAL_ADDRESS_SPACE = 1
"""Triton's default address space, omitted from the printed pointer type."""


@irdl_attr_definition
class PointerType(ParametrizedAttribute, TypeAttribute):
    """A pointer to scalars of `pointee` in global memory: `!tt.ptr<f32>`.

    A non-default address space is printed after the pointee,
    `!tt.ptr<f16, 3>`, as Triton does.
    """

    name = "tt.ptr"

    pointee: Attribute
    address_space: IntAttr

    def __init__(self, pointee: Attribute, address_space: int = GLOBAL_ADDRESS_SPACE):
        super().__init__(pointee, IntAttr(address_space))

    def print_parameters(self, printer: Printer) -> None:
        with printer.in_angle_brackets():
            printer.print_attribute(self.pointee)
            if self.address_space.data != GLOBAL_ADDRESS_SPACE:
                printer.print_string(f", {self.address_space.data}")

    @classmethod
    def parse_parameters(cls, parser: AttrParser) -> Sequence[Attribute]:
        parser.parse_punctuation("<")
        pointee = parser.parse_type()
        address_space = GLOBAL_ADDRESS_SPACE
        if parser.parse_optional_punctuation(","):
            address_space = parser.parse_integer()
        parser.parse_punctuation(">")
        return (pointee, IntAttr(address_space))

    def verify(self) -> None:
        if isinstance(self.pointee, TensorType | PointerType):
            raise VerifyException(
                f"tt.ptr must point to a scalar type, not {self.pointee}"
            )


def ptr(pointee: Attribute) -> PointerType:
    """`!tt.ptr<pointee>` in global memory."""
    return PointerType(pointee)


def shape_of(value_type: Attribute) -> tuple[int, ...]:
    """The shape of a tensor type, () for a scalar type."""
    if isinstance(value_type, TensorType):
        return tuple(value_type.get_shape())
    return ()


def element_type_of(value_type: Attribute) -> Attribute:
    """The element type of a tensor type, the type itself for a scalar type."""
    if isinstance(value_type, TensorType):
        return value_type.get_element_type()
    return value_type


def like(value_type: Attribute, element_type: Attribute) -> Attribute:
    """`element_type` with the shape of `value_type` (a tensor, or a scalar)."""
    shape = shape_of(value_type)
    if isinstance(value_type, TensorType):
        return TensorType(element_type, shape)
    return element_type


def block_type(element_type: Attribute, shape: Sequence[int]) -> Attribute:
    """A block (tensor) of `shape`, or the scalar type itself when `shape` is ()."""
    return TensorType(element_type, shape) if shape else element_type


def pointee_like(pointer_type: Attribute) -> Attribute:
    """The type loaded through a pointer or a block of pointers."""
    element = element_type_of(pointer_type)
    if not isinstance(element, PointerType):
        raise VerifyException(f"expected a pointer or a tensor of pointers, got {pointer_type}")
    return like(pointer_type, element.pointee)


def mask_like(pointer_type: Attribute) -> Attribute:
    """The i1 mask type matching a pointer or a block of pointers."""
    return like(pointer_type, i1)


def is_float(element_type: Attribute) -> bool:
    """Whether a scalar type is a floating-point type Triton computes with."""
    return isinstance(element_type, AnyFloat)


def is_integer(element_type: Attribute) -> bool:
    """Whether a scalar type is a signless integer type."""
    return isinstance(element_type, IntegerType)
