"""Reductions of every form: lone reduction generics and row-reduction kernels.

Lone reduction `linalg.generic`s (the contraction template) over the last or
another axis, with the reduced dimension dropped or kept as size 1, folding
with max/min/add on floats, add on i32, a compare-and-select signed max on
i64, and `all`/`any` over i1 written `cmpi` + `select`; row-reduction
`mirage.kernel`s as the optimiser forms them for the zoo: a LayerNorm whose
variance is computed in f64 and whose outputs are a whole row and two row
statistics (`...x1`), a softmax by hand with a dropped row max, an `all`
over a masked row (i1 in registers) before a softmax, and RMSNorm.  Each runs
in the tt interpreter against NumPy; the slow test compiles every kernel for
sm_90.
"""

from __future__ import annotations

import numpy as np
import pytest

from mirage_mlir.lowering.program import lower_module, run_plan_interpreted


def _lone_reduction(
    in_type: str,
    out_type: str,
    in_map: str,
    out_map: str,
    iterators: str,
    init: str,
    body: str,
) -> str:
    """A function holding one reduction generic of its argument (init: a scalar constant)."""
    element = out_type.rsplit("x", 1)[-1].rstrip(">")
    in_element = in_type.rsplit("x", 1)[-1].rstrip(">")
    return f"""
func.func @main(%x: {in_type}) -> {out_type} {{
  %init = arith.constant {init if init in ("true", "false") else f"{init} : {element}"}
  %e = tensor.empty() : {out_type}
  %f = linalg.fill ins(%init : {element}) outs(%e : {out_type}) -> {out_type}
  %r = linalg.generic {{indexing_maps = [{in_map}, {out_map}], iterator_types = [{iterators}]}}
      ins(%x : {in_type}) outs(%f : {out_type}) {{
  ^bb0(%a: {in_element}, %b: {element}):
{body}
  }} -> {out_type}
  func.return %r : {out_type}
}}
"""


_ID4 = "affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>"
_LAST = '"parallel", "parallel", "parallel", "reduction"'
_FLOAT = "tensor<2x3x5x7xf32>"
_BOOL = "tensor<2x3x5x7xi1>"

