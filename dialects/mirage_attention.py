"""`mirage.attention`: scaled dot-product attention with grouped KV heads.

One op stands for softmax(scale · q·kᵀ [+ mask]) · v so that the lowering can
emit a flash-attention kernel that never writes the score matrix to memory.
"""

from __future__ import annotations

import math

from xdsl.dialects.builtin import Float64Type, FloatAttr, TensorType, UnitAttr, f64
from xdsl.ir import Attribute, Operation, SSAValue
from xdsl.irdl import (
    AttrSizedOperandSegments,
    IRDLOperation,
    irdl_op_definition,
    operand_def,
    opt_operand_def,
    opt_prop_def,
    prop_def,
    result_def,
    traits_def,
)
from xdsl.traits import Pure
from xdsl.utils.exceptions import VerifyException

from mirage_mlir.dialects.mirage_shapes import (
    FloatTensorConstr,
    attention_scores_shape,
    attention_shape,
    shape_of,
    verify_broadcastable_to,
    verify_same_element_type,
    verify_shape_matches,
)


@irdl_op_definition
class AttentionOp(IRDLOperation):
    """Scaled dot-product attention, softmax(scale · q·kᵀ + mask) · v.

    Shapes: q [B, Hq, Sq, D], k [B, Hkv, Skv, D], v [B, Hkv, Skv, Dv], result
    [B, Hq, Sq, Dv].  Hq must be a multiple of Hkv: query head h reads KV head
    h // (Hq / Hkv) (grouped-query attention without repeating k and v).  Rank
    3 operands [B, S, D] are one head.

    `scale` is a finite f64.  `causal` lets query i attend to keys j <= i only
    (the mask is aligned at the top-left corner, as PyTorch's
    `scaled_dot_product_attention(is_causal=True)`; row i always sees key 0).
    The optional `mask` is added to the scaled scores; it broadcasts to the
    score shape [B, Hq, Sq, Skv] ([B, Sq, Skv] at rank 3) and may hold -inf.
    All operands and the result share one element type.

    ```mlir
    %o = mirage.attention %q, %k, %v scale 1.250000e-01 causal : tensor<1x8x128x64xf16>, tensor<1x2x128x64xf16>, tensor<1x2x128x64xf16> -> tensor<1x8x128x64xf16>
    %p = mirage.attention %q, %k, %v mask %m scale 1.250000e-01 : tensor<2x16x64xf32>, tensor<2x32x64xf32>, tensor<2x32x64xf32>, tensor<16x32xf32> -> tensor<2x16x64xf32>
    ```
    """

    name = "mirage.attention"

    query = operand_def(FloatTensorConstr)
    key = operand_def(FloatTensorConstr)
    value = operand_def(FloatTensorConstr)
    mask = opt_operand_def(FloatTensorConstr)
    result = result_def(FloatTensorConstr)
    scale = prop_def(FloatAttr[Float64Type])
    causal = opt_prop_def(UnitAttr)

    irdl_options = (AttrSizedOperandSegments(as_property=True),)

    traits = traits_def(Pure())

    assembly_format = (
        "$query `,` $key `,` $value (`mask` $mask^)? `scale` $scale "
        "(`causal` $causal^)? attr-dict `:` type($query) `,` type($key) `,` "
        "type($value) (`,` type($mask)^)? `->` type($result)"
    )

    def __init__(
        self,
        query: SSAValue | Operation,
        key: SSAValue | Operation,
        value: SSAValue | Operation,
        *,
        scale: float | None = None,
        causal: bool = False,
        mask: SSAValue | Operation | None = None,
        result_type: Attribute | None = None,
    ):
        q_type = SSAValue.get(query).type
        assert isinstance(q_type, TensorType)
        if scale is None:
            head_dim = q_type.get_shape()[-1]
            if head_dim < 0:
                raise ValueError("give the scale: the head dim is dynamic")
            scale = 1.0 / math.sqrt(head_dim)
        if result_type is None:
            result_type = TensorType(
                q_type.get_element_type(),
                attention_shape(
                    shape_of(q_type),
                    shape_of(SSAValue.get(key).type),
                    shape_of(SSAValue.get(value).type),
                ),
            )
        properties: dict[str, Attribute] = {"scale": FloatAttr(scale, f64)}
        if causal:
            properties["causal"] = UnitAttr()
        super().__init__(
            operands=[query, key, value, [] if mask is None else [mask]],
            result_types=[result_type],
            properties=properties,
        )

    @property
    def kv_group_size(self) -> int | None:
        """How many query heads share one KV head (None while a head count is `?`)."""
        q, k = shape_of(self.query.type), shape_of(self.key.type)
        if len(q) == 3:
            return 1
        if min(q[1], k[1]) < 0:
            return None
        return q[1] // k[1]

    def verify_(self) -> None:
        named = [
            ("query", self.query.type),
            ("key", self.key.type),
            ("value", self.value.type),
            ("result", self.result.type),
        ]
        if self.mask is not None:
            named.append(("mask", self.mask.type))
        verify_same_element_type(named)
        q, k, v = (shape_of(x.type) for x in (self.query, self.key, self.value))
        expected = attention_shape(q, k, v)
        verify_shape_matches("result", shape_of(self.result.type), expected)
        if self.mask is not None:
            verify_broadcastable_to(
                "mask", shape_of(self.mask.type), attention_scores_shape(q, k)
            )
        if not math.isfinite(self.scale.value.data):
            raise VerifyException(f"scale must be finite, got {self.scale.value.data}")
