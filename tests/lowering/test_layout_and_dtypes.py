"""convert-mirage-to-triton: layout ops, matmul prologues, and f16/bf16 kernels.

Each case lowers a module, runs the launch plan in the NumPy tt interpreter
and compares with NumPy (f32) or eager PyTorch (f16/bf16 modules imported
through torch-mlir); every kernel is also compiled to a cubin for sm_90.
"""

from __future__ import annotations

import numpy as np
import pytest

from mirage_mlir.lowering.program import lower_module, run_plan_interpreted



_SLICE_CONCAT = """
func.func @main(%x: tensor<6x40xf32>, %y: tensor<6x24xf32>) -> tensor<6x36xf32> {
  %s = mirage.slice %x[1, 3] [3, 12] [2, 3] : tensor<6x40xf32> to tensor<3x12xf32>
  %t = tensor.extract_slice %y[0, 4] [3, 20] [1, 1] : tensor<6x24xf32> to tensor<3x20xf32>
  %u = tensor.extract_slice %x[3, 0] [3, 4] [1, 1] : tensor<6x40xf32> to tensor<3x4xf32>
  %c = mirage.concat %s, %t, %u axis = 1 : tensor<3x12xf32>, tensor<3x20xf32>, tensor<3x4xf32> -> tensor<3x36xf32>
  %r = mirage.concat %c, %c axis = -2 : tensor<3x36xf32>, tensor<3x36xf32> -> tensor<6x36xf32>
  func.return %r : tensor<6x36xf32>
}
"""


def test_slices_and_concats_are_copy_kernels():
    rng = np.random.default_rng(0)
    x, y = rng.standard_normal((6, 40), np.float32), rng.standard_normal((6, 24), np.float32)
    lowered = lower_module(_SLICE_CONCAT, block_elementwise=64)
    assert len(lowered.launches()) == 5
    (out,) = run_plan_interpreted(lowered, x, y)
    c = np.concatenate([x[1:6:2, 3:37:3], y[0:3, 4:24], x[3:6, 0:4]], axis=1)
    np.testing.assert_array_equal(out, np.concatenate([c, c], axis=0))


_FOLDED_WEIGHTS = """
func.func @main(%x: tensor<5x8xf32>) -> tensor<5x12xf32> {
  %wq = arith.constant dense<[[1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0], [0.5, -1.0, 0.0, 2.0, 1.0, 1.0, -3.0, 0.25], [2.0, 0.0, 1.0, 0.0, -1.0, 0.0, 1.0, 0.0], [1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0]]> : tensor<4x8xf32>
  %wk = arith.constant dense<[[0.0, 1.0, 0.0, 1.0, 0.0, 1.0, 0.0, 1.0], [3.0, -2.0, 1.0, 0.0, 0.0, 0.0, 0.0, 1.5], [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8], [-1.0, -1.0, 2.0, 2.0, -1.0, -1.0, 2.0, 2.0]]> : tensor<4x8xf32>
  %wv = arith.constant dense<0.5> : tensor<4x8xf32>
  %w = mirage.concat %wq, %wk, %wv axis = -2 : tensor<4x8xf32>, tensor<4x8xf32>, tensor<4x8xf32> -> tensor<12x8xf32>
  %e = tensor.empty() : tensor<8x12xf32>
  %wt = linalg.transpose ins(%w : tensor<12x8xf32>) outs(%e : tensor<8x12xf32>) permutation = [1, 0]
  %zero = arith.constant 0.000000e+00 : f32
  %o = tensor.empty() : tensor<5x12xf32>
  %f = linalg.fill ins(%zero : f32) outs(%o : tensor<5x12xf32>) -> tensor<5x12xf32>
  %y = linalg.matmul ins(%x, %wt : tensor<5x8xf32>, tensor<8x12xf32>) outs(%f : tensor<5x12xf32>) -> tensor<5x12xf32>
  func.return %y : tensor<5x12xf32>
}
"""


def test_concat_and_transpose_of_weights_fold_into_one_constant():
    from mirage_mlir.lowering.program import constant_array

    lowered = lower_module(_FOLDED_WEIGHTS, input_precision="ieee")
    (launch,) = lowered.launches()
    assert launch.kernel_name == "main_matmul_0"
    names = [op.name for op in lowered.plan.walk()]
    assert "mirage.concat" not in names and "linalg.transpose" not in names
    weight = launch.ins[1]
    assert weight.owner.name == "arith.constant"
    folded = constant_array(weight.owner.properties["value"], weight.type)
    x = np.random.default_rng(1).standard_normal((5, 8)).astype(np.float32)
    (out,) = run_plan_interpreted(lowered, x)
    w = np.concatenate([constant_array(op.properties["value"], op.results[0].type)
                        for op in _constants(_FOLDED_WEIGHTS)], axis=0)
    np.testing.assert_array_equal(folded, w.T)
    assert np.abs(out - x @ w.T).max() < 1e-5


