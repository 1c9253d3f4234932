"""Every example of the registry: optimised, lowered, compiled for sm_90 and run.

For each example the optimised module lowers with `convert-mirage-to-triton`,
every kernel compiles to a cubin for sm_90, and the launch plan run in the
NumPy tt interpreter matches eager PyTorch (fp32, 1e-4 relative to the
largest output).  Any failure to lower fails.
"""

from __future__ import annotations

import functools

import numpy as np
import pytest

from mirage_mlir.examples import all_examples
from mirage_mlir.lowering.program import lower_module, run_plan_interpreted

# Seconds per case: run by `make test`, left out of `make test-fast`.
pytestmark = pytest.mark.slow

FP32_TOLERANCE = 1e-4

EXAMPLES = [e.name for e in all_examples()]


@functools.cache
def _optimised(name: str) -> str:
    import mirage_mlir
    from mirage_mlir.examples import _HERE

    return mirage_mlir.optimize((_HERE / f"{name}.mlir").read_text()).mlir


@functools.cache
def _lowered(name: str):
    return lower_module(_optimised(name))


def test_the_registry_has_every_mission_example():
    assert {n.split("_")[0] for n in EXAMPLES} >= {f"e{i}" for i in range(1, 9)}


@pytest.mark.parametrize("name", EXAMPLES)
def test_every_kernel_compiles_for_sm90(name, triton_cache):
    pytest.importorskip("triton")
    from mirage_mlir.lowering.staging import TritonOptions, compile_ttir

    lowered = _lowered(name)
    names = [launch.kernel_name for launch in lowered.launches()]
    assert names and sorted(names) == sorted(n for n, _ in lowered.kernels)
    for kernel_name, ttir in lowered.kernels:
        kernel = compile_ttir(ttir, TritonOptions(arch=90))
        assert kernel.name == kernel_name
        assert kernel.cubin and ".target sm_90" in kernel.ptx


@pytest.mark.parametrize("name", EXAMPLES)
def test_interpreted_plan_matches_torch(name):
    import torch

    lowered = _lowered(name)
    example = next(e for e in all_examples() if e.name == name)
    model, inputs = example.make_model(), example.make_inputs(0)
    with torch.no_grad():
        expected = model(*inputs)
    expected = list(expected) if isinstance(expected, tuple | list) else [expected]
    outputs = run_plan_interpreted(lowered, *[x.numpy() for x in inputs])
    # torch.export returns the buffers a forward mutates (BatchNorm's running
    # statistics) before the outputs, in the module's buffer order.
    mutated = len(outputs) - len(expected)
    if mutated:
        buffers = [b for _, b in model.named_buffers()]
        assert mutated == len(buffers), (len(outputs), len(expected), len(buffers))
        expected = buffers + expected
    for out, ref in zip(outputs, expected):
        ref = ref.numpy()
        assert out.shape == ref.shape
        scale = max(1.0, float(np.abs(ref).max()))
        difference = np.abs(np.asarray(out, np.float64) - ref.astype(np.float64)).max()
        assert difference <= FP32_TOLERANCE * scale
