"""The vectorised NumPy semantics of linalg, arith and math ops in kernel bodies.

Each case is MLIR text run by `mirage_interpreter` and compared with NumPy,
and one reduction is cross-checked against xDSL's own scalar interpreter.
"""

from __future__ import annotations

import numpy as np
import pytest
from xdsl.context import Context
from xdsl.dialects import arith, builtin, func, linalg, math, tensor
from xdsl.interpreter import Interpreter
from xdsl.interpreters.arith import ArithFunctions
from xdsl.interpreters.func import FuncFunctions
from xdsl.interpreters.linalg import LinalgFunctions
from xdsl.interpreters.shaped_array import ShapedArray
from xdsl.interpreters.tensor import TensorFunctions
from xdsl.interpreters.utils.ptr import TypedPtr
from xdsl.parser import Parser
from xdsl.utils.exceptions import InterpretationError

from mirage_mlir.dialects.mirage import Mirage
from mirage_mlir.interpreters.mirage import run_function


def parse(text: str) -> builtin.ModuleOp:
    ctx = Context()
    for dialect in (builtin.Builtin, func.Func, arith.Arith, linalg.Linalg,
                    tensor.Tensor, math.Math, Mirage):
        ctx.load_dialect(dialect)
    module = Parser(ctx, text).parse_module()
    module.verify()
    return module


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(1)


BROADCAST_ADD = """
func.func @main(%x: tensor<4x8xf32>, %row: tensor<1x8xf32>, %col: tensor<4xf32>) -> tensor<8x4xf32> {
  %e = tensor.empty() : tensor<8x4xf32>
  %r = linalg.generic {indexing_maps = [affine_map<(d0, d1) -> (d0, d1)>, affine_map<(d0, d1) -> (0, d1)>, affine_map<(d0, d1) -> (d0)>, affine_map<(d0, d1) -> (d1, d0)>], iterator_types = ["parallel", "parallel"]} ins(%x, %row, %col : tensor<4x8xf32>, tensor<1x8xf32>, tensor<4xf32>) outs(%e : tensor<8x4xf32>) {
  ^bb0(%a: f32, %b: f32, %c: f32, %o: f32):
    %s = arith.addf %a, %b : f32
    %m = arith.mulf %s, %c : f32
    %t = math.tanh %m : f32
    linalg.yield %t : f32
  } -> tensor<8x4xf32>
  func.return %r : tensor<8x4xf32>
}
"""


def test_elementwise_generic_with_broadcast_maps_and_transposed_output(rng):
    x, row, col = rng.standard_normal((4, 8)), rng.standard_normal((1, 8)), rng.standard_normal(4)
    x, row, col = (a.astype(np.float32) for a in (x, row, col))
    (out,) = run_function(parse(BROADCAST_ADD), "main", x, row, col)
    np.testing.assert_allclose(out, np.tanh((x + row) * col[:, None]).T, atol=1e-6)
    assert out.dtype == np.float32


INDEXED_SUM = """
func.func @main(%x: tensor<3x5xf32>) -> tensor<3xf32> {
  %z = arith.constant 0.0 : f32
  %e = tensor.empty() : tensor<3xf32>
  %f = linalg.fill ins(%z : f32) outs(%e : tensor<3xf32>) -> tensor<3xf32>
  %r = linalg.generic {indexing_maps = [affine_map<(d0, d1) -> (d0, d1)>, affine_map<(d0, d1) -> (d0)>], iterator_types = ["parallel", "reduction"]} ins(%x : tensor<3x5xf32>) outs(%f : tensor<3xf32>) {
  ^bb0(%in: f32, %acc: f32):
    %i = linalg.index 0 : index
    %j = linalg.index 1 : index
    %k = arith.addi %i, %j : index
    %ki = arith.index_cast %k : index to i64
    %kf = arith.sitofp %ki : i64 to f32
    %p = arith.mulf %in, %kf : f32
    %q = arith.addf %p, %acc : f32
    linalg.yield %q : f32
  } -> tensor<3xf32>
  func.return %r : tensor<3xf32>
}
"""


def test_reduction_with_linalg_index(rng):
    x = rng.standard_normal((3, 5)).astype(np.float32)
    (out,) = run_function(parse(INDEXED_SUM), "main", x)
    weights = np.arange(3)[:, None] + np.arange(5)[None, :]
    np.testing.assert_allclose(out, (x * weights).sum(1), atol=1e-5)