LONE = {
    "max_last_dropped": (
        _lone_reduction(
            _FLOAT,
            "tensor<2x3x5xf32>",
            _ID4,
            "affine_map<(d0, d1, d2, d3) -> (d0, d1, d2)>",
            _LAST,
            "0xFF800000",
            "    %m = arith.maximumf %a, %b : f32\n    linalg.yield %m : f32",
        ),
        "float32",
        lambda x: x.max(-1),
    ),
    "sum_last_keepdim": (
        _lone_reduction(
            _FLOAT,
            "tensor<2x3x5x1xf32>",
            _ID4,
            "affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, 0)>",
            _LAST,
            "0.5",
            "    %s = arith.addf %a, %b : f32\n    linalg.yield %s : f32",
        ),
        "float32",
        lambda x: x.sum(-1, keepdims=True) + 0.5,
    ),
    "sum_axis2_keepdim": (
        _lone_reduction(
            _FLOAT,
            "tensor<2x3x1x7xf32>",
            _ID4,
            "affine_map<(d0, d1, d2, d3) -> (d0, d1, 0, d3)>",
            '"parallel", "parallel", "reduction", "parallel"',
            "0.0",
            "    %s = arith.addf %a, %b : f32\n    linalg.yield %s : f32",
        ),
        "float32",
        lambda x: x.sum(2, keepdims=True),
    ),
    "min_axis1_permuted_out": (
        _lone_reduction(
            _FLOAT,
            "tensor<5x2x7xf32>",
            _ID4,
            "affine_map<(d0, d1, d2, d3) -> (d2, d0, d3)>",
            '"parallel", "reduction", "parallel", "parallel"',
            "0x7F800000",
            "    %m = arith.minimumf %a, %b : f32\n    linalg.yield %m : f32",
        ),
        "float32",
        lambda x: x.min(1).transpose(1, 0, 2),
    ),
    "squares_f16_long_rows": (
        _lone_reduction(
            "tensor<4x300xf16>",
            "tensor<4x1xf16>",
            "affine_map<(d0, d1) -> (d0, d1)>",
            "affine_map<(d0, d1) -> (d0, 0)>",
            '"parallel", "reduction"',
            "0.0",
            "    %q = arith.mulf %a, %a : f16\n    %s = arith.addf %q, %b : f16\n"
            "    linalg.yield %s : f16",
        ),
        "float16",
        lambda x: (x.astype(np.float32) ** 2).sum(-1, keepdims=True).astype(np.float16),
    ),
    "all_last_keepdim_i1": (
        _lone_reduction(
            _BOOL,
            "tensor<2x3x5x1xi1>",
            _ID4,
            "affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, 0)>",
            _LAST,
            "true",
            "    %c = arith.cmpi ult, %a, %b : i1\n    %m = arith.select %c, %a, %b : i1\n"
            "    linalg.yield %m : i1",
        ),
        "bool",
        lambda x: x.all(-1, keepdims=True),
    ),
    "any_axis1_dropped_i1": (
        _lone_reduction(
            _BOOL,
            "tensor<2x5x7xi1>",
            _ID4,
            "affine_map<(d0, d1, d2, d3) -> (d0, d2, d3)>",
            '"parallel", "reduction", "parallel", "parallel"',
            "false",
            "    %c = arith.cmpi ugt, %a, %b : i1\n    %m = arith.select %c, %a, %b : i1\n"
            "    linalg.yield %m : i1",
        ),
        "bool",
        lambda x: x.any(1),
    ),
    "signed_max_i64_select": (
        _lone_reduction(
            "tensor<6x9xi64>",
            "tensor<6xi64>",
            "affine_map<(d0, d1) -> (d0, d1)>",
            "affine_map<(d0, d1) -> (d0)>",
            '"parallel", "reduction"',
            "-9223372036854775808",
            "    %c = arith.cmpi slt, %a, %b : i64\n    %m = arith.select %c, %b, %a : i64\n"
            "    linalg.yield %m : i64",
        ),
        "int64",
        lambda x: x.max(-1),
    ),
    "sum_i32_axis0": (
        _lone_reduction(
            "tensor<6x9xi32>",
            "tensor<1x9xi32>",
            "affine_map<(d0, d1) -> (d0, d1)>",
            "affine_map<(d0, d1) -> (0, d1)>",
            '"reduction", "parallel"',
            "3",
            "    %s = arith.addi %a, %b : i32\n    linalg.yield %s : i32",
        ),
        "int32",
        lambda x: x.sum(0, keepdims=True, dtype=np.int32) + np.int32(3),
    ),
}


def _input(text: str, dtype: str, rng: np.random.Generator) -> np.ndarray:
    shape_text = text.split("%x: tensor<", 1)[1].split(">", 1)[0]
    shape = tuple(int(s) for s in shape_text.split("x")[:-1])
    if dtype == "bool":
        x = rng.random(shape) < 0.8
        x.reshape(-1, shape[-1])[0] = True  # a row that is all true
        x.reshape(-1, shape[-1])[1] = False  # and one that is all false
        return x
    if dtype.startswith("int"):
        return rng.integers(-1000, 1000, shape).astype(dtype)
    return rng.standard_normal(shape).astype(dtype)


@pytest.mark.parametrize("case", list(LONE))
def test_lone_reduction_matches_numpy(case):
    text, dtype, reference = LONE[case]
    x = _input(text, dtype, np.random.default_rng(0))
    lowered = lower_module(text)
    (launch,) = lowered.launches()
    assert launch.kernel_name == "main_contraction_0"
    (out,) = run_plan_interpreted(lowered, x)
    expected = reference(x)
    assert out.shape == expected.shape and out.dtype == expected.dtype
    if dtype.startswith("float"):
        tolerance = 1e-5 if dtype == "float32" else 1e-3
        scale = max(1.0, float(np.abs(expected).max()))
        assert np.abs(out.astype(np.float64) - expected).max() / scale < tolerance
    else:
        assert np.array_equal(out, expected)


