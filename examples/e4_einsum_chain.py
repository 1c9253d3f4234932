"""E4 einsum contraction order: `einsum("ik,kj,jl,lm->im", A, B, C, D)`.

Shapes: A [100, 10], B [10, 20], C [20, 5], D [5, 100] (i=100, k=10, j=20,
l=5, m=100), fp32 inputs.

Costs in MACs: left to right 80,000; right to left 130,000;
`(A@B)@(C@D)` 230,000; `A@((B@C)@D)` 106,000; `(A@(B@C))@D` 56,000, the
optimum (112,000 FLOPs, the same as opt_einsum's 'optimal' path).  There are
5 ways to parenthesise a chain of 4.

torch-mlir emits the einsum as batch_matmul (batch 1) plus transposes and
expand/collapse_shape.  `torch.einsum` would ask opt_einsum for the best order
while tracing, so the imported program would already be optimal; the model
turns that off, and the import holds the left-to-right contraction (80,000
MACs) that the optimiser must improve on.

Expected optimisation: the optimum, found from that batch_matmul/reshape form.
"""

from __future__ import annotations

import torch

from mirage_mlir.examples import Example

EQUATION = "ik,kj,jl,lm->im"
SHAPES = ((100, 10), (10, 20), (20, 5), (5, 100))


class EinsumChain(torch.nn.Module):
    """A chain of four matrices written as one einsum."""

    def forward(
        self, a: torch.Tensor, b: torch.Tensor, c: torch.Tensor, d: torch.Tensor
    ) -> torch.Tensor:
        """Return `einsum("ik,kj,jl,lm->im", a, b, c, d)`, contracted left to right."""
        with torch.backends.opt_einsum.flags(enabled=False):
            return torch.einsum(EQUATION, a, b, c, d)


def make_inputs(seed: int) -> tuple[torch.Tensor, ...]:
    """A [100, 10], B [10, 20], C [20, 5], D [5, 100], standard normal."""
    generator = torch.Generator().manual_seed(seed)
    return tuple(torch.randn(shape, generator=generator) for shape in SHAPES)


EXAMPLE = Example(
    name="e4_einsum_chain",
    title='einsum "ik,kj,jl,lm->im" (i=100 k=10 j=20 l=5 m=100)',
    make_model=EinsumChain,
    make_inputs=make_inputs,
)
