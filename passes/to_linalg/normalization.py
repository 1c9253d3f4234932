"""Lowerings of `mirage.softmax`, `mirage.rms_norm`, `mirage.layer_norm`, `mirage.batch_norm`.

Each is a short chain of `linalg.generic`s: reductions into filled accumulators (the maximum
from -inf, sums from 0), then pointwise generics reading the per-row (or per-channel)
statistics through maps that drop the reduced loops, so no statistic is broadcast in memory.
The steps and their order are those of the reference semantics
(`interpreters/mirage_numpy.py`); f16 and bf16 inputs are widened with `arith.extf` and the
statistics kept in f32, and only the written result is rounded back (`arith.truncf`).

    %y = mirage.softmax %x axis = -1 : tensor<4x16xf32>

becomes max (reduction, init -inf), exp(x - max), sum (reduction, init 0) and a division:

    %max = linalg.generic {...["parallel", "reduction"]} ins(%x) outs(%neg_inf_filled) { maximumf }
    %e   = linalg.generic {...} ins(%x, %max) outs(%empty) { subf, math.exp }
    %sum = linalg.generic {...["parallel", "reduction"]} ins(%e) outs(%zero_filled) { addf }
    %y   = linalg.generic {...} ins(%e, %sum) outs(%empty) { divf }
"""

from __future__ import annotations

import math as pymath
from collections.abc import Callable, Sequence

from xdsl.dialects import arith, math
from xdsl.ir import Attribute, SSAValue

from mirage_mlir.dialects import mirage
from mirage_mlir.passes.to_linalg.builders import (
    LoweringError,
    cast_scalar,
    compute_type,
    element_of,
    indexing_map,
    loop_nest,
    new_tensor,
    scalar,
    shape_of,
    static_shape,
    widen,
)


Combine = Callable[[SSAValue, Sequence[SSAValue], SSAValue], SSAValue]
"""(element widened, statistics read at its row, accumulator) -> the new accumulator."""

Body = Callable[[Sequence[SSAValue]], SSAValue]
"""The scalar of a pointwise generic's one result, from its input scalars."""


def _reduce(
    x: SSAValue,
    statistics: Sequence[SSAValue],
    reduced: Sequence[int],
    element: Attribute,
    init: float,
    combine: Combine,
) -> SSAValue:
    """Reduce `x` over the `reduced` loops into a tensor of the kept dims, from `init`.

    `statistics` are earlier reductions of the same shape, read at each element's row.
    """
    shape = shape_of(x)
    rank = len(shape)
    kept = [d for d in range(rank) if d not in reduced]
    kept_map = indexing_map(rank, kept)
    init_value = new_tensor([shape[d] for d in kept], element, fill=init)

    def body(args: Sequence[SSAValue]) -> list[SSAValue]:
        value = widen(args[0], element)
        return [combine(value, args[1:-1], args[-1])]

    (result,) = loop_nest(
        [(x, indexing_map(rank, range(rank)))] + [(s, kept_map) for s in statistics],
        [(init_value, kept_map)],
        ["reduction" if d in reduced else "parallel" for d in range(rank)],
        body,
    )
    return result


def _pointwise(
    inputs: Sequence[tuple[SSAValue, Sequence[int]]],
    shape: Sequence[int],
    element: Attribute,
    body: Body,
) -> SSAValue:
    """A parallel generic over `shape`; each input is read at the given loops."""
    rank = len(shape)
    (result,) = loop_nest(
        [(v, indexing_map(rank, loops)) for v, loops in inputs],
        [(new_tensor(shape, element), indexing_map(rank, range(rank)))],
        ["parallel"] * rank,
        lambda args: [body(args[:-1])],
    )
    return result


def _constants(count: float, eps: float, compute: Attribute):
    """Builders of the element count and eps constants in the compute type.

    Each body makes its own constants, so that a loop body reads nothing from outside but
    its operands (as torch-mlir writes bodies, and as every consumer of linalg expects).
    """
    return (lambda: scalar(count, compute)), (lambda: scalar(eps, compute))


def _add(a: SSAValue, b: SSAValue) -> SSAValue:
    return arith.AddfOp(a, b).result


def _sub(a: SSAValue, b: SSAValue) -> SSAValue:
    return arith.SubfOp(a, b).result


def _mul(a: SSAValue, b: SSAValue) -> SSAValue:
    return arith.MulfOp(a, b).result


def _div(a: SSAValue, b: SSAValue) -> SSAValue:
    return arith.DivfOp(a, b).result


def lower_softmax(op: mirage.SoftmaxOp) -> list[SSAValue]:
    """mirage.softmax -> max, exp(x - max), sum, divide (four generics)."""
    shape = static_shape(op.input, op)
    axis = op.normalized_axis
    element = element_of(op.result)
    compute = compute_type(element)
    rank = len(shape)
    everything = list(range(rank))
    kept = [d for d in everything if d != axis]
    row_max = _reduce(
        op.input,
        [],
        [axis],
        compute,
        -pymath.inf,
        lambda x, _, acc: arith.MaximumfOp(x, acc).result,
    )
    exps = _pointwise(
        [(op.input, everything), (row_max, kept)],
        shape,
        compute,
        lambda a: math.ExpOp(_sub(widen(a[0], compute), a[1])).result,
    )
    total = _reduce(exps, [], [axis], compute, 0.0, lambda e, _, acc: _add(acc, e))
    return [
        _pointwise(
            [(exps, everything), (total, kept)],
            shape,
            element,
            lambda a: cast_scalar(_div(a[0], a[1]), element),
        )
    ]


