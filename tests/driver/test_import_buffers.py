"""Models with non-persistent buffers import, and the user's model is left as it was.

`register_buffer(..., persistent=False)` keeps a buffer out of the state dict (Hugging Face
Llama's rotary `inv_freq`, BERT's `position_ids`); torch-mlir's importer looked every buffer
up there and failed with "Could not find state mapping for buffer".
"""

from __future__ import annotations

import numpy as np
import torch

import mirage_mlir as mm


class ScaledLinear(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.register_buffer("scale", torch.arange(8.0), persistent=False)
        self.register_buffer("shift", torch.ones(8))
        self.linear = torch.nn.Linear(8, 8)

    def forward(self, x):
        return self.linear(x) * self.scale + self.shift


class Rotary(torch.nn.Module):
    """Llama-style rotary embedding: frequencies in a non-persistent buffer."""

    def __init__(self, dim: int = 16) -> None:
        super().__init__()
        inv_freq = 1.0 / (10000 ** (torch.arange(0, dim, 2).float() / dim))
        self.register_buffer("inv_freq", inv_freq, persistent=False)

    def forward(self, x):  # x [batch, seq, dim]
        positions = torch.arange(x.shape[1], dtype=torch.float32)
        angles = positions[:, None] * self.inv_freq[None, :]
        emb = torch.cat([angles, angles], dim=-1)
        half = x.shape[-1] // 2
        rotated = torch.cat([-x[..., half:], x[..., :half]], dim=-1)
        return x * emb.cos() + rotated * emb.sin()


def test_a_non_persistent_buffer_imports_and_computes_what_torch_does() -> None:
    model, x = ScaledLinear(), torch.randn(2, 8)
    text = mm.import_torch(model, x)
    (got,) = mm.execute_mlir(text, x.numpy())
    np.testing.assert_allclose(got, model(x).detach().numpy(), rtol=1e-5, atol=1e-6)
    # The user's model keeps its buffers as they were declared.
    assert "scale" not in model.state_dict() and "shift" in model.state_dict()


def test_rotary_frequencies_in_a_non_persistent_buffer() -> None:
    model, x = Rotary(), torch.randn(2, 6, 16)
    text = mm.import_torch(model, x)
    (got,) = mm.execute_mlir(text, x.numpy())
    np.testing.assert_allclose(got, model(x).numpy(), rtol=1e-5, atol=1e-5)
    compiled = mm.compile(model, x)
    np.testing.assert_allclose(compiled(x).numpy(), model(x).numpy(), rtol=1e-5, atol=1e-5)
