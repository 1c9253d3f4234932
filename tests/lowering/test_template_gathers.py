"""Gathers, index bodies, concats and broadcasts in the elementwise template.

A `linalg.generic` body may read its loop indices (`linalg.index`), compute
`index` values, check them with `cf.assert` (a device assert over the lanes
inside the iteration space) and `tensor.extract` from a weight or a function
argument defined outside it (an extra kernel input, read by a gathered load):
that is how torch-mlir lowers `nn.Embedding` and Mixtral's expert-weight
selection.  `tensor.concat` and `linalg.broadcast` are layout ops of the same
template.  Each form is lowered, run in the tt interpreter against NumPy, and
(slow) compiled to a cubin for sm_90.
"""

from __future__ import annotations

import numpy as np
import pytest
from xdsl.interpreter import InterpretationError

from mirage_mlir.lowering.program import lower_module, run_plan_interpreted

_TABLE = np.arange(7 * 4, dtype=np.float32).reshape(7, 4) * 0.5 - 3.0


def _dense(array: np.ndarray) -> str:
    return "[" + ", ".join(_dense(a) if a.ndim else repr(float(a)) for a in array) + "]"


EMBEDDING = f"""
func.func @main(%ids: tensor<2x5xi64>) -> tensor<2x5x4xf32> {{
  %c7 = arith.constant 7 : index
  %c0_i64 = arith.constant 0 : i64
  %table = arith.constant dense<{_dense(_TABLE)}> : tensor<7x4xf32>
  %e = tensor.empty() : tensor<2x5x4xf32>
  %r = linalg.generic {{indexing_maps = [affine_map<(d0, d1, d2) -> (d0, d1)>,
                                        affine_map<(d0, d1, d2) -> (d0, d1, d2)>],
                       iterator_types = ["parallel", "parallel", "parallel"]}}
      ins(%ids : tensor<2x5xi64>) outs(%e : tensor<2x5x4xf32>) {{
  ^bb0(%in: i64, %out: f32):
    %i = arith.index_cast %in : i64 to index
    %j = linalg.index 2 : index
    %lt = arith.cmpi slt, %i, %c7 : index
    cf.assert %lt, "index must be smaller than dim size"
    %ge = arith.cmpi sge, %in, %c0_i64 : i64
    cf.assert %ge, "index must be larger or equal to 0"
    %v = tensor.extract %table[%i, %j] : tensor<7x4xf32>
    linalg.yield %v : f32
  }} -> tensor<2x5x4xf32>
  func.return %r : tensor<2x5x4xf32>
}}
"""

EMBEDDING_OF_ARGUMENT = """
func.func @main(%ids: tensor<6xi64>, %table: tensor<9x3xf16>) -> tensor<6x3xf16> {
  %e = tensor.empty() : tensor<6x3xf16>
  %r = linalg.generic {indexing_maps = [affine_map<(d0, d1) -> (d0)>,
                                        affine_map<(d0, d1) -> (d0, d1)>],
                       iterator_types = ["parallel", "parallel"]}
      ins(%ids : tensor<6xi64>) outs(%e : tensor<6x3xf16>) {
  ^bb0(%in: i64, %out: f16):
    %i = arith.index_cast %in : i64 to index
    %j = linalg.index 1 : index
    %v = tensor.extract %table[%i, %j] : tensor<9x3xf16>
    linalg.yield %v : f16
  } -> tensor<6x3xf16>
  func.return %r : tensor<6x3xf16>
}
"""

# Mixtral's expert weights: a negative expert id counts from the end.
EXPERT_WEIGHTS = """
func.func @main(%ids: tensor<5xi64>, %w: tensor<4x3x8xf32>) -> tensor<5x3x8xf32> {
  %c0_i64 = arith.constant 0 : i64
  %c4_i64 = arith.constant 4 : i64
  %e = tensor.empty() : tensor<5x3x8xf32>
  %r = linalg.generic {indexing_maps = [affine_map<(d0, d1, d2) -> (d0)>,
                                        affine_map<(d0, d1, d2) -> (d0, d1, d2)>],
                       iterator_types = ["parallel", "parallel", "parallel"]}
      ins(%ids : tensor<5xi64>) outs(%e : tensor<5x3x8xf32>) {
  ^bb0(%in: i64, %out: f32):
    %neg = arith.cmpi slt, %in, %c0_i64 : i64
    %up = arith.addi %in, %c4_i64 : i64
    %wrapped = arith.select %neg, %up, %in : i64
    %i = arith.index_cast %wrapped : i64 to index
    %j = linalg.index 1 : index
    %k = linalg.index 2 : index
    %v = tensor.extract %w[%i, %j, %k] : tensor<4x3x8xf32>
    linalg.yield %v : f32
  } -> tensor<5x3x8xf32>
  func.return %r : tensor<5x3x8xf32>
}
"""

