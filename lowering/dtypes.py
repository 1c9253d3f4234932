"""Element types in kernels: f16 and bf16 in memory, f32 in registers.

Kernels load f16 and bf16 tensors, widen them to f32 at once (`arith.extf`),
compute every elementwise op, reduction and matmul accumulator in f32, and
narrow (`arith.truncf`) only when storing.  So reductions over long rows and
chains of ops round once, at the store, as PyTorch's fused kernels do.
Matmul tiles are the exception: `tt.dot` takes its f16/bf16 operands as they
are (tensor cores) and accumulates in f32.
"""

from __future__ import annotations

from xdsl.dialects import arith
from xdsl.dialects.builtin import (
    BFloat16Type,
    Float16Type,
    Float32Type,
    Float64Type,
    TensorType,
    f32,
)
from xdsl.ir import Attribute, SSAValue

NARROW_FLOATS = (Float16Type, BFloat16Type)
"""Element types that are widened to f32 for computation."""


def is_narrow_float(element: Attribute) -> bool:
    """Whether `element` is f16 or bf16."""
    return isinstance(element, NARROW_FLOATS)


def compute_type(element: Attribute) -> Attribute:
    """The type a kernel computes in for values stored as `element`."""
    return f32 if is_narrow_float(element) else element


def _retyped(value_type: Attribute, element: Attribute) -> Attribute:
    if isinstance(value_type, TensorType):
        return TensorType(element, value_type.get_shape())
    return element


def _element(value: SSAValue) -> Attribute:
    t = value.type
    return t.get_element_type() if isinstance(t, TensorType) else t


def widen(value: SSAValue) -> SSAValue:
    """`value` (a scalar or block) in its compute type; f16/bf16 become f32."""
    element = _element(value)
    if not is_narrow_float(element):
        return value
    return arith.ExtFOp(value, _retyped(value.type, f32)).result


def narrow(value: SSAValue, element: Attribute) -> SSAValue:
    """`value` converted to the storage type `element` (f32 -> f16/bf16), else as is."""
    have = _element(value)
    if have == element:
        return value
    if is_narrow_float(element) and have == f32:
        return arith.TruncFOp(value, _retyped(value.type, element)).result
    if is_narrow_float(have) and element == f32:
        return arith.ExtFOp(value, _retyped(value.type, element)).result
    raise ValueError(f"cannot convert {have} to {element}")


_FLOAT_WIDTHS = {Float16Type: 16, BFloat16Type: 16, Float32Type: 32, Float64Type: 64}
"""Bit widths of the float types a wider one holds exactly."""


def holds_exactly(narrow_type: Attribute, wide_type: Attribute) -> bool:
    """Whether every value of float type `narrow_type` is exact in `wide_type`.

    True for the same type and for widening among f16, bf16, f32 and f64
    (f16 and bf16 hold different values, so neither holds the other).
    """
    if narrow_type == wide_type:
        return True
    narrow_width = _FLOAT_WIDTHS.get(type(narrow_type))
    wide_width = _FLOAT_WIDTHS.get(type(wide_type))
    return narrow_width is not None and wide_width is not None and narrow_width < wide_width


def convert(value: SSAValue, element: Attribute) -> SSAValue:
    """`value` rounded or widened to float type `element`.

    Between f16 and bf16 the value goes through f32, which holds both
    exactly, so it is rounded once, as a direct conversion would be.
    """
    have = _element(value)
    if have == element:
        return value
    if is_narrow_float(have) and is_narrow_float(element):
        return convert(widen(value), element)
    if holds_exactly(have, element):
        return arith.ExtFOp(value, _retyped(value.type, element)).result
    if holds_exactly(element, have):
        return arith.TruncFOp(value, _retyped(value.type, element)).result
    raise ValueError(f"cannot convert {have} to {element}")


def round_through(value: SSAValue, elements: list[Attribute]) -> SSAValue:
    """`value` passed through conversions to each of `elements`, in order.

    Only the roundings are emitted: a widening does not change the value, so
    it is skipped and the result is held in the narrowest type the value was
    rounded to, which may be narrower than `elements[-1]`.  This keeps
    f16/bf16 tiles narrow for `tt.dot` when a module widens them first, as
    torch-mlir's imports of f16 attention do.
    """
    for element in elements:
        if not holds_exactly(_element(value), element):
            value = convert(value, element)
    return value
