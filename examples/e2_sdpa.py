"""E2 through PyTorch's fused op: `F.scaled_dot_product_attention(Q, K, V)`, no mask.

Shapes: Q, K, V [1, 4, 256, 64], fp32 inputs; the default scale, 1/sqrt(64).

torch.export decomposes the op: the scale arrives split as sqrt(scale) on Q and
on Kᵀ, and a guard maps rows that are entirely -inf to 0.  The recogniser must
see the E2 attention through that form.

Expected optimisation: the same single flash-attention kernel as E2.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from mirage_mlir.examples import Example
from mirage_mlir.examples.e2_attention import qkv_inputs


class SDPA(torch.nn.Module):
    """Attention through `torch.nn.functional.scaled_dot_product_attention`."""

    def forward(self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        """Return `F.scaled_dot_product_attention(q, k, v)`."""
        return F.scaled_dot_product_attention(q, k, v)


def make_inputs(seed: int) -> tuple:
    """Q, K, V [1, 4, 256, 64]."""
    return qkv_inputs(seed, (1, 4, 256, 64))


EXAMPLE = Example(
    name="e2_sdpa",
    title="F.scaled_dot_product_attention, [1, 4, 256, 64]",
    make_model=SDPA,
    make_inputs=make_inputs,
)