# An index body fused with arithmetic: x + column index.
INDEX_BODY = """
func.func @main(%x: tensor<3x37xf32>) -> tensor<3x37xf32> {
  %e = tensor.empty() : tensor<3x37xf32>
  %r = linalg.generic {indexing_maps = [affine_map<(d0, d1) -> (d0, d1)>,
                                        affine_map<(d0, d1) -> (d0, d1)>],
                       iterator_types = ["parallel", "parallel"]}
      ins(%x : tensor<3x37xf32>) outs(%e : tensor<3x37xf32>) {
  ^bb0(%in: f32, %out: f32):
    %j = linalg.index 1 : index
    %i = linalg.index 0 : index
    %ji = arith.index_cast %j : index to i64
    %ii = arith.index_cast %i : index to i32
    %jf = arith.sitofp %ji : i64 to f32
    %if = arith.sitofp %ii : i32 to f32
    %s = arith.addf %in, %jf : f32
    %t = arith.mulf %if, %s : f32
    linalg.yield %t : f32
  } -> tensor<3x37xf32>
  func.return %r : tensor<3x37xf32>
}
"""

CONCAT = """
func.func @main(%a: tensor<2x1xi64>, %b: tensor<2x16xi64>) -> tensor<2x17xi64> {
  %r = tensor.concat dim(1) %a, %b : (tensor<2x1xi64>, tensor<2x16xi64>) -> tensor<2x17xi64>
  func.return %r : tensor<2x17xi64>
}
"""

BROADCAST = """
func.func @main(%a: tensor<5x6xf32>) -> tensor<3x5x4x6xf32> {
  %e = tensor.empty() : tensor<3x5x4x6xf32>
  %r = linalg.broadcast ins(%a : tensor<5x6xf32>) outs(%e : tensor<3x5x4x6xf32>) dimensions = [0, 2]
  func.return %r : tensor<3x5x4x6xf32>
}
"""


def test_embedding_gather_matches_numpy():
    lowered = lower_module(EMBEDDING)
    (ttir,) = [t for _, t in lowered.kernels]
    assert ttir.count('"tt.assert"') == 2
    ids = np.array([[0, 6, 3, 3, 1], [5, 2, 0, 4, 6]], dtype=np.int64)
    (out,) = run_plan_interpreted(lowered, ids)
    np.testing.assert_array_equal(out, _TABLE[ids])


@pytest.mark.parametrize(
    "bad, message", [(7, "smaller than dim size"), (-1, "larger or equal")]
)
def test_an_out_of_range_id_fails_the_device_assert(bad, message):
    lowered = lower_module(EMBEDDING)
    ids = np.zeros((2, 5), dtype=np.int64)
    ids[1, 3] = bad
    with pytest.raises(InterpretationError, match=message):
        run_plan_interpreted(lowered, ids)


def test_masked_lanes_never_fire_the_assert():
    # Ids must be at least 1 here; 40 elements in a block of 64: the 24 lanes past
    # the end load id 0 (the masked load's `other`), which would fail the check.
    text = EMBEDDING.replace(
        "%c0_i64 = arith.constant 0 : i64", "%c0_i64 = arith.constant 1 : i64"
    )
    lowered = lower_module(text, block_elementwise=64)
    ids = np.array([[1, 6, 3, 3, 1], [5, 2, 1, 4, 6]], dtype=np.int64)
    (out,) = run_plan_interpreted(lowered, ids)
    np.testing.assert_array_equal(out, _TABLE[ids])


def test_a_captured_argument_table_is_a_kernel_input():
    lowered = lower_module(EMBEDDING_OF_ARGUMENT)
    (launch,) = lowered.launches()
    assert len(launch.ins) == 2  # the ids and the captured table
    rng = np.random.default_rng(0)
    table = rng.standard_normal((9, 3)).astype(np.float16)
    ids = np.array([8, 0, 4, 4, 1, 7], dtype=np.int64)
    (out,) = run_plan_interpreted(lowered, ids, table)
    np.testing.assert_array_equal(out, table[ids])


def test_expert_weights_gather_wraps_negative_ids():
    lowered = lower_module(EXPERT_WEIGHTS)
    w = np.random.default_rng(1).standard_normal((4, 3, 8)).astype(np.float32)
    ids = np.array([0, 3, -1, 2, -4], dtype=np.int64)
    (out,) = run_plan_interpreted(lowered, ids, w)
    np.testing.assert_array_equal(out, w[ids])


