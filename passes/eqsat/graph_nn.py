"""Structured node kinds of the term graph: reductions, layout ops, softmax, attention, norms.

These extend the kinds of graph.py with the operations that neural-network programs are made
of. Each maps to one `mirage` or linalg op at re-emission, has a type rule here
(`structured_result_type`), NumPy semantics (`evaluate_structured`) and a work estimate in the
cost model.

    kind          attrs                          operands
    reduce        (op, axes, keepdims)           (x,)          op in sum, max, min, mean
    broadcast     (shape,)                       (x,)          numpy.broadcast_to
    concat        (axis,)                        operands      numpy.concatenate
    slice         (offsets, sizes, strides)      (x,)          a strided static slice
    cast          (dtype,)                       (x,)          element type conversion
    softmax       (axis,)                        (x,)          the numerically stable softmax
    attention     (scale, causal)                (q, k, v[, mask])
    rms_norm      (eps,)                         (x, weight)   over the last axis
    layer_norm    (eps,)                         (x, weight, bias)
    batch_norm    (eps,)                         (x, gamma, beta)  training statistics

Attention takes q [..., Hq, Sq, D], k and v [..., Hkv, Skv, D] with Hq a multiple of Hkv
(grouped-query attention: query head h reads KV head h // (Hq // Hkv)), or rank-3 tensors as
one head. `causal` lets query i see keys j <= i (top-left aligned, as torch's is_causal). A
mask operand is added to the scaled scores before the softmax. batch_norm normalises x [N, C]
with the biased statistics over axis 0, then applies gamma and beta (both [C]).

Softmax and attention of f16 tensors keep their statistics (and attention its scores and
accumulators) in f32 and round the result once, as their kernels do (bf16 is held in float32
by the NumPy semantics already).
"""

from __future__ import annotations

import math
from typing import Sequence

import numpy as np

from mirage_mlir.passes.eqsat.type_rules import (
    GraphError,
    TensorType,
    broadcast_shapes,
)

#: The structured kinds, in the order of the table above.
STRUCTURED_KINDS = (
    "reduce",
    "broadcast",
    "concat",
    "slice",
    "cast",
    "softmax",
    "attention",
    "rms_norm",
    "layer_norm",
    "batch_norm",
)

REDUCTIONS = ("sum", "max", "min", "mean")

FLOAT_DTYPES = ("f16", "bf16", "f32", "f64")


def _axis(axis: int, rank: int, what: str) -> int:
    if not -rank <= axis < max(rank, 1):
        raise GraphError(f"{what}: axis {axis} is out of range for rank {rank}")
    return axis % max(rank, 1)


def _float(t: TensorType, what: str) -> None:
    if t.dtype not in FLOAT_DTYPES:
        raise GraphError(f"{what}: needs a floating-point tensor, got {t}")


def _same(types: Sequence[TensorType], what: str) -> str:
    dtypes = {t.dtype for t in types}
    if len(dtypes) != 1:
        raise GraphError(f"{what}: operands have different element types {sorted(dtypes)}")
    return dtypes.pop()


