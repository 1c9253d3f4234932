"""The matmul template reads and writes through layout ops: pure index remapping.

Kernel formation lets a matmul kernel read an operand through transposes,
reshapes and slices (and elementwise ops before them, at any shape), and end
its epilogue in a transpose.  These kernels check each case against NumPy
in the tt interpreter, with tiles smaller than the matrices (partial tiles,
several programs), and compile them for sm_90.
"""

from __future__ import annotations

import numpy as np
import pytest

from mirage_mlir.lowering.program import lower_module, run_plan_interpreted

TILES = {"block_m": 16, "block_n": 16, "block_k": 16}

_HEADS_INTO_PROJECTION = """
#id4 = affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>
func.func @main(%o: tensor<1x4x24x16xELT>, %w: tensor<64x40xELT>) -> tensor<24x40xELT> {
  %y = mirage.kernel (%o, %w) : (tensor<1x4x24x16xELT>, tensor<64x40xELT>) -> tensor<24x40xELT> attributes {template = "matmul"} {
  ^bb0(%a: tensor<1x4x24x16xELT>, %b: tensor<64x40xELT>):
    %e4 = tensor.empty() : tensor<1x4x24x16xELT>
    %s = linalg.generic {indexing_maps = [#id4, #id4], iterator_types = ["parallel", "parallel", "parallel", "parallel"]} ins(%a : tensor<1x4x24x16xELT>) outs(%e4 : tensor<1x4x24x16xELT>) {
    ^bb0(%x: ELT, %z: ELT):
      %two = arith.constant 2.000000e+00 : ELT
      %m = arith.mulf %x, %two : ELT
      linalg.yield %m : ELT
    } -> tensor<1x4x24x16xELT>
    %et = tensor.empty() : tensor<1x24x4x16xELT>
    %t = linalg.transpose ins(%s : tensor<1x4x24x16xELT>) outs(%et : tensor<1x24x4x16xELT>) permutation = [0, 2, 1, 3]
    %c = tensor.collapse_shape %t [[0, 1], [2, 3]] : tensor<1x24x4x16xELT> into tensor<24x64xELT>
    %zero = arith.constant 0.000000e+00 : ELT
    %e = tensor.empty() : tensor<24x40xELT>
    %f = linalg.fill ins(%zero : ELT) outs(%e : tensor<24x40xELT>) -> tensor<24x40xELT>
    %p = linalg.matmul ins(%c, %b : tensor<24x64xELT>, tensor<64x40xELT>) outs(%f : tensor<24x40xELT>) -> tensor<24x40xELT>
    mirage.yield %p : tensor<24x40xELT>
  }
  func.return %y : tensor<24x40xELT>
}
"""
"""E7's out-projection: attention output [b, h, s, d] scaled, transposed to
[b, s, h, d] and merged to [b*s, h*d] (not one stride: h and d are apart)."""


@pytest.mark.parametrize("element", ["f32", "f16"])
def test_operand_read_through_transpose_and_collapse(element):
    rng = np.random.default_rng(1)
    dtype = np.float32 if element == "f32" else np.float16
    o = rng.standard_normal((1, 4, 24, 16)).astype(dtype)
    w = rng.standard_normal((64, 40)).astype(dtype)
    program = lower_module(_HEADS_INTO_PROJECTION.replace("ELT", element), **TILES)
    (launch,) = program.launches()
    assert launch.grid_sizes == (2, 3, 1)
    (out,) = run_plan_interpreted(program, o, w)
    expected = (2 * o.astype(np.float64)).transpose(0, 2, 1, 3).reshape(24, 64) @ w
    tolerance = 1e-4 if element == "f32" else 2e-3
    assert np.abs(out - expected).max() <= tolerance * np.abs(expected).max()
    (ttir,) = [t for _, t in program.kernels]
    if element == "f16":
        # The prologue is widened for the scale, then narrowed for an f16 tt.dot.
        dots = [line for line in ttir.splitlines() if '"tt.dot"' in line]
        assert dots and all("tensor<16x16xf16>, tensor<16x16xf16>" in line for line in dots)


