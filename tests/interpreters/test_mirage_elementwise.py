"""The NumPy arith/tensor/cf implementations of `mirage_elementwise` against MLIR's JIT.

An embedding-style body (an index bounds check by `cf.assert`, a `tensor.extract` gather with
index arrays over the loop space, and `arith.uitofp` of i8 bits) runs through the mirage
interpreter and through MLIR's execution engine on the same inputs.
"""

from __future__ import annotations

import numpy as np
import pytest
from xdsl.interpreter import InterpretationError

from mirage_mlir.dialects.context import parse_mlir
from mirage_mlir.interpreters.mirage import run_function

GATHER = """
#rows = affine_map<(d0, d1) -> (d0)>
#all = affine_map<(d0, d1) -> (d0, d1)>
func.func @main(%idx: tensor<3xi64>, %table: tensor<5x2xf32>, %bits: tensor<3x2xi8>) -> tensor<3x2xf32> {
  %e = tensor.empty() : tensor<3x2xf32>
  %r = linalg.generic {indexing_maps = [#rows, #all, #all], iterator_types = ["parallel", "parallel"]} ins(%idx, %bits : tensor<3xi64>, tensor<3x2xi8>) outs(%e : tensor<3x2xf32>) {
  ^bb0(%i: i64, %b: i8, %out: f32):
    %c5 = arith.constant 5 : i64
    %ok = arith.cmpi slt, %i, %c5 : i64
    cf.assert %ok, "index out of range"
    %row = arith.index_cast %i : i64 to index
    %col = linalg.index 1 : index
    %v = tensor.extract %table[%row, %col] : tensor<5x2xf32>
    %u = arith.uitofp %b : i8 to f32
    %s = arith.addf %v, %u : f32
    linalg.yield %s : f32
  } -> tensor<3x2xf32>
  func.return %r : tensor<3x2xf32>
}
"""

TABLE = np.arange(10, dtype=np.float32).reshape(5, 2)
#: Negative i8 values are bit patterns with the top bit set: -1 is 255, -128 is 128.
BITS = np.array([[-1, 3], [0, -128], [7, 1]], np.int8)


def test_gather_with_unsigned_bits_matches_the_jit():
    from mirage_mlir import execute_mlir

    idx = np.array([4, 0, 2], np.int64)
    (got,) = run_function(parse_mlir(GATHER), "main", idx, TABLE, BITS)
    (expected,) = execute_mlir(GATHER, idx, TABLE, BITS, function="main")
    np.testing.assert_array_equal(got, expected)
    np.testing.assert_array_equal(got, [[263, 12], [0, 129], [11, 6]])


def test_a_failed_assertion_stops_the_run_with_its_message():
    idx = np.array([4, 5, 2], np.int64)
    with pytest.raises(InterpretationError, match="assertion failed: index out of range"):
        run_function(parse_mlir(GATHER), "main", idx, TABLE, BITS)