def structured_result_type(
    kind: str, attrs: tuple, operands: Sequence[TensorType]
) -> TensorType:
    """The type of a structured node, or GraphError naming the problem."""
    if kind == "reduce":
        op, axes, keepdims = attrs
        (x,) = operands
        if op not in REDUCTIONS:
            raise GraphError(f"reduce: unknown reduction {op!r}")
        norm = sorted({_axis(a, len(x.shape), "reduce") for a in axes})
        if len(norm) != len(axes) or not axes:
            raise GraphError(f"reduce: axes {axes} must be distinct and non-empty")
        if keepdims:
            shape = tuple(1 if i in norm else d for i, d in enumerate(x.shape))
        else:
            shape = tuple(d for i, d in enumerate(x.shape) if i not in norm)
        return TensorType(shape, x.dtype)
    if kind == "broadcast":
        (shape,) = attrs
        (x,) = operands
        if broadcast_shapes([x.shape, shape], "broadcast") != tuple(shape):
            raise GraphError(f"broadcast: {x} does not broadcast to {shape}")
        return TensorType(tuple(shape), x.dtype)
    if kind == "concat":
        (axis,) = attrs
        if not operands:
            raise GraphError("concat: needs at least one operand")
        rank = len(operands[0].shape)
        ax = _axis(axis, rank, "concat")
        for t in operands:
            if len(t.shape) != rank or any(
                d != e for i, (d, e) in enumerate(zip(t.shape, operands[0].shape)) if i != ax
            ):
                raise GraphError(f"concat: {t} and {operands[0]} differ off axis {axis}")
        shape = list(operands[0].shape)
        shape[ax] = sum(t.shape[ax] for t in operands)
        return TensorType(tuple(shape), _same(operands, "concat"))
    if kind == "slice":
        offsets, sizes, strides = attrs
        (x,) = operands
        if not len(offsets) == len(sizes) == len(strides) == len(x.shape):
            raise GraphError(f"slice: offsets, sizes and strides must each have rank {len(x.shape)}")
        for o, s, st, d in zip(offsets, sizes, strides, x.shape):
            if o < 0 or s < 0 or st < 1 or (s > 0 and o + (s - 1) * st >= d):
                raise GraphError(f"slice: offset {o}, size {s}, stride {st} exceeds dimension {d}")
        return TensorType(tuple(sizes), x.dtype)
    if kind == "cast":
        (dtype,) = attrs
        (x,) = operands
        return TensorType(x.shape, dtype)
    if kind == "softmax":
        (axis,) = attrs
        (x,) = operands
        _float(x, "softmax")
        _axis(axis, len(x.shape), "softmax")
        return x
    if kind == "attention":
        return _attention_type(operands)
    if kind == "rms_norm":
        x, w = operands
        _float(x, "rms_norm")
        if w.shape != x.shape[-1:]:
            raise GraphError(f"rms_norm: weight {w} must have the shape of the last axis of {x}")
        _same(operands, "rms_norm")
        return x
    if kind == "layer_norm":
        x, w, b = operands
        _float(x, "layer_norm")
        if w.shape != x.shape[-1:] or b.shape != x.shape[-1:]:
            raise GraphError(f"layer_norm: weight and bias must have the shape of the last axis of {x}")
        _same(operands, "layer_norm")
        return x
    if kind == "batch_norm":
        x, gamma, beta = operands
        _float(x, "batch_norm")
        if len(x.shape) != 2 or gamma.shape != x.shape[1:] or beta.shape != x.shape[1:]:
            raise GraphError(f"batch_norm: needs x [N, C] with gamma and beta [C], got {x}, {gamma}, {beta}")
        _same(operands, "batch_norm")
        return x
    raise GraphError(f"unknown node kind {kind!r}")


def _attention_type(operands: Sequence[TensorType]) -> TensorType:
    if len(operands) not in (3, 4):
        raise GraphError("attention: takes q, k, v and an optional mask")
    q, k, v = operands[:3]
    for t in (q, k, v):
        _float(t, "attention")
    if not len(q.shape) == len(k.shape) == len(v.shape) or len(q.shape) < 3:
        raise GraphError(f"attention: q, k, v must have one rank >= 3, got {q}, {k}, {v}")
    if q.shape[-1] != k.shape[-1] or k.shape[-2] != v.shape[-2] or k.shape[:-1] != v.shape[:-1]:
        raise GraphError(f"attention: q {q}, k {k}, v {v} do not fit together")
    if len(q.shape) >= 4:
        hq, hkv = q.shape[-3], k.shape[-3]
        if hkv == 0 or hq % hkv or q.shape[:-3] != k.shape[:-3]:
            raise GraphError(f"attention: {hq} query heads cannot share {hkv} KV heads")
    elif q.shape[:-2] != k.shape[:-2]:
        raise GraphError(f"attention: batch dimensions of {q} and {k} differ")
    out = TensorType(q.shape[:-1] + (v.shape[-1],), _same(operands[:3], "attention"))
    if len(operands) == 4:
        scores = q.shape[:-1] + (k.shape[-2],)
        if broadcast_shapes([operands[3].shape, scores], "attention mask") != scores:
            raise GraphError(f"attention: mask {operands[3]} does not broadcast to scores {scores}")
    return out


# --------------------------------------------------------------------------------------------
# NumPy semantics


def _widened(x: np.ndarray) -> np.ndarray:
    """x in float32 when it is float16 (statistics and accumulators of narrow floats)."""
    return x.astype(np.float32) if x.dtype == np.float16 else x