def _constants(text: str):
    from mirage_mlir.dialects.context import parse_mlir

    module = parse_mlir(text)
    return [op for op in module.walk() if op.name == "arith.constant"
            and str(op.results[0].type) == "tensor<4x8xf32>"]


_MIRAGE_MATMUL = """
func.func @main(%a: tensor<3x1x20x30xf32>, %b: tensor<4x40x30xf32>, %c: tensor<20x17xf32>) -> (tensor<3x4x20x40xf32>, tensor<3x1x30x17xf32>) {
  %p = mirage.matmul %a, %b transpose_rhs : tensor<3x1x20x30xf32>, tensor<4x40x30xf32> -> tensor<3x4x20x40xf32>
  %q = mirage.matmul %a, %c transpose_lhs : tensor<3x1x20x30xf32>, tensor<20x17xf32> -> tensor<3x1x30x17xf32>
  func.return %p, %q : tensor<3x4x20x40xf32>, tensor<3x1x30x17xf32>
}
"""


def test_mirage_matmul_broadcasts_batches_and_reads_transposes_strided():
    rng = np.random.default_rng(2)
    a = rng.standard_normal((3, 1, 20, 30)).astype(np.float32)
    b = rng.standard_normal((4, 40, 30)).astype(np.float32)
    c = rng.standard_normal((20, 17)).astype(np.float32)
    lowered = lower_module(_MIRAGE_MATMUL, input_precision="ieee", block_m=16, block_n=16, block_k=16)
    assert [l.grid_sizes for l in lowered.launches()] == [(2, 3, 12), (2, 2, 3)]
    p, q = run_plan_interpreted(lowered, a, b, c)
    assert np.abs(p - a @ np.swapaxes(b, -1, -2)).max() < 1e-4
    assert np.abs(q - np.swapaxes(a, -1, -2) @ c).max() < 1e-4


_PROLOGUE = """
#id = affine_map<(d0, d1) -> (d0, d1)>
#row = affine_map<(d0, d1) -> (d1)>
func.func @main(%x: tensor<33x40xf32>, %s: tensor<40xf32>, %w: tensor<24x40xf32>) -> tensor<33x24xf32> {
  %y = mirage.kernel (%x, %s, %w) : (tensor<33x40xf32>, tensor<40xf32>, tensor<24x40xf32>) -> tensor<33x24xf32> attributes {template = "matmul"} {
  ^bb0(%a: tensor<33x40xf32>, %g: tensor<40xf32>, %v: tensor<24x40xf32>):
    %e = tensor.empty() : tensor<33x40xf32>
    %scaled = linalg.generic {indexing_maps = [#id, #row, #id], iterator_types = ["parallel", "parallel"]}
        ins(%a, %g : tensor<33x40xf32>, tensor<40xf32>) outs(%e : tensor<33x40xf32>) {
    ^bb0(%p: f32, %q: f32, %o: f32):
      %m = arith.mulf %p, %q : f32
      %t = math.tanh %m : f32
      linalg.yield %t : f32
    } -> tensor<33x40xf32>
    %et = tensor.empty() : tensor<40x24xf32>
    %vt = linalg.transpose ins(%v : tensor<24x40xf32>) outs(%et : tensor<40x24xf32>) permutation = [1, 0]
    %zero = arith.constant 0.000000e+00 : f32
    %o = tensor.empty() : tensor<33x24xf32>
    %f = linalg.fill ins(%zero : f32) outs(%o : tensor<33x24xf32>) -> tensor<33x24xf32>
    %r = linalg.matmul ins(%scaled, %vt : tensor<33x40xf32>, tensor<40x24xf32>) outs(%f : tensor<33x24xf32>) -> tensor<33x24xf32>
    mirage.yield %r : tensor<33x24xf32>
  }
  func.return %y : tensor<33x24xf32>
}
"""


