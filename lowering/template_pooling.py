"""Kernel template: window reductions (pooling, depthwise convolution), one output per lane.

`linalg.pooling_nchw_max`, `linalg.pooling_nchw_sum` and
`linalg.depthwise_conv_2d_nchw_chw` combine, for every output element
`[n, c, oh, ow]`, the input window `x[n, c, oh * s + kh * d, ow * s + kw * d]`
over `kh < KH, kw < KW`: its maximum, its sum, or its dot product with the
channel's filter `w[c, kh, kw]`.  No element is shared between channels, so
there is nothing for tensor cores to do: the output is walked as a flat
iteration space (as the elementwise template walks it), `block` elements per
program, and an `scf.for` over the `KH * KW` window positions carries one f32
accumulator per lane.  The accumulator starts from the op's init (a splat
constant, or a tensor read from memory), as linalg accumulates into it.

An input that is a `tensor.pad` with a constant value is read through the
pad (`layout_ops.PaddedOperand`): lanes whose window position falls in the
padding take the pad value (-inf for torch's padded max pooling, 0 for
average pooling and convolutions), so the padded tensor is never built and
the pad op forms no kernel when convolutions and poolings are its only users
(`pad_folds_into_users`).  Grid: `(cdiv(numel, block),)`.
"""

from __future__ import annotations

import math

from xdsl.builder import ImplicitBuilder
from xdsl.dialects import arith, scf
from xdsl.dialects.builtin import AnyFloat, TensorType, f32, i32
from xdsl.ir import Block, Operation, Region, SSAValue

from mirage_mlir.dialects import tt
from mirage_mlir.lowering.dtypes import widen
from mirage_mlir.lowering.fused_body import KernelGroup, splat_constant_value
from mirage_mlir.lowering.kernel_builder import (
    LoweringError,
    TileSpace,
    const_i32,
    flat_tile_space,
    next_power_of_two,
    splat,
    splat_const,
)
from mirage_mlir.lowering.kernel_signature import kernel_for_group
from mirage_mlir.lowering.layout_ops import PaddedOperand, foldable_pad

POOLING_OPS = frozenset({"linalg.pooling_nchw_max", "linalg.pooling_nchw_sum"})
"""Poolings this template lowers (the second input only gives the window's shape)."""

DEPTHWISE_OPS = frozenset({"linalg.depthwise_conv_2d_nchw_chw"})
"""Convolutions with one filter per channel, which this template lowers."""

WINDOW_READERS = frozenset(
    {
        *POOLING_OPS,
        *DEPTHWISE_OPS,
        "linalg.conv_1d_ncw_fcw",
        "linalg.conv_2d_nchw_fchw",
        "linalg.conv_3d_ncdhw_fcdhw",
        "linalg.conv_2d_ngchw_gfchw",
        "linalg.conv_2d_ngchw_fgchw",
    }
)
"""Ops whose kernels read their first input through a `tensor.pad`."""


def window_op_inputs(op: Operation) -> list[SSAValue]:
    """The buffers the kernel of a convolution or pooling reads, in order.

    The first input (its pad's source when it is a foldable pad), the filter
    of a convolution, and the init unless it is a splat constant.
    """
    inputs = [PaddedOperand.of(op.inputs[0]).source]
    if op.name not in POOLING_OPS:
        inputs.append(op.inputs[1])
    if splat_constant_value(op.outputs[0]) is None:
        inputs.append(op.outputs[0])
    return list(dict.fromkeys(inputs))


def _reads_through(use) -> bool:
    """Whether a use is the input of a kernel that reads through pads."""
    return use.operation.name in WINDOW_READERS and use.index == 0


def _read_through(value: SSAValue) -> bool:
    """Whether every user of `value` reads it through its pad."""
    uses = list(value.uses)
    return bool(uses) and all(_reads_through(use) for use in uses)


def pad_folds_into_users(op: Operation) -> bool:
    """Whether a `tensor.pad` is only read by kernels that read through it.

    Its users are convolutions and poolings (their input), or channel-splitting
    `tensor.expand_shape` views of it that only they read.
    """
    if foldable_pad(op.results[0]) is not op:
        return False
    uses = list(op.results[0].uses)
    return bool(uses) and all(
        (
            _reads_through(use)
            if use.operation.name != "tensor.expand_shape"
            else PaddedOperand.of(use.operation.results[0]).source is op.source
            and _read_through(use.operation.results[0])
        )
        for use in uses
    )


