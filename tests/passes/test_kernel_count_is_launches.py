"""The optimiser's kernel count is what the lowered plan launches: also where one node is
several ops, where an op has several results, and where a group reads a boolean value.
"""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")

import mirage_mlir  # noqa: E402
from mirage_mlir.lowering.program import lower_module  # noqa: E402


class HalfLinear(torch.nn.Module):
    """A matmul of f16 operands: torch-mlir accumulates in f32 and casts back (two ops)."""

    def forward(self, x, w):
        return x @ w


class TopK(torch.nn.Module):
    """A sort (values and indices: two results of one op) between two elementwise ops."""

    def forward(self, x):
        values, indices = torch.sort(x * 2.0, dim=-1, descending=True)
        return values + indices.to(values.dtype)


class MaskedScale(torch.nn.Module):
    """Elementwise ops that read a boolean value: no kernel may take an i1 operand."""

    def forward(self, x, y):
        return torch.where(x > y, x * 3.0, y - 1.0) + 1.0


CASES = {
    "f16 matmul": (
        HalfLinear(),
        (torch.randn(16, 64).half(), torch.randn(64, 32).half()),
    ),
    "sort": (TopK(), (torch.randn(8, 16),)),
    "boolean operand": (MaskedScale(), (torch.randn(8, 16), torch.randn(8, 16))),
}


@pytest.mark.parametrize("name", CASES)
def test_kernels_after_is_the_plans_launches(name):
    model, inputs = CASES[name]
    result = mirage_mlir.optimize(
        mirage_mlir.import_torch(model, *inputs), target="h100"
    )
    (entry,) = result.report["functions"]
    assert len(lower_module(result.mlir).launches()) == entry["kernels_after"]
