"""Tests of the reference executor `mirage_mlir.driver.executor.execute_mlir`.

Small PyTorch modules are imported through torch-mlir and their linalg run on the CPU,
compared with eager PyTorch; hand-written modules cover dtypes, calling conventions,
memory, the compile cache and error reporting.
"""

from __future__ import annotations

import copy
import gc
import os
import subprocess
import sys
import uuid

import numpy as np
import pytest
import torch
import torch.nn.functional as F

import mirage_mlir
from mirage_mlir.driver import executor
from mirage_mlir.driver.executor import (
    ArgumentMismatchError,
    MlirCompileError,
    UnknownFunctionError,
    execute_mlir,
    jit_compile,
)

FP32_TOLERANCE = 1e-4


def import_linalg(model: torch.nn.Module, *inputs: torch.Tensor) -> str:
    """The linalg-on-tensors text torch-mlir emits for `model` on `inputs`."""
    from torch_mlir import fx

    module = fx.export_and_import(
        model, *inputs, output_type=fx.OutputType.LINALG_ON_TENSORS, func_name="main"
    )
    return str(module)


def random_inputs(seed: int, *shapes: tuple[int, ...]) -> list[torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    return [torch.randn(*shape, generator=generator) for shape in shapes]


def max_abs_error(got: np.ndarray, want: torch.Tensor) -> float:
    return float(
        np.max(np.abs(got.astype(np.float64) - want.detach().double().numpy()))
    )


def run_against_eager(
    model: torch.nn.Module, *inputs: torch.Tensor
) -> list[np.ndarray]:
    """Run the imported model through the executor; return its results."""
    text = import_linalg(model, *inputs)
    return execute_mlir(text, *(x.numpy() for x in inputs))


class MatMul(torch.nn.Module):
    def forward(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        return a @ b


class GeluChain(torch.nn.Module):
    """Exact GELU (erf), which lowers to a libm call."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.gelu(x) * 2.0 + x


class Softmax(torch.nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.softmax(x, dim=-1)


class Elementwise(torch.nn.Module):
    """Ops whose lowerings differ: integer powers, tanh, concat, pad, argmax, clamp."""

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return (
            x**3
            + torch.tanh(x)
            + F.silu(x)
            + F.gelu(x, approximate="tanh")
            + torch.where(y > 0, x, y)
            + torch.cat([x, y], 0)[:3]
            + F.pad(x, (1, 1))[:, 1:-1]
            + x.argmax(-1, keepdim=True).float()
            + torch.rsqrt(x.abs() + 1)
            + torch.clamp(x, -0.5, 0.5)
        )


def test_matmul_matches_eager() -> None:
    a, b = random_inputs(0, (5, 7), (7, 3))
    (got,) = run_against_eager(MatMul(), a, b)
    assert got.shape == (5, 3) and got.dtype == np.float32
    assert max_abs_error(got, a @ b) <= FP32_TOLERANCE


def test_gelu_with_erf_matches_eager() -> None:
    (x,) = random_inputs(1, (4, 16))
    (got,) = run_against_eager(GeluChain(), x)
    assert max_abs_error(got, GeluChain()(x)) <= FP32_TOLERANCE


def test_softmax_matches_eager() -> None:
    (x,) = random_inputs(2, (6, 33))
    (got,) = run_against_eager(Softmax(), x * 10)
    assert max_abs_error(got, torch.softmax(x * 10, dim=-1)) <= FP32_TOLERANCE


def test_mixed_elementwise_ops_match_eager() -> None:
    x, y = random_inputs(3, (3, 4), (3, 4))
    (got,) = run_against_eager(Elementwise(), x, y)
    want = Elementwise()(x, y)
    # Terms reach |x|^3 ~ 30, so compare relative to the magnitude.
    assert max_abs_error(got, want) <= FP32_TOLERANCE * float(want.abs().max())


def test_linear_weights_from_dense_resource() -> None:
    torch.manual_seed(4)
    model = torch.nn.Linear(8, 5)
    (x,) = random_inputs(4, (3, 8))
    text = import_linalg(model, x)
    assert "dense_resource" in text
    (got,) = execute_mlir(text, x.numpy())
    assert max_abs_error(got, model(x)) <= FP32_TOLERANCE


@pytest.mark.slow
def test_batchnorm_training_returns_updated_statistics() -> None:
    torch.manual_seed(5)
    model = torch.nn.BatchNorm1d(6).train()
    with torch.no_grad():
        model.running_mean.uniform_(-1, 1)
        model.running_var.uniform_(0.5, 2)
        model.weight.uniform_(0.5, 1.5)
        model.bias.uniform_(-1, 1)
    (x,) = random_inputs(5, (10, 6))
    text = import_linalg(copy.deepcopy(model), x)
    results = execute_mlir(text, x.numpy())

    eager = copy.deepcopy(model)
    output = eager(x)
    # torch-mlir returns the mutated buffers in registration order, then the output.
    running_mean, running_var, batches_tracked, got = results
    assert batches_tracked.shape == () and batches_tracked.dtype == np.int64
    assert int(batches_tracked) == int(eager.num_batches_tracked)
    assert max_abs_error(running_mean, eager.running_mean) <= FP32_TOLERANCE
    assert max_abs_error(running_var, eager.running_var) <= FP32_TOLERANCE
    assert max_abs_error(got, output) <= FP32_TOLERANCE


SLICES_AND_DTYPES = """
func.func @main(%x: tensor<4x5xf32>) -> (tensor<4x2xf32>, tensor<5xf32>, tensor<f32>, tensor<4x5xi1>, tensor<4x5xi32>, tensor<4x5xf32>) {
  %zero = arith.constant 0.000000e+00 : f32
  %slice = tensor.extract_slice %x[0, 1] [4, 2] [1, 1] : tensor<4x5xf32> to tensor<4x2xf32>
  %row = tensor.extract_slice %x[1, 0] [1, 5] [1, 1] : tensor<4x5xf32> to tensor<5xf32>
  %init = tensor.empty() : tensor<f32>
  %acc = linalg.fill ins(%zero : f32) outs(%init : tensor<f32>) -> tensor<f32>
  %sum = linalg.generic {indexing_maps = [affine_map<(d0, d1) -> (d0, d1)>, affine_map<(d0, d1) -> ()>], iterator_types = ["reduction", "reduction"]} ins(%x : tensor<4x5xf32>) outs(%acc : tensor<f32>) {
  ^bb0(%in: f32, %out: f32):
    %s = arith.addf %in, %out : f32
    linalg.yield %s : f32
  } -> tensor<f32>
  %bool_init = tensor.empty() : tensor<4x5xi1>
  %positive = linalg.generic {indexing_maps = [affine_map<(d0, d1) -> (d0, d1)>, affine_map<(d0, d1) -> (d0, d1)>], iterator_types = ["parallel", "parallel"]} ins(%x : tensor<4x5xf32>) outs(%bool_init : tensor<4x5xi1>) {
  ^bb0(%in: f32, %out: i1):
    %c = arith.cmpf ogt, %in, %zero : f32
    linalg.yield %c : i1
  } -> tensor<4x5xi1>
  %int_init = tensor.empty() : tensor<4x5xi32>
  %truncated = linalg.generic {indexing_maps = [affine_map<(d0, d1) -> (d0, d1)>, affine_map<(d0, d1) -> (d0, d1)>], iterator_types = ["parallel", "parallel"]} ins(%x : tensor<4x5xf32>) outs(%int_init : tensor<4x5xi32>) {
  ^bb0(%in: f32, %out: i32):
    %i = arith.fptosi %in : f32 to i32
    linalg.yield %i : i32
  } -> tensor<4x5xi32>
  return %slice, %row, %sum, %positive, %truncated, %x : tensor<4x2xf32>, tensor<5xf32>, tensor<f32>, tensor<4x5xi1>, tensor<4x5xi32>, tensor<4x5xf32>
}
"""


def test_strided_views_scalars_and_integer_results() -> None:
    # A slice of an argument is a strided view: its copy to the result must not need
    # MLIR's C runner library (which is not available).
    x = (np.arange(20, dtype=np.float32).reshape(4, 5) - 7.5) * 1.5
    slice_, row, total, positive, truncated, same = execute_mlir(SLICES_AND_DTYPES, x)
    np.testing.assert_array_equal(slice_, x[:, 1:3])
    np.testing.assert_array_equal(row, x[1])
    assert total.shape == () and total.dtype == np.float32
    assert float(total) == pytest.approx(float(x.sum()), rel=1e-6)
    assert positive.dtype == np.bool_
    np.testing.assert_array_equal(positive, x > 0)
    assert truncated.dtype == np.int32
    np.testing.assert_array_equal(truncated, np.trunc(x).astype(np.int32))
    np.testing.assert_array_equal(same, x)


INTEGER_AND_BOOL_INPUTS = """
#map = affine_map<(d0) -> (d0)>
func.func @main(%x: tensor<6xf64>, %n: tensor<6xi64>, %k: tensor<6xi32>, %mask: tensor<6xi1>) -> tensor<6xf64> {
  %init = tensor.empty() : tensor<6xf64>
  %r = linalg.generic {indexing_maps = [#map, #map, #map, #map, #map], iterator_types = ["parallel"]} ins(%x, %n, %k, %mask : tensor<6xf64>, tensor<6xi64>, tensor<6xi32>, tensor<6xi1>) outs(%init : tensor<6xf64>) {
  ^bb0(%a: f64, %b: i64, %c: i32, %m: i1, %out: f64):
    %bf = arith.sitofp %b : i64 to f64
    %cf = arith.sitofp %c : i32 to f64
    %sum = arith.addf %bf, %cf : f64
    %sel = arith.select %m, %a, %sum : f64
    linalg.yield %sel : f64
  } -> tensor<6xf64>
  return %r : tensor<6xf64>
}
"""


REPEATED_RESULTS = """
func.func @main(%x: tensor<3xf32>) -> (tensor<3xf32>, tensor<3xf32>, tensor<2xi64>, tensor<3xf32>, tensor<3xf32>) {
  %c = arith.constant dense<[7, -9]> : tensor<2xi64>
  %e = tensor.empty() : tensor<3xf32>
  %r = linalg.generic {indexing_maps = [affine_map<(d0) -> (d0)>, affine_map<(d0) -> (d0)>], iterator_types = ["parallel"]} ins(%x : tensor<3xf32>) outs(%e : tensor<3xf32>) {
  ^bb0(%in: f32, %out: f32):
    %n = arith.negf %in : f32
    linalg.yield %n : f32
  } -> tensor<3xf32>
  return %r, %r, %c, %x, %x : tensor<3xf32>, tensor<3xf32>, tensor<2xi64>, tensor<3xf32>, tensor<3xf32>
}
"""


def test_repeated_and_constant_results_in_a_fresh_process() -> None:
    # A lowering that hoists result buffers crashes the process on `return %r, %r`:
    # run in a child so that a regression fails this test instead of the whole run.
    script = (
        "import sys, numpy as np\n"
        "from mirage_mlir.driver.executor import execute_mlir\n"
        "results = execute_mlir(sys.stdin.read(), np.array([1, 2, 3], np.float32))\n"
        "print([r.tolist() for r in results])\n"
    )
    child = subprocess.run(
        [sys.executable, "-c", script],
        input=REPEATED_RESULTS,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert child.returncode == 0, child.stderr
    assert child.stdout.strip() == (
        "[[-1.0, -2.0, -3.0], [-1.0, -2.0, -3.0], [7, -9], [1.0, 2.0, 3.0], "
        "[1.0, 2.0, 3.0]]"
    )


def test_f64_i64_i32_and_i1_arguments() -> None:
    x = np.linspace(-1, 1, 6)
    n = np.array([1, -2, 3, -4, 5, 1 << 40], dtype=np.int64)
    k = np.array([10, 20, -30, 40, 50, 60], dtype=np.int32)
    mask = np.array([True, False, True, False, False, True])
    (got,) = execute_mlir(INTEGER_AND_BOOL_INPUTS, x, n, k, mask)
    assert got.dtype == np.float64
    np.testing.assert_array_equal(got, np.where(mask, x, n + k))


HALF_SUM = """
func.func @main(%x: tensor<3x4xf16>) -> tensor<3xf16> {
  %zero = arith.constant 0.000000e+00 : f16
  %init = tensor.empty() : tensor<3xf16>
  %acc = linalg.fill ins(%zero : f16) outs(%init : tensor<3xf16>) -> tensor<3xf16>
  %r = linalg.generic {indexing_maps = [affine_map<(d0, d1) -> (d0, d1)>, affine_map<(d0, d1) -> (d0)>], iterator_types = ["parallel", "reduction"]} ins(%x : tensor<3x4xf16>) outs(%acc : tensor<3xf16>) {
  ^bb0(%in: f16, %out: f16):
    %s = arith.addf %in, %out : f16
    linalg.yield %s : f16
  } -> tensor<3xf16>
  return %r : tensor<3xf16>
}
"""


def test_f16_arguments_and_results() -> None:
    x = (np.arange(12).reshape(3, 4) / 4).astype(np.float16)
    (got,) = execute_mlir(HALF_SUM, x)
    assert got.dtype == np.float16
    np.testing.assert_array_equal(got, x.sum(axis=1))


# The generic writes into its argument's buffer: bufferization may do that in place.
DOUBLE_IN_PLACE = """
func.func @main(%x: tensor<4xf32>) -> tensor<4xf32> {
  %r = linalg.generic {indexing_maps = [affine_map<(d0) -> (d0)>], iterator_types = ["parallel"]} outs(%x : tensor<4xf32>) {
  ^bb0(%out: f32):
    %d = arith.addf %out, %out : f32
    linalg.yield %d : f32
  } -> tensor<4xf32>
  return %r : tensor<4xf32>
}
"""


def test_arguments_are_never_written() -> None:
    x = np.array([1, 2, 3, 4], dtype=np.float32)
    (first,) = execute_mlir(DOUBLE_IN_PLACE, x)
    (second,) = execute_mlir(DOUBLE_IN_PLACE, x)
    np.testing.assert_array_equal(x, [1, 2, 3, 4])
    np.testing.assert_array_equal(first, [2, 4, 6, 8])
    np.testing.assert_array_equal(second, [2, 4, 6, 8])


def test_non_contiguous_arguments_are_accepted() -> None:
    base = np.arange(40, dtype=np.float32).reshape(5, 8)
    a = base[:, ::2].T  # 4x5, neither C- nor F-contiguous
    b = np.ones((5, 3), dtype=np.float32)
    (got,) = execute_mlir(
        import_linalg(MatMul(), torch.zeros(4, 5), torch.zeros(5, 3)), a, b
    )
    np.testing.assert_allclose(got, a @ b, rtol=1e-6)


def test_results_are_fresh_arrays_that_outlive_the_engine() -> None:
    text = DOUBLE_IN_PLACE + f"// {uuid.uuid4()}\n"
    x = np.array([1, 2, 3, 4], dtype=np.float32)
    first = execute_mlir(text, x)[0]
    second = execute_mlir(text, x)[0]
    assert first is not second and not np.shares_memory(first, second)
    assert first.flags.owndata and first.flags.writeable
    first[:] = -1
    np.testing.assert_array_equal(second, [2, 4, 6, 8])
    executor.clear_jit_cache()
    gc.collect()
    np.testing.assert_array_equal(second, [2, 4, 6, 8])


TWO_FUNCTIONS = """
func.func @main(%x: tensor<2xf32>) -> tensor<2xf32> {
  return %x : tensor<2xf32>
}
func.func @negate(%x: tensor<2xf32>) -> tensor<2xf32> {
  %init = tensor.empty() : tensor<2xf32>
  %r = linalg.generic {indexing_maps = [affine_map<(d0) -> (d0)>, affine_map<(d0) -> (d0)>], iterator_types = ["parallel"]} ins(%x : tensor<2xf32>) outs(%init : tensor<2xf32>) {
  ^bb0(%in: f32, %out: f32):
    %n = arith.negf %in : f32
    linalg.yield %n : f32
  } -> tensor<2xf32>
  return %r : tensor<2xf32>
}
"""


def test_function_is_chosen_by_name() -> None:
    x = np.array([1.5, -2.0], dtype=np.float32)
    np.testing.assert_array_equal(execute_mlir(TWO_FUNCTIONS, x)[0], x)
    np.testing.assert_array_equal(
        execute_mlir(TWO_FUNCTIONS, x, function="negate")[0], -x
    )


def test_unknown_function_lists_the_available_ones() -> None:
    x = np.zeros(2, dtype=np.float32)
    with pytest.raises(
        UnknownFunctionError, match=r"no function @forward.*@main, @negate"
    ):
        execute_mlir(TWO_FUNCTIONS, x, function="forward")


def test_same_text_compiles_once(monkeypatch: pytest.MonkeyPatch) -> None:
    text = TWO_FUNCTIONS + f"// {uuid.uuid4()}\n"
    compiles: list[str] = []
    original = executor._compile

    def counting(mlir_text: str) -> executor.JitModule:
        compiles.append(mlir_text)
        return original(mlir_text)

    monkeypatch.setattr(executor, "_compile", counting)
    x = np.ones(2, dtype=np.float32)
    execute_mlir(text, x)
    execute_mlir(text, x, function="negate")
    execute_mlir(text, x)
    assert len(compiles) == 1
    assert jit_compile(text) is jit_compile(text)
    execute_mlir(text + "\n", x)
    assert len(compiles) == 2


def test_wrong_argument_count() -> None:
    with pytest.raises(
        ArgumentMismatchError, match=r"@main takes 4 argument\(s\).*got 2"
    ):
        execute_mlir(INTEGER_AND_BOOL_INPUTS, np.zeros(6), np.zeros(6, dtype=np.int64))


def test_wrong_dtype_names_the_argument() -> None:
    args = [
        np.zeros(6),
        np.zeros(6, dtype=np.int32),
        np.zeros(6, dtype=np.int32),
        np.zeros(6, dtype=bool),
    ]
    with pytest.raises(
        ValueError,
        match=r"argument 1 of @main: expected tensor<6xi64> "
        r"\(int64\[6\]\), got int32\[6\]",
    ):
        execute_mlir(INTEGER_AND_BOOL_INPUTS, *args)


def test_wrong_shape_names_the_argument() -> None:
    with pytest.raises(
        ArgumentMismatchError,
        match=r"argument 0 of @main: expected "
        r"tensor<3x4xf16> \(float16\[3, 4\]\), got float16\[4, 3\]",
    ):
        execute_mlir(HALF_SUM, np.zeros((4, 3), dtype=np.float16))


def test_non_array_argument() -> None:
    with pytest.raises(ArgumentMismatchError, match=r"argument 0 .*got torch.Tensor"):
        execute_mlir(HALF_SUM, torch.zeros(3, 4, dtype=torch.float16))


def test_parse_error_is_located() -> None:
    text = (
        "func.func @main(%a: tensor<2xf32>) -> tensor<2xf32> {\n"
        "  %0 = arith.addf %a, %b : tensor<2xf32>\n  return %0 : tensor<2xf32>\n}\n"
    )
    with pytest.raises(
        MlirCompileError,
        match=r"does not parse:\n<mlir>:2:23: error: "
        r"use of undeclared SSA value name",
    ):
        execute_mlir(text, np.zeros(2, dtype=np.float32))


def test_op_without_lowering_is_named_and_located() -> None:
    text = (
        "func.func @main(%a: tensor<2x3xf32>) -> tensor<2x3xf32> {\n"
        "  %0 = tensor.empty() : tensor<2x3xf32>\n"
        "  %1 = linalg.softmax dimension(1) ins(%a : tensor<2x3xf32>) "
        "outs(%0 : tensor<2x3xf32>) -> tensor<2x3xf32>\n"
        "  return %1 : tensor<2x3xf32>\n}\n"
    )
    with pytest.raises(
        MlirCompileError, match=r"<mlir>:3:8: error: 'linalg.softmax' has no lowering"
    ):
        execute_mlir(text, np.zeros((2, 3), dtype=np.float32))


def test_failing_pass_is_reported_with_diagnostics() -> None:
    # tensor.bitcast has no bufferization: the message names the pass and MLIR's reason.
    text = (
        "func.func @main(%a: tensor<2xf32>) -> tensor<2xi32> {\n"
        "  %0 = tensor.bitcast %a : tensor<2xf32> to tensor<2xi32>\n"
        "  return %0 : tensor<2xi32>\n}\n"
    )
    with pytest.raises(
        MlirCompileError,
        match=r"failed in pass 'one-shot-bufferize.*':\n"
        r"<mlir>:2:8: error: op was not bufferized",
    ):
        execute_mlir(text, np.zeros(2, dtype=np.float32))


ELEMENTWISE_ON_TENSORS = """
func.func @main(%a: tensor<3xf32>, %b: tensor<3xf32>) -> tensor<3xf32> {
  %0 = math.exp %a : tensor<3xf32>
  %1 = arith.mulf %0, %b : tensor<3xf32>
  return %1 : tensor<3xf32>
}
"""


def test_arith_and_math_on_whole_tensors() -> None:
    a = np.array([0.0, 1.0, -2.0], dtype=np.float32)
    b = np.array([2.0, 3.0, 4.0], dtype=np.float32)
    (got,) = execute_mlir(ELEMENTWISE_ON_TENSORS, a, b)
    np.testing.assert_allclose(got, np.exp(a) * b, rtol=1e-6)


def test_unresolved_symbol_is_reported() -> None:
    text = (
        "func.func private @external(%a: tensor<2xf32>) -> tensor<2xf32>\n"
        "func.func @main(%a: tensor<2xf32>) -> tensor<2xf32> {\n"
        "  %1 = func.call @external(%a) : (tensor<2xf32>) -> tensor<2xf32>\n"
        "  return %1 : tensor<2xf32>\n}\n"
    )
    with pytest.raises(
        MlirCompileError, match=r"JIT compilation of @main failed.*external"
    ):
        execute_mlir(text, np.zeros(2, dtype=np.float32))


def test_dynamic_shapes_are_refused_clearly() -> None:
    text = (
        "func.func @main(%a: tensor<?xf32>) -> tensor<?xf32> {\n"
        "  return %a : tensor<?xf32>\n}\n"
    )
    with pytest.raises(
        MlirCompileError,
        match=r"argument 0 has type tensor<\?xf32>; "
        r"only static shapes are supported",
    ):
        execute_mlir(text, np.zeros(2, dtype=np.float32))


def test_success_prints_nothing(capfd: pytest.CaptureFixture[str]) -> None:
    text = import_linalg(GeluChain(), torch.zeros(2, 3))
    capfd.readouterr()
    execute_mlir(text + f"// {uuid.uuid4()}\n", np.ones((2, 3), dtype=np.float32))
    captured = capfd.readouterr()
    assert captured.out == "" and captured.err == ""


def test_root_package_forwards() -> None:
    x = np.array([3.0, 4.0], dtype=np.float32)
    np.testing.assert_array_equal(
        mirage_mlir.execute_mlir(TWO_FUNCTIONS, x, function="negate")[0], -x
    )


# Three 4 MiB temporaries per call: without deallocation, 20 calls grow the process by
# about 240 MiB.
TEMPORARIES = """
#map = affine_map<(d0, d1) -> (d0, d1)>
func.func @main(%x: tensor<1024x1024xf32>) -> tensor<1024x1024xf32> {
  %e0 = tensor.empty() : tensor<1024x1024xf32>
  %a = linalg.generic {indexing_maps = [#map, #map], iterator_types = ["parallel", "parallel"]} ins(%x : tensor<1024x1024xf32>) outs(%e0 : tensor<1024x1024xf32>) {
  ^bb0(%in: f32, %out: f32):
    %v = arith.mulf %in, %in : f32
    linalg.yield %v : f32
  } -> tensor<1024x1024xf32>
  %e1 = tensor.empty() : tensor<1024x1024xf32>
  %b = linalg.generic {indexing_maps = [#map, #map], iterator_types = ["parallel", "parallel"]} ins(%a : tensor<1024x1024xf32>) outs(%e1 : tensor<1024x1024xf32>) {
  ^bb0(%in: f32, %out: f32):
    %v = arith.addf %in, %in : f32
    linalg.yield %v : f32
  } -> tensor<1024x1024xf32>
  %e2 = tensor.empty() : tensor<1024x1024xf32>
  %c = linalg.generic {indexing_maps = [#map, #map, #map], iterator_types = ["parallel", "parallel"]} ins(%a, %b : tensor<1024x1024xf32>, tensor<1024x1024xf32>) outs(%e2 : tensor<1024x1024xf32>) {
  ^bb0(%in: f32, %in2: f32, %out: f32):
    %v = arith.subf %in, %in2 : f32
    linalg.yield %v : f32
  } -> tensor<1024x1024xf32>
  %e3 = tensor.empty() : tensor<1024x1024xf32>
  %d = linalg.generic {indexing_maps = [#map, #map, #map], iterator_types = ["parallel", "parallel"]} ins(%c, %a : tensor<1024x1024xf32>, tensor<1024x1024xf32>) outs(%e3 : tensor<1024x1024xf32>) {
  ^bb0(%in: f32, %in2: f32, %out: f32):
    %v = arith.mulf %in, %in2 : f32
    linalg.yield %v : f32
  } -> tensor<1024x1024xf32>
  return %d : tensor<1024x1024xf32>
}
"""


def resident_mib() -> float:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


@pytest.mark.skipif(not os.path.exists("/proc/self/statm"), reason="needs Linux /proc")
def test_repeated_calls_free_their_temporaries() -> None:
    x = np.full((1024, 1024), 0.5, dtype=np.float32)
    (first,) = execute_mlir(TEMPORARIES, x)
    # (x*x - 2*x*x) * x*x
    np.testing.assert_array_equal(first, np.full_like(x, -0.0625))
    del first
    gc.collect()
    before = resident_mib()
    for _ in range(20):
        execute_mlir(TEMPORARIES, x)
    gc.collect()
    assert resident_mib() - before < 40


def test_errors_are_project_errors() -> None:
    from mirage_mlir.driver.errors import MirageError

    with pytest.raises(MirageError):
        execute_mlir("func.func @main(", np.zeros(1, dtype=np.float32))