_LAYER_NORM_STATISTICS = """
#id = affine_map<(d0, d1, d2) -> (d0, d1, d2)>
#row = affine_map<(d0, d1, d2) -> (d0, d1, 0)>
#scalar = affine_map<(d0, d1, d2) -> ()>
func.func @main(%x: tensor<2x5x37xf32>, %y: tensor<2x5x37xf32>, %n: tensor<f32>, %n64: tensor<f64>,
                %eps: tensor<f32>) -> (tensor<2x5x37xf32>, tensor<2x5x1xf32>, tensor<2x5x1xf32>) {
  %h, %mean, %rstd = mirage.kernel (%x, %y, %n, %n64, %eps) : (tensor<2x5x37xf32>, tensor<2x5x37xf32>, tensor<f32>, tensor<f64>, tensor<f32>) -> (tensor<2x5x37xf32>, tensor<2x5x1xf32>, tensor<2x5x1xf32>) attributes {template = "row_reduction"} {
  ^bb0(%a: tensor<2x5x37xf32>, %b: tensor<2x5x37xf32>, %cn: tensor<f32>, %cn64: tensor<f64>, %ceps: tensor<f32>):
    %e0 = tensor.empty() : tensor<2x5x37xf32>
    %sum = linalg.generic {indexing_maps = [#id, #id, #id], iterator_types = ["parallel", "parallel", "parallel"]} ins(%a, %b : tensor<2x5x37xf32>, tensor<2x5x37xf32>) outs(%e0 : tensor<2x5x37xf32>) {
    ^bb0(%p: f32, %q: f32, %o: f32):
      %t = arith.addf %p, %q : f32
      linalg.yield %t : f32
    } -> tensor<2x5x37xf32>
    %e1 = tensor.empty() : tensor<2x5x1xf32>
    %zero = arith.constant 0.0 : f32
    %f1 = linalg.fill ins(%zero : f32) outs(%e1 : tensor<2x5x1xf32>) -> tensor<2x5x1xf32>
    %total = linalg.generic {indexing_maps = [#id, #row], iterator_types = ["parallel", "parallel", "reduction"]} ins(%sum : tensor<2x5x37xf32>) outs(%f1 : tensor<2x5x1xf32>) {
    ^bb0(%p: f32, %o: f32):
      %t = arith.addf %p, %o : f32
      linalg.yield %t : f32
    } -> tensor<2x5x1xf32>
    %e2 = tensor.empty() : tensor<2x5x1xf32>
    %mu = linalg.generic {indexing_maps = [#id, #scalar, #id], iterator_types = ["parallel", "parallel", "parallel"]} ins(%total, %cn : tensor<2x5x1xf32>, tensor<f32>) outs(%e2 : tensor<2x5x1xf32>) {
    ^bb0(%p: f32, %q: f32, %o: f32):
      %t = arith.divf %p, %q : f32
      linalg.yield %t : f32
    } -> tensor<2x5x1xf32>
    %e3 = tensor.empty() : tensor<2x5x37xf64>
    %wide = linalg.generic {indexing_maps = [#id, #id], iterator_types = ["parallel", "parallel", "parallel"]} ins(%sum : tensor<2x5x37xf32>) outs(%e3 : tensor<2x5x37xf64>) {
    ^bb0(%p: f32, %o: f64):
      %t = arith.extf %p : f32 to f64
      linalg.yield %t : f64
    } -> tensor<2x5x37xf64>
    %e4 = tensor.empty() : tensor<2x5x1xf64>
    %zero64 = arith.constant 0.0 : f64
    %f4 = linalg.fill ins(%zero64 : f64) outs(%e4 : tensor<2x5x1xf64>) -> tensor<2x5x1xf64>
    %total64 = linalg.generic {indexing_maps = [#id, #row], iterator_types = ["parallel", "parallel", "reduction"]} ins(%wide : tensor<2x5x37xf64>) outs(%f4 : tensor<2x5x1xf64>) {
    ^bb0(%p: f64, %o: f64):
      %t = arith.addf %p, %o : f64
      linalg.yield %t : f64
    } -> tensor<2x5x1xf64>
    %e5 = tensor.empty() : tensor<2x5x1xf64>
    %mu64 = linalg.generic {indexing_maps = [#id, #scalar, #id], iterator_types = ["parallel", "parallel", "parallel"]} ins(%total64, %cn64 : tensor<2x5x1xf64>, tensor<f64>) outs(%e5 : tensor<2x5x1xf64>) {
    ^bb0(%p: f64, %q: f64, %o: f64):
      %t = arith.divf %p, %q : f64
      linalg.yield %t : f64
    } -> tensor<2x5x1xf64>
    %e6 = tensor.empty() : tensor<2x5x37xf64>
    %centred = linalg.generic {indexing_maps = [#id, #row, #id], iterator_types = ["parallel", "parallel", "parallel"]} ins(%wide, %mu64 : tensor<2x5x37xf64>, tensor<2x5x1xf64>) outs(%e6 : tensor<2x5x37xf64>) {
    ^bb0(%p: f64, %q: f64, %o: f64):
      %t = arith.subf %p, %q : f64
      %s = arith.mulf %t, %t : f64
      linalg.yield %s : f64
    } -> tensor<2x5x37xf64>
    %f7 = linalg.fill ins(%zero64 : f64) outs(%e4 : tensor<2x5x1xf64>) -> tensor<2x5x1xf64>
    %squares = linalg.generic {indexing_maps = [#id, #row], iterator_types = ["parallel", "parallel", "reduction"]} ins(%centred : tensor<2x5x37xf64>) outs(%f7 : tensor<2x5x1xf64>) {
    ^bb0(%p: f64, %o: f64):
      %t = arith.addf %p, %o : f64
      linalg.yield %t : f64
    } -> tensor<2x5x1xf64>
    %e8 = tensor.empty() : tensor<2x5x1xf32>
    %var = linalg.generic {indexing_maps = [#id, #scalar, #id], iterator_types = ["parallel", "parallel", "parallel"]} ins(%squares, %cn64 : tensor<2x5x1xf64>, tensor<f64>) outs(%e8 : tensor<2x5x1xf32>) {
    ^bb0(%p: f64, %q: f64, %o: f32):
      %t = arith.divf %p, %q : f64
      %u = arith.truncf %t : f64 to f32
      linalg.yield %u : f32
    } -> tensor<2x5x1xf32>
    %e9 = tensor.empty() : tensor<2x5x1xf32>
    %r = linalg.generic {indexing_maps = [#id, #scalar, #id], iterator_types = ["parallel", "parallel", "parallel"]} ins(%var, %ceps : tensor<2x5x1xf32>, tensor<f32>) outs(%e9 : tensor<2x5x1xf32>) {
    ^bb0(%p: f32, %q: f32, %o: f32):
      %t = arith.addf %p, %q : f32
      %u = math.rsqrt %t : f32
      linalg.yield %u : f32
    } -> tensor<2x5x1xf32>
    mirage.yield %sum, %mu, %r : tensor<2x5x37xf32>, tensor<2x5x1xf32>, tensor<2x5x1xf32>
  }
  func.return %h, %mean, %rstd : tensor<2x5x37xf32>, tensor<2x5x1xf32>, tensor<2x5x1xf32>
}
"""


