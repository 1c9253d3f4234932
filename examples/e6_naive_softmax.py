"""E6 softmax stability: `exp(x) / exp(x).sum(-1, keepdim=True)`, written naively.

Shapes: x [256, 1024] fp32 input.

In fp32, exp overflows for x > 88.7 and the naive form returns NaN (inf/inf);
the max-subtracted form `exp(x - max) / sum(exp(x - max))` is the same
function and never overflows.

Expected optimisation: the max-subtracted form in one fused kernel (one read
and one write per row), so that the optimised program returns the right
softmax for inputs around 1000 where the original returns NaN; the cost model
never picks the unstable form.
"""

from __future__ import annotations

import torch

from mirage_mlir.examples import Example

SHAPE = (256, 1024)


class NaiveSoftmax(torch.nn.Module):
    """Softmax over the last dimension without subtracting the row maximum."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Return `exp(x) / exp(x).sum(-1, keepdim=True)`."""
        return torch.exp(x) / torch.exp(x).sum(-1, keepdim=True)


def make_inputs(seed: int) -> tuple[torch.Tensor]:
    """x [256, 1024], standard normal (small enough for the naive form to be finite)."""
    generator = torch.Generator().manual_seed(seed)
    return (torch.randn(SHAPE, generator=generator),)


EXAMPLE = Example(
    name="e6_naive_softmax",
    title="naive softmax exp(x)/sum(exp(x)), x [256, 1024]",
    make_model=NaiveSoftmax,
    make_inputs=make_inputs,
)