def test_reduction_matches_xdsl_scalar_interpreter(rng):
    """The vectorised runner and xDSL's per-point loop agree on a max reduction."""
    text = """
    func.func @main(%x: tensor<3x4xf32>, %init: tensor<3xf32>) -> tensor<3xf32> {
      %r = linalg.generic {indexing_maps = [affine_map<(d0, d1) -> (d0, d1)>, affine_map<(d0, d1) -> (d0)>], iterator_types = ["parallel", "reduction"]} ins(%x : tensor<3x4xf32>) outs(%init : tensor<3xf32>) {
      ^bb0(%in: f32, %acc: f32):
        %m = arith.maximumf %in, %acc : f32
        linalg.yield %m : f32
      } -> tensor<3xf32>
      func.return %r : tensor<3xf32>
    }"""
    module = parse(text)
    x = rng.standard_normal((3, 4)).astype(np.float32)
    init = np.full(3, -np.inf, np.float32)
    (ours,) = run_function(module, "main", x, init)

    scalar = Interpreter(module)
    for functions in (FuncFunctions(), ArithFunctions(), LinalgFunctions(), TensorFunctions()):
        scalar.register_implementations(functions)

    def shaped(a: np.ndarray) -> ShapedArray[float]:
        return ShapedArray(TypedPtr.new_float32([float(v) for v in a.ravel()]), list(a.shape))

    (theirs,) = scalar.call_op("main", (shaped(x), shaped(init)))
    np.testing.assert_allclose(ours, np.asarray(theirs.data).reshape(3), atol=0)
    np.testing.assert_allclose(ours, x.max(1))


CAUSAL_MASK = """
func.func @main(%s: tensor<4x4xf32>) -> tensor<4x4xf32> {
  %ninf = arith.constant 0xFF800000 : f32
  %e = tensor.empty() : tensor<4x4xf32>
  %r = linalg.generic {indexing_maps = [affine_map<(d0, d1) -> (d0, d1)>, affine_map<(d0, d1) -> (d0, d1)>], iterator_types = ["parallel", "parallel"]} ins(%s : tensor<4x4xf32>) outs(%e : tensor<4x4xf32>) {
  ^bb0(%in: f32, %o: f32):
    %i = linalg.index 0 : index
    %j = linalg.index 1 : index
    %keep = arith.cmpi sle, %j, %i : index
    %v = arith.select %keep, %in, %ninf : f32
    linalg.yield %v : f32
  } -> tensor<4x4xf32>
  func.return %r : tensor<4x4xf32>
}
"""


def test_causal_mask_with_cmpi_and_select(rng):
    s = rng.standard_normal((4, 4)).astype(np.float32)
    (out,) = run_function(parse(CAUSAL_MASK), "main", s)
    np.testing.assert_array_equal(out, np.where(np.tri(4, dtype=bool), s, -np.inf))


NAMED_OPS = """
func.func @main(%a: tensor<4x6xf32>, %b: tensor<6x5xf32>, %v: tensor<5xf32>) -> (tensor<5x4xf32>, tensor<4x5xf32>) {
  %z = arith.constant 0.0 : f32
  %e = tensor.empty() : tensor<4x5xf32>
  %f = linalg.fill ins(%z : f32) outs(%e : tensor<4x5xf32>) -> tensor<4x5xf32>
  %m = linalg.matmul ins(%a, %b : tensor<4x6xf32>, tensor<6x5xf32>) outs(%f : tensor<4x5xf32>) -> tensor<4x5xf32>
  %bv = linalg.broadcast ins(%v : tensor<5xf32>) outs(%e : tensor<4x5xf32>) dimensions = [0]
  %s = linalg.add ins(%m, %bv : tensor<4x5xf32>, tensor<4x5xf32>) outs(%e : tensor<4x5xf32>) -> tensor<4x5xf32>
  %x = linalg.exp ins(%s : tensor<4x5xf32>) outs(%e : tensor<4x5xf32>) -> tensor<4x5xf32>
  %et = tensor.empty() : tensor<5x4xf32>
  %t = linalg.transpose ins(%x : tensor<4x5xf32>) outs(%et : tensor<5x4xf32>) permutation = [1, 0]
  func.return %t, %s : tensor<5x4xf32>, tensor<4x5xf32>
}
"""


def test_named_linalg_ops(rng):
    a, b, v = (rng.standard_normal(s).astype(np.float32) for s in ((4, 6), (6, 5), (5,)))
    t, s = run_function(parse(NAMED_OPS), "main", a, b, v)
    np.testing.assert_allclose(s, a @ b + v, atol=1e-5)
    np.testing.assert_allclose(t, np.exp(a @ b + v).T, rtol=1e-5)


