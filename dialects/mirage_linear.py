"""Linear-algebra and data-movement ops of the `mirage` dialect.

`mirage.matmul` is a batched matrix product with NumPy's broadcasting of batch
dimensions; `mirage.concat` and `mirage.slice` let the optimiser put weights
side by side (one QKV matmul on concatenated weights) and take the parts back.
"""

from __future__ import annotations

from collections.abc import Sequence

from xdsl.dialects.builtin import (
    DenseArrayBase,
    I64,
    IntegerAttr,
    TensorType,
    UnitAttr,
    i64,
)
from xdsl.ir import Attribute, Operation, SSAValue
from xdsl.irdl import (
    IRDLOperation,
    irdl_op_definition,
    operand_def,
    opt_prop_def,
    prop_def,
    result_def,
    traits_def,
    var_operand_def,
)
from xdsl.traits import Pure
from xdsl.utils.exceptions import VerifyException

from mirage_mlir.dialects.mirage_shapes import (
    FloatTensorConstr,
    concat_shape,
    matmul_shape,
    normalize_axis,
    shape_of,
    slice_shape,
    verify_same_element_type,
    verify_shape_matches,
)


def _tensor_like(value: SSAValue | Operation, shape: Sequence[int]) -> TensorType:
    """A tensor type with `value`'s element type and the given shape."""
    value_type = SSAValue.get(value).type
    assert isinstance(value_type, TensorType)
    return TensorType(value_type.get_element_type(), shape)


@irdl_op_definition
class MatmulOp(IRDLOperation):
    """Batched matrix product with NumPy `matmul` semantics (operands of rank >= 2).

    The last two dimensions are multiplied, the leading (batch) dimensions
    broadcast as in NumPy and may differ in rank.  `transpose_lhs` /
    `transpose_rhs` swap the last two dimensions of that operand first, so
    q·kᵀ needs no separate transpose.  Operands and result share one element
    type (f16, bf16, f32 or f64).

    ```mlir
    %c = mirage.matmul %a, %b : tensor<8x64x32xf32>, tensor<32x16xf32> -> tensor<8x64x16xf32>
    %s = mirage.matmul %q, %k transpose_rhs : tensor<2x128x64xf16>, tensor<2x128x64xf16> -> tensor<2x128x128xf16>
    ```
    """

    name = "mirage.matmul"

    lhs = operand_def(FloatTensorConstr)
    rhs = operand_def(FloatTensorConstr)
    result = result_def(FloatTensorConstr)
    transpose_lhs = opt_prop_def(UnitAttr)
    transpose_rhs = opt_prop_def(UnitAttr)

    traits = traits_def(Pure())

    assembly_format = (
        "$lhs `,` $rhs (`transpose_lhs` $transpose_lhs^)? "
        "(`transpose_rhs` $transpose_rhs^)? attr-dict "
        "`:` type($lhs) `,` type($rhs) `->` type($result)"
    )

    def __init__(
        self,
        lhs: SSAValue | Operation,
        rhs: SSAValue | Operation,
        *,
        transpose_lhs: bool = False,
        transpose_rhs: bool = False,
        result_type: Attribute | None = None,
    ):
        if result_type is None:
            result_type = _tensor_like(
                lhs,
                matmul_shape(
                    shape_of(SSAValue.get(lhs).type),
                    shape_of(SSAValue.get(rhs).type),
                    transpose_lhs,
                    transpose_rhs,
                ),
            )
        properties: dict[str, Attribute] = {}
        if transpose_lhs:
            properties["transpose_lhs"] = UnitAttr()
        if transpose_rhs:
            properties["transpose_rhs"] = UnitAttr()
        super().__init__(
            operands=[lhs, rhs], result_types=[result_type], properties=properties
        )

    def verify_(self) -> None:
        verify_same_element_type(
            [
                ("lhs", self.lhs.type),
                ("rhs", self.rhs.type),
                ("result", self.result.type),
            ]
        )
        expected = matmul_shape(
            shape_of(self.lhs.type),
            shape_of(self.rhs.type),
            self.transpose_lhs is not None,
            self.transpose_rhs is not None,
        )
        verify_shape_matches("result", shape_of(self.result.type), expected)