def test_layer_norm_statistics_in_f64_with_row_outputs():
    rng = np.random.default_rng(1)
    # A large common offset: a mean and variance taken in f32, not f64, miss 1e-5.
    x = (rng.standard_normal((2, 5, 37)) + 300.0).astype(np.float32)
    y = rng.standard_normal((2, 5, 37)).astype(np.float32)
    n, n64, eps = np.float32(37), np.float64(37), np.float32(1e-5)
    lowered = lower_module(_LAYER_NORM_STATISTICS)
    (launch,) = lowered.launches()
    assert launch.kernel_name == "main_row_reduction_0" and launch.grid_sizes == (
        10,
        1,
        1,
    )
    h, mean, rstd = run_plan_interpreted(lowered, x, y, n, n64, eps)
    s = x + y
    wide = s.astype(np.float64)
    centred = wide - wide.sum(-1, keepdims=True) / n64
    var = ((centred * centred).sum(-1, keepdims=True) / n64).astype(np.float32)
    np.testing.assert_array_equal(h, s)
    np.testing.assert_allclose(
        mean, s.sum(-1, keepdims=True, dtype=np.float32) / n, rtol=1e-6
    )
    np.testing.assert_allclose(rstd, 1 / np.sqrt(var + eps), rtol=1e-5)


