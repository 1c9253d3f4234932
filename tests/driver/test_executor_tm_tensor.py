"""torch-mlir's own ops (tm_tensor: sort, topk, scan, scatter) run through `execute_mlir`.

torch lowers these to its tm_tensor dialect, which upstream MLIR does not know; the
reference executor loads the dialect and runs torch-mlir's bufferization and loop lowering
for them (driver/cpu_lowering.py), so a model that sorts or scans runs like any other.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

import mirage_mlir as mm


class SortThenScan(torch.nn.Module):
    def forward(self, x, y):
        values, _ = torch.sort(x @ y, dim=-1, descending=True)
        return values.cumsum(-1)


class TopK(torch.nn.Module):
    def forward(self, x):
        values, indices = torch.topk(x, 3, dim=-1)
        return values, indices


class ScatterAdd(torch.nn.Module):
    def forward(self, x, index, src):
        return x.scatter_add(1, index, src)


CASES = {
    "sort_then_scan": (
        SortThenScan(),
        lambda g: (torch.randn(4, 8, generator=g), torch.randn(8, 6, generator=g)),
    ),
    "topk": (TopK(), lambda g: (torch.randn(5, 9, generator=g),)),
    "scatter_add": (
        ScatterAdd(),
        lambda g: (
            torch.randn(3, 6, generator=g),
            torch.randint(0, 6, (3, 4), generator=g),
            torch.randn(3, 4, generator=g),
        ),
    ),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_tm_tensor_ops_run_like_torch(name: str) -> None:
    model, make_inputs = CASES[name]
    inputs = make_inputs(torch.Generator().manual_seed(0))
    text = mm.import_torch(model, *inputs)
    assert "tm_tensor." in text
    got = mm.execute_mlir(text, *(t.numpy() for t in inputs))
    want = model(*inputs)
    want = want if isinstance(want, tuple) else (want,)
    assert len(got) == len(want)
    for g, w in zip(got, want):
        np.testing.assert_allclose(g, w.numpy(), rtol=1e-5, atol=1e-5)


def test_a_module_without_tm_tensor_ops_keeps_the_plain_bufferization() -> None:
    from mirage_mlir.driver import cpu_lowering

    text = mm.import_torch(torch.nn.Linear(4, 3), torch.randn(2, 4))
    stages: list[str] = []
    from torch_mlir import ir

    with ir.Context():
        module = ir.Module.parse(text)
        cpu_lowering.lower_to_llvm(module, lambda stage: stages.append(stage.passes))
    assert not any("tm-tensor" in s or "copy-before-write" in s for s in stages)