@irdl_op_definition
class ConcatOp(IRDLOperation):
    """Concatenation of tensors of equal rank along `axis` (in [-rank, rank)).

    All other dimensions and the element type must agree.

    ```mlir
    %w = mirage.concat %wq, %wk, %wv axis = 1 : tensor<512x512xf32>, tensor<512x128xf32>, tensor<512x128xf32> -> tensor<512x768xf32>
    ```
    """

    name = "mirage.concat"

    inputs = var_operand_def(FloatTensorConstr)
    result = result_def(FloatTensorConstr)
    axis = prop_def(IntegerAttr[I64])

    traits = traits_def(Pure())

    assembly_format = (
        "$inputs `axis` `=` $axis attr-dict `:` type($inputs) `->` type($result)"
    )

    def __init__(
        self,
        inputs: Sequence[SSAValue | Operation],
        axis: int,
        result_type: Attribute | None = None,
    ):
        if result_type is None:
            shapes = [shape_of(SSAValue.get(v).type) for v in inputs]
            result_type = _tensor_like(inputs[0], concat_shape(shapes, axis))
        super().__init__(
            operands=[inputs],
            result_types=[result_type],
            properties={"axis": IntegerAttr(axis, i64)},
        )

    @property
    def normalized_axis(self) -> int:
        """The concatenation axis in [0, rank)."""
        return normalize_axis(
            self.axis.value.data, len(shape_of(self.result.type)), "axis"
        )

    def verify_(self) -> None:
        if not self.inputs:
            raise VerifyException("expected at least one input")
        verify_same_element_type(
            [(f"input #{i}", v.type) for i, v in enumerate(self.inputs)]
            + [("result", self.result.type)]
        )
        expected = concat_shape(
            [shape_of(v.type) for v in self.inputs], self.axis.value.data
        )
        verify_shape_matches("result", shape_of(self.result.type), expected)


@irdl_op_definition
class SliceOp(IRDLOperation):
    """A static strided slice: result[i] = source[offsets + i * strides].

    Offsets and sizes are >= 0, strides >= 1, one of each per source
    dimension; the result has shape `sizes` (no rank reduction) and the
    source's element type.  Every element read must lie inside the source.

    ```mlir
    %k = mirage.slice %qkv[0, 512] [16, 128] [1, 1] : tensor<16x768xf32> to tensor<16x128xf32>
    ```
    """

    name = "mirage.slice"

    source = operand_def(FloatTensorConstr)
    result = result_def(FloatTensorConstr)
    static_offsets = prop_def(DenseArrayBase.constr(i64))
    static_sizes = prop_def(DenseArrayBase.constr(i64))
    static_strides = prop_def(DenseArrayBase.constr(i64))

    traits = traits_def(Pure())

    assembly_format = (
        "$source `` $static_offsets $static_sizes $static_strides attr-dict "
        "`:` type($source) `to` type($result)"
    )

    def __init__(
        self,
        source: SSAValue | Operation,
        offsets: Sequence[int],
        sizes: Sequence[int],
        strides: Sequence[int] | None = None,
    ):
        if strides is None:
            strides = [1] * len(offsets)
        super().__init__(
            operands=[source],
            result_types=[_tensor_like(source, sizes)],
            properties={
                "static_offsets": DenseArrayBase.from_list(i64, offsets),
                "static_sizes": DenseArrayBase.from_list(i64, sizes),
                "static_strides": DenseArrayBase.from_list(i64, strides),
            },
        )

    @property
    def offsets(self) -> tuple[int, ...]:
        """Start index per dimension."""
        return tuple(self.static_offsets.get_values())

    @property
    def sizes(self) -> tuple[int, ...]:
        """Number of elements taken per dimension (the result shape)."""
        return tuple(self.static_sizes.get_values())

    @property
    def strides(self) -> tuple[int, ...]:
        """Step between taken elements per dimension."""
        return tuple(self.static_strides.get_values())

    def verify_(self) -> None:
        verify_same_element_type(
            [("source", self.source.type), ("result", self.result.type)]
        )
        expected = slice_shape(
            shape_of(self.source.type), self.offsets, self.sizes, self.strides
        )
        verify_shape_matches("result", shape_of(self.result.type), expected)
