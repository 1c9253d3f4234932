"""The NumPy interpreter of tt kernels, checked against NumPy over whole grids."""

from __future__ import annotations

import numpy as np
import pytest
from xdsl.utils.exceptions import InterpretationError

from mirage_mlir.dialects.context import parse_mlir
from mirage_mlir.interpreters.tt import KernelError, run_kernel
from mirage_mlir.lowering import reference_kernels

TOLERANCE = 1e-5


def _cdiv(a: int, b: int) -> int:
    return -(-a // b)


@pytest.fixture
def rng():
    return np.random.default_rng(20261101)


@pytest.mark.parametrize("n", [1, 127, 128, 1000])
def test_masked_add_over_the_grid(rng, n):
    x = rng.standard_normal(n, dtype=np.float32)
    y = rng.standard_normal(n, dtype=np.float32)
    # A sentinel tail past n: masked-off lanes must not write there.
    out = np.full(n + 200, 7.0, dtype=np.float32)
    run_kernel(reference_kernels.masked_add_kernel(128), (_cdiv(n, 128),), x, y, out, n)
    assert np.abs(out[:n] - (x + y)).max() <= TOLERANCE
    assert (out[n:] == 7.0).all()


@pytest.mark.parametrize("rows, cols", [(1, 1), (5, 200), (3, 256)])
def test_row_softmax_over_the_grid(rng, rows, cols):
    x = (rng.standard_normal((rows, cols)) * 30).astype(np.float32)
    out = np.zeros_like(x)
    run_kernel(reference_kernels.row_softmax_kernel(256), (rows,), x, out, cols, cols)
    shifted = np.exp(x.astype(np.float64) - x.max(axis=1, keepdims=True))
    expected = shifted / shifted.sum(axis=1, keepdims=True)
    assert np.abs(out - expected).max() <= TOLERANCE
    assert np.isfinite(out).all()


@pytest.mark.parametrize("m, n, k", [(64, 64, 32), (100, 130, 70), (1, 3, 5)])
def test_tiled_matmul_over_the_grid(rng, m, n, k):
    a = rng.standard_normal((m, k), dtype=np.float32)
    b = rng.standard_normal((k, n), dtype=np.float32)
    c = np.zeros((m, n), dtype=np.float32)
    grid = (_cdiv(m, 64), _cdiv(n, 64))
    run_kernel(reference_kernels.matmul_kernel(64, 64, 32), grid, a, b, c, m, n, k, k, 1, n, 1, n, 1)
    expected = a.astype(np.float64) @ b.astype(np.float64)
    assert np.abs(c - expected).max() <= TOLERANCE


def test_matmul_with_transposed_strides(rng):
    # B is given as its transpose in memory: strides (1, K) instead of (N, 1).
    m, n, k = 40, 50, 60
    a = rng.standard_normal((m, k), dtype=np.float32)
    bt = rng.standard_normal((n, k), dtype=np.float32)
    c = np.zeros((m, n), dtype=np.float32)
    run_kernel(reference_kernels.matmul_kernel(32, 32, 16), (2, 2), a, bt, c, m, n, k, k, 1, 1, k, n, 1)
    assert np.abs(c - a.astype(np.float64) @ bt.T).max() <= TOLERANCE


def test_tf32_emulation_rounds_dot_inputs(rng):
    m = n = k = 32
    a = rng.standard_normal((m, k), dtype=np.float32)
    b = rng.standard_normal((k, n), dtype=np.float32)
    exact, tf32 = np.zeros((m, n), np.float32), np.zeros((m, n), np.float32)
    args = (m, n, k, k, 1, n, 1, n, 1)
    kernel = reference_kernels.matmul_kernel(32, 32, 32)
    run_kernel(kernel, (1, 1), a, b, exact, *args)
    run_kernel(kernel, (1, 1), a, b, tf32, *args, emulate_tf32=True)
    error = np.abs(tf32 - exact).max()
    # TF32 keeps 10 mantissa bits: errors of order 2**-11 * sqrt(k), not 1e-7.
    assert 1e-4 < error < 5e-2


# Triton's syntax for trans, reshape, expand_dims, broadcast, a 2-D reduce,
# bitcast, num_programs, integer division and an scf.if.
SHAPES_KERNEL = """
tt.func public @shapes(%x: !tt.ptr<f32>, %out: !tt.ptr<f32>, %sums: !tt.ptr<f32>, %ids: !tt.ptr<i32>) {
  %r = tt.make_range {end = 8 : i32, start = 0 : i32} : tensor<8xi32>
  %c4 = arith.constant dense<4> : tensor<8x1xi32>
  %rows = tt.expand_dims %r {axis = 1 : i32} : tensor<8xi32> -> tensor<8x1xi32>
  %rs = arith.muli %rows, %c4 : tensor<8x1xi32>
  %cols = tt.make_range {end = 4 : i32, start = 0 : i32} : tensor<4xi32>
  %cs = tt.expand_dims %cols {axis = 0 : i32} : tensor<4xi32> -> tensor<1x4xi32>
  %rb = tt.broadcast %rs : tensor<8x1xi32> -> tensor<8x4xi32>
  %cb = tt.broadcast %cs : tensor<1x4xi32> -> tensor<8x4xi32>
  %offs = arith.addi %rb, %cb : tensor<8x4xi32>
  %xs = tt.splat %x : !tt.ptr<f32> -> tensor<8x4x!tt.ptr<f32>>
  %xp = tt.addptr %xs, %offs : tensor<8x4x!tt.ptr<f32>>, tensor<8x4xi32>
  %v = tt.load %xp : tensor<8x4x!tt.ptr<f32>>
  %t = tt.trans %v {order = array<i32: 1, 0>} : tensor<8x4xf32> -> tensor<4x8xf32>
  %flat = tt.reshape %t : tensor<4x8xf32> -> tensor<32xf32>
  %bits = tt.bitcast %flat : tensor<32xf32> -> tensor<32xi32>
  %back = tt.bitcast %bits : tensor<32xi32> -> tensor<32xf32>
  %all = tt.make_range {end = 32 : i32, start = 0 : i32} : tensor<32xi32>
  %os = tt.splat %out : !tt.ptr<f32> -> tensor<32x!tt.ptr<f32>>
  %op = tt.addptr %os, %all : tensor<32x!tt.ptr<f32>>, tensor<32xi32>
  tt.store %op, %back : tensor<32x!tt.ptr<f32>>
  %rowsum = "tt.reduce"(%t) <{axis = 1 : i32}> ({
  ^bb0(%a: f32, %b: f32):
    %s = arith.addf %a, %b : f32
    tt.reduce.return %s : f32
  }) : (tensor<4x8xf32>) -> tensor<4xf32>
  %ss = tt.splat %sums : !tt.ptr<f32> -> tensor<4x!tt.ptr<f32>>
  %sp = tt.addptr %ss, %cols : tensor<4x!tt.ptr<f32>>, tensor<4xi32>
  tt.store %sp, %rowsum : tensor<4x!tt.ptr<f32>>
  %pid = tt.get_program_id x : i32
  %np = tt.get_num_programs x : i32
  %c3 = arith.constant -7 : i32
  %c2 = arith.constant 2 : i32
  %q = arith.divsi %c3, %c2 : i32
  %last = arith.subi %np, %pid : i32
  %one = arith.constant 1 : i32
  %is_last = arith.cmpi eq, %last, %one : i32
  %val = scf.if %is_last -> (i32) {
    scf.yield %q : i32
  } else {
    scf.yield %np : i32
  }
  %ip = tt.addptr %ids, %pid : !tt.ptr<i32>, i32
  tt.store %ip, %val : !tt.ptr<i32>
  tt.return
}
"""


def test_shape_ops_reduce_and_scalars(rng):
    module = parse_mlir(SHAPES_KERNEL)
    x = rng.standard_normal((8, 4), dtype=np.float32)
    out = np.zeros(32, np.float32)
    sums = np.zeros(4, np.float32)
    ids = np.zeros(3, np.int32)
    run_kernel(module, (3,), x, out, sums, ids)
    assert (out == x.T.reshape(-1)).all()
    assert np.abs(sums - x.T.sum(axis=1)).max() <= TOLERANCE
    # divsi truncates toward zero: -7 / 2 = -3 (floor division would give -4).
    assert ids.tolist() == [3, 3, -3]


def test_unmasked_out_of_bounds_access_is_an_error(rng):
    x = rng.standard_normal(100, dtype=np.float32)
    out = np.zeros(100, np.float32)
    # n = 200 claims more elements than the buffers hold.
    with pytest.raises(InterpretationError, match="tt.load out of bounds: element offset 100"):
        run_kernel(reference_kernels.masked_add_kernel(128), (1,), x, x, out, 200)


def test_i32_offsets_wrap_like_the_gpu():
    module = parse_mlir(
        "tt.func public @wrap(%out: !tt.ptr<i32>) {\n"
        "  %big = arith.constant 2147483647 : i32\n"
        "  %one = arith.constant 1 : i32\n"
        "  %sum = arith.addi %big, %one : i32\n"
        "  tt.store %out, %sum : !tt.ptr<i32>\n"
        "  tt.return\n}\n"
    )
    out = np.zeros(1, np.int32)
    run_kernel(module, (1,), out)
    assert out[0] == -(2**31)


@pytest.mark.parametrize(
    "args, message",
    [
        ((np.zeros(4, np.float64),) * 3 + (4,), "must have dtype float32, got float64"),
        ((np.zeros(4, np.float32),) * 3, "takes 4 arguments, got 3"),
        ((np.zeros(4, np.float32),) * 2 + (np.zeros(4, np.float32)[::2], 4), "C-contiguous"),
        ((1.0, np.zeros(4, np.float32), np.zeros(4, np.float32), 4), "must be a NumPy array"),
    ],
)
def test_bad_arguments_are_reported(args, message):
    with pytest.raises(KernelError, match=message):
        run_kernel(reference_kernels.masked_add_kernel(128), (1,), *args)


def test_kernel_is_chosen_by_name():
    module = parse_mlir(
        "tt.func public @a() {\n  tt.return\n}\ntt.func public @b() {\n  tt.return\n}\n"
    )
    with pytest.raises(KernelError, match="found a, b"):
        run_kernel(module, (1,))
    run_kernel(module, (2, 2), name="b")