_SLICED_HEADS = """
func.func @main(%qkv: tensor<20x96xf32>, %w: tensor<32x24xf32>) -> tensor<20x24xf32> {
  %y = mirage.kernel (%qkv, %w) : (tensor<20x96xf32>, tensor<32x24xf32>) -> tensor<20x24xf32> attributes {template = "matmul"} {
  ^bb0(%a: tensor<20x96xf32>, %b: tensor<32x24xf32>):
    %s = tensor.extract_slice %a[0, 32] [20, 32] [1, 1] : tensor<20x96xf32> to tensor<20x32xf32>
    %x = tensor.expand_shape %s [[0], [1, 2]] output_shape [20, 2, 16] : tensor<20x32xf32> into tensor<20x2x16xf32>
    %et = tensor.empty() : tensor<20x16x2xf32>
    %t = linalg.transpose ins(%x : tensor<20x2x16xf32>) outs(%et : tensor<20x16x2xf32>) permutation = [0, 2, 1]
    %c = tensor.collapse_shape %t [[0], [1, 2]] : tensor<20x16x2xf32> into tensor<20x32xf32>
    %zero = arith.constant 0.000000e+00 : f32
    %e = tensor.empty() : tensor<20x24xf32>
    %f = linalg.fill ins(%zero : f32) outs(%e : tensor<20x24xf32>) -> tensor<20x24xf32>
    %p = linalg.matmul ins(%c, %b : tensor<20x32xf32>, tensor<32x24xf32>) outs(%f : tensor<20x24xf32>) -> tensor<20x24xf32>
    mirage.yield %p : tensor<20x24xf32>
  }
  func.return %y : tensor<20x24xf32>
}
"""
"""A slice, a split, a transpose and a merge before the product."""


def test_operand_read_through_slice_expand_transpose_collapse():
    rng = np.random.default_rng(2)
    qkv = rng.standard_normal((20, 96)).astype(np.float32)
    w = rng.standard_normal((32, 24)).astype(np.float32)
    (out,) = run_plan_interpreted(lower_module(_SLICED_HEADS, **TILES), qkv, w)
    x = qkv[:, 32:64].reshape(20, 2, 16).transpose(0, 2, 1).reshape(20, 32)
    assert np.abs(out - x @ w).max() < 1e-4


_PERMUTED_STORE = """
#id = affine_map<(d0, d1) -> (d0, d1)>
func.func @main(%x: tensor<40x24xf32>, %w: tensor<24x48xf32>) -> (tensor<48x40xf32>, tensor<5x8x48xf32>) {
  %y:2 = mirage.kernel (%x, %w) : (tensor<40x24xf32>, tensor<24x48xf32>) -> (tensor<48x40xf32>, tensor<5x8x48xf32>) attributes {template = "matmul"} {
  ^bb0(%a: tensor<40x24xf32>, %b: tensor<24x48xf32>):
    %zero = arith.constant 0.000000e+00 : f32
    %e = tensor.empty() : tensor<40x48xf32>
    %f = linalg.fill ins(%zero : f32) outs(%e : tensor<40x48xf32>) -> tensor<40x48xf32>
    %p = linalg.matmul ins(%a, %b : tensor<40x24xf32>, tensor<24x48xf32>) outs(%f : tensor<40x48xf32>) -> tensor<40x48xf32>
    %r = linalg.generic {indexing_maps = [#id, #id], iterator_types = ["parallel", "parallel"]} ins(%p : tensor<40x48xf32>) outs(%e : tensor<40x48xf32>) {
    ^bb0(%s: f32, %o: f32):
      %c0 = arith.constant 0.000000e+00 : f32
      %m = arith.maximumf %s, %c0 : f32
      linalg.yield %m : f32
    } -> tensor<40x48xf32>
    %et = tensor.empty() : tensor<48x40xf32>
    %t = linalg.transpose ins(%r : tensor<40x48xf32>) outs(%et : tensor<48x40xf32>) permutation = [1, 0]
    %v = tensor.expand_shape %r [[0, 1], [2]] output_shape [5, 8, 48] : tensor<40x48xf32> into tensor<5x8x48xf32>
    mirage.yield %t, %v : tensor<48x40xf32>, tensor<5x8x48xf32>
  }
  func.return %y#0, %y#1 : tensor<48x40xf32>, tensor<5x8x48xf32>
}
"""
"""An epilogue ending in a transpose (a permuted store) and in a reshape."""


