"""The neural-network kinds: softmax, attention and the three normalisations.

    kind         attrs             operands
    softmax      (axis,)           (x,)                the numerically stable softmax
    attention    (scale, causal)   (q, k, v[, mask])
    rms_norm     (eps,)            (x, weight)         over the last axis
    layer_norm   (eps,)            (x, weight, bias)   over the last axis
    batch_norm   (eps,)            (x, gamma, beta)    training statistics over axis 0

Each means exactly what the mirage op it is emitted as means: the reference semantics in
interpreters/mirage_numpy.py, which follow torch's fused ops (scaled_dot_product_attention,
F.rms_norm, ...), not their decompositions. So an attention row masked entirely is 0 (not
NaN), and the statistics of f16 inputs are computed in f32.

Attention takes q [..., Hq, Sq, D], k and v [..., Hkv, Skv, D] with Hq a multiple of Hkv
(grouped-query attention: query head h reads KV head h // (Hq // Hkv)), or rank-3 tensors as
one head. `causal` lets query i see keys j <= i (top-left aligned, as torch's is_causal). A
mask operand is added to the scaled scores before the softmax. batch_norm normalises x [N, C]
with the biased statistics over axis 0, then applies gamma and beta (both [C]).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from mirage_mlir.interpreters import mirage_numpy as reference
from mirage_mlir.passes.eqsat.kinds.kind import (
    COLUMN,
    ROW,
    EncodeContext,
    ENodeChildren,
    Kind,
)
from mirage_mlir.passes.eqsat.type_rules import (
    GraphError,
    TensorType,
    broadcast_shapes,
    normalized_axis,
    same_dtype,
)

FLOAT_DTYPES = ("f16", "bf16", "f32", "f64")


def _float(t: TensorType, what: str) -> None:
    if t.dtype not in FLOAT_DTYPES:
        raise GraphError(f"{what}: needs a floating-point tensor, got {t}")


def _semantics(function):
    """A reference function as a kind's semantics; its ValueErrors become GraphErrors."""

    def evaluate(attrs: tuple, args: list[np.ndarray]) -> np.ndarray:
        try:
            return function(attrs, args)
        except ValueError as error:
            raise GraphError(str(error)) from None

    return evaluate


def _tensor_and_literals(name: str, literals: int):
    """A decoder for a constructor whose children are tensors, then `literals` numbers."""

    def decode(e: ENodeChildren) -> tuple[str, tuple, list[str]]:
        tensors = len(e) - literals
        values = tuple(e.literal(i) for i in range(tensors, len(e)))
        return name, values, [e.eclass(i) for i in range(tensors)]

    return decode


# softmax ------------------------------------------------------------------------------------


def _softmax_type(attrs: tuple, operands: Sequence[TensorType]) -> TensorType:
    (x,) = operands
    _float(x, "softmax")
    normalized_axis(attrs[0], len(x.shape), "softmax")
    return x


def _encode_softmax(node, terms: list, context: EncodeContext):
    from mirage_mlir.passes.eqsat.language import Tensor
    from mirage_mlir.passes.eqsat.language_nn import negative_axis

    return Tensor.softmax(
        terms[0], negative_axis(node.attrs[0], len(node.operands[0].shape))
    )


SOFTMAX = Kind(
    name="softmax",
    attrs=("axis",),
    type_rule=_softmax_type,
    semantics=_semantics(lambda attrs, args: reference.softmax(args[0], attrs[0])),
    # max, subtract, exp, sum, divide
    work=lambda attrs, operands, result: (5 * result.numel, "vector"),
    encode=_encode_softmax,
    decoders={"softmax": lambda e: ("softmax", (int(e.literal(1)),), [e.eclass(0)])},
    emit="mirage_mlir.passes.emit.emit_nn:emit_softmax",
    reduces=lambda attrs, rank: ROW if attrs[0] % max(rank, 1) == rank - 1 else None,
)


# attention ----------------------------------------------------------------------------------


def _attention_type(attrs: tuple, operands: Sequence[TensorType]) -> TensorType:
    if len(operands) not in (3, 4):
        raise GraphError("attention: takes q, k, v and an optional mask")
    q, k, v = operands[:3]
    for t in (q, k, v):
        _float(t, "attention")
    if not len(q.shape) == len(k.shape) == len(v.shape) or len(q.shape) < 3:
        raise GraphError(
            f"attention: q, k, v must have one rank >= 3, got {q}, {k}, {v}"
        )
    if (
        q.shape[-1] != k.shape[-1]
        or k.shape[-2] != v.shape[-2]
        or k.shape[:-1] != v.shape[:-1]
    ):
        raise GraphError(f"attention: q {q}, k {k}, v {v} do not fit together")
    if len(q.shape) >= 4:
        hq, hkv = q.shape[-3], k.shape[-3]
        if hkv == 0 or hq % hkv or q.shape[:-3] != k.shape[:-3]:
            raise GraphError(f"attention: {hq} query heads cannot share {hkv} KV heads")
    elif q.shape[:-2] != k.shape[:-2]:
        raise GraphError(f"attention: batch dimensions of {q} and {k} differ")
    out = TensorType(
        q.shape[:-1] + (v.shape[-1],), same_dtype(operands[:3], "attention")
    )
    if len(operands) == 4:
        scores = q.shape[:-1] + (k.shape[-2],)
        if broadcast_shapes([operands[3].shape, scores], "attention mask") != scores:
            raise GraphError(
                f"attention: mask {operands[3]} does not broadcast to scores {scores}"
            )
    return out


