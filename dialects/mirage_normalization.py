"""Row-wise and column-wise normalisations of the `mirage` dialect.

`mirage.softmax` (numerically stable, along one axis), `mirage.rms_norm` and
`mirage.layer_norm` (over the last dimension) and `mirage.batch_norm`
(training-mode statistics over every dimension but the channel dimension 1).
Attributes such as eps and momentum are f64 and checked for range.
"""

from __future__ import annotations

import math
from typing import ClassVar

from xdsl.dialects.builtin import (
    DYNAMIC_INDEX,
    I64,
    Float64Type,
    FloatAttr,
    IntegerAttr,
    f64,
    i64,
)
from xdsl.ir import Operation, SSAValue
from xdsl.irdl import (
    IRDLOperation,
    VarConstraint,
    irdl_op_definition,
    operand_def,
    prop_def,
    result_def,
    traits_def,
)
from xdsl.traits import Pure
from xdsl.utils.exceptions import VerifyException

from mirage_mlir.dialects.mirage_shapes import (
    FloatTensorConstr,
    dims_compatible,
    format_shape,
    normalize_axis,
    shape_of,
    verify_positive_finite,
    verify_same_element_type,
)


@irdl_op_definition
class SoftmaxOp(IRDLOperation):
    """Softmax along `axis` (in [-rank, rank)), computed stably.

    y = exp(x - max(x)) / sum(exp(x - max(x))) along the axis, so inputs of any
    magnitude give finite results.  The result has the input's type.

    ```mlir
    %p = mirage.softmax %s axis = -1 : tensor<2x8x128x128xf32>
    ```
    """

    name = "mirage.softmax"

    T: ClassVar = VarConstraint("T", FloatTensorConstr)

    input = operand_def(T)
    result = result_def(T)
    axis = prop_def(IntegerAttr[I64])

    traits = traits_def(Pure())

    assembly_format = "$input `axis` `=` $axis attr-dict `:` type($input)"

    def __init__(self, input: SSAValue | Operation, axis: int = -1):
        super().__init__(
            operands=[input],
            result_types=[SSAValue.get(input).type],
            properties={"axis": IntegerAttr(axis, i64)},
        )

    @property
    def normalized_axis(self) -> int:
        """The softmax axis in [0, rank)."""
        return normalize_axis(
            self.axis.value.data, len(shape_of(self.input.type)), "axis"
        )

    def verify_(self) -> None:
        rank = len(shape_of(self.input.type))
        if rank == 0:
            raise VerifyException("input must have rank >= 1")
        normalize_axis(self.axis.value.data, rank, "axis")


def _verify_feature_vector(
    name: str, vector_type: object, count: int, per: str
) -> None:
    """Check that a per-feature parameter is a 1-D tensor of `count` elements."""
    shape = shape_of(vector_type)  # type: ignore[arg-type]
    if len(shape) != 1 or not dims_compatible(shape[0], count):
        raise VerifyException(
            f"{name} must be a 1-D tensor of {format_shape([count])} elements "
            f"(one per {per}), got shape {format_shape(shape)}"
        )


def _verify_last_dim_norm(x_type: object) -> int:
    """Common checks of the last-dimension norms; returns the feature count."""
    shape = shape_of(x_type)  # type: ignore[arg-type]
    if not shape:
        raise VerifyException("input must have rank >= 1")
    return shape[-1]


@irdl_op_definition
class RmsNormOp(IRDLOperation):
    """RMS normalisation over the last dimension, scaled per feature.

    y = x / sqrt(mean(x², axis=-1) + eps) * weight, with weight of shape [N]
    for x of shape [..., N] and eps > 0.

    ```mlir
    %y = mirage.rms_norm %x, %w eps 1.000000e-06 : tensor<4x16x512xf32>, tensor<512xf32>
    ```
    """

    name = "mirage.rms_norm"

    T: ClassVar = VarConstraint("T", FloatTensorConstr)

    input = operand_def(T)
    weight = operand_def(FloatTensorConstr)
    result = result_def(T)
    eps = prop_def(FloatAttr[Float64Type])

    traits = traits_def(Pure())

    assembly_format = (
        "$input `,` $weight `eps` $eps attr-dict `:` type($input) `,` type($weight)"
    )

    def __init__(
        self, input: SSAValue | Operation, weight: SSAValue | Operation, eps: float
    ):
        super().__init__(
            operands=[input, weight],
            result_types=[SSAValue.get(input).type],
            properties={"eps": FloatAttr(eps, f64)},
        )

    def verify_(self) -> None:
        verify_same_element_type(
            [("input", self.input.type), ("weight", self.weight.type)]
        )
        features = _verify_last_dim_norm(self.input.type)
        _verify_feature_vector("weight", self.weight.type, features, "feature")
        verify_positive_finite("eps", self.eps.value.data)