def check_float(op: Operation) -> None:
    """Convolutions and poolings are lowered for float outputs only."""
    if not isinstance(op.results[0].type.get_element_type(), AnyFloat):  # type: ignore[union-attr]
        raise LoweringError(f"'{op.name}' is lowered for float tensors only", op)


def int_values(attr) -> tuple[int, ...]:
    """The integers of a strides or dilations attribute."""
    return tuple(int(v) for v in attr.get_values())


def accumulator_init(
    op: Operation, pointers: dict[SSAValue, SSAValue], space: TileSpace
) -> SSAValue:
    """The init of `op` at the space's lanes, in f32: a splat, or a load from memory."""
    init = op.outputs[0]
    scalar = splat_constant_value(init)
    if scalar is not None:
        return splat_const(scalar, f32, space.shape)
    rank = len(init.type.get_shape())  # type: ignore[union-attr]
    return space.load(pointers[init], init.type, list(range(rank)))


def _combine(kind: str, acc: SSAValue, value: SSAValue) -> SSAValue:
    if kind == "linalg.pooling_nchw_max":
        return arith.MaximumfOp(acc, value).result
    return arith.AddfOp(acc, value).result


def build_window_kernel(
    name: str, group: KernelGroup, block: int = 1024
) -> tuple[tt.FuncOp, tuple[int, ...]]:
    """The kernel of a pooling or depthwise convolution `group`, and its grid."""
    (op,) = group.ops
    if op.name not in POOLING_OPS | DEPTHWISE_OPS:
        raise LoweringError(
            f"'{op.name}' is not a pooling or depthwise convolution", op
        )
    check_float(op)
    out_type = op.results[0].type
    assert isinstance(out_type, TensorType)
    shape = tuple(out_type.get_shape())
    window = tuple(op.inputs[1].type.get_shape())[-2:]  # type: ignore[union-attr]
    strides, dilations = int_values(op.strides), int_values(op.dilations)
    source = PaddedOperand.of(op.inputs[0])
    numel = math.prod(shape)
    block = min(block, next_power_of_two(numel))
    kernel, pointers, (out_pointer,) = kernel_for_group(name, group)
    with ImplicitBuilder(kernel.body.block):
        space = flat_tile_space(shape, block, tt.GetProgramIdOp(0).result)
        n, c, oh, ow = space.index
        starts = [
            arith.MuliOp(o, splat_const(s, i32, space.shape)).result if s != 1 else o
            for o, s in zip((oh, ow), strides)
        ]
        filter_base = (
            arith.MuliOp(c, splat_const(math.prod(window), i32, space.shape)).result
            if op.name in DEPTHWISE_OPS
            else None
        )
        acc_type = TensorType(f32, space.shape)
        loop_body = Block(arg_types=[i32, acc_type])
        loop = scf.ForOp(
            const_i32(0),
            const_i32(math.prod(window)),
            const_i32(1),
            [accumulator_init(op, pointers, space)],
            Region(loop_body),
        )
        with ImplicitBuilder(loop_body) as (j, acc):
            position = (
                arith.DivSIOp(j, const_i32(window[1])).result,
                arith.RemSIOp(j, const_i32(window[1])).result,
            )
            index = [n, c]
            for start, k, d in zip(starts, position, dilations):
                step = arith.MuliOp(k, const_i32(d)).result if d != 1 else k
                index.append(arith.AddiOp(start, splat(step, space.shape)).result)
            value = widen(
                source.load(pointers[source.source], index, space.mask, space.shape)
            )
            if filter_base is not None:
                offsets = arith.AddiOp(filter_base, splat(j, space.shape)).result
                weights = tt.AddPtrOp(
                    splat(pointers[op.inputs[1]], space.shape), offsets
                ).result
                element = op.inputs[1].type.get_element_type()  # type: ignore[union-attr]
                w = widen(
                    tt.LoadOp(
                        weights, space.mask, splat_const(0.0, element, space.shape)
                    ).result
                )
                value = arith.MulfOp(value, w).result
            scf.YieldOp(_combine(op.name, acc, value))
        space.store(out_pointer, out_type, loop.results[0])
        tt.ReturnOp()
    return kernel, (-(-numel // block),)
