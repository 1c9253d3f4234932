"""What decoders import to beside linalg, run by the CPU runtime: torch-mlir's scans
(cumsum, as Hugging Face computes position ids) and sorts, `tensor.concat`, generics
that yield a value of the enclosing function, and `linalg.broadcast`."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from mirage_mlir.driver.importer import import_torch
from mirage_mlir.driver.torch_executor import TorchProgram
from mirage_mlir.driver.torch_generic import TorchExecutorError


class Scans(nn.Module):
    def forward(self, x: torch.Tensor, ids: torch.Tensor) -> tuple:
        positions = torch.cumsum(ids, dim=1) * ids - 1
        return torch.cumsum(x, dim=0), torch.cumprod(x, dim=1), positions


class Sorts(nn.Module):
    def forward(self, x: torch.Tensor) -> tuple:
        ascending = torch.sort(x, dim=-1)
        descending = torch.sort(x, dim=0, descending=True)
        return (
            ascending.values,
            ascending.indices,
            descending.values,
            descending.indices,
        )


class Concats(nn.Module):
    def forward(self, x: torch.Tensor, ids: torch.Tensor) -> tuple:
        first = torch.zeros(ids.shape[0], 1, dtype=ids.dtype)
        return torch.cat([first, ids], dim=1), torch.cat([x, -x], dim=0)


def _run(model: nn.Module, *inputs: torch.Tensor) -> None:
    program = TorchProgram.from_text(import_torch(model.eval(), *inputs))
    got = program(*inputs)
    with torch.no_grad():
        expected = model(*inputs)
    assert len(got) == len(expected)
    for g, e in zip(got, expected):
        assert g.dtype == e.dtype and g.shape == e.shape
        torch.testing.assert_close(g, e, rtol=1e-5, atol=1e-5)


def test_scans_and_position_ids() -> None:
    torch.manual_seed(0)
    ids = torch.tensor([[0, 1, 1, 1, 0], [1, 1, 0, 1, 1]])
    _run(Scans(), torch.randn(3, 5), ids)


def test_sorts_in_both_orders() -> None:
    torch.manual_seed(0)
    # Distinct values, so the order is the same whatever sort is used.
    x = torch.randperm(24).reshape(4, 6).float()
    _run(Sorts(), x)


def test_concatenations() -> None:
    _run(Concats(), torch.randn(2, 3), torch.tensor([[3, 4], [5, 6]]))


def test_unsupported_scan_is_a_clear_error() -> None:
    text = """
func.func @main(%x: tensor<4xf32>) -> tensor<4xf32> {
  %cst = arith.constant 0.0 : f32
  %e = tensor.empty() : tensor<4xf32>
  %a = tensor.empty() : tensor<f32>
  %r:2 = tm_tensor.scan dimension(0) inclusive(true) ins(%x : tensor<4xf32>) outs(%e, %a : tensor<4xf32>, tensor<f32>) {
  ^bb0(%p: f32, %q: f32):
    %s = arith.subf %p, %q : f32
    tm_tensor.yield %s : f32
  } -> tensor<4xf32>, tensor<f32>
  return %r#0 : tensor<4xf32>
}
"""
    with pytest.raises(
        TorchExecutorError, match="tm_tensor.scan combining by arith.subf"
    ):
        TorchProgram.from_text(text)


def test_linalg_broadcast() -> None:
    text = """
func.func @main(%x: tensor<3xf32>) -> tensor<2x3x4xf32> {
  %e = tensor.empty() : tensor<2x3x4xf32>
  %b = linalg.broadcast ins(%x : tensor<3xf32>) outs(%e : tensor<2x3x4xf32>) dimensions = [0, 2]
  return %b : tensor<2x3x4xf32>
}
"""
    x = torch.randn(3)
    (got,) = TorchProgram.from_text(text)(x)
    torch.testing.assert_close(got, x.reshape(1, 3, 1).expand(2, 3, 4))
