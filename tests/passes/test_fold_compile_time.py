"""What depends only on weights is computed at compile time (passes/fold_compile_time.py).

Each case lowers a small function, checks which ops became weights (no kernel left for
them) and runs the launch plan in the tt interpreter against NumPy.
"""

import numpy as np
import pytest

from mirage_mlir.dialects.context import parse_mlir
from mirage_mlir.passes.fold_compile_time import fold_compile_time_ops
from mirage_mlir.lowering.program import lower_module, run_plan_interpreted

#: BatchNorm's scale from its running variance: sqrt(var + eps), checked non-zero, then
#: applied to the input. Only the last generic reads the input.
BATCH_NORM_SCALE = """
#map = affine_map<(d0) -> (d0)>
#row = affine_map<(d0, d1) -> (d1)>
#id = affine_map<(d0, d1) -> (d0, d1)>
func.func @main(%x: tensor<4x8xf32>) -> tensor<4x8xf32> {
  %var = arith.constant dense<[1.0, 4.0, 9.0, 16.0, 0.25, 2.25, 0.0, 100.0]> : tensor<8xf32>
  %eps = arith.constant 1.0e-05 : f32
  %zero = arith.constant 0.0 : f32
  %e = tensor.empty() : tensor<8xf32>
  %s = linalg.generic {indexing_maps = [#map, #map], iterator_types = ["parallel"]}
      ins(%var : tensor<8xf32>) outs(%e : tensor<8xf32>) {
  ^bb0(%v: f32, %o: f32):
    %a = arith.addf %v, %eps : f32
    %r = math.sqrt %a : f32
    linalg.yield %r : f32
  } -> tensor<8xf32>
  %c = linalg.generic {indexing_maps = [#map, #map], iterator_types = ["parallel"]}
      ins(%s : tensor<8xf32>) outs(%e : tensor<8xf32>) {
  ^bb0(%v: f32, %o: f32):
    %ok = arith.cmpf one, %v, %zero : f32
    cf.assert %ok, "unimplemented: tensor with zero element"
    linalg.yield %v : f32
  } -> tensor<8xf32>
  %e2 = tensor.empty() : tensor<4x8xf32>
  %y = linalg.generic {indexing_maps = [#id, #row, #id], iterator_types = ["parallel", "parallel"]}
      ins(%x, %c : tensor<4x8xf32>, tensor<8xf32>) outs(%e2 : tensor<4x8xf32>) {
  ^bb0(%a: f32, %b: f32, %o: f32):
    %d = arith.divf %a, %b : f32
    linalg.yield %d : f32
  } -> tensor<4x8xf32>
  func.return %y : tensor<4x8xf32>
}
"""


def _count(text: str) -> int:
    module = parse_mlir(text)
    (function,) = module.body.block.ops
    return fold_compile_time_ops(function.body.block)


def test_batch_norm_statistics_become_a_weight():
    assert _count(BATCH_NORM_SCALE) == 2
    lowered = lower_module(BATCH_NORM_SCALE)
    assert len(lowered.kernels) == 1  # only the op that reads the input
    x = np.random.default_rng(0).standard_normal((4, 8)).astype(np.float32)
    var = np.array([1.0, 4.0, 9.0, 16.0, 0.25, 2.25, 0.0, 100.0], np.float32)
    (out,) = run_plan_interpreted(lowered, x)
    np.testing.assert_allclose(out, x / np.sqrt(var + np.float32(1e-5)), rtol=1e-6)


def test_a_check_that_fails_on_the_weights_stays_to_fail_at_run_time():
    text = BATCH_NORM_SCALE.replace(
        "%a = arith.addf %v, %eps : f32", "%a = arith.mulf %v, %zero : f32"
    )
    # sqrt(0 * var) is 0 everywhere: the check fails, so only the sqrt is folded.
    assert _count(text) == 1


POSITIONS = """
#map = affine_map<(d0) -> (d0)>
func.func @main(%x: tensor<16xi64>) -> tensor<16xi64> {
  %e = tensor.empty() : tensor<16xi64>
  %p = linalg.generic {indexing_maps = [#map], iterator_types = ["parallel"]} outs(%e : tensor<16xi64>) {
  ^bb0(%o: i64):
    %i = linalg.index 0 : index
    %c = arith.index_cast %i : index to i64
    linalg.yield %c : i64
  } -> tensor<16xi64>
  %y = linalg.generic {indexing_maps = [#map, #map, #map], iterator_types = ["parallel"]}
      ins(%x, %p : tensor<16xi64>, tensor<16xi64>) outs(%e : tensor<16xi64>) {
  ^bb0(%a: i64, %b: i64, %o: i64):
    %s = arith.addi %a, %b : i64
    linalg.yield %s : i64
  } -> tensor<16xi64>
  func.return %y : tensor<16xi64>
}
"""


