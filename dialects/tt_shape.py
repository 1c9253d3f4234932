"""Shape ops of the `tt` dialect: splat, broadcast, expand_dims, trans, reshape.

They move values between a scalar and blocks of different shapes; all of
them work on blocks of pointers too.  Each prints as Triton does,
`tt.<op> %src attr-dict : type -> type`:

```mlir
%b = tt.splat %x : !tt.ptr<f32> -> tensor<64x1x!tt.ptr<f32>>
%r = tt.expand_dims %rows {axis = 1 : i32} : tensor<64xi32> -> tensor<64x1xi32>
%w = tt.broadcast %r : tensor<64x1xi32> -> tensor<64x32xi32>
%t = tt.trans %a {order = array<i32: 1, 0>} : tensor<32x64xf32> -> tensor<64x32xf32>
%f = tt.reshape %t : tensor<64x32xf32> -> tensor<2048xf32>
```
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from xdsl.dialects.builtin import (
    DenseArrayBase,
    IntegerAttr,
    IntegerType,
    TensorType,
    UnitAttr,
    i32,
)
from xdsl.ir import Operation, SSAValue
from xdsl.irdl import (
    IRDLOperation,
    ParsePropInAttrDict,
    irdl_op_definition,
    operand_def,
    opt_prop_def,
    prop_def,
    result_def,
    traits_def,
)
from xdsl.traits import Pure
from xdsl.utils.exceptions import VerifyException

from mirage_mlir.dialects.tt_syntax import i32_attr
from mirage_mlir.dialects.tt_types import element_type_of, shape_of

_FORMAT = "$src attr-dict `:` type($src) `->` type($result)"


class _ShapeOp(IRDLOperation):
    """A pure op from one block (or scalar) `src` to one block `result`."""

    src = operand_def()
    result = result_def(TensorType)

    traits = traits_def(Pure())

    assembly_format = _FORMAT
    # Triton prints `axis`, `order` and the like inside the attribute dictionary.
    irdl_options = (ParsePropInAttrDict(),)

    def _check_same_element_type(self) -> None:
        src, result = element_type_of(self.src.type), element_type_of(self.result.type)
        if src != result:
            raise VerifyException(
                f"source element type {src} differs from result element type {result}"
            )

    def _shapes(self) -> tuple[tuple[int, ...], tuple[int, ...]]:
        return shape_of(self.src.type), shape_of(self.result.type)


@irdl_op_definition
class SplatOp(_ShapeOp):
    """Fills a block with one scalar (or pointer).

    ```mlir
    %b = tt.splat %n : i32 -> tensor<128xi32>
    ```
    """

    name = "tt.splat"

    def __init__(self, src: SSAValue | Operation, shape: Sequence[int]):
        src_type = SSAValue.get(src).type
        super().__init__(operands=[src], result_types=[TensorType(src_type, shape)])

    def verify_(self) -> None:
        if isinstance(self.src.type, TensorType):
            raise VerifyException(f"tt.splat takes a scalar, got {self.src.type}")
        self._check_same_element_type()


@irdl_op_definition
class BroadcastOp(_ShapeOp):
    """Stretches size-1 dimensions of a block to a larger size.

    ```mlir
    %w = tt.broadcast %r : tensor<64x1xi32> -> tensor<64x32xi32>
    ```
    """

    name = "tt.broadcast"

    def __init__(self, src: SSAValue | Operation, shape: Sequence[int]):
        element = element_type_of(SSAValue.get(src).type)
        super().__init__(operands=[src], result_types=[TensorType(element, shape)])

    def verify_(self) -> None:
        self._check_same_element_type()
        src, result = self._shapes()
        if len(src) != len(result) or any(
            s not in (1, r) for s, r in zip(src, result)
        ):
            raise VerifyException(
                f"cannot broadcast {self.src.type} to {self.result.type}: only "
                "size-1 dimensions may grow"
            )


@irdl_op_definition
class ExpandDimsOp(_ShapeOp):
    """Inserts a size-1 dimension at `axis`.

    ```mlir
    %r = tt.expand_dims %rows {axis = 1 : i32} : tensor<64xi32> -> tensor<64x1xi32>
    ```
    """

    name = "tt.expand_dims"

    axis = prop_def(IntegerAttr[IntegerType])

    def __init__(self, src: SSAValue | Operation, axis: int):
        src_type = SSAValue.get(src).type
        shape = list(shape_of(src_type))
        shape.insert(axis, 1)
        super().__init__(
            operands=[src],
            result_types=[TensorType(element_type_of(src_type), shape)],
            properties={"axis": i32_attr(axis)},
        )

    def verify_(self) -> None:
        self._check_same_element_type()
        src, result = self._shapes()
        axis = self.axis.value.data
        expected = list(src)
        if not 0 <= axis <= len(src):
            raise VerifyException(f"axis {axis} is out of range for {self.src.type}")
        expected.insert(axis, 1)
        if tuple(expected) != result:
            raise VerifyException(
                f"result shape {result} is not {tuple(expected)} (a 1 inserted at axis {axis})"
            )


@irdl_op_definition
class TransOp(_ShapeOp):
    """Permutes the dimensions of a block: result dim i is source dim order[i].

    ```mlir
    %t = tt.trans %a {order = array<i32: 1, 0>} : tensor<32x64xf32> -> tensor<64x32xf32>
    ```
    """

    name = "tt.trans"

    order = prop_def(DenseArrayBase)

    def __init__(self, src: SSAValue | Operation, order: Sequence[int]):
        src_type = SSAValue.get(src).type
        shape = shape_of(src_type)
        super().__init__(
            operands=[src],
            result_types=[
                TensorType(element_type_of(src_type), [shape[i] for i in order])
            ],
            properties={"order": DenseArrayBase.from_list(i32, list(order))},
        )

    @property
    def permutation(self) -> tuple[int, ...]:
        """The order as Python ints."""
        return tuple(self.order.get_values())

    def verify_(self) -> None:
        self._check_same_element_type()
        src, result = self._shapes()
        order = self.permutation
        if sorted(order) != list(range(len(src))):
            raise VerifyException(f"order {list(order)} is not a permutation of {len(src)} dims")
        if tuple(src[i] for i in order) != result:
            raise VerifyException(
                f"result shape {result} is not the source shape {src} permuted by {list(order)}"
            )


@irdl_op_definition
class ReshapeOp(_ShapeOp):
    """Views a block in another shape with the same number of elements.

    Row-major element order is kept unless `allow_reorder` is set, which lets
    the compiler choose any order (the interpreter keeps row-major order).

    ```mlir
    %f = tt.reshape %t : tensor<64x32xf32> -> tensor<2048xf32>
    ```
    """

    name = "tt.reshape"

    allow_reorder = opt_prop_def(UnitAttr)
    efficient_layout = opt_prop_def(UnitAttr)

    assembly_format = (
        "$src (`allow_reorder` $allow_reorder^)? (`efficient_layout` $efficient_layout^)? "
        "attr-dict `:` type($src) `->` type($result)"
    )

    def __init__(self, src: SSAValue | Operation, shape: Sequence[int]):
        element = element_type_of(SSAValue.get(src).type)
        super().__init__(operands=[src], result_types=[TensorType(element, shape)])

    def verify_(self) -> None:
        self._check_same_element_type()
        src, result = self._shapes()
        if math.prod(src) != math.prod(result):
            raise VerifyException(
                f"cannot reshape {self.src.type} ({math.prod(src)} elements) to "
                f"{self.result.type} ({math.prod(result)} elements)"
            )
