"""The project's fix to xDSL 0.74's tensor dialect: reshapes of 0-d tensors.

MLIR lets `tensor.expand_shape` turn a 0-d tensor into a tensor whose dimensions are all 1
(and `tensor.collapse_shape` do the reverse) with an empty reassociation; torch-mlir writes
this for reductions over the only axis of a 1-element tensor (softmax of `tensor<1xf32>`):

```mlir
%e = tensor.expand_shape %s [] output_shape [1] : tensor<f32> into tensor<1xf32>
%c = tensor.collapse_shape %e [] : tensor<1xf32> into tensor<f32>
```

xDSL's verifier requires the reassociation to cover every expanded dimension and rejects both.
The ops here are xDSL's with that case accepted; every other reshape is verified by xDSL.
"""

from __future__ import annotations

from xdsl.dialects import tensor as _xdsl_tensor
from xdsl.ir import Dialect
from xdsl.utils.exceptions import VerifyException


def _is_unit_reshape_of_scalar(collapsed, expanded, reassociation) -> bool:
    return (
        len(reassociation) == 0
        and len(collapsed.get_shape()) == 0
        and all(d == 1 for d in expanded.get_shape())
    )


class ExpandShapeOp(_xdsl_tensor.ExpandShapeOp):
    """`tensor.expand_shape`, also from a 0-d tensor to all-unit dimensions."""

    def verify_(self) -> None:
        if _is_unit_reshape_of_scalar(self.src.type, self.result.type, self.reassociation):
            if self.src.type.element_type != self.result.type.element_type:
                raise VerifyException("expand_shape: element types differ")
            return
        super().verify_()


class CollapseShapeOp(_xdsl_tensor.CollapseShapeOp):
    """`tensor.collapse_shape`, also from all-unit dimensions to a 0-d tensor."""

    def verify_(self) -> None:
        if _is_unit_reshape_of_scalar(self.result.type, self.src.type, self.reassociation):
            if self.src.type.element_type != self.result.type.element_type:
                raise VerifyException("collapse_shape: element types differ")
            return
        super().verify_()


def _tensor_operations() -> list:
    fixed = {"tensor.expand_shape": ExpandShapeOp, "tensor.collapse_shape": CollapseShapeOp}
    return [fixed.get(op.name, op) for op in _xdsl_tensor.Tensor.operations]


Tensor = Dialect("tensor", _tensor_operations(), list(_xdsl_tensor.Tensor.attributes))
