"""E2 attention: `softmax((Q @ K.transpose(-1, -2)) * scale, dim=-1) @ V`, written out.

Shapes: Q, K, V [batch 1, seq 1024, d_head 64], fp32 inputs; scale = 1/sqrt(64).

The e-graph must hold the scale applied after the product, on Kᵀ or on Q
(65,536 multiplies instead of 1,048,576), the naive, max-subtracted and fused
forms of softmax, and flash attention, which never writes the 1024x1024 score
matrix to memory (O(seq·d) memory traffic instead of O(seq²)).

Expected optimisation: one `mirage.attention`-backed kernel, the scale folded
into Q, and no seq x seq tensor in the emitted code.
"""

from __future__ import annotations

import math

import torch

from mirage_mlir.examples import Example


class Attention(torch.nn.Module):
    """Scaled dot-product attention as a textbook writes it, over any leading dims."""

    def forward(self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        """Return `softmax((q @ kᵀ) * scale, -1) @ v` with scale = 1/sqrt(d_head)."""
        scale = 1.0 / math.sqrt(q.shape[-1])
        scores = (q @ k.transpose(-1, -2)) * scale
        return torch.softmax(scores, dim=-1) @ v


def qkv_inputs(seed: int, shape: tuple[int, ...]) -> tuple[torch.Tensor, ...]:
    """Q, K, V of one shape, standard normal, drawn in that order from `seed`."""
    generator = torch.Generator().manual_seed(seed)
    return tuple(torch.randn(shape, generator=generator) for _ in range(3))


def make_inputs(seed: int) -> tuple[torch.Tensor, ...]:
    """Q, K, V [1, 1024, 64]."""
    return qkv_inputs(seed, (1, 1024, 64))


EXAMPLE = Example(
    name="e2_attention",
    title="attention softmax(QKᵀ·s)V, Q/K/V [1, 1024, 64]",
    make_model=Attention,
    make_inputs=make_inputs,
)
