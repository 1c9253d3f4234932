"""The contraction template: einsum-shaped `linalg.generic`s lowered and run.

A hand-written contraction with odd sizes, permuted operands, a mapped body
and a non-zero init runs in the tt interpreter against `numpy.einsum`, and
its kernel compiles for sm_90.  E8 (the tensor network) is covered by
test_every_example_lowers.py.
"""

from __future__ import annotations

import numpy as np
import pytest

from mirage_mlir.lowering.program import lower_module, run_plan_interpreted

_CONTRACTION = """
#a = affine_map<(d0, d1, d2, d3) -> (d2, d0, d3)>
#b = affine_map<(d0, d1, d2, d3) -> (d3, d1, d2)>
#o = affine_map<(d0, d1, d2, d3) -> (d1, d0)>
func.func @main(%x: tensor<7x5x3xf32>, %y: tensor<3x9x7xf32>) -> tensor<9x5xf32> {
  %half = arith.constant 0.5 : f32
  %e = tensor.empty() : tensor<9x5xf32>
  %f = linalg.fill ins(%half : f32) outs(%e : tensor<9x5xf32>) -> tensor<9x5xf32>
  %r = linalg.generic {indexing_maps = [#a, #b, #o], iterator_types = ["parallel", "parallel", "reduction", "reduction"]}
      ins(%x, %y : tensor<7x5x3xf32>, tensor<3x9x7xf32>) outs(%f : tensor<9x5xf32>) {
  ^bb0(%p: f32, %q: f32, %acc: f32):
    %m = arith.mulf %p, %q : f32
    %t = math.tanh %m : f32
    %s = arith.addf %acc, %t : f32
    linalg.yield %s : f32
  } -> tensor<9x5xf32>
  func.return %r : tensor<9x5xf32>
}
"""


def test_contraction_generic_matches_einsum():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((7, 5, 3)).astype(np.float32)
    y = rng.standard_normal((3, 9, 7)).astype(np.float32)
    lowered = lower_module(_CONTRACTION)
    (launch,) = lowered.launches()
    assert launch.kernel_name == "main_contraction_0" and launch.grid_sizes == (1, 1, 1)
    (out,) = run_plan_interpreted(lowered, x, y)
    products = np.tanh(np.einsum("cad,dbc->abcd", x, y))  # a=d0, b=d1, c=d2, d=d3
    expected = products.sum(axis=(2, 3)).T + 0.5
    assert np.abs(out - expected).max() < 1e-5


def test_contraction_kernel_compiles_for_sm90(tmp_path, monkeypatch):
    pytest.importorskip("triton")
    from mirage_mlir.lowering.staging import compile_ttir

    monkeypatch.setenv("MIRAGE_CACHE_DIR", str(tmp_path))
    ((name, ttir),) = lower_module(_CONTRACTION).kernels
    assert compile_ttir(ttir).name == name
    assert ttir.count('"scf.for"') == 1 and ttir.count('"tt.reduce"') == 1
