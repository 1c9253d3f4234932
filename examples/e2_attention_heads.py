"""E2 attention with heads: the E2 formula on [batch, heads, seq, d_head] tensors.

Shapes: Q, K, V [1, 4, 256, 64], fp32 inputs; scale = 1/sqrt(64).  The mission
runs seq 1024; 256 keeps the CPU reference runs in the tests short, and the
program's structure does not depend on it.

`softmax((Q @ K.transpose(-1, -2)) * scale, dim=-1) @ V` arrives as
batch matmuls over the flattened batch x heads dimension.

Expected optimisation: as for E2, one flash-attention kernel (grid over batch
and heads), the scale folded into Q, no seq x seq tensor in memory.
"""

from __future__ import annotations

from mirage_mlir.examples import Example
from mirage_mlir.examples.e2_attention import Attention, qkv_inputs


def make_inputs(seed: int) -> tuple:
    """Q, K, V [1, 4, 256, 64]."""
    return qkv_inputs(seed, (1, 4, 256, 64))


EXAMPLE = Example(
    name="e2_attention_heads",
    title="multi-head attention, Q/K/V [1, 4, 256, 64]",
    make_model=Attention,
    make_inputs=make_inputs,
)