def test_index_body_matches_numpy():
    lowered = lower_module(INDEX_BODY, block_elementwise=32)
    x = np.random.default_rng(2).standard_normal((3, 37)).astype(np.float32)
    (out,) = run_plan_interpreted(lowered, x)
    rows, cols = np.indices(x.shape)
    np.testing.assert_allclose(out, rows * (x + cols), rtol=1e-6)


def test_tensor_concat_is_a_copy_kernel():
    lowered = lower_module(CONCAT)
    assert len(lowered.kernels) == 1
    a = np.array([[-1], [7]], dtype=np.int64)
    b = np.arange(32, dtype=np.int64).reshape(2, 16)
    (out,) = run_plan_interpreted(lowered, a, b)
    np.testing.assert_array_equal(out, np.concatenate([a, b], axis=1))


def test_linalg_broadcast_reads_through_strides():
    lowered = lower_module(BROADCAST)
    a = np.random.default_rng(3).standard_normal((5, 6)).astype(np.float32)
    (out,) = run_plan_interpreted(lowered, a)
    np.testing.assert_array_equal(
        out, np.broadcast_to(a[None, :, None, :], (3, 5, 4, 6))
    )


def test_a_concat_of_weights_folds_into_one_weight():
    text = CONCAT.replace("%a: tensor<2x1xi64>, ", "").replace(
        "-> tensor<2x17xi64> {\n",
        "-> tensor<2x17xi64> {\n  %a = arith.constant dense<[[4], [5]]> : tensor<2x1xi64>\n",
        1,
    )
    lowered = lower_module(text)
    b = np.arange(32, dtype=np.int64).reshape(2, 16)
    (out,) = run_plan_interpreted(lowered, b)
    np.testing.assert_array_equal(out, np.concatenate([[[4], [5]], b], axis=1))


BOOL_MASK_GATHER = """
func.func @main(%b: tensor<3x1xi64>, %m: tensor<3x16xi1>) -> tensor<3x16xi1> {
  %c0_i64 = arith.constant 0 : i64
  %c3_i64 = arith.constant 3 : i64
  %e = tensor.empty() : tensor<3x16xi1>
  %r = linalg.generic {indexing_maps = [affine_map<(d0, d1) -> (d0, 0)>,
                                        affine_map<(d0, d1) -> (d0, d1)>],
                       iterator_types = ["parallel", "parallel"]}
      ins(%b : tensor<3x1xi64>) outs(%e : tensor<3x16xi1>) {
  ^bb0(%in: i64, %out: i1):
    %neg = arith.cmpi slt, %in, %c0_i64 : i64
    %up = arith.addi %in, %c3_i64 : i64
    %wrapped = arith.select %neg, %up, %in : i64
    %i = arith.index_cast %wrapped : i64 to index
    %j = linalg.index 1 : index
    %v = tensor.extract %m[%i, %j] : tensor<3x16xi1>
    linalg.yield %v : i1
  } -> tensor<3x16xi1>
  func.return %r : tensor<3x16xi1>
}
"""


def test_a_boolean_mask_gather_reads_bytes():
    lowered = lower_module(BOOL_MASK_GATHER)
    rng = np.random.default_rng(4)
    mask = rng.random((3, 16)) < 0.5
    rows = np.array([[2], [-3], [1]], dtype=np.int64)
    (out,) = run_plan_interpreted(lowered, rows, mask)
    np.testing.assert_array_equal(out, mask[rows[:, 0]])


# A fused kernel whose gather reads one of its operands (a mirage.kernel is isolated
# from above, so the table is an operand; its operands are floats, so are the ids).
KERNEL_GATHERING_AN_OPERAND = """
#ids = affine_map<(d0, d1) -> (d0)>
#id = affine_map<(d0, d1) -> (d0, d1)>
func.func @main(%ids: tensor<5xf32>, %x: tensor<5x4xf32>, %table: tensor<7x4xf32>)
    -> tensor<5x4xf32> {
  %y = mirage.kernel (%ids, %x, %table)
      : (tensor<5xf32>, tensor<5x4xf32>, tensor<7x4xf32>) -> tensor<5x4xf32>
      attributes {template = "elementwise"} {
  ^bb0(%i: tensor<5xf32>, %a: tensor<5x4xf32>, %t: tensor<7x4xf32>):
    %e = tensor.empty() : tensor<5x4xf32>
    %g = linalg.generic {indexing_maps = [#ids, #id], iterator_types = ["parallel", "parallel"]}
        ins(%i : tensor<5xf32>) outs(%e : tensor<5x4xf32>) {
    ^bb0(%in: f32, %out: f32):
      %n = arith.fptosi %in : f32 to i64
      %r = arith.index_cast %n : i64 to index
      %c = linalg.index 1 : index
      %v = tensor.extract %t[%r, %c] : tensor<7x4xf32>
      linalg.yield %v : f32
    } -> tensor<5x4xf32>
    %s = linalg.generic {indexing_maps = [#id, #id, #id], iterator_types = ["parallel", "parallel"]}
        ins(%g, %a : tensor<5x4xf32>, tensor<5x4xf32>) outs(%e : tensor<5x4xf32>) {
    ^bb0(%p: f32, %q: f32, %o: f32):
      %w = arith.addf %p, %q : f32
      linalg.yield %w : f32
    } -> tensor<5x4xf32>
    mirage.yield %s : tensor<5x4xf32>
  }
  func.return %y : tensor<5x4xf32>
}
"""


