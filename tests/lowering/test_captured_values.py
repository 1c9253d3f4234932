"""A linalg.generic body may read values defined outside it (MLIR allows it).

A scalar constant is splatted into the kernel; a tensor the body reads with
`tensor.extract` (a weight or a function argument) is passed to the kernel as one
more input.  A scalar function argument cannot be passed to a kernel template (kernels
take buffers only) and is a located error, not a Python exception.
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


def test_a_captured_scalar_argument_is_a_located_error():
    text = (
        CAPTURED_CONSTANT.replace(
            "func.func @main(%x: tensor<8x32xf32>)",
            "func.func @main(%x: tensor<8x32xf32>, %s: f32)",
        )
        .replace("%c = arith.constant 2.5 : f32", "")
        .replace("%a, %c", "%a, %s")
    )
    with pytest.raises(Exception) as caught:
        lower_module(text)
    assert not isinstance(caught.value, KeyError)
    assert "defined outside it" in str(caught.value)
    assert str(caught.value).startswith("<string>:6:3: error:")  # at the linalg.generic


CAPTURED_TENSOR_ARGUMENT = """
#map = affine_map<(d0, d1) -> (d0, d1)>
func.func @main(%x: tensor<8x32xf32>, %t: tensor<32x8xf32>) -> tensor<8x32xf32> {
  %e = tensor.empty() : tensor<8x32xf32>
  %r = linalg.generic {indexing_maps = [#map, #map], iterator_types = ["parallel", "parallel"]}
      ins(%x : tensor<8x32xf32>) outs(%e : tensor<8x32xf32>) {
  ^bb0(%a: f32, %o: f32):
    %i = linalg.index 0 : index
    %j = linalg.index 1 : index
    %v = tensor.extract %t[%j, %i] : tensor<32x8xf32>
    %m = arith.mulf %a, %v : f32
    linalg.yield %m : f32
  } -> tensor<8x32xf32>
  func.return %r : tensor<8x32xf32>
}
"""


def test_a_captured_tensor_argument_is_passed_to_the_kernel():
    lowered = lower_module(CAPTURED_TENSOR_ARGUMENT)
    (launch,) = lowered.launches()
    assert len(launch.ins) == 2
    rng = np.random.default_rng(1)
    x = rng.standard_normal((8, 32)).astype(np.float32)
    t = rng.standard_normal((32, 8)).astype(np.float32)
    (out,) = run_plan_interpreted(lowered, x, t)
    np.testing.assert_allclose(out, x * t.T, rtol=1e-6)
