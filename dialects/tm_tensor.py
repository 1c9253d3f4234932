"""torch-mlir's `tm_tensor` dialect, as far as mirage-mlir reads and writes it.

torch-mlir lowers the PyTorch ops that linalg cannot express to `tm_tensor` ops in its
linalg-on-tensors output: `torch.sort`, `argsort` and `topk` become `tm_tensor.sort`,
`kthvalue` becomes `tm_tensor.topk`, `scatter`, `scatter_add`, `scatter_reduce` and
`index_put` become `tm_tensor.scatter`, and `cumsum` / `cumprod` become `tm_tensor.scan`.
`tm_tensor.attention` is declared too, since the same output may contain it.

The ops are declared with torch-mlir's operands, properties, regions and custom syntax,
so a module holding them parses, passes through the project's passes (as ops the tensor
algebra does not model) and prints back as torch-mlir prints it, in either form:

```mlir
%s:2 = tm_tensor.sort dimension(1) outs(%x, %i : tensor<4x8xf32>, tensor<4x8xi64>) {
^bb0(%a: f32, %b: f32, %c: i64, %d: i64):
  %lt = arith.cmpf olt, %a, %b : f32
  tm_tensor.yield %lt : i1
} -> tensor<4x8xf32>, tensor<4x8xi64>

%s:2 = "tm_tensor.sort"(%x, %i) <{dimension = 1 : i64,
    operandSegmentSizes = array<i32: 0, 2>}> ({ ... }) : (...) -> (...)
```

Each op has `inputs` and `outputs` operand groups (destination style).  On tensors an op
is as pure as the scalar ops in its region (its results are new tensors); on memrefs it
reads and writes memory, as in torch-mlir.  The verifiers check the structure the rest of
the project relies on (result types, a single block ending in `tm_tensor.yield`); the
element-level rules (comparator arity, index depth) are torch-mlir's to check.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from collections.abc import Set as AbstractSet
from typing import Any, Self

from xdsl.dialects.builtin import (
    I64,
    BoolAttr,
    DenseArrayBase,
    IntegerAttr,
    MemRefType,
    TensorType,
    i64,
)
from xdsl.ir import Attribute, Dialect, Operation, SSAValue
from xdsl.irdl import (
    AttrSizedOperandSegments,
    IRDLOperation,
    ParsePropInAttrDict,
    irdl_op_definition,
    prop_def,
    region_def,
    traits_def,
    var_operand_def,
    var_result_def,
)
from xdsl.traits import (
    EffectInstance,
    HasParent,
    IsTerminator,
    MemoryEffect,
    MemoryEffectKind,
    Pure,
    RecursiveMemoryEffect,
)
from xdsl.utils.exceptions import VerifyException

__all__ = [
    "AttentionOp",
    "ScanOp",
    "ScatterOp",
    "SortOp",
    "TMTensor",
    "TopkOp",
    "YieldOp",
]


class BufferEffects(MemoryEffect):
    """Reads and writes memory when an operand is a memref; no effects on tensors.

    torch-mlir's ops declare the same: after bufferization they update their `outs`
    buffers in place, before it they only make new tensors.
    """

    @classmethod
    def get_effects(cls, op: Operation) -> AbstractSet[EffectInstance]:
        if any(isinstance(v.type, MemRefType) for v in op.operands):
            return frozenset(
                (
                    EffectInstance(MemoryEffectKind.READ),
                    EffectInstance(MemoryEffectKind.WRITE),
                )
            )
        return frozenset()


class TMTensorOperation(IRDLOperation):
    """Common checks of the destination-style `tm_tensor` ops.

    On tensors each op has one result per `outs` operand, of the same type; on memrefs
    it has none.  The region, when the op has one, is a single block that ends in
    `tm_tensor.yield`.
    """

    def verify_(self) -> None:
        outputs: Sequence[SSAValue] = getattr(self, "outputs")
        tensor_outputs = [v.type for v in outputs if isinstance(v.type, TensorType)]
        results = [r.type for r in self.results]
        if results and results != tensor_outputs:
            raise VerifyException(
                f"results ({', '.join(map(str, results))}) must have the types of the "
                f"tensor outs ({', '.join(map(str, tensor_outputs))})"
            )
        for region in self.regions:
            if len(region.blocks) != 1:
                raise VerifyException("the region must have exactly one block")
            if not isinstance(region.block.last_op, YieldOp):
                raise VerifyException("the region must end in tm_tensor.yield")


_EFFECTS = (RecursiveMemoryEffect(), BufferEffects())
_SEGMENTS = (AttrSizedOperandSegments(as_property=True),)


@irdl_op_definition
class SortOp(TMTensorOperation):
    """`tm_tensor.sort`: sorts its `outs` along `dimension` with the region's comparator.

    The comparator gets two scalars per `outs` operand (left and right element) and
    yields an i1, true when the left element comes first.  torch-mlir sorts a value
    tensor and an index tensor together for `torch.sort`, `argsort` and `topk`.
    """

    name = "tm_tensor.sort"

    inputs = var_operand_def()
    outputs = var_operand_def()
    dimension = prop_def(IntegerAttr[I64])
    results_ = var_result_def()
    region = region_def("single_block")

    irdl_options = _SEGMENTS
    traits = traits_def(*_EFFECTS)

    assembly_format = (
        "attr-dict `dimension` `(` $dimension `)` "
        "(`ins` `(` $inputs^ `:` type($inputs) `)`)? "
        "`outs` `(` $outputs `:` type($outputs) `)` "
        "$region (`->` type($results_)^)?"
    )


@irdl_op_definition
class TopkOp(TMTensorOperation):
    """`tm_tensor.topk`: the first K elements along `dimension` under the region's order.

    `ins` holds the values (and optionally their i32 indices); `outs` the K best values
    and their indices, whose size along `dimension` is K.  torch-mlir uses it for
    `kthvalue`.
    """

    name = "tm_tensor.topk"

    inputs = var_operand_def()
    outputs = var_operand_def()
    dimension = prop_def(IntegerAttr[I64])
    results_ = var_result_def()
    region = region_def("single_block")

    irdl_options = _SEGMENTS
    traits = traits_def(*_EFFECTS)

    assembly_format = (
        "attr-dict `dimension` `(` $dimension `)` "
        "`ins` `(` $inputs `:` type($inputs) `)` "
        "`outs` `(` $outputs `:` type($outputs) `)` "
        "$region (`->` type($results_)^)?"
    )


@irdl_op_definition
class ScanOp(TMTensorOperation):
    """`tm_tensor.scan`: an inclusive or exclusive scan of its input along `dimension`.

    `outs` holds the scanned tensor and the accumulator (the input's shape without
    `dimension`); the region combines two scalars.  torch-mlir uses it for `cumsum` and
    `cumprod`.
    """

    name = "tm_tensor.scan"

    inputs = var_operand_def()
    outputs = var_operand_def()
    dimension = prop_def(IntegerAttr[I64])
    inclusive = prop_def(BoolAttr)
    results_ = var_result_def()
    region = region_def("single_block")

    irdl_options = _SEGMENTS
    traits = traits_def(*_EFFECTS)

    assembly_format = (
        "`dimension` `(` $dimension `)` `inclusive` `(` $inclusive `)` attr-dict "
        "`ins` `(` $inputs `:` type($inputs) `)` "
        "`outs` `(` $outputs `:` type($outputs) `)` "
        "$region (`->` type($results_)^)?"
    )


@irdl_op_definition
class ScatterOp(TMTensorOperation):
    """`tm_tensor.scatter`: combines `updates` into `original` at the places `indices` name.

    `ins` is (updates, indices), `outs` is (original); `dimension_map` says which
    dimension of `original` each column of `indices` indexes.  The region combines the
    update (first argument) with the current value (second).  torch-mlir uses it for
    `scatter`, `scatter_add`, `scatter_reduce` and `index_put`.
    """

    name = "tm_tensor.scatter"

    inputs = var_operand_def()
    outputs = var_operand_def()
    dimension_map = prop_def(DenseArrayBase.constr(i64))
    # Required here although torch-mlir defaults it to true: xDSL's declarative printer
    # leaves a property at its default out, and `unique_indices()` would not parse.
    # `create` fills the default in instead, for generic text that omits it.
    unique_indices = prop_def(BoolAttr)
    results_ = var_result_def()
    region = region_def("single_block")

    # MLIR prints `dimension_map` in the attribute dictionary: its format names no place
    # for it.
    irdl_options = (*_SEGMENTS, ParsePropInAttrDict())
    traits = traits_def(*_EFFECTS)

    assembly_format = (
        "attr-dict `unique_indices` `(` $unique_indices `)` "
        "(`ins` `(` $inputs^ `:` type($inputs) `)`)? "
        "`outs` `(` $outputs `:` type($outputs) `)` "
        "$region (`->` type($results_)^)?"
    )

    @classmethod
    def create(
        cls,
        *,
        properties: Mapping[str, Attribute] = {},
        **fields: Any,
    ) -> Self:
        """Build the op, with `unique_indices = true` when `properties` lacks it."""
        if "unique_indices" not in properties:
            properties = {**properties, "unique_indices": BoolAttr.from_bool(True)}
        return super().create(properties=properties, **fields)


@irdl_op_definition
class AttentionOp(TMTensorOperation):
    """`tm_tensor.attention`: softmax(Q Kᵀ) V of `ins` (Q, K, V) into `outs`; no region."""

    name = "tm_tensor.attention"

    inputs = var_operand_def()
    outputs = var_operand_def()
    results_ = var_result_def()

    irdl_options = _SEGMENTS
    traits = traits_def(BufferEffects())

    assembly_format = (
        "attr-dict `ins` `(` $inputs `:` type($inputs) `)` "
        "`outs` `(` $outputs `:` type($outputs) `)` "
        "(`->` type($results_)^)?"
    )


@irdl_op_definition
class YieldOp(IRDLOperation):
    """`tm_tensor.yield`: the scalars a `tm_tensor` op's region gives back."""

    name = "tm_tensor.yield"

    values = var_operand_def()

    traits = traits_def(
        IsTerminator(), Pure(), HasParent(SortOp, TopkOp, ScanOp, ScatterOp)
    )

    assembly_format = "attr-dict ($values^ `:` type($values))?"


TMTensor = Dialect(
    "tm_tensor",
    [SortOp, TopkOp, ScanOp, ScatterOp, AttentionOp, YieldOp],
    [],
)
