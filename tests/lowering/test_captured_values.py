"""A linalg.generic body may read values defined outside it (MLIR allows it).

A scalar constant is splatted into the kernel; anything else cannot be passed to a kernel
template and is a located error, not a Python exception.
"""

import numpy as np
import pytest

from mirage_mlir.lowering.program import lower_module, run_plan_interpreted

CAPTURED_CONSTANT = """
#map = affine_map<(d0, d1) -> (d0, d1)>
func.func @main(%x: tensor<8x32xf32>) -> tensor<8x32xf32> {
  %c = arith.constant 2.5 : f32
  %e = tensor.empty() : tensor<8x32xf32>
  %r = linalg.generic {indexing_maps = [#map, #map], iterator_types = ["parallel", "parallel"]}
      ins(%x : tensor<8x32xf32>) outs(%e : tensor<8x32xf32>) {
  ^bb0(%a: f32, %o: f32):
    %m = arith.mulf %a, %c : f32
    linalg.yield %m : f32
  } -> tensor<8x32xf32>
  func.return %r : tensor<8x32xf32>
}
"""


def test_a_captured_scalar_constant_is_splatted():
    lowered = lower_module(CAPTURED_CONSTANT)
    x = np.random.default_rng(0).standard_normal((8, 32)).astype(np.float32)
    (out,) = run_plan_interpreted(lowered, x)
    np.testing.assert_allclose(out, 2.5 * x, rtol=1e-6)


def test_a_captured_argument_is_a_located_error():
    text = CAPTURED_CONSTANT.replace(
        "func.func @main(%x: tensor<8x32xf32>)", "func.func @main(%x: tensor<8x32xf32>, %s: f32)"
    ).replace("%c = arith.constant 2.5 : f32", "").replace("%a, %c", "%a, %s")
    with pytest.raises(Exception) as caught:
        lower_module(text)
    assert not isinstance(caught.value, KeyError)
    assert "defined outside it" in str(caught.value)
    assert str(caught.value).startswith("<string>:6:3: error:")  # at the linalg.generic