def _attention_work(attrs, operands, result) -> tuple[int, str]:
    q, k, v = operands[:3]
    heads = math.prod(q.shape[:-2])
    sq, d = q.shape[-2:]
    skv, dv = k.shape[-2], v.shape[-1]
    flops = heads * (2 * sq * skv * d + 2 * sq * skv * dv + 5 * sq * skv) + q.numel
    # A causal kernel skips the blocks above the diagonal: about half the work.
    return (flops // 2 if attrs[1] else flops), "matrix"


def _encode_attention(node, terms: list, context: EncodeContext):
    from mirage_mlir.passes.eqsat.language import Tensor

    scale, causal = node.attrs
    if len(terms) == 4:
        return Tensor.attention_masked(*terms, scale, int(causal))
    return Tensor.attention(*terms, scale, int(causal))


def _decode_attention(e: ENodeChildren) -> tuple[str, tuple, list[str]]:
    _, (scale, causal), operands = _tensor_and_literals("attention", 2)(e)
    return "attention", (float(scale), bool(causal)), operands


ATTENTION = Kind(
    name="attention",
    attrs=("scale", "causal"),
    type_rule=_attention_type,
    semantics=_semantics(
        lambda attrs, args: reference.attention(
            *args[:3],
            scale=attrs[0],
            causal=attrs[1],
            mask=args[3] if len(args) > 3 else None,
        )
    ),
    work=_attention_work,
    encode=_encode_attention,
    decoders={"attention": _decode_attention, "attention_masked": _decode_attention},
    emit="mirage_mlir.passes.emit.emit_nn:emit_attention",
    fusion_core="attention",
)


# normalisations -----------------------------------------------------------------------------


def _last_axis_norm_type(name: str, parameters: int):
    def type_rule(attrs: tuple, operands: Sequence[TensorType]) -> TensorType:
        x, *weights = operands
        _float(x, name)
        if len(weights) != parameters or any(w.shape != x.shape[-1:] for w in weights):
            raise GraphError(
                f"{name}: its {parameters} parameter(s) must have the shape of the last axis of {x}"
            )
        same_dtype(operands, name)
        return x

    return type_rule


def _batch_norm_type(attrs: tuple, operands: Sequence[TensorType]) -> TensorType:
    x, gamma, beta = operands
    _float(x, "batch_norm")
    if len(x.shape) != 2 or gamma.shape != x.shape[1:] or beta.shape != x.shape[1:]:
        raise GraphError(
            f"batch_norm: needs x [N, C] with gamma and beta [C], got {x}, {gamma}, {beta}"
        )
    same_dtype(operands, "batch_norm")
    return x


def _batch_norm(attrs: tuple, args: list[np.ndarray]) -> np.ndarray:
    # The running statistics are separate results in MLIR, not part of the node.
    x, gamma, beta = args
    channels = np.zeros(x.shape[1:2], dtype=x.dtype)
    y, _, _ = reference.batch_norm(x, gamma, beta, channels, channels, attrs[0], 0.0)
    return y


def _norm_encoder(name: str):
    def encode(node, terms: list, context: EncodeContext):
        from mirage_mlir.passes.eqsat.language import Tensor

        return getattr(Tensor, name)(*terms, node.attrs[0])

    return encode


def _norm_decoder(name: str):
    def decode(e: ENodeChildren) -> tuple[str, tuple, list[str]]:
        _, (eps,), operands = _tensor_and_literals(name, 1)(e)
        return name, (float(eps),), operands

    return decode


RMS_NORM = Kind(
    name="rms_norm",
    attrs=("eps",),
    type_rule=_last_axis_norm_type("rms_norm", 1),
    semantics=_semantics(lambda attrs, args: reference.rms_norm(*args, eps=attrs[0])),
    work=lambda attrs, operands, result: (4 * result.numel, "vector"),
    encode=_norm_encoder("rms_norm"),
    decoders={"rms_norm": _norm_decoder("rms_norm")},
    emit="mirage_mlir.passes.emit.emit_nn:emit_rms_norm",
    reduces=lambda attrs, rank: ROW,
)

LAYER_NORM = Kind(
    name="layer_norm",
    attrs=("eps",),
    type_rule=_last_axis_norm_type("layer_norm", 2),
    semantics=_semantics(lambda attrs, args: reference.layer_norm(*args, eps=attrs[0])),
    work=lambda attrs, operands, result: (7 * result.numel, "vector"),
    encode=_norm_encoder("layer_norm"),
    decoders={"layer_norm": _norm_decoder("layer_norm")},
    emit="mirage_mlir.passes.emit.emit_nn:emit_layer_norm",
    reduces=lambda attrs, rank: ROW,
)

BATCH_NORM = Kind(
    name="batch_norm",
    attrs=("eps",),
    type_rule=_batch_norm_type,
    semantics=_semantics(_batch_norm),
    work=lambda attrs, operands, result: (7 * result.numel, "vector"),
    encode=_norm_encoder("batch_norm"),
    decoders={"batch_norm": _norm_decoder("batch_norm")},
    emit="mirage_mlir.passes.emit.emit_nn:emit_batch_norm",
    reduces=lambda attrs, rank: COLUMN,
)

KINDS = (SOFTMAX, ATTENTION, RMS_NORM, LAYER_NORM, BATCH_NORM)
