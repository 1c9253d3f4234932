"""Named convolution and pooling ops that torch-mlir emits and xDSL 0.74 lacks.

xDSL has `linalg.conv_2d_nchw_fchw`, the grouped 2-D forms and
`linalg.pooling_nchw_max`; torch-mlir's linalg-on-tensors output also uses

* `linalg.conv_1d_ncw_fcw` (`nn.Conv1d`),
* `linalg.conv_3d_ncdhw_fcdhw` (`nn.Conv3d`),
* `linalg.depthwise_conv_2d_nchw_chw` (`nn.Conv2d(groups=C)` and depthwise
  `nn.Conv1d`, as a 2-D convolution with a width of 1),
* `linalg.pooling_nchw_sum` (average pooling, before the division).

Each is defined here with MLIR's indexing maps and iterator types, so that a
module using them parses, prints back unchanged, and reaches the runtimes:

```mlir
%0 = linalg.depthwise_conv_2d_nchw_chw {dilations = dense<1> : vector<2xi64>,
       strides = dense<1> : vector<2xi64>}
       ins(%x, %w : tensor<2x8x14x14xf32>, tensor<8x3x3xf32>)
       outs(%b : tensor<2x8x12x12xf32>) -> tensor<2x8x12x12xf32>
```
"""

from __future__ import annotations

from collections.abc import Sequence

from xdsl.builder import Builder
from xdsl.dialects import arith
from xdsl.dialects.builtin import AnyFloat, ArrayAttr
from xdsl.dialects.linalg.abstract_ops import ConvOperation, PoolingOperation
from xdsl.dialects.linalg.attrs import IteratorTypeAttr
from xdsl.dialects.linalg.ops import YieldOp
from xdsl.ir import BlockArgument, Region, SSAValue
from xdsl.ir.affine import AffineDimExpr, AffineExpr, AffineMap
from xdsl.irdl import irdl_op_definition

__all__ = [
    "Conv1DNcwFcwOp",
    "Conv3DNcdhwFcdhwOp",
    "DepthwiseConv2DNchwChwOp",
    "PoolingNchwSumOp",
    "CONVOLUTION_OPERATIONS",
]


def _windows(op: ConvOperation | PoolingOperation, outs: Sequence[AffineExpr],
             kernel: Sequence[AffineExpr]) -> tuple[AffineExpr, ...]:
    """`out * stride + kernel * dilation` per spatial axis."""
    strides = op.strides.get_values()
    dilations = op.dilations.get_values()
    return tuple(o * s + k * d for o, k, s, d in zip(outs, kernel, strides, dilations))


def _iterators(parallel: int, reduction: int) -> ArrayAttr[IteratorTypeAttr]:
    return ArrayAttr(
        (IteratorTypeAttr.parallel(),) * parallel + (IteratorTypeAttr.reduction(),) * reduction
    )


@irdl_op_definition
class Conv1DNcwFcwOp(ConvOperation):
    """`linalg.conv_1d_ncw_fcw`: 1-D convolution, input NCW, filter FCW.

    See MLIR's [documentation](https://mlir.llvm.org/docs/Dialects/Linalg/#linalgconv_1d_ncw_fcw-linalgconv1dncwfcwop).
    """

    name = "linalg.conv_1d_ncw_fcw"

    def get_default_indexing_maps(self) -> Sequence[AffineMap]:
        n, f, ow, c, kw = (AffineDimExpr(d) for d in range(5))
        return (
            AffineMap(5, 0, (n, c, *_windows(self, (ow,), (kw,)))),
            AffineMap(5, 0, (f, c, kw)),
            AffineMap(5, 0, (n, f, ow)),
        )

    def get_iterator_types(self) -> ArrayAttr[IteratorTypeAttr]:
        return _iterators(3, 2)


@irdl_op_definition
class Conv3DNcdhwFcdhwOp(ConvOperation):
    """`linalg.conv_3d_ncdhw_fcdhw`: 3-D convolution, input NCDHW, filter FCDHW.

    See MLIR's [documentation](https://mlir.llvm.org/docs/Dialects/Linalg/#linalgconv_3d_ncdhw_fcdhw-linalgconv3dncdhwfcdhwop).
    """

    name = "linalg.conv_3d_ncdhw_fcdhw"

    def get_default_indexing_maps(self) -> Sequence[AffineMap]:
        n, f, od, oh, ow, c, kd, kh, kw = (AffineDimExpr(d) for d in range(9))
        return (
            AffineMap(9, 0, (n, c, *_windows(self, (od, oh, ow), (kd, kh, kw)))),
            AffineMap(9, 0, (f, c, kd, kh, kw)),
            AffineMap(9, 0, (n, f, od, oh, ow)),
        )

    def get_iterator_types(self) -> ArrayAttr[IteratorTypeAttr]:
        return _iterators(5, 4)


@irdl_op_definition
class DepthwiseConv2DNchwChwOp(ConvOperation):
    """`linalg.depthwise_conv_2d_nchw_chw`: one filter per channel, input NCHW, filter CHW.

    See MLIR's [documentation](https://mlir.llvm.org/docs/Dialects/Linalg/#linalgdepthwise_conv_2d_nchw_chw-linalgdepthwiseconv2dnchwchwop).
    """

    name = "linalg.depthwise_conv_2d_nchw_chw"

    def get_default_indexing_maps(self) -> Sequence[AffineMap]:
        n, c, oh, ow, kh, kw = (AffineDimExpr(d) for d in range(6))
        return (
            AffineMap(6, 0, (n, c, *_windows(self, (oh, ow), (kh, kw)))),
            AffineMap(6, 0, (c, kh, kw)),
            AffineMap(6, 0, (n, c, oh, ow)),
        )

    def get_iterator_types(self) -> ArrayAttr[IteratorTypeAttr]:
        return _iterators(4, 2)


@irdl_op_definition
class PoolingNchwSumOp(PoolingOperation):
    """`linalg.pooling_nchw_sum`: windowed sum; the second input only gives the window shape.

    See MLIR's [documentation](https://mlir.llvm.org/docs/Dialects/Linalg/#linalgpooling_nchw_sum-linalgpoolingnchwsumop).
    """

    name = "linalg.pooling_nchw_sum"

    @classmethod
    def get_hidden_region(
        cls, inputs: Sequence[SSAValue], outputs: Sequence[SSAValue]
    ) -> Region:
        arg_types = cls.body_arg_types((*inputs, *outputs))
        add = arith.AddfOp if isinstance(arg_types[-1], AnyFloat) else arith.AddiOp

        @Builder.implicit_region(arg_types)
        def body(args: tuple[BlockArgument, ...]) -> None:
            YieldOp(add(args[2], args[0]))

        return body

    def get_default_indexing_maps(self) -> Sequence[AffineMap]:
        n, c, oh, ow, kh, kw = (AffineDimExpr(d) for d in range(6))
        return (
            AffineMap(6, 0, (n, c, *_windows(self, (oh, ow), (kh, kw)))),
            AffineMap(6, 0, (kh, kw)),
            AffineMap(6, 0, (n, c, oh, ow)),
        )


CONVOLUTION_OPERATIONS = (
    Conv1DNcwFcwOp,
    Conv3DNcdhwFcdhwOp,
    DepthwiseConv2DNchwChwOp,
    PoolingNchwSumOp,
)
"""The ops of this module, in the order the linalg dialect registers them."""
