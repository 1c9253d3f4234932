"""E1 matrix chain: `A @ B @ C @ D`.

Shapes: A 100x2, B 2x100, C 100x2, D 2x100, fp32, all four are inputs.

There are 5 parenthesisations.  Python evaluates left to right,
`((A @ B) @ C) @ D`: 20,000 + 20,000 + 20,000 = 60,000 MACs (120,000 FLOPs);
`(A @ B) @ (C @ D)` costs 1,040,000 MACs.  The optimum, 20,800 MACs (41,600
FLOPs), is reached by `A @ ((B @ C) @ D)` and by `(A @ (B @ C)) @ D`, both of
which contract through a 2x2 intermediate.

Expected optimisation: the optimum is extracted, and the report shows
120,000 -> 41,600 FLOPs (2.88x).
"""

from __future__ import annotations

import torch

from mirage_mlir.examples import Example


class MatrixChain(torch.nn.Module):
    """The product of four matrices, written as Python evaluates it (left to right)."""

    def forward(
        self, a: torch.Tensor, b: torch.Tensor, c: torch.Tensor, d: torch.Tensor
    ) -> torch.Tensor:
        """Return `a @ b @ c @ d`."""
        return a @ b @ c @ d


def make_inputs(seed: int) -> tuple[torch.Tensor, ...]:
    """A 100x2, B 2x100, C 100x2, D 2x100, standard normal."""
    generator = torch.Generator().manual_seed(seed)
    shapes = [(100, 2), (2, 100), (100, 2), (2, 100)]
    return tuple(torch.randn(shape, generator=generator) for shape in shapes)


EXAMPLE = Example(
    name="e1_matrix_chain",
    title="matrix chain A@B@C@D (100x2, 2x100, 100x2, 2x100)",
    make_model=MatrixChain,
    make_inputs=make_inputs,
)