def test_matmul_prologue_runs_in_the_k_loop():
    rng = np.random.default_rng(3)
    x = rng.standard_normal((33, 40)).astype(np.float32)
    s = rng.standard_normal(40).astype(np.float32)
    w = rng.standard_normal((24, 40)).astype(np.float32)
    lowered = lower_module(_PROLOGUE, input_precision="ieee", block_m=16, block_n=16, block_k=16)
    (launch,) = lowered.launches()
    assert launch.grid_sizes == (3, 2, 1)
    (ttir,) = [t for _, t in lowered.kernels]
    # x, s and w are read inside the K loop; only the result is stored.
    assert ttir.count('"tt.load"') == 3 and ttir.count('"tt.store"') == 1
    (out,) = run_plan_interpreted(lowered, x, s, w)
    assert np.abs(out - np.tanh(x * s) @ w.T).max() < 1e-4


class _Mixed:
    """Elementwise, row-reduction and matmul work in one small module."""

    @staticmethod
    def module():
        import torch

        class Block(torch.nn.Module):
            def forward(self, x, w, b):
                h = torch.tanh(x @ w + b)
                return torch.softmax(h * 2.0, dim=-1), torch.relu(x) * 0.5 + 1.0

        return Block()


_TOLERANCES = {"float16": 1e-2, "bfloat16": 5e-2}


@pytest.fixture(scope="module", params=["float16", "bfloat16"])
def narrow_program(request):
    """A module imported with f16 or bf16 inputs, optimised and lowered."""
    import torch

    import mirage_mlir

    dtype = getattr(torch, request.param)
    torch.manual_seed(0)
    model = _Mixed.module().to(dtype)
    inputs = (torch.randn(40, 48, dtype=dtype), torch.randn(48, 70, dtype=dtype) * 0.2,
              torch.randn(70, dtype=dtype))
    text = mirage_mlir.import_torch(model, *inputs)
    lowered = lower_module(mirage_mlir.optimize(text).mlir)
    with torch.no_grad():
        expected = [t.float().numpy() for t in model(*inputs)]
    arrays = [t.float().numpy() if dtype == torch.bfloat16 else t.numpy() for t in inputs]
    return request.param, lowered, arrays, expected


def test_narrow_float_plan_matches_torch(narrow_program):
    name, lowered, inputs, expected = narrow_program
    templates = {l.kernel_name.split("_", 1)[1].rsplit("_", 1)[0] for l in lowered.launches()}
    assert {"matmul", "row_reduction", "elementwise"} <= templates, templates
    outputs = run_plan_interpreted(lowered, *inputs)
    for out, ref in zip(outputs, expected):
        assert out.dtype == (np.float16 if name == "float16" else np.float32)
        error = np.abs(out.astype(np.float32) - ref).max() / max(1.0, np.abs(ref).max())
        assert error <= _TOLERANCES[name], error


def test_narrow_float_kernels_load_narrow_and_compute_in_f32(narrow_program):
    name, lowered, _, _ = narrow_program
    short = {"float16": "f16", "bfloat16": "bf16"}[name]
    for kernel_name, ttir in lowered.kernels:
        assert f"!tt.ptr<{short}>" in ttir, kernel_name
        if "matmul" in kernel_name:
            # f16/bf16 tiles into tt.dot, f32 accumulator.
            (dot,) = [line for line in ttir.splitlines() if '"tt.dot"' in line]
            operands, result = dot.rsplit(" : (", 1)[1].split(") -> ")
            a, b, c = operands.split(", ")
            assert a.endswith(f"x{short}>") and b.endswith(f"x{short}>"), dot
            assert c.endswith("xf32>") and result.endswith("xf32>"), dot
        else:
            assert '"arith.extf"' in ttir and '"arith.truncf"' in ttir


@pytest.mark.parametrize(
    "text, options",
    [
        (_SLICE_CONCAT, {"block_elementwise": 64}),
        (_FOLDED_WEIGHTS, {}),
        (_MIRAGE_MATMUL, {"block_m": 16, "block_n": 16, "block_k": 16}),
        (_PROLOGUE, {}),
    ],
    ids=["slice_concat", "folded_weights", "mirage_matmul", "prologue"],
)
def test_layout_kernels_compile_for_sm90(text, options, triton_cache):
    pytest.importorskip("triton")
    from mirage_mlir.lowering.staging import compile_ttir

    for kernel_name, ttir in lower_module(text, **options).kernels:
        assert compile_ttir(ttir).name == kernel_name


def test_narrow_float_kernels_compile_for_sm90(narrow_program, triton_cache):
    pytest.importorskip("triton")
    from mirage_mlir.lowering.staging import compile_ttir

    _, lowered, _, _ = narrow_program
    for kernel_name, ttir in lowered.kernels:
        kernel = compile_ttir(ttir)
        assert kernel.name == kernel_name and ".target sm_90" in kernel.ptx
