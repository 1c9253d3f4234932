"""The column-reduction template: E3 (BatchNorm + ReLU) in both forms, lowered and run.

The optimised examples are lowered, every kernel is compiled to a cubin for
sm_90, and the plan runs in the NumPy tt interpreter against eager PyTorch,
including the running statistics and the batch counter of `nn.BatchNorm1d`.
"""

from __future__ import annotations

import functools

import numpy as np
import pytest

from mirage_mlir.lowering.program import lower_module, run_plan_interpreted

FP32_TOLERANCE = 1e-4


@functools.cache
def lowered_example(name: str):
    import mirage_mlir
    from mirage_mlir.examples import _HERE

    return lower_module(mirage_mlir.optimize((_HERE / f"{name}.mlir").read_text()).mlir)


def _eager(name: str):
    """Inputs, the output, and the model after its forward (for running statistics)."""
    import torch

    from mirage_mlir.examples import all_examples

    example = next(e for e in all_examples() if e.name == name)
    model, inputs = example.make_model(), example.make_inputs(0)
    with torch.no_grad():
        expected = model(*inputs)
    return [x.numpy() for x in inputs], expected.numpy(), model


def _close(actual, expected) -> bool:
    return actual.shape == expected.shape and (
        np.abs(actual - expected).max() <= FP32_TOLERANCE * max(1.0, np.abs(expected).max())
    )


def test_e3_hand_written_is_one_launch_reading_x_twice():
    lowered = lowered_example("e3_batchnorm_relu")
    (launch,) = lowered.launches()
    assert launch.kernel_name == "main_column_reduction_0"
    assert launch.grid_sizes == (256 // 32, 1, 1)
    (ttir,) = [t for _, t in lowered.kernels]
    # One statistics loop and one normalising loop, each loading x once; one store.
    assert ttir.count('"scf.for"') == 2
    # x in each loop, then gamma and beta once (the running statistics are constants here).
    assert ttir.count('"tt.load"') == 4
    assert ttir.count('"tt.store"') == 1


def test_e3_hand_written_matches_torch():
    inputs, expected, _ = _eager("e3_batchnorm_relu")
    (out,) = run_plan_interpreted(lowered_example("e3_batchnorm_relu"), *inputs)
    assert _close(out, expected)


def test_e3_module_writes_output_and_running_statistics():
    inputs, expected, model = _eager("e3_batchnorm_module")
    lowered = lowered_example("e3_batchnorm_module")
    (launch,) = lowered.launches()
    assert len(launch.outs) == 3
    running_mean, running_var, counter, out = run_plan_interpreted(lowered, *inputs)
    assert _close(out, expected)
    assert _close(running_mean, model.norm.running_mean.numpy())
    assert _close(running_var, model.norm.running_var.numpy())
    assert counter == model.norm.num_batches_tracked.numpy()


def test_e3_module_reads_x_in_two_passes():
    (ttir,) = [t for _, t in lowered_example("e3_batchnorm_module").kernels]
    assert ttir.count('"scf.for"') == 2
    assert ttir.count('"tt.store"') == 3
    # x once per loop, then gamma, beta and the two running statistics.
    assert ttir.count('"tt.load"') == 6


_ODD = """
func.func @main(%x: tensor<37x45xf32>, %g: tensor<45xf32>, %b: tensor<45xf32>) -> (tensor<37x45xf32>, tensor<45xf32>, tensor<45xf32>) {
  %rm = arith.constant dense<0.5> : tensor<45xf32>
  %rv = arith.constant dense<2.0> : tensor<45xf32>
  %y, %m, %v = mirage.batch_norm %x, %g, %b, %rm, %rv eps 1.000000e-05 momentum 2.500000e-01 : tensor<37x45xf32>, tensor<45xf32>
  func.return %y, %m, %v : tensor<37x45xf32>, tensor<45xf32>, tensor<45xf32>
}
"""


def test_bare_batch_norm_on_odd_sizes_with_offset_data():
    """Masks on both axes, and a large mean: the one-pass statistics must not cancel."""
    rng = np.random.default_rng(3)
    x = (rng.standard_normal((37, 45)) * 0.5 + 1000.0).astype(np.float32)
    g, b = rng.standard_normal(45).astype(np.float32), rng.standard_normal(45).astype(np.float32)
    lowered = lower_module(_ODD)
    y, m, v = run_plan_interpreted(lowered, x, g, b)
    x64 = x.astype(np.float64)
    mean, var = x64.mean(0), x64.var(0)
    expected = (x64 - mean) / np.sqrt(var + 1e-5) * g + b
    assert np.abs(y - expected).max() < 2e-3  # x's f32 rounding at 1000 bounds this
    assert np.abs(m - (0.75 * 0.5 + 0.25 * mean)).max() < 1e-3
    assert np.abs(v - (0.75 * 2.0 + 0.25 * var * 37 / 36)).max() < 1e-4




@pytest.mark.parametrize("name", ["e3_batchnorm_relu", "e3_batchnorm_module"])
def test_e3_kernels_compile_for_sm90(name, triton_cache):
    pytest.importorskip("triton")
    from mirage_mlir.lowering.staging import TritonOptions, compile_ttir

    for kernel_name, ttir in lowered_example(name).kernels:
        kernel = compile_ttir(ttir, TritonOptions(arch=90))
        assert kernel.name == kernel_name
        assert kernel.cubin and ".target sm_90" in kernel.ptx