def test_position_ids_from_linalg_index_become_a_weight():
    lowered = lower_module(POSITIONS)
    assert len(lowered.kernels) == 1
    x = np.arange(100, 116, dtype=np.int64)
    (out,) = run_plan_interpreted(lowered, x)
    np.testing.assert_array_equal(out, x + np.arange(16))


BROADCAST = """
#in = affine_map<(d0, d1) -> (d1)>
#id = affine_map<(d0, d1) -> (d0, d1)>
func.func @main(%x: tensor<ROWSx64xf32>) -> tensor<ROWSx64xf32> {
  %w = arith.constant dense<0.5> : tensor<64xf32>
  %e = tensor.empty() : tensor<ROWSx64xf32>
  %b = linalg.generic {indexing_maps = [#in, #id], iterator_types = ["parallel", "parallel"]}
      ins(%w : tensor<64xf32>) outs(%e : tensor<ROWSx64xf32>) {
  ^bb0(%a: f32, %o: f32):
    linalg.yield %a : f32
  } -> tensor<ROWSx64xf32>
  %y = linalg.generic {indexing_maps = [#id, #id, #id], iterator_types = ["parallel", "parallel"]}
      ins(%x, %b : tensor<ROWSx64xf32>, tensor<ROWSx64xf32>) outs(%e : tensor<ROWSx64xf32>) {
  ^bb0(%a: f32, %c: f32, %o: f32):
    %s = arith.addf %a, %c : f32
    linalg.yield %s : f32
  } -> tensor<ROWSx64xf32>
  func.return %y : tensor<ROWSx64xf32>
}
"""


@pytest.mark.parametrize("rows, folded", [(4, 1), (4096, 0)])
def test_a_broadcast_is_folded_only_while_its_result_stays_small(rows, folded):
    # 4x64 floats is 1 KiB; 4096x64 is 1 MiB, over 64 KiB and 2x the 256-byte weight.
    assert _count(BROADCAST.replace("ROWS", str(rows))) == folded


def test_bf16_results_fold_to_bf16_weights():
    text = BATCH_NORM_SCALE.replace("f32", "bf16").replace(
        "1.0e-05 : bf16", "1.0e-02 : bf16"
    )
    lowered = lower_module(text)
    assert len(lowered.kernels) == 1
    x = np.random.default_rng(0).standard_normal((4, 8)).astype(np.float32)
    (out,) = run_plan_interpreted(lowered, x)
    var = np.array([1.0, 4.0, 9.0, 16.0, 0.25, 2.25, 0.0, 100.0], np.float32)
    np.testing.assert_allclose(out, x / np.sqrt(var + 0.01), rtol=2e-2, atol=1e-2)


def _optimised(text: str) -> tuple[str, dict]:
    from mirage_mlir.dialects.context import print_mlir
    from mirage_mlir.passes.eqsat_optimize import EqsatOptimize, optimize_module

    module = parse_mlir(text)
    report = optimize_module(module, EqsatOptimize(target="h100"))
    return print_mlir(module), report["functions"][0]


def test_the_optimiser_counts_no_kernel_for_what_reads_only_weights():
    # The search sees the scale from the running variance as one weight: it counts one
    # kernel, the one the plan launches.
    text, entry = _optimised(BATCH_NORM_SCALE)
    assert entry["kernels_before"] == entry["kernels_after"] == 1
    lowered = lower_module(text)
    assert len(lowered.launches()) == 1
    x = np.random.default_rng(1).standard_normal((4, 8)).astype(np.float32)
    var = np.array([1.0, 4.0, 9.0, 16.0, 0.25, 2.25, 0.0, 100.0], np.float32)
    (out,) = run_plan_interpreted(lowered, x)
    np.testing.assert_allclose(out, x / np.sqrt(var + np.float32(1e-5)), rtol=1e-6)


def test_a_function_the_optimiser_keeps_is_left_exactly_as_it_was():
    from mirage_mlir.dialects.context import print_mlir

    # One op on the input, one on a weight: nothing to rewrite, so nothing is folded either.
    text = POSITIONS
    before = print_mlir(parse_mlir(text))
    after, entry = _optimised(text)
    assert entry["rewrite_reason"] is None
    assert after == before
