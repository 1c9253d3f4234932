"""A view of a value whose strides torch-mlir's decompositions changed still imports.

GPT-2 merges its attention heads with transpose + reshape and then `view`s the result for
its projection. torch-mlir re-decomposes scaled_dot_product_attention with other output
strides than eager, and the view then failed inside the importer ("Cannot view a tensor with
shape [4, 16, 64] and strides (64, 256, 1)"). The importer makes such views reshapes.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

import mirage_mlir as mm


class MergedHeadsProjection(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.weight = torch.nn.Parameter(torch.randn(64, 64))
        self.bias = torch.nn.Parameter(torch.randn(64))

    def forward(self, q, k, v):
        o = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        o = o.transpose(1, 2).reshape(4, 16, 64)
        return torch.addmm(self.bias, o.view(-1, 64), self.weight)


class ViewThenWriteInPlace(torch.nn.Module):
    """A program that writes through a view keeps its views (they alias)."""

    def forward(self, x):
        y = x.clone()
        y.view(-1)[0] = 5.0
        return y * 2


def test_the_view_after_attention_imports_and_matches_eager() -> None:
    q, k, v = (
        torch.randn(4, 4, 16, 16, generator=torch.Generator().manual_seed(i))
        for i in range(3)
    )
    model = MergedHeadsProjection()
    text = mm.import_torch(model, q, k, v)
    (got,) = mm.execute_mlir(text, q.numpy(), k.numpy(), v.numpy())
    np.testing.assert_allclose(
        got, model(q, k, v).detach().numpy(), rtol=1e-4, atol=1e-4
    )


def test_a_write_through_a_view_still_computes_what_torch_does() -> None:
    x = torch.randn(3, 4)
    model = ViewThenWriteInPlace()
    text = mm.import_torch(model, x)
    (got,) = mm.execute_mlir(text, x.numpy())
    np.testing.assert_allclose(got, model(x).numpy())
