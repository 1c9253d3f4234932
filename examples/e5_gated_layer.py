"""E5 gated layer: `tanh((x @ w1) * (x @ w2) + bias)`.

Shapes: x [256, 512] fp32 input; parameters w1, w2 [512, 512] and bias [512].

Both matmuls read the same x.  Their elementwise product is not a matmul, and
a rewrite that treats it as one must never enter the e-graph.

Expected optimisation: one kernel that loads each x tile once for both
products and applies multiply, bias and tanh before its only store (or, where
the cost model prefers it, one matmul on the concatenated [w1 | w2]); the two
products never reach memory.
"""

from __future__ import annotations

import math

import torch

from mirage_mlir.examples import Example

IN_FEATURES = 512
OUT_FEATURES = 512
BATCH = 256


class GatedLayer(torch.nn.Module):
    """Two projections of the same input, multiplied, biased and squashed by tanh."""

    def __init__(
        self, in_features: int = IN_FEATURES, out_features: int = OUT_FEATURES, seed: int = 0
    ) -> None:
        """Draw w1, w2 with standard deviation 1/sqrt(in_features), bias with 0.1."""
        super().__init__()
        generator = torch.Generator().manual_seed(seed)
        scale = 1.0 / math.sqrt(in_features)
        shape = (in_features, out_features)
        self.w1 = torch.nn.Parameter(scale * torch.randn(shape, generator=generator))
        self.w2 = torch.nn.Parameter(scale * torch.randn(shape, generator=generator))
        self.bias = torch.nn.Parameter(0.1 * torch.randn(out_features, generator=generator))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Return `tanh((x @ w1) * (x @ w2) + bias)`."""
        return torch.tanh((x @ self.w1) * (x @ self.w2) + self.bias)


def make_inputs(seed: int) -> tuple[torch.Tensor]:
    """x [256, 512], standard normal."""
    generator = torch.Generator().manual_seed(seed)
    return (torch.randn(BATCH, IN_FEATURES, generator=generator),)


EXAMPLE = Example(
    name="e5_gated_layer",
    title="gated layer tanh((x@w1)*(x@w2)+b), x [256, 512], w [512, 512]",
    make_model=GatedLayer,
    make_inputs=make_inputs,
)