@irdl_op_definition
class LayerNormOp(IRDLOperation):
    """Layer normalisation over the last dimension with a per-feature affine map.

    y = (x - mean) / sqrt(var + eps) * weight + bias, where mean and the
    biased variance are taken over the last dimension of x [..., N]; weight and
    bias are [N] and share one type; eps > 0.

    ```mlir
    %y = mirage.layer_norm %x, %w, %b eps 1.000000e-05 : tensor<4x16x512xf32>, tensor<512xf32>
    ```
    """

    name = "mirage.layer_norm"

    T: ClassVar = VarConstraint("T", FloatTensorConstr)
    W: ClassVar = VarConstraint("W", FloatTensorConstr)

    input = operand_def(T)
    weight = operand_def(W)
    bias = operand_def(W)
    result = result_def(T)
    eps = prop_def(FloatAttr[Float64Type])

    traits = traits_def(Pure())

    assembly_format = (
        "$input `,` $weight `,` $bias `eps` $eps attr-dict "
        "`:` type($input) `,` type($weight)"
    )

    def __init__(
        self,
        input: SSAValue | Operation,
        weight: SSAValue | Operation,
        bias: SSAValue | Operation,
        eps: float,
    ):
        super().__init__(
            operands=[input, weight, bias],
            result_types=[SSAValue.get(input).type],
            properties={"eps": FloatAttr(eps, f64)},
        )

    def verify_(self) -> None:
        verify_same_element_type(
            [("input", self.input.type), ("weight", self.weight.type)]
        )
        features = _verify_last_dim_norm(self.input.type)
        _verify_feature_vector("weight", self.weight.type, features, "feature")
        verify_positive_finite("eps", self.eps.value.data)


@irdl_op_definition
class BatchNormOp(IRDLOperation):
    """Training-mode batch normalisation with the running-statistics update.

    x is [N, C] or [N, C, d1, ...]; statistics are taken per channel (dim 1)
    over every other dimension, count = N·d1·... elements, which must be > 1.
    With mean and biased variance var_b:

        y = (x - mean) / sqrt(var_b + eps) * gamma + beta
        new_running_mean = (1 - momentum) * running_mean + momentum * mean
        new_running_var  = (1 - momentum) * running_var
                           + momentum * var_b * count / (count - 1)

    as PyTorch's `batch_norm(training=True)` does.  gamma, beta and the running
    statistics are [C] and share one type; eps > 0, 0 <= momentum <= 1.

    ```mlir
    %y, %mean, %var = mirage.batch_norm %x, %g, %b, %rm, %rv eps 1.000000e-05 momentum 1.000000e-01 : tensor<4096x1024xf32>, tensor<1024xf32>
    ```
    """

    name = "mirage.batch_norm"

    T: ClassVar = VarConstraint("T", FloatTensorConstr)
    C: ClassVar = VarConstraint("C", FloatTensorConstr)

    input = operand_def(T)
    gamma = operand_def(C)
    beta = operand_def(C)
    running_mean = operand_def(C)
    running_var = operand_def(C)
    result = result_def(T)
    new_running_mean = result_def(C)
    new_running_var = result_def(C)
    eps = prop_def(FloatAttr[Float64Type])
    momentum = prop_def(FloatAttr[Float64Type])

    traits = traits_def(Pure())

    assembly_format = (
        "$input `,` $gamma `,` $beta `,` $running_mean `,` $running_var "
        "`eps` $eps `momentum` $momentum attr-dict "
        "`:` type($input) `,` type($gamma)"
    )

    def __init__(
        self,
        input: SSAValue | Operation,
        gamma: SSAValue | Operation,
        beta: SSAValue | Operation,
        running_mean: SSAValue | Operation,
        running_var: SSAValue | Operation,
        eps: float,
        momentum: float,
    ):
        channel_type = SSAValue.get(gamma).type
        super().__init__(
            operands=[input, gamma, beta, running_mean, running_var],
            result_types=[SSAValue.get(input).type, channel_type, channel_type],
            properties={"eps": FloatAttr(eps, f64), "momentum": FloatAttr(momentum, f64)},
        )

    def verify_(self) -> None:
        verify_same_element_type(
            [("input", self.input.type), ("gamma", self.gamma.type)]
        )
        shape = shape_of(self.input.type)
        if len(shape) < 2:
            raise VerifyException(
                f"input must have rank >= 2 ([N, C, ...]), got shape "
                f"{format_shape(shape)}"
            )
        _verify_feature_vector("gamma", self.gamma.type, shape[1], "channel")
        reduced = [d for i, d in enumerate(shape) if i != 1]
        if DYNAMIC_INDEX not in reduced and math.prod(reduced) <= 1:
            raise VerifyException(
                "expected more than 1 value per channel for training statistics, "
                f"got {math.prod(reduced)} (input shape {format_shape(shape)})"
            )
        verify_positive_finite("eps", self.eps.value.data)
        momentum = self.momentum.value.data
        if not 0.0 <= momentum <= 1.0:
            raise VerifyException(f"momentum must be in [0, 1], got {momentum}")