def test_epilogue_stores_through_a_transpose_and_a_reshape():
    rng = np.random.default_rng(3)
    x = rng.standard_normal((40, 24)).astype(np.float32)
    w = rng.standard_normal((24, 48)).astype(np.float32)
    transposed, reshaped = run_plan_interpreted(lower_module(_PERMUTED_STORE, **TILES), x, w)
    expected = np.maximum(x @ w, 0)
    assert np.abs(transposed - expected.T).max() < 1e-4
    assert np.abs(reshaped - expected.reshape(5, 8, 48)).max() < 1e-4


_DUAL_SHARED_RHS = """
#id = affine_map<(d0, d1) -> (d0, d1)>
func.func @main(%x: tensor<20x32xf32>, %z: tensor<20x32xf32>, %w: tensor<32x24xf32>) -> tensor<20x24xf32> {
  %y = mirage.kernel (%x, %z, %w) : (tensor<20x32xf32>, tensor<20x32xf32>, tensor<32x24xf32>) -> tensor<20x24xf32> attributes {template = "dual_matmul"} {
  ^bb0(%a: tensor<20x32xf32>, %c: tensor<20x32xf32>, %b: tensor<32x24xf32>):
    %zero = arith.constant 0.000000e+00 : f32
    %e = tensor.empty() : tensor<20x24xf32>
    %f = linalg.fill ins(%zero : f32) outs(%e : tensor<20x24xf32>) -> tensor<20x24xf32>
    %p = linalg.matmul ins(%a, %b : tensor<20x32xf32>, tensor<32x24xf32>) outs(%f : tensor<20x24xf32>) -> tensor<20x24xf32>
    %q = linalg.matmul ins(%c, %b : tensor<20x32xf32>, tensor<32x24xf32>) outs(%f : tensor<20x24xf32>) -> tensor<20x24xf32>
    %r = linalg.generic {indexing_maps = [#id, #id, #id], iterator_types = ["parallel", "parallel"]} ins(%p, %q : tensor<20x24xf32>, tensor<20x24xf32>) outs(%e : tensor<20x24xf32>) {
    ^bb0(%s: f32, %t: f32, %o: f32):
      %m = arith.mulf %s, %t : f32
      linalg.yield %m : f32
    } -> tensor<20x24xf32>
    mirage.yield %r : tensor<20x24xf32>
  }
  func.return %y : tensor<20x24xf32>
}
"""
"""Two products sharing their right operand (kernel formation allows either side)."""


def test_dual_matmul_sharing_the_right_operand_loads_it_once():
    rng = np.random.default_rng(4)
    x, z = (rng.standard_normal((20, 32)).astype(np.float32) for _ in range(2))
    w = rng.standard_normal((32, 24)).astype(np.float32)
    program = lower_module(_DUAL_SHARED_RHS, **TILES)
    (ttir,) = [t for _, t in program.kernels]
    assert ttir.count('"tt.load"') == 3 and ttir.count('"tt.dot"') == 2
    (out,) = run_plan_interpreted(program, x, z, w)
    assert np.abs(out - (x @ w) * (z @ w)).max() < 1e-3


@pytest.mark.parametrize(
    "text",
    [_HEADS_INTO_PROJECTION.replace("ELT", "f16"), _SLICED_HEADS, _PERMUTED_STORE, _DUAL_SHARED_RHS],
    ids=["heads_into_projection", "sliced_heads", "permuted_store", "dual_shared_rhs"],
)
def test_layout_kernels_compile_for_sm90(text, triton_cache):
    from mirage_mlir.lowering.staging import TritonOptions, compile_ttir

    for kernel_name, ttir in lower_module(text, **TILES).kernels:
        kernel = compile_ttir(ttir, TritonOptions(arch=90))
        assert kernel.name == kernel_name and kernel.cubin
