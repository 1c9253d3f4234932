"""E3 BatchNorm with training-mode statistics, then ReLU, written by hand.

`relu((x - mean) / sqrt(var + eps) * gamma + beta)`, with mean and the biased
variance taken over dim 0 (the batch) of x [N, C], eps = 1e-5, and gamma, beta
[C] parameters.

Shapes: x [512, 256] fp32.  The mission's scale is [4096, 1024]; the example
inputs are smaller so that the CPU reference executor runs it in the tests in
well under a second.  Build `BatchNormReLU(1024)` for the full size.

BatchNorm and ReLU do not commute: `batch_norm(relu(x))` is another function
and must never be merged with this one.

Expected optimisation: statistics and normalisation in as few kernels as the
shape allows (one where a column block fits on chip), x read at most twice,
the output written once, and no intermediate tensor in memory.
"""

from __future__ import annotations

import torch

from mirage_mlir.examples import Example

FEATURES = 256
BATCH = 512


class BatchNormReLU(torch.nn.Module):
    """Batch statistics over dim 0, normalisation with a learned affine map, ReLU."""

    def __init__(self, features: int = FEATURES, eps: float = 1e-5, seed: int = 0) -> None:
        """Draw gamma near 1 and beta near 0 from `seed`, so that neither is trivial."""
        super().__init__()
        generator = torch.Generator().manual_seed(seed)
        self.eps = eps
        self.gamma = torch.nn.Parameter(1.0 + 0.1 * torch.randn(features, generator=generator))
        self.beta = torch.nn.Parameter(0.1 * torch.randn(features, generator=generator))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Normalise each column of x by its batch mean and biased variance, then ReLU."""
        mean = x.mean(dim=0, keepdim=True)
        var = ((x - mean) ** 2).mean(dim=0, keepdim=True)
        normalised = (x - mean) / torch.sqrt(var + self.eps)
        return torch.relu(normalised * self.gamma + self.beta)


def make_inputs(seed: int) -> tuple[torch.Tensor]:
    """x [512, 256]: per-column offsets and spreads, so that normalising matters."""
    generator = torch.Generator().manual_seed(seed)
    offsets = torch.randn(FEATURES, generator=generator)
    spreads = 0.5 + torch.rand(FEATURES, generator=generator)
    return (offsets + spreads * torch.randn(BATCH, FEATURES, generator=generator),)


EXAMPLE = Example(
    name="e3_batchnorm_relu",
    title="hand-written BatchNorm (batch statistics) + ReLU, x [512, 256]",
    make_model=BatchNormReLU,
    make_inputs=make_inputs,
)
