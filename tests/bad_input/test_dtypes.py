"""f64, f16 and bf16 programs, and integer tensors mixed with float ones, through eqsat-optimize.

Each program is imported from PyTorch in that dtype (torch-mlir writes f16/bf16 products as
narrow operands into an f32 accumulator plus a `truncf`, and f16/bf16 softmax in f32 between
an `extf` and a `truncf`). The optimised program must keep every element type (no f32 where
the input had none, the function's signature unchanged), pass the pass's own `verify`, and
match the original on random inputs within the dtype's tolerance:

    f64   1e-10 abs + 1e-10 rel
    f16   2**-7 abs + 2**-7 rel   (8 units in the last place at 1.0)
    bf16  2**-4 abs + 2**-4 rel   (8 units in the last place at 1.0)

bf16 originals run through an f32-boundary wrapper, since MLIR's execution engine takes no
bf16 arrays.
"""

from __future__ import annotations

import json

import pytest

# Seconds per case: run by `make test`, left out of `make test-fast`.
pytestmark = pytest.mark.slow

pytest.importorskip("torch_mlir")

TOLERANCES = {"f64": 1e-10, "f16": 2.0**-7, "bf16": 2.0**-4}

#: E2's shape with a shorter sequence, so the reference (naive loops) stays quick.
ATTENTION_SHAPE = (1, 128, 64)


def _modules():
    import torch

    from mirage_mlir.examples.e2_attention import Attention

    class Chain(torch.nn.Module):
        def forward(self, a, b, c, d):
            return a @ b @ c @ d

    class Softmax(torch.nn.Module):
        def forward(self, x):
            return torch.softmax(x, dim=-1)

    return {
        "chain": (Chain(), [(32, 2), (2, 32), (32, 2), (2, 32)]),
        "softmax": (Softmax(), [(16, 64)]),
        "attention": (Attention(), [ATTENTION_SHAPE] * 3),
    }


@pytest.fixture(scope="module")
def imported():
    """(program, dtype) -> linalg text imported by torch-mlir."""
    import torch

    import mirage_mlir

    dtypes = {"f64": torch.float64, "f16": torch.float16, "bf16": torch.bfloat16}
    texts = {}
    for program, (model, shapes) in _modules().items():
        for name, dtype in dtypes.items():
            generator = torch.Generator().manual_seed(0)
            inputs = [torch.randn(s, generator=generator).to(dtype) for s in shapes]
            texts[program, name] = mirage_mlir.import_torch(model, *inputs)
    return texts


def _optimize(tmp_path, text: str, options: str) -> tuple[str, dict]:
    from mirage_mlir.tools.mirage_mlir_opt import main

    path = tmp_path / "in.mlir"
    path.write_text(text)
    report = tmp_path / "report.json"
    status = main([str(path), "-o", str(tmp_path / "out.mlir"), "-p",
                   f'eqsat-optimize{{{options} verify=true report="{report}"}}'])
    assert status == 0
    (entry,) = json.loads(report.read_text())["functions"]
    return (tmp_path / "out.mlir").read_text(), entry


@pytest.mark.parametrize("dtype", ["f64", "f16", "bf16"])
@pytest.mark.parametrize("program", ["chain", "softmax", "attention"])
def test_float_types_are_kept_and_results_agree(helpers, imported, tmp_path, program, dtype):
    text = imported[program, dtype]
    out, entry = _optimize(tmp_path, text, "target=h100")
    assert entry["verified"]
    assert helpers.element_types(out) <= helpers.element_types(text)
    assert dtype in helpers.element_types(out)
    if dtype == "f64":
        assert "f32" not in helpers.element_types(out)
    original, optimized = (helpers.function(helpers.parse(t)) for t in (text, out))
    assert optimized.function_type == original.function_type
    tolerance = TOLERANCES[dtype]
    helpers.same_results(text, out, rtol=tolerance, atol=tolerance)


@pytest.mark.parametrize("dtype", ["f64", "f16", "bf16"])
def test_a_chain_of_products_is_reordered_in_every_float_type(imported, tmp_path, dtype):
    """Left to right costs 2*(32*2*32 + 32*32*2 + 32*2*32) FLOPs; A@((B@C)@D) 2*(2*32*2 +
    2*2*32 + 32*2*32)."""
    out, entry = _optimize(tmp_path, imported["chain", dtype], "target=flops")
    assert (entry["flops_before"], entry["flops_after"]) == (12288, 4608)
    if dtype != "f64":
        # Each product still accumulates in f32 and is rounded once, as torch-mlir wrote it.
        assert out.count("linalg.matmul") == out.count("arith.truncf") == 3


@pytest.mark.parametrize("dtype", ["f64", "f16", "bf16"])
def test_softmax_becomes_one_kernel_in_every_float_type(imported, tmp_path, dtype):
    out, entry = _optimize(tmp_path, imported["softmax", dtype], "target=h100")
    assert "mirage.softmax" in out and entry["kernels_after"] == 1


def test_f64_attention_becomes_one_attention_op(imported, tmp_path):
    out, _ = _optimize(tmp_path, imported["attention", "f64"], "target=h100")
    assert "mirage.attention" in out and "tensor<1x128x128xf64>" not in out


def _integer_modules():
    import torch

    class IndexAsFloat(torch.nn.Module):
        def forward(self, x, idx):
            return (x @ x.T) + idx.to(torch.float32) * 0.5

    class Embedding(torch.nn.Module):
        def forward(self, table, idx, w):
            return torch.nn.functional.embedding(idx, table) @ w

    class MaskFromIndex(torch.nn.Module):
        def forward(self, x, idx):
            return torch.softmax(x * (idx > 2), dim=-1) + (idx * 3).to(torch.float32)

    generator = torch.Generator().manual_seed(0)
    return {
        "index-as-float": (IndexAsFloat(), (torch.randn(4, 4, generator=generator),
                                            torch.arange(16).reshape(4, 4))),
        "embedding": (Embedding(), (torch.randn(10, 8, generator=generator),
                                    torch.tensor([[1, 3], [9, 0]]),
                                    torch.randn(8, 5, generator=generator))),
        "mask-from-index": (MaskFromIndex(), (torch.randn(4, 6, generator=generator),
                                              torch.randint(0, 5, (4, 6), generator=generator))),
    }


@pytest.mark.parametrize("program", ["index-as-float", "embedding", "mask-from-index"])
def test_integer_tensors_feeding_float_ops_pass(helpers, tmp_path, program):
    """An i64 index tensor converted to float, gathered by (an embedding, whose bounds checks
    are `cf.assert`s: side effects kept in place), or compared into a mask."""
    import mirage_mlir

    model, inputs = _integer_modules()[program]
    text = mirage_mlir.import_torch(model, *inputs)
    out, entry = _optimize(tmp_path, text, "target=h100")
    assert entry["verified"]
    assert "i64" in helpers.element_types(out)
    assert helpers.element_types(out) <= helpers.element_types(text) | {"i1"}
    assert out.count("cf.assert") == text.count("cf.assert")
    helpers.same_results(text, out)
