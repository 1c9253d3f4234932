"""E3 with PyTorch's modules: `nn.BatchNorm1d` in training mode, then `nn.ReLU`.

Same function as `e3_batchnorm_relu` (batch mean and biased variance over dim
0, eps = 1e-5, affine gamma and beta), plus what training mode also does: the
running statistics are updated, `running = 0.9 * running + 0.1 * batch` (with
the unbiased variance), and the batch counter is incremented.

Shapes: x [512, 256] fp32 (the mission's scale is [4096, 1024]).

The imported `@main` returns the updated buffers before the output: the
running mean, the running variance and the i64 batch counter, then relu(...).
torch-mlir computes the variance in f64 here.  The optimised program must keep
those extra results exact.

Expected optimisation: as for E3, statistics and normalisation in as few
kernels as the shape allows, the running-statistics update riding along with
the statistics kernel.
"""

from __future__ import annotations

import torch

from mirage_mlir.examples import Example
from mirage_mlir.examples.e3_batchnorm_relu import BATCH, FEATURES, make_inputs


class BatchNormModuleReLU(torch.nn.Module):
    """`nn.BatchNorm1d` followed by `nn.ReLU`."""

    def __init__(self, features: int = FEATURES, seed: int = 0) -> None:
        """Give the affine parameters and the running statistics non-trivial values."""
        super().__init__()
        self.norm = torch.nn.BatchNorm1d(features)
        self.relu = torch.nn.ReLU()
        generator = torch.Generator().manual_seed(seed)
        with torch.no_grad():
            self.norm.weight.copy_(1.0 + 0.1 * torch.randn(features, generator=generator))
            self.norm.bias.copy_(0.1 * torch.randn(features, generator=generator))
            self.norm.running_mean.copy_(0.1 * torch.randn(features, generator=generator))
            self.norm.running_var.copy_(1.0 + 0.1 * torch.rand(features, generator=generator))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Return `relu(batch_norm(x))`; in training mode this also updates the statistics."""
        return self.relu(self.norm(x))


def make_model() -> BatchNormModuleReLU:
    """The model in training mode, so that BatchNorm uses (and records) batch statistics."""
    return BatchNormModuleReLU().train()


EXAMPLE = Example(
    name="e3_batchnorm_module",
    title=f"nn.BatchNorm1d (train) + nn.ReLU, x [{BATCH}, {FEATURES}]",
    make_model=make_model,
    make_inputs=make_inputs,
)
