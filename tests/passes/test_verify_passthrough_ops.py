"""`verify` checks functions that hold ops the optimiser passes through untouched.

The mirage interpreter has no semantics for torch-mlir's tm_tensor ops; the optimised
function is then run through MLIR's execution engine after convert-mirage-to-linalg, so
verify=true still judges it (against the original's float64 twin) instead of failing.
"""

from __future__ import annotations

import torch

import mirage_mlir as mm


class ChainThenSort(torch.nn.Module):
    def forward(self, a, b, c):
        product = a @ b @ c  # reordered by the optimiser
        values, _ = torch.sort(product, dim=-1)
        return values.cumsum(-1)


def test_verify_runs_a_function_with_tm_tensor_ops() -> None:
    inputs = (torch.randn(32, 2), torch.randn(2, 32), torch.randn(32, 16))
    text = mm.import_torch(ChainThenSort(), *inputs)
    result = mm.optimize(text, target="flops", verify=True)
    assert "tm_tensor.sort" in result.mlir and "tm_tensor.scan" in result.mlir
    (function,) = result.report["functions"]
    assert function["kept_input"] is False
    assert function["verify_reference"] == "float64"
    assert max(function["max_abs_error"]) < 1e-4