def lower_rms_norm(op: mirage.RmsNormOp) -> list[SSAValue]:
    """mirage.rms_norm -> sum of squares, then x / sqrt(sum / N + eps) * weight."""
    shape = static_shape(op.input, op)
    element = element_of(op.result)
    compute = compute_type(element)
    rank = len(shape)
    last = rank - 1
    squares = _reduce(op.input, [], [last], compute, 0.0, lambda x, _, acc: _add(acc, _mul(x, x)))
    count, eps = _constants(float(shape[-1]), op.eps.value.data, compute)

    def body(a: Sequence[SSAValue]) -> SSAValue:
        x, total, weight = widen(a[0], compute), a[1], widen(a[2], compute)
        rms = math.SqrtOp(_add(_div(total, count()), eps())).result
        return cast_scalar(_mul(_div(x, rms), weight), element)

    return [
        _pointwise(
            [(op.input, range(rank)), (squares, range(last)), (op.weight, [last])],
            shape,
            element,
            body,
        )
    ]


def lower_layer_norm(op: mirage.LayerNormOp) -> list[SSAValue]:
    """mirage.layer_norm -> sum, sum of squared deviations, then the affine normalisation."""
    shape = static_shape(op.input, op)
    element = element_of(op.result)
    compute = compute_type(element)
    rank = len(shape)
    last = rank - 1
    rows = list(range(last))
    count, eps = _constants(float(shape[-1]), op.eps.value.data, compute)
    total = _reduce(op.input, [], [last], compute, 0.0, lambda x, _, acc: _add(acc, x))

    def deviation(x: SSAValue, s: Sequence[SSAValue], acc: SSAValue) -> SSAValue:
        centred = _sub(x, _div(s[0], count()))
        return _add(acc, _mul(centred, centred))

    deviations = _reduce(op.input, [total], [last], compute, 0.0, deviation)

    def body(a: Sequence[SSAValue]) -> SSAValue:
        x, s, d = widen(a[0], compute), a[1], a[2]
        weight, bias = widen(a[3], compute), widen(a[4], compute)
        centred = _sub(x, _div(s, count()))
        std = math.SqrtOp(_add(_div(d, count()), eps())).result
        return cast_scalar(_add(_mul(_div(centred, std), weight), bias), element)

    return [
        _pointwise(
            [
                (op.input, range(rank)),
                (total, rows),
                (deviations, rows),
                (op.weight, [last]),
                (op.bias, [last]),
            ],
            shape,
            element,
            body,
        )
    ]


def lower_batch_norm(op: mirage.BatchNormOp) -> list[SSAValue | None]:
    """mirage.batch_norm -> per-channel statistics, the normalised output, running statistics.

    The sum and the squared deviations are taken over every dim but 1, then a per-channel
    scale inv_std * gamma; y = (x - mean) * scale + beta. The running statistics are computed
    only where they are used (eqsat-optimize's batch_norm returns y alone).
    """
    shape = static_shape(op.input, op)
    element = element_of(op.result)
    channel_element = element_of(op.new_running_mean)
    compute = compute_type(element)
    rank = len(shape)
    reduced = [d for d in range(rank) if d != 1]
    number = pymath.prod(shape[d] for d in reduced)
    if number <= 1:
        raise LoweringError(
            f"{op.name}: {number} value(s) per channel; training statistics need more than 1"
        )
    count, eps = _constants(float(number), op.eps.value.data, compute)
    channels = (shape[1],)
    total = _reduce(op.input, [], reduced, compute, 0.0, lambda x, _, acc: _add(acc, x))

    def deviation(x: SSAValue, s: Sequence[SSAValue], acc: SSAValue) -> SSAValue:
        centred = _sub(x, _div(s[0], count()))
        return _add(acc, _mul(centred, centred))

    deviations = _reduce(op.input, [total], reduced, compute, 0.0, deviation)

    def channel_scale(a: Sequence[SSAValue]) -> SSAValue:
        variance = _div(a[0], count())
        one = scalar(1.0, compute)
        inv_std = _div(one, math.SqrtOp(_add(variance, eps())).result)
        return _mul(inv_std, widen(a[1], compute))

    scale = _pointwise([(deviations, [0]), (op.gamma, [0])], channels, compute, channel_scale)

    def normalised(a: Sequence[SSAValue]) -> SSAValue:
        x, s, factor, beta = widen(a[0], compute), a[1], a[2], widen(a[3], compute)
        centred = _sub(x, _div(s, count()))
        return cast_scalar(_add(_mul(centred, factor), beta), element)

    y = _pointwise(
        [(op.input, range(rank)), (total, [1]), (scale, [1]), (op.beta, [1])],
        shape,
        element,
        normalised,
    )
    momentum = op.momentum.value.data

    def running(old: SSAValue, batch: SSAValue) -> SSAValue:
        keep = _mul(scalar(1.0 - momentum, compute), widen(old, compute))
        return cast_scalar(_add(keep, _mul(scalar(momentum, compute), batch)), channel_element)

    new_mean = new_var = None
    if op.new_running_mean.uses:
        new_mean = _pointwise(
            [(op.running_mean, [0]), (total, [0])],
            channels,
            channel_element,
            lambda a: running(a[0], _div(a[1], count())),
        )
    if op.new_running_var.uses:
        new_var = _pointwise(
            [(op.running_var, [0]), (deviations, [0])],
            channels,
            channel_element,
            lambda a: running(
                a[0], _mul(_div(a[1], count()), scalar(number / (number - 1), compute))
            ),
        )
    return [y, new_mean, new_var]