_SOFTMAX_BY_HAND = """
#id = affine_map<(d0, d1, d2) -> (d0, d1, d2)>
#row = affine_map<(d0, d1, d2) -> (d0, d1, 0)>
#dropped = affine_map<(d0, d1, d2) -> (d0, d1)>
func.func @main(%x: tensor<3x4x19xf32>) -> (tensor<3x4x19xf32>, tensor<3x4xf32>, tensor<3x4x1xf32>) {
  %p, %m, %s = mirage.kernel (%x) : (tensor<3x4x19xf32>) -> (tensor<3x4x19xf32>, tensor<3x4xf32>, tensor<3x4x1xf32>) attributes {template = "row_reduction"} {
  ^bb0(%a: tensor<3x4x19xf32>):
    %ninf = arith.constant 0xFF800000 : f32
    %e0 = tensor.empty() : tensor<3x4xf32>
    %f0 = linalg.fill ins(%ninf : f32) outs(%e0 : tensor<3x4xf32>) -> tensor<3x4xf32>
    %max = linalg.generic {indexing_maps = [#id, #dropped], iterator_types = ["parallel", "parallel", "reduction"]} ins(%a : tensor<3x4x19xf32>) outs(%f0 : tensor<3x4xf32>) {
    ^bb0(%v: f32, %o: f32):
      %t = arith.maximumf %v, %o : f32
      linalg.yield %t : f32
    } -> tensor<3x4xf32>
    %e1 = tensor.empty() : tensor<3x4x19xf32>
    %exp = linalg.generic {indexing_maps = [#id, #dropped, #id], iterator_types = ["parallel", "parallel", "parallel"]} ins(%a, %max : tensor<3x4x19xf32>, tensor<3x4xf32>) outs(%e1 : tensor<3x4x19xf32>) {
    ^bb0(%v: f32, %w: f32, %o: f32):
      %t = arith.subf %v, %w : f32
      %u = math.exp %t : f32
      linalg.yield %u : f32
    } -> tensor<3x4x19xf32>
    %zero = arith.constant 0.0 : f32
    %e2 = tensor.empty() : tensor<3x4x1xf32>
    %f2 = linalg.fill ins(%zero : f32) outs(%e2 : tensor<3x4x1xf32>) -> tensor<3x4x1xf32>
    %sum = linalg.generic {indexing_maps = [#id, #row], iterator_types = ["parallel", "parallel", "reduction"]} ins(%exp : tensor<3x4x19xf32>) outs(%f2 : tensor<3x4x1xf32>) {
    ^bb0(%v: f32, %o: f32):
      %t = arith.addf %v, %o : f32
      linalg.yield %t : f32
    } -> tensor<3x4x1xf32>
    %e3 = tensor.empty() : tensor<3x4x19xf32>
    %probs = linalg.generic {indexing_maps = [#id, #row, #id], iterator_types = ["parallel", "parallel", "parallel"]} ins(%exp, %sum : tensor<3x4x19xf32>, tensor<3x4x1xf32>) outs(%e3 : tensor<3x4x19xf32>) {
    ^bb0(%v: f32, %w: f32, %o: f32):
      %t = arith.divf %v, %w : f32
      linalg.yield %t : f32
    } -> tensor<3x4x19xf32>
    mirage.yield %probs, %max, %sum : tensor<3x4x19xf32>, tensor<3x4xf32>, tensor<3x4x1xf32>
  }
  func.return %p, %m, %s : tensor<3x4x19xf32>, tensor<3x4xf32>, tensor<3x4x1xf32>
}
"""


