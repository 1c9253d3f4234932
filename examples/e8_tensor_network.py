"""E8 tensor-network einsum: `einsum("abcd,bcef,cdfg,degh->ah", T1, T2, T3, T4)`.

Shapes: T1..T4 [12, 12, 12, 12] fp32 inputs (all eight indices have size 12).

Any pair of operands may be contracted first, so there are 15 contraction
trees.  `torch.einsum` would ask opt_einsum for the best tree while tracing;
the model turns that off, so the import holds the left-to-right contraction
((T1 T2) T3) T4.

Expected optimisation: the same cost as opt_einsum's 'optimal' path, and on
the CPU the optimised plan runs orders of magnitude faster than
`numpy.einsum` without optimisation (which loops over all 12^8 index
combinations).
"""

from __future__ import annotations

import torch

from mirage_mlir.examples import Example

EQUATION = "abcd,bcef,cdfg,degh->ah"
DIM = 12


class TensorNetwork(torch.nn.Module):
    """Four rank-4 tensors contracted to a matrix by one einsum."""

    def forward(
        self, t1: torch.Tensor, t2: torch.Tensor, t3: torch.Tensor, t4: torch.Tensor
    ) -> torch.Tensor:
        """Return `einsum("abcd,bcef,cdfg,degh->ah", t1, t2, t3, t4)`, left to right."""
        with torch.backends.opt_einsum.flags(enabled=False):
            return torch.einsum(EQUATION, t1, t2, t3, t4)


def make_inputs(seed: int) -> tuple[torch.Tensor, ...]:
    """T1..T4 [12, 12, 12, 12], normal with standard deviation 1/12 to keep sums moderate."""
    generator = torch.Generator().manual_seed(seed)
    return tuple(torch.randn((DIM,) * 4, generator=generator) / DIM for _ in range(4))


EXAMPLE = Example(
    name="e8_tensor_network",
    title='tensor network einsum "abcd,bcef,cdfg,degh->ah", all dims 12',
    make_model=TensorNetwork,
    make_inputs=make_inputs,
)
