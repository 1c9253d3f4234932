"""NumPy reference semantics of the `mirage` ops, as plain functions on arrays.

The xDSL interpreter (`mirage_mlir.interpreters.mirage`) and the optimiser's
soundness checks share these functions.  Precision follows the inputs:
float64 inputs are computed in float64, float32 in float32, and float16 is
widened to float32 for the arithmetic and rounded back once at the end (as a
GPU kernel accumulates).  The algorithms are the numerically stable ones:
softmax subtracts the row maximum, variances are two-pass.  A reduction over
no elements is its identity, as a linalg loop nest with no iterations leaves
its init: the maximum of nothing is -inf, the sum of nothing 0.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def _compute_dtype(*arrays: np.ndarray) -> np.dtype:
    """The float type the arithmetic runs in: at least float32."""
    return np.result_type(np.float32, *(a.dtype for a in arrays))


def _widen(*arrays: np.ndarray) -> tuple[np.dtype, list[np.ndarray]]:
    """The output dtype and the inputs converted to the compute dtype."""
    out_dtype = np.result_type(*(a.dtype for a in arrays))
    compute = _compute_dtype(*arrays)
    return out_dtype, [np.asarray(a, dtype=compute) for a in arrays]


def round_to_bfloat16(x: np.ndarray) -> np.ndarray:
    """Round float32 values to the nearest bfloat16 (ties to even), kept as float32.

    NumPy has no bfloat16, so bf16 tensors are held as float32 arrays whose
    values are exactly representable in bf16.  NaN stays NaN.
    """
    x = np.asarray(x, dtype=np.float32)
    shape = x.shape  # ascontiguousarray makes a 0-d array 1-d
    x = np.ascontiguousarray(x)
    bits = x.view(np.uint32).astype(np.uint64)
    rounding = np.uint64(0x7FFF) + ((bits >> np.uint64(16)) & np.uint64(1))
    rounded = ((bits + rounding) & np.uint64(0xFFFF0000)).astype(np.uint32)
    return np.where(np.isnan(x), x, rounded.view(np.float32)).reshape(shape)


def matmul(
    a: np.ndarray,
    b: np.ndarray,
    transpose_a: bool = False,
    transpose_b: bool = False,
) -> np.ndarray:
    """`numpy.matmul` of operands of rank >= 2, optionally transposing either first."""
    if a.ndim < 2 or b.ndim < 2:
        raise ValueError("matmul operands must have rank >= 2")
    out_dtype, (a, b) = _widen(a, b)
    if transpose_a:
        a = np.swapaxes(a, -1, -2)
    if transpose_b:
        b = np.swapaxes(b, -1, -2)
    return np.matmul(a, b).astype(out_dtype)


def _stable_softmax(x: np.ndarray, axis: int) -> np.ndarray:
    """exp(x - max) / sum(exp(x - max)) in x's dtype (empty along an empty axis)."""
    shifted = x - np.max(x, axis=axis, keepdims=True, initial=-np.inf)
    e = np.exp(shifted)
    return e / np.sum(e, axis=axis, keepdims=True)


def softmax(x: np.ndarray, axis: int = -1) -> np.ndarray:
    """Softmax along `axis` with the maximum subtracted first (finite for any finite x)."""
    out_dtype, (x,) = _widen(x)
    return _stable_softmax(x, axis).astype(out_dtype)


def attention(
    q: np.ndarray,
    k: np.ndarray,
    v: np.ndarray,
    scale: float | None = None,
    causal: bool = False,
    mask: np.ndarray | None = None,
) -> np.ndarray:
    """softmax(scale · q·kᵀ + mask) · v with grouped KV heads.

    q [..., Hq, Sq, D], k [..., Hkv, Skv, D], v [..., Hkv, Skv, Dv] with Hq a
    multiple of Hkv (query head h reads KV head h // (Hq / Hkv)) and any number
    of leading batch dimensions; rank-3 operands are a single head.  `scale`
    defaults to 1/sqrt(D).  `causal` keeps keys j <= i for query i (top-left
    aligned); `mask` is added to the scaled scores and broadcasts to them
    ([..., Hq, Sq, Skv]).  A row whose scores are all -inf yields zeros, as
    torch's scaled_dot_product_attention does; so does every row when there
    are no keys (Skv = 0), as the decomposed form's product over no keys is its
    zero init.  K and V are read per group through broadcasting, never repeated.
    """
    arrays = (q, k, v) if mask is None else (q, k, v, mask)
    out_dtype, widened = _widen(*arrays)
    q, k, v = widened[:3]
    if not q.ndim == k.ndim == v.ndim >= 3:
        raise ValueError("attention operands must have one rank, at least 3")
    # Scores [..., Hq, Sq, Skv]; the mask is read at that shape.
    scores_shape = q.shape[:-1] + (k.shape[-2],)
    m = None if mask is None else np.broadcast_to(widened[3], scores_shape)
    single_head = q.ndim == 3
    if single_head:
        q, k, v = q[:, None], k[:, None], v[:, None]
        m = None if m is None else m[:, None]
    # Every leading dimension is a batch dimension: [B, H, S, D] with B their product.
    lead = q.shape[:-3]
    if k.shape[:-3] != lead or v.shape[:-3] != lead:
        raise ValueError("attention operands disagree on their batch dimensions")
    flat = int(np.prod(lead, dtype=np.int64))
    q = q.reshape((flat,) + q.shape[-3:])
    k = k.reshape((flat,) + k.shape[-3:])
    v = v.reshape((flat,) + v.shape[-3:])
    batch, q_heads, q_len, head_dim = q.shape
    kv_heads, kv_len = k.shape[1], k.shape[2]
    if q_heads % kv_heads != 0:
        raise ValueError(f"{q_heads} query heads are not a multiple of {kv_heads}")
    group = q_heads // kv_heads
    if scale is None:
        scale = 1.0 / np.sqrt(head_dim)
    # [B, Hkv, G, Sq, D] against [B, Hkv, 1, Skv, D]: each KV head serves its
    # group through broadcasting.
    q5 = q.reshape(batch, kv_heads, group, q_len, head_dim)
    scores = np.matmul(q5 * q.dtype.type(scale), np.swapaxes(k, -1, -2)[:, :, None])
    if m is not None:
        scores = scores + m.reshape(batch, kv_heads, group, q_len, kv_len)
    if causal:
        allowed = np.tril(np.ones((q_len, kv_len), dtype=bool))
        scores = np.where(allowed, scores, -np.inf)
    row_max = np.max(scores, axis=-1, keepdims=True, initial=-np.inf)
    row_max = np.where(np.isneginf(row_max), 0.0, row_max)
    e = np.exp(scores - row_max)
    denom = np.sum(e, axis=-1, keepdims=True)
    p = e / np.where(denom == 0.0, 1.0, denom)
    out = np.matmul(p, v[:, :, None])
    out = out.reshape(lead + (q_heads, q_len, v.shape[-1]))
    if single_head:
        out = out[:, 0]
    return out.astype(out_dtype)