def test_softmax_by_hand_stores_dropped_and_kept_row_statistics():
    x = np.random.default_rng(2).standard_normal((3, 4, 19)).astype(np.float32)
    lowered = lower_module(_SOFTMAX_BY_HAND)
    (launch,) = lowered.launches()
    assert launch.kernel_name == "main_row_reduction_0" and launch.grid_sizes == (
        12,
        1,
        1,
    )
    probs, row_max, total = run_plan_interpreted(lowered, x)
    numerators = np.exp(x - x.max(-1, keepdims=True))
    np.testing.assert_array_equal(row_max, x.max(-1))
    np.testing.assert_allclose(total, numerators.sum(-1, keepdims=True), rtol=1e-6)
    np.testing.assert_allclose(
        probs, numerators / numerators.sum(-1, keepdims=True), rtol=1e-6
    )


_MASKED_SOFTMAX = """
#id = affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>
#heads = affine_map<(d0, d1, d2, d3) -> (d0, 0, d2, d3)>
#row = affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, 0)>
#scalar = affine_map<(d0, d1, d2, d3) -> ()>
func.func @main(%x: tensor<1x3x8x8xf32>, %mask: tensor<1x1x8x8xf32>) -> tensor<1x3x8x8xf32> {
  %ninf = arith.constant dense<0xFFF0000000000000> : tensor<f64>
  %fill = arith.constant dense<0.0> : tensor<f32>
  %out = mirage.kernel (%x, %mask, %ninf, %fill) : (tensor<1x3x8x8xf32>, tensor<1x1x8x8xf32>, tensor<f64>, tensor<f32>) -> tensor<1x3x8x8xf32> attributes {template = "row_reduction"} {
  ^bb0(%a: tensor<1x3x8x8xf32>, %b: tensor<1x1x8x8xf32>, %c: tensor<f64>, %d: tensor<f32>):
    %e0 = tensor.empty() : tensor<1x3x8x8xf32>
    %scores = linalg.generic {indexing_maps = [#id, #heads, #id], iterator_types = ["parallel", "parallel", "parallel", "parallel"]} ins(%a, %b : tensor<1x3x8x8xf32>, tensor<1x1x8x8xf32>) outs(%e0 : tensor<1x3x8x8xf32>) {
    ^bb0(%p: f32, %q: f32, %o: f32):
      %t = arith.addf %p, %q : f32
      linalg.yield %t : f32
    } -> tensor<1x3x8x8xf32>
    %e1 = tensor.empty() : tensor<1x3x8x8xi1>
    %masked = linalg.generic {indexing_maps = [#id, #scalar, #id], iterator_types = ["parallel", "parallel", "parallel", "parallel"]} ins(%scores, %c : tensor<1x3x8x8xf32>, tensor<f64>) outs(%e1 : tensor<1x3x8x8xi1>) {
    ^bb0(%p: f32, %q: f64, %o: i1):
      %w = arith.extf %p : f32 to f64
      %t = arith.cmpf oeq, %w, %q : f64
      linalg.yield %t : i1
    } -> tensor<1x3x8x8xi1>
    %true = arith.constant true
    %e2 = tensor.empty() : tensor<1x3x8x1xi1>
    %f2 = linalg.fill ins(%true : i1) outs(%e2 : tensor<1x3x8x1xi1>) -> tensor<1x3x8x1xi1>
    %all = linalg.generic {indexing_maps = [#id, #row], iterator_types = ["parallel", "parallel", "parallel", "reduction"]} ins(%masked : tensor<1x3x8x8xi1>) outs(%f2 : tensor<1x3x8x1xi1>) {
    ^bb0(%p: i1, %o: i1):
      %t = arith.cmpi ult, %p, %o : i1
      %u = arith.select %t, %p, %o : i1
      linalg.yield %u : i1
    } -> tensor<1x3x8x1xi1>
    %soft = mirage.softmax %scores axis = -1 : tensor<1x3x8x8xf32>
    %e3 = tensor.empty() : tensor<1x3x8x8xf32>
    %y = linalg.generic {indexing_maps = [#row, #scalar, #id, #id], iterator_types = ["parallel", "parallel", "parallel", "parallel"]} ins(%all, %d, %soft : tensor<1x3x8x1xi1>, tensor<f32>, tensor<1x3x8x8xf32>) outs(%e3 : tensor<1x3x8x8xf32>) {
    ^bb0(%p: i1, %q: f32, %r: f32, %o: f32):
      %t = arith.select %p, %q, %r : f32
      linalg.yield %t : f32
    } -> tensor<1x3x8x8xf32>
    mirage.yield %y : tensor<1x3x8x8xf32>
  }
  func.return %out : tensor<1x3x8x8xf32>
}
"""


