"""E2 causal attention: the E2 formula with a causal mask written as `masked_fill(-inf)`.

`softmax(masked_fill((Q @ K.transpose(-1, -2)) * scale, j > i, -inf), -1) @ V`.

Shapes: Q, K, V [1, 4, 256, 64], fp32 inputs; scale = 1/sqrt(64).  The mask is
computed inside `forward` (`triu` of a seq x seq matrix of ones), so it arrives
as index arithmetic, and -inf arrives as the hex literal 0xFF800000.

Expected optimisation: one flash-attention kernel with the causal mask applied
per tile (tiles entirely above the diagonal skipped), the scale folded into Q,
no seq x seq tensor in memory.
"""

from __future__ import annotations

import math

import torch

from mirage_mlir.examples import Example
from mirage_mlir.examples.e2_attention import qkv_inputs


class CausalAttention(torch.nn.Module):
    """Attention in which position i attends to positions j <= i only."""

    def forward(self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        """Return `softmax(mask((q @ kᵀ) * scale), -1) @ v`, masking j > i with -inf."""
        seq = q.shape[-2]
        scale = 1.0 / math.sqrt(q.shape[-1])
        scores = (q @ k.transpose(-1, -2)) * scale
        future = torch.ones(seq, seq, dtype=torch.bool, device=q.device).triu(diagonal=1)
        scores = scores.masked_fill(future, float("-inf"))
        return torch.softmax(scores, dim=-1) @ v


def make_inputs(seed: int) -> tuple:
    """Q, K, V [1, 4, 256, 64]."""
    return qkv_inputs(seed, (1, 4, 256, 64))


EXAMPLE = Example(
    name="e2_attention_causal",
    title="causal multi-head attention (masked_fill -inf), [1, 4, 256, 64]",
    make_model=CausalAttention,
    make_inputs=make_inputs,
)
