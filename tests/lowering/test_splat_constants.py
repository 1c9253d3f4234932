"""Splat constants of every element type: a term graph's `full` carries its value as a Python
float, which integer tensors (a decoder's i64 positions) must take as an integer."""

from __future__ import annotations

import pytest
from xdsl.dialects.builtin import (
    IndexType,
    IntegerAttr,
    IntegerType,
    f16,
    f32,
    i1,
    i32,
    i64,
)

from mirage_mlir.lowering.kernel_builder import splat_const


@pytest.mark.parametrize("element", [i1, i32, i64, IntegerType(8), IndexType()])
@pytest.mark.parametrize("shape", [(), (4,), (2, 3)])
def test_integer_splats_hold_integers(element, shape) -> None:
    op = splat_const(1.0, element, shape).owner
    value = op.properties.get("value", op.attributes.get("value"))
    if shape:
        assert value.type.get_shape() == shape and value.type.element_type == element
        # i1's true reads back as -1 (a signed one-bit value).
        assert {abs(int(v)) for v in value.get_values()} == {1}
    else:
        assert isinstance(value, IntegerAttr) and value.value.data in (1, -1)


@pytest.mark.parametrize("element", [f16, f32])
def test_float_splats_take_integers_too(element) -> None:
    op = splat_const(2, element, (3,)).owner
    value = op.properties.get("value", op.attributes.get("value"))
    assert set(value.get_values()) == {2.0}
