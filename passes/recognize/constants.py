"""Constants of torch-mlir's output as term-graph leaves and scalars.

Three kinds of constant appear in linalg-on-tensors modules:

* scalar `arith.constant`s (`0.000000e+00 : f32`, `0xFF800000 : f32`, `true`), used as fill
  values and captured by `linalg.generic` bodies; `scalar_constant` reads them, folding the
  casts (`arith.truncf %c : f64 to f32`) that torch-mlir puts around f64 literals;
* splat tensors (`dense<0.000000e+00> : tensor<1x8x128x128xf32>`), which become `Full` nodes;
* weights: `dense_resource<name>` blobs from the `{-# dialect_resources #-}` section, and
  non-splat `dense<[...]>` literals, which become `Constant` nodes with their value decoded.

A resource blob is the hex text `0x` + a 4-byte little-endian alignment header + the elements
in little-endian order, row-major:

    torch_tensor_2_torch.float32: "0x04000000 0000803F 00000040"   (spaces added: [1.0, 2.0])
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from xdsl.dialects import arith
from xdsl.dialects.builtin import (
    BFloat16Type,
    DenseIntOrFPElementsAttr,
    DenseResourceAttr,
    Float16Type,
    Float32Type,
    Float64Type,
    FloatAttr,
    IndexType,
    IntegerAttr,
    IntegerType,
    TensorType,
)
from xdsl.ir import Attribute, OpResult, SSAValue

#: NumPy dtypes of the element types a blob can hold (bf16 is decoded separately).
_BLOB_DTYPES = {"f64": "<f8", "f32": "<f4", "f16": "<f2", "i64": "<i8", "i32": "<i4", "i1": "u1"}


def element_dtype(element_type: Attribute) -> str | None:
    """The graph's dtype name of an MLIR element type, or None if the graph has no such type."""
    if isinstance(element_type, Float32Type):
        return "f32"
    if isinstance(element_type, Float64Type):
        return "f64"
    if isinstance(element_type, Float16Type):
        return "f16"
    if isinstance(element_type, BFloat16Type):
        return "bf16"
    if isinstance(element_type, IntegerType) and element_type.width.data in (1, 32, 64):
        return f"i{element_type.width.data}"
    return None


def static_tensor_type(value_type: Attribute) -> tuple[tuple[int, ...], str] | None:
    """(shape, dtype) of a statically shaped tensor type the graph can hold, else None."""
    if not isinstance(value_type, TensorType):
        return None
    shape = tuple(value_type.get_shape())
    dtype = element_dtype(value_type.get_element_type())
    if dtype is None or any(d < 0 for d in shape):
        return None
    return shape, dtype


@dataclass(frozen=True)
class Scalar:
    """A compile-time scalar: its value (float, or 0/1 for i1) and the graph dtype name."""

    value: float
    dtype: str


def round_to(value: float, dtype: str) -> float:
    """`value` as the nearest number of `dtype` (what arith.truncf and the like produce)."""
    if dtype == "f32" or dtype == "bf16":
        return float(np.float32(value))
    if dtype == "f16":
        return float(np.float16(value))
    return float(value)


def scalar_constant(value: SSAValue) -> Scalar | None:
    """The compile-time value of a scalar SSA value, or None when it is not a constant.

    Folds `arith.constant` and the float casts of constants (`truncf`, `extf`); index and
    integer constants give their integer value.
    """
    if not isinstance(value, OpResult):
        return None
    op = value.op
    if isinstance(op, arith.ConstantOp):
        attr = op.value
        dtype = element_dtype(value.type)
        if isinstance(value.type, IndexType):
            dtype = "index"
        if dtype is None:
            return None
        if isinstance(attr, FloatAttr):
            return Scalar(float(attr.value.data), dtype)
        if isinstance(attr, IntegerAttr):
            number = int(attr.value.data)
            if dtype == "i1":
                number = number & 1  # `true` may be stored as -1
            return Scalar(float(number), dtype)
        return None
    if isinstance(op, arith.TruncFOp | arith.ExtFOp):
        source = scalar_constant(op.input)
        dtype = element_dtype(value.type)
        if source is None or dtype is None:
            return None
        return Scalar(round_to(source.value, dtype), dtype)
    return None


def splat_value(attr: DenseIntOrFPElementsAttr) -> float | None:
    """The single value of a splat dense literal, or None if its elements differ."""
    if not attr.is_splat():
        return None
    values = attr.get_values()
    if not values:
        return None
    first = values[0]
    if isinstance(first, bool) or isinstance(attr.get_element_type(), IntegerType):
        number = int(first)
        if attr.get_element_type() == IntegerType(1):
            number &= 1
        return float(number)
    return float(first)


def dense_value(attr: DenseIntOrFPElementsAttr, shape: tuple[int, ...], dtype: str) -> np.ndarray:
    """The elements of a dense literal as a NumPy array of `shape`."""
    from mirage_mlir.passes.eqsat.evaluate import NUMPY_DTYPES

    values = attr.get_values()
    array = np.asarray(values, dtype=np.float64 if dtype.startswith(("f", "bf")) else np.int64)
    if dtype == "i1":
        array = array & 1
    if array.size == 1 and int(np.prod(shape)) != 1:
        array = np.full(shape, array.reshape(()))
    return array.reshape(shape).astype(NUMPY_DTYPES[dtype])


def decode_blob(blob: str, shape: tuple[int, ...], dtype: str) -> np.ndarray:
    """Decode a resource blob (`0x` + alignment header + little-endian data) into an array.

    Raises ValueError when the blob does not hold exactly the elements of `shape`.
    """
    text = blob[2:] if blob[:2] in ("0x", "0X") else blob
    data = bytes.fromhex(text)
    if len(data) < 4:
        raise ValueError("a resource blob needs a 4-byte alignment header")
    payload = data[4:]
    count = int(np.prod(shape))
    if dtype == "bf16":
        bits = np.frombuffer(payload, dtype="<u2")
        array = (bits.astype(np.uint32) << 16).view(np.float32)
    elif dtype in _BLOB_DTYPES:
        array = np.frombuffer(payload, dtype=_BLOB_DTYPES[dtype])
        if dtype == "i1":
            array = array.astype(np.bool_)
    else:
        raise ValueError(f"cannot decode a blob of element type {dtype}")
    if array.size != count:
        raise ValueError(
            f"the resource blob holds {array.size} elements of {dtype}, "
            f"the type needs {count} ({'x'.join(map(str, shape))})"
        )
    return array.reshape(shape).copy()


def resource_blob(attr: DenseResourceAttr) -> str | None:
    """The hex blob of a `dense_resource` attribute, or None when the module does not carry it."""
    from xdsl.dialect_interfaces.op_asm import OpAsmDialectInterface
    from xdsl.dialects.builtin import Builtin

    interface = Builtin.get_interface(OpAsmDialectInterface)
    if interface is None:
        return None
    blob = interface.lookup(attr.resource_handle.data)
    return blob or None