def _softmax(x: np.ndarray, axis: int) -> np.ndarray:
    # -inf, the identity of max, keeps an empty axis empty instead of failing.
    shifted = x - np.max(x, axis=axis, keepdims=True, initial=-np.inf)
    e = np.exp(shifted)
    return e / np.sum(e, axis=axis, keepdims=True)


def _attention(q, k, v, scale: float, causal: bool, mask=None) -> np.ndarray:
    if q.ndim >= 4 and k.shape[-3] != q.shape[-3]:
        group = q.shape[-3] // k.shape[-3]
        k = np.repeat(k, group, axis=-3)
        v = np.repeat(v, group, axis=-3)
    scores = (q * q.dtype.type(scale)) @ np.swapaxes(k, -1, -2)
    if mask is not None:
        scores = scores + mask
    if causal:
        sq, skv = scores.shape[-2:]
        allowed = np.tril(np.ones((sq, skv), dtype=bool))
        scores = np.where(allowed, scores, -np.inf)
    return _softmax(scores, -1) @ v


def evaluate_structured(kind: str, attrs: tuple, args: list[np.ndarray]) -> np.ndarray:
    """The value of a structured node on NumPy arrays."""
    if kind == "reduce":
        op, axes, keepdims = attrs
        if op in ("max", "min"):
            # With their identities, so a reduction over no elements is defined (as in linalg).
            fn, identity = (np.max, -np.inf) if op == "max" else (np.min, np.inf)
            return fn(args[0], axis=tuple(axes), keepdims=keepdims, initial=identity)
        fn = {"sum": np.sum, "mean": np.mean}[op]
        return fn(args[0], axis=tuple(axes), keepdims=keepdims)
    if kind == "broadcast":
        return np.broadcast_to(args[0], attrs[0]).copy()
    if kind == "concat":
        return np.concatenate(args, axis=attrs[0])
    if kind == "slice":
        offsets, sizes, strides = attrs
        index = tuple(slice(o, o + (s - 1) * st + 1, st) for o, s, st in zip(offsets, sizes, strides))
        return args[0][index]
    if kind == "cast":
        from mirage_mlir.passes.eqsat.evaluate import NUMPY_DTYPES

        return args[0].astype(NUMPY_DTYPES[attrs[0]])
    if kind == "softmax":
        return _softmax(_widened(args[0]), attrs[0]).astype(args[0].dtype)
    if kind == "attention":
        scale, causal = attrs
        q, k, v, *mask = (_widened(a) for a in args)
        out = _attention(q, k, v, scale, causal, mask[0] if mask else None)
        return out.astype(args[0].dtype)
    if kind == "rms_norm":
        (eps,) = attrs
        x, w = args
        return x / np.sqrt(np.mean(x * x, axis=-1, keepdims=True) + eps) * w
    if kind == "layer_norm":
        (eps,) = attrs
        x, w, b = args
        mean = np.mean(x, axis=-1, keepdims=True)
        var = np.mean((x - mean) ** 2, axis=-1, keepdims=True)
        return (x - mean) / np.sqrt(var + eps) * w + b
    if kind == "batch_norm":
        (eps,) = attrs
        x, gamma, beta = args
        mean = np.mean(x, axis=0, keepdims=True)
        var = np.mean((x - mean) ** 2, axis=0, keepdims=True)
        return (x - mean) / np.sqrt(var + eps) * gamma + beta
    raise GraphError(f"unknown node kind {kind!r}")


def structured_flops(kind: str, attrs: tuple, operands: Sequence[TensorType], result: TensorType) -> int:
    """Floating-point operations of a structured node (a multiply-add counts 2)."""
    if kind == "reduce":
        return operands[0].numel
    if kind in ("broadcast", "concat", "slice", "cast"):
        return 0
    if kind == "softmax":
        return 5 * result.numel  # max, subtract, exp, sum, divide
    if kind == "attention":
        q, k, v = operands[:3]
        heads = math.prod(q.shape[:-2])
        sq, d = q.shape[-2:]
        skv, dv = k.shape[-2], v.shape[-1]
        flops = heads * (2 * sq * skv * d + 2 * sq * skv * dv + 5 * sq * skv) + q.numel
        return flops // 2 if attrs[1] else flops
    if kind in ("rms_norm", "layer_norm", "batch_norm"):
        return {"rms_norm": 4, "layer_norm": 7, "batch_norm": 7}[kind] * result.numel
    raise GraphError(f"unknown node kind {kind!r}")