def rms_norm(x: np.ndarray, weight: np.ndarray, eps: float) -> np.ndarray:
    """x / sqrt(mean(x², last dim) + eps) * weight."""
    out_dtype, (x, weight) = _widen(x, weight)
    mean_square = np.mean(x * x, axis=-1, keepdims=True)
    return (x / np.sqrt(mean_square + eps) * weight).astype(out_dtype)


def layer_norm(
    x: np.ndarray, weight: np.ndarray, bias: np.ndarray, eps: float
) -> np.ndarray:
    """(x - mean) / sqrt(biased var + eps) * weight + bias over the last dim."""
    out_dtype, (x, weight, bias) = _widen(x, weight, bias)
    mean = np.mean(x, axis=-1, keepdims=True)
    centred = x - mean
    var = np.mean(centred * centred, axis=-1, keepdims=True)
    return (centred / np.sqrt(var + eps) * weight + bias).astype(out_dtype)


def batch_norm(
    x: np.ndarray,
    gamma: np.ndarray,
    beta: np.ndarray,
    running_mean: np.ndarray,
    running_var: np.ndarray,
    eps: float,
    momentum: float,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Training-mode batch norm of x [N, C, ...] over every dim but 1.

    Returns (y, new_running_mean, new_running_var): y uses the biased batch
    variance, the running variance is updated with the unbiased one, each
    running statistic as (1 - momentum) * old + momentum * batch.
    """
    if x.ndim < 2:
        raise ValueError("batch_norm input must have rank >= 2 ([N, C, ...])")
    out_dtype, (x, gamma, beta) = _widen(x, gamma, beta)
    stat_dtype, (running_mean, running_var) = _widen(running_mean, running_var)
    axes = (0,) + tuple(range(2, x.ndim))
    count = x.size // x.shape[1]
    if count <= 1:
        raise ValueError(
            f"batch_norm needs more than 1 value per channel, got {count}"
        )
    channel_shape = (1, -1) + (1,) * (x.ndim - 2)
    mean = np.mean(x, axis=axes)
    centred = x - mean.reshape(channel_shape)
    var = np.mean(centred * centred, axis=axes)
    inv_std = 1.0 / np.sqrt(var + eps)
    y = centred * (inv_std * gamma).reshape(channel_shape) + beta.reshape(
        channel_shape
    )
    unbiased = var * (count / (count - 1))
    new_mean = (1.0 - momentum) * running_mean + momentum * mean
    new_var = (1.0 - momentum) * running_var + momentum * unbiased
    return (
        y.astype(out_dtype),
        new_mean.astype(stat_dtype),
        new_var.astype(stat_dtype),
    )


def concat(arrays: Sequence[np.ndarray], axis: int) -> np.ndarray:
    """Concatenation along `axis` (negative counts from the end)."""
    return np.concatenate(list(arrays), axis=axis)


def strided_slice(
    x: np.ndarray,
    offsets: Sequence[int],
    sizes: Sequence[int],
    strides: Sequence[int],
) -> np.ndarray:
    """result[i] = x[offsets + i * strides] for i < sizes, as a fresh array."""
    index = tuple(
        slice(o, o + (n - 1) * s + 1 if n > 0 else o, s)
        for o, n, s in zip(offsets, sizes, strides)
    )
    out = x[index]
    if out.shape != tuple(sizes):
        raise ValueError(
            f"slice of shape {tuple(sizes)} does not fit in a tensor of shape "
            f"{x.shape}"
        )
    return out.copy()
