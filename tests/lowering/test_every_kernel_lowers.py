"""Whatever kernel formation forms must lower: every example, in f32, f16 and bf16.

Kernel formation (passes/eqsat/fusion_templates.py) decides which ops share
one `mirage.kernel` and names its template; the templates of
`convert-mirage-to-triton` must then build every kernel it forms.  For each
example (examples/*.mlir) in f32 and retyped to f16 and to bf16 (every f32
made narrow, weights rounded), optimised for the h100 target:

- every `mirage.kernel` lowers (one launch of its template per kernel) and
  nothing is left unlowered;
- every kernel compiles to a cubin for sm_90;
- the launch plan run in the NumPy tt interpreter matches eager PyTorch
  computed in f32 from the same rounded inputs and weights: 1e-4 for f32,
  and for f16/bf16 the tolerances of test_low_precision_templates.py
  (relative to max(1, max |expected|)).

Retyping the fp32 import makes every op narrow, so it reaches kernel
groupings torch-mlir's own f16 import never shows (E7's out-projection reads
the attention output through a transpose and a reshape inside its kernel).
All 36 cases take about a minute and a half on two cores, so none is marked
`slow`.
"""

from __future__ import annotations

import collections
import functools

import numpy as np
import pytest
from test_low_precision_templates import TOLERANCES, retype_floats

from mirage_mlir.examples import EXAMPLE_NAMES, load_example
from mirage_mlir.lowering.program import lower_module, run_plan_interpreted

# Seconds per case: run by `make test`, left out of `make test-fast`.
pytestmark = pytest.mark.slow

FP32_TOLERANCE = 1e-4
TORCH_DTYPES = {"f32": "float32", "f16": "float16", "bf16": "bfloat16"}
def _cases():
    for dtype in TORCH_DTYPES:
        for name in EXAMPLE_NAMES:
            yield pytest.param(name, dtype, id=f"{name}-{dtype}")


CASES = list(_cases())


@functools.cache
def optimised(name: str, dtype: str) -> str:
    """Example `name` (its fp32 import retyped to `dtype`) optimised for the h100."""
    import mirage_mlir
    from mirage_mlir.examples import _HERE

    text = (_HERE / f"{name}.mlir").read_text()
    if dtype != "f32":
        text = retype_floats(text, "f32", dtype)
    return mirage_mlir.optimize(text, target="h100").mlir


@functools.cache
def lowered(name: str, dtype: str):
    """`optimised(name, dtype)` lowered for sm_90."""
    return lower_module(optimised(name, dtype), arch=90)


def _kernel_templates(mlir: str) -> list[str]:
    """The template of every `mirage.kernel` of an optimised module, in order."""
    from mirage_mlir.dialects.context import parse_mlir

    module = parse_mlir(mlir)
    return [op.attributes["template"].data for op in module.walk() if op.name == "mirage.kernel"]


def _launch_template(kernel_name: str) -> str:
    return kernel_name.split("_", 1)[1].rsplit("_", 1)[0]


@pytest.mark.parametrize("name, dtype", CASES)
def test_every_kernel_lowers_and_compiles_for_sm90(name, dtype, triton_cache):
    from mirage_mlir.lowering.staging import TritonOptions, compile_ttir

    program = lowered(name, dtype)
    launched = collections.Counter(_launch_template(l.kernel_name) for l in program.launches())
    formed = collections.Counter(_kernel_templates(optimised(name, dtype)))
    assert program.launches(), "the plan launches no kernel"
    assert not formed - launched, (formed, launched)
    from xdsl.dialects import func

    host_ops = [op.name for f in program.plan.ops if isinstance(f, func.FuncOp) for op in f.walk()]
    assert not [n for n in host_ops if n.startswith(("mirage.", "linalg."))], host_ops
    assert sorted(l.kernel_name for l in program.launches()) == sorted(n for n, _ in program.kernels)
    for kernel_name, ttir in program.kernels:
        kernel = compile_ttir(ttir, TritonOptions(arch=90))
        assert kernel.name == kernel_name
        assert kernel.cubin and ".target sm_90" in kernel.ptx


def _rounded(tensor, dtype: str):
    import torch

    return tensor.to(getattr(torch, TORCH_DTYPES[dtype])).float()


def _eager(name: str, dtype: str):
    """Plan inputs, and f32 eager results from the same rounded inputs and weights.

    torch.export returns the buffers a forward mutates (BatchNorm's running
    statistics) before the outputs, in the module's buffer order.
    """
    import torch

    example = load_example(name)
    model = example.make_model()
    inputs = [_rounded(x, dtype) for x in example.make_inputs(0)]
    with torch.no_grad():
        for tensor in [*model.parameters(), *model.buffers()]:
            if tensor.is_floating_point():
                tensor.copy_(_rounded(tensor, dtype))
        out = model(*inputs)
    expected = [t.numpy() for t in (out if isinstance(out, tuple | list) else [out])]
    buffers = [b.numpy() for _, b in model.named_buffers()]
    # The interpreter holds f16 as float16 and bf16 as float32 (bf16 values).
    if dtype == "f16":
        inputs = [x.half() for x in inputs]
    return [x.numpy() for x in inputs], buffers, expected


@pytest.mark.parametrize("name, dtype", CASES)
def test_interpreted_plan_matches_torch(name, dtype):
    inputs, buffers, expected = _eager(name, dtype)
    outputs = run_plan_interpreted(lowered(name, dtype), *inputs)
    if len(outputs) > len(expected):
        assert len(outputs) == len(expected) + len(buffers)
        expected = buffers + expected
    assert len(outputs) == len(expected)
    tolerance = FP32_TOLERANCE if dtype == "f32" else TOLERANCES[TORCH_DTYPES[dtype]]
    storage = {"f32": np.float32, "f16": np.float16, "bf16": np.float32}[dtype]
    for out, ref in zip(outputs, expected):
        assert out.shape == ref.shape
        if ref.dtype.kind == "i":  # BatchNorm's batch counter
            np.testing.assert_array_equal(out, ref)
            continue
        assert out.dtype == storage
        difference = np.abs(np.asarray(out, np.float64) - ref.astype(np.float64)).max()
        error = difference / max(1.0, float(np.abs(ref).max()))
        assert error <= tolerance, (name, dtype, error)