def test_all_over_masked_rows_before_softmax():
    rng = np.random.default_rng(3)
    x = rng.standard_normal((1, 3, 8, 8)).astype(np.float32)
    mask = np.where(np.triu(np.ones((8, 8)), 1) > 0, -np.inf, 0.0).astype(np.float32)
    mask[2] = -np.inf  # one fully masked row
    mask = mask.reshape(1, 1, 8, 8)
    lowered = lower_module(_MASKED_SOFTMAX)
    (launch,) = lowered.launches()
    assert launch.kernel_name == "main_row_reduction_0"
    (out,) = run_plan_interpreted(lowered, x, mask)
    scores = x + mask
    with np.errstate(invalid="ignore"):
        numerators = np.exp(scores - scores.max(-1, keepdims=True))
        soft = numerators / numerators.sum(-1, keepdims=True)
    expected = np.where(np.isneginf(scores).all(-1, keepdims=True), 0.0, soft)
    assert np.isfinite(out).all() and (out[0, :, 2] == 0).all()
    np.testing.assert_allclose(out, expected, rtol=1e-6, atol=1e-7)


_RMS_NORM = """
#id = affine_map<(d0, d1, d2) -> (d0, d1, d2)>
#row = affine_map<(d0, d1, d2) -> (d0, d1, 0)>
#scalar = affine_map<(d0, d1, d2) -> ()>
#last = affine_map<(d0, d1, d2) -> (d2)>
func.func @main(%x: tensor<2x3x64xf32>, %w: tensor<64xf32>) -> tensor<2x3x64xf32> {
  %n = arith.constant dense<64.0> : tensor<f32>
  %eps = arith.constant dense<1.0e-6> : tensor<f32>
  %out = mirage.kernel (%x, %n, %eps, %w) : (tensor<2x3x64xf32>, tensor<f32>, tensor<f32>, tensor<64xf32>) -> tensor<2x3x64xf32> attributes {template = "row_reduction"} {
  ^bb0(%a: tensor<2x3x64xf32>, %cn: tensor<f32>, %ceps: tensor<f32>, %cw: tensor<64xf32>):
    %e0 = tensor.empty() : tensor<2x3x64xf32>
    %sq = linalg.generic {indexing_maps = [#id, #id, #id], iterator_types = ["parallel", "parallel", "parallel"]} ins(%a, %a : tensor<2x3x64xf32>, tensor<2x3x64xf32>) outs(%e0 : tensor<2x3x64xf32>) {
    ^bb0(%p: f32, %q: f32, %o: f32):
      %t = arith.mulf %p, %q : f32
      linalg.yield %t : f32
    } -> tensor<2x3x64xf32>
    %zero = arith.constant 0.0 : f32
    %e1 = tensor.empty() : tensor<2x3x1xf32>
    %f1 = linalg.fill ins(%zero : f32) outs(%e1 : tensor<2x3x1xf32>) -> tensor<2x3x1xf32>
    %total = linalg.generic {indexing_maps = [#id, #row], iterator_types = ["parallel", "parallel", "reduction"]} ins(%sq : tensor<2x3x64xf32>) outs(%f1 : tensor<2x3x1xf32>) {
    ^bb0(%p: f32, %o: f32):
      %t = arith.addf %p, %o : f32
      linalg.yield %t : f32
    } -> tensor<2x3x1xf32>
    %e2 = tensor.empty() : tensor<2x3x1xf32>
    %r = linalg.generic {indexing_maps = [#id, #scalar, #scalar, #id], iterator_types = ["parallel", "parallel", "parallel"]} ins(%total, %cn, %ceps : tensor<2x3x1xf32>, tensor<f32>, tensor<f32>) outs(%e2 : tensor<2x3x1xf32>) {
    ^bb0(%p: f32, %q: f32, %s: f32, %o: f32):
      %t = arith.divf %p, %q : f32
      %u = arith.addf %t, %s : f32
      %v = math.rsqrt %u : f32
      linalg.yield %v : f32
    } -> tensor<2x3x1xf32>
    %e3 = tensor.empty() : tensor<2x3x64xf32>
    %y = linalg.generic {indexing_maps = [#id, #row, #last, #id], iterator_types = ["parallel", "parallel", "parallel"]} ins(%a, %r, %cw : tensor<2x3x64xf32>, tensor<2x3x1xf32>, tensor<64xf32>) outs(%e3 : tensor<2x3x64xf32>) {
    ^bb0(%p: f32, %q: f32, %s: f32, %o: f32):
      %t = arith.mulf %p, %q : f32
      %u = arith.mulf %s, %t : f32
      linalg.yield %u : f32
    } -> tensor<2x3x64xf32>
    mirage.yield %y : tensor<2x3x64xf32>
  }
  func.return %out : tensor<2x3x64xf32>
}
"""


def test_rms_norm_group():
    rng = np.random.default_rng(4)
    x = rng.standard_normal((2, 3, 64)).astype(np.float32)
    w = rng.standard_normal(64).astype(np.float32)
    (out,) = run_plan_interpreted(lower_module(_RMS_NORM), x, w)
    expected = w * (x / np.sqrt((x * x).mean(-1, keepdims=True) + 1e-6))
    np.testing.assert_allclose(out, expected, rtol=1e-5, atol=1e-6)


ROW_GROUPS = {
    "layer_norm_f64": _LAYER_NORM_STATISTICS,
    "softmax_by_hand": _SOFTMAX_BY_HAND,
    "masked_softmax": _MASKED_SOFTMAX,
    "rms_norm": _RMS_NORM,
}


@pytest.mark.slow
def test_every_reduction_kernel_compiles_for_sm90(triton_cache):
    pytest.importorskip("triton")
    from mirage_mlir.lowering.staging import TritonOptions, compile_ttir

    texts = [text for text, _, _ in LONE.values()] + list(ROW_GROUPS.values())
    for text in texts:
        for name, ttir in lower_module(text).kernels:
            assert compile_ttir(ttir, TritonOptions(arch=90)).name == name