KERNEL_WITH_LINALG = """
func.func @main(%x: tensor<4x8xf32>, %w: tensor<8xf32>) -> (tensor<4x8xf32>, tensor<4xf32>) {
  %r:2 = mirage.kernel (%x, %w) : (tensor<4x8xf32>, tensor<8xf32>) -> (tensor<4x8xf32>, tensor<4xf32>) {
  ^bb0(%a: tensor<4x8xf32>, %b: tensor<8xf32>):
    %n = mirage.rms_norm %a, %b eps 1.0e-6 : tensor<4x8xf32>, tensor<8xf32>
    %e = tensor.empty() : tensor<4x8xf32>
    %t = linalg.generic {indexing_maps = [affine_map<(d0, d1) -> (d0, d1)>, affine_map<(d0, d1) -> (d0, d1)>], iterator_types = ["parallel", "parallel"]} ins(%n : tensor<4x8xf32>) outs(%e : tensor<4x8xf32>) {
    ^bb1(%in: f32, %out: f32):
      %th = math.tanh %in : f32
      linalg.yield %th : f32
    } -> tensor<4x8xf32>
    %z = arith.constant 0.0 : f32
    %e2 = tensor.empty() : tensor<4xf32>
    %f = linalg.fill ins(%z : f32) outs(%e2 : tensor<4xf32>) -> tensor<4xf32>
    %s = linalg.generic {indexing_maps = [affine_map<(d0, d1) -> (d0, d1)>, affine_map<(d0, d1) -> (d0)>], iterator_types = ["parallel", "reduction"]} ins(%t : tensor<4x8xf32>) outs(%f : tensor<4xf32>) {
    ^bb1(%in: f32, %acc: f32):
      %q = arith.addf %in, %acc : f32
      linalg.yield %q : f32
    } -> tensor<4xf32>
    mirage.yield %t, %s : tensor<4x8xf32>, tensor<4xf32>
  }
  func.return %r#0, %r#1 : tensor<4x8xf32>, tensor<4xf32>
}
"""


def test_kernel_body_with_mirage_and_linalg_ops(rng):
    x, w = rng.standard_normal((4, 8)).astype(np.float32), rng.standard_normal(8).astype(np.float32)
    t, s = run_function(parse(KERNEL_WITH_LINALG), "main", x, w)
    expected = np.tanh(x / np.sqrt((x * x).mean(-1, keepdims=True) + 1e-6) * w)
    np.testing.assert_allclose(t, expected, atol=1e-6)
    np.testing.assert_allclose(s, expected.sum(-1), atol=1e-5)


def test_dense_tensor_constant_in_a_kernel():
    text = """
    func.func @main(%x: tensor<2x2xf32>) -> tensor<2x2xf32> {
      %r = mirage.kernel (%x) : (tensor<2x2xf32>) -> tensor<2x2xf32> {
      ^bb0(%a: tensor<2x2xf32>):
        %c = arith.constant dense<[[1.0, 2.0], [3.0, 4.0]]> : tensor<2x2xf32>
        %s = arith.constant dense<0.5> : tensor<2x2xf32>
        %m = arith.mulf %a, %c : tensor<2x2xf32>
        %p = arith.addf %m, %s : tensor<2x2xf32>
        mirage.yield %p : tensor<2x2xf32>
      }
      func.return %r : tensor<2x2xf32>
    }"""
    x = np.ones((2, 2), np.float32)
    (out,) = run_function(parse(text), "main", x)
    np.testing.assert_array_equal(out, [[1.5, 2.5], [3.5, 4.5]])


def test_non_projected_maps_are_reported():
    text = """
    func.func @main(%x: tensor<4xf32>) -> tensor<2xf32> {
      %e = tensor.empty() : tensor<2xf32>
      %r = linalg.generic {indexing_maps = [affine_map<(d0) -> (d0 * 2)>, affine_map<(d0) -> (d0)>], iterator_types = ["parallel"]} ins(%x : tensor<4xf32>) outs(%e : tensor<2xf32>) {
      ^bb0(%in: f32, %o: f32):
        linalg.yield %in : f32
      } -> tensor<2xf32>
      func.return %r : tensor<2xf32>
    }"""
    with pytest.raises(InterpretationError, match="not a projected permutation"):
        run_function(parse(text), "main", np.ones(4, np.float32))