def test_a_fused_kernel_gathers_from_its_operand():
    lowered = lower_module(KERNEL_GATHERING_AN_OPERAND)
    ids = np.array([6, 0, 2, 2, 5], dtype=np.int64)
    x = np.random.default_rng(5).standard_normal((5, 4)).astype(np.float32)
    (out,) = run_plan_interpreted(lowered, ids.astype(np.float32), x, _TABLE)
    np.testing.assert_allclose(out, _TABLE[ids] + x, rtol=1e-6)


@pytest.mark.slow
@pytest.mark.parametrize(
    "text",
    [
        EMBEDDING,
        EMBEDDING_OF_ARGUMENT,
        EXPERT_WEIGHTS,
        INDEX_BODY,
        CONCAT,
        BROADCAST,
        BOOL_MASK_GATHER,
        KERNEL_GATHERING_AN_OPERAND,
        "POWER",
    ],
)
def test_gather_kernels_compile_for_sm90(text, triton_cache):
    pytest.importorskip("triton")
    from mirage_mlir.lowering.staging import TritonOptions, compile_ttir

    text = _power_module("3.000000e+00") if text == "POWER" else text
    for name, ttir in lower_module(text).kernels:
        kernel = compile_ttir(ttir, TritonOptions(arch=90))
        assert kernel.name == name and kernel.cubin
        assert ('"tt.assert"' in ttir) == ("__assertfail" in kernel.ptx)


def _power_module(exponent: str) -> str:
    return f"""
func.func @main(%x: tensor<4x33xf32>, %y: tensor<4x33xf32>) -> tensor<4x33xf32> {{
  %p = arith.constant dense<{exponent}> : tensor<f32>
  %e = tensor.empty() : tensor<4x33xf32>
  %r = linalg.generic {{indexing_maps = [affine_map<(d0, d1) -> (d0, d1)>,
                                        affine_map<(d0, d1) -> ()>,
                                        affine_map<(d0, d1) -> (d0, d1)>,
                                        affine_map<(d0, d1) -> (d0, d1)>],
                       iterator_types = ["parallel", "parallel"]}}
      ins(%x, %p, %y : tensor<4x33xf32>, tensor<f32>, tensor<4x33xf32>)
      outs(%e : tensor<4x33xf32>) {{
  ^bb0(%a: f32, %b: f32, %c: f32, %o: f32):
    %q = math.powf %a, %b : f32
    %s = math.powf %c, %q : f32
    linalg.yield %s : f32
  }} -> tensor<4x33xf32>
  func.return %r : tensor<4x33xf32>
}}
"""


@pytest.mark.parametrize("exponent", ["3.000000e+00", "-2.000000e+00", "5.000000e-01"])
def test_powf_is_expanded_for_triton(exponent):
    # GELU's x ** 3 (constant exponent), then a power with a computed exponent
    # (exp2 of y * log2|x| in f32: relative error grows with |y * log2 x|).
    text = _power_module(exponent)
    lowered = lower_module(text)
    assert all('"math.powf"' not in ttir for _, ttir in lowered.kernels)
    rng = np.random.default_rng(6)
    x = rng.uniform(0.2, 2.0, (4, 33)).astype(np.float32)
    y = rng.uniform(-2.0, 2.0, (4, 33)).astype(np.float32)
    y[0, :6] = [-2.0, -1.5, 0.0, -0.0, 3.0, 0.0]
    (out,) = run_plan_interpreted(lowered, x, y)
    with np.errstate(all="ignore"):
        expected = np.power(y, np.power(x, np.float32(float(exponent))))
    np.testing.assert_allclose(out, expected, rtol=1e-5, atol=1e-30)
