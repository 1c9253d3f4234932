"""`eqsat-optimize,convert-mirage-to-linalg` on every example gives upstream MLIR that runs.

For each program (the examples in examples/, the f16 and bf16 attention imports beside the
eqsat-optimize lit tests, and small versions of the peer benchmark programs of EXAMPLES.md,
imported here from PyTorch), optimised once by a module-scoped fixture:

- after `convert-mirage-to-linalg` no mirage op is left, every op is of an upstream dialect,
  and MLIR's own parser (`torch_mlir.ir.Module.parse`) reads the printed text;
- upstream MLIR's CPU JIT (`execute_mlir`) on the lowered text equals `execute_mlir` on the
  original within 1e-4 (absolute plus relative) on random inputs, and within the type's
  tolerance for f16 and bf16 (2^-7 and 2^-4, as `passes/emit/verify.py`; bf16 functions run
  through its f32 boundary wrapper);
- where the optimiser wrote mirage ops, the lowered text equals the NumPy reference
  semantics of the optimised module within a few units in the last place.

Per-op cases (every attribute, type and shape rule) are in test_to_linalg_semantics.py.
"""

from __future__ import annotations

import functools
import math
import pathlib
import re

import numpy as np
import pytest
from xdsl.dialects import func

from mirage_mlir.dialects.context import mirage_context, parse_mlir, print_mlir
from mirage_mlir.examples import EXAMPLE_NAMES, load_example
from mirage_mlir.passes.convert_mirage_to_linalg import ConvertMirageToLinalg
from mirage_mlir.passes.emit.verify import random_arguments, run_original, run_with_weights
from mirage_mlir.passes.eqsat_optimize import EqsatOptimize

pytest.importorskip("torch_mlir")

NARROW_INPUTS = (
    pathlib.Path(__file__).resolve().parents[1] / "filecheck" / "passes" / ("eqsat-optimize/Inputs")
)

# Seconds per case: run by `make test`, left out of `make test-fast`.
pytestmark = pytest.mark.slow
NARROW = tuple(sorted(p.stem for p in NARROW_INPUTS.glob("e2_attention_*.mlir")))

UPSTREAM_DIALECTS = {"builtin", "func", "arith", "math", "linalg", "tensor", "cf"}

#: (rtol = atol) against the original, by element type; integers must be equal.
AGAINST_ORIGINAL = {"f32": 1e-4, "f64": 1e-4, "f16": 2.0**-7, "bf16": 2.0**-4}
#: (rtol = atol) against the reference semantics of the optimised module.
AGAINST_REFERENCE = {"f32": 2e-5, "f64": 1e-10, "f16": 2.0**-9, "bf16": 2.0**-6}


# -- the peer benchmark programs, small ----------------------------------------------


def _peer_programs():
    """name -> (model, inputs): GQA, QKNorm-GQA, RMSNorm+Linear, LoRA, GatedMLP, nTrans."""
    import torch
    import torch.nn.functional as F
    from torch import nn

    def rms(x, w):
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + 1e-6) * w

    def vector(d):
        return nn.Parameter(torch.rand(d) + 0.5)

    def matrix(d, n):
        return nn.Parameter(torch.randn(d, n) / math.sqrt(d))

    class GQA(nn.Module):
        def forward(self, q, k, v):
            group = q.shape[1] // k.shape[1]
            k, v = k.repeat_interleave(group, dim=1), v.repeat_interleave(group, dim=1)
            scores = q @ k.transpose(-1, -2) * q.shape[-1] ** -0.5
            return torch.softmax(scores, dim=-1) @ v

    class QKNormGQA(GQA):
        def __init__(self):
            super().__init__()
            self.wq, self.wk = vector(32), vector(32)

        def forward(self, q, k, v):
            return super().forward(rms(q, self.wq), rms(k, self.wk), v)

    class RMSNormLinear(nn.Module):
        def __init__(self):
            super().__init__()
            self.norm, self.w = vector(256), matrix(256, 384)

        def forward(self, x):
            return rms(x, self.norm) @ self.w

    class LoRA(nn.Module):
        def __init__(self):
            super().__init__()
            self.w, self.a, self.b = matrix(64, 256), matrix(64, 8), matrix(8, 256)

        def forward(self, x):
            return x @ self.w + (x @ self.a) @ self.b

    class GatedMLP(nn.Module):
        def __init__(self):
            super().__init__()
            self.w1, self.w2 = matrix(128, 128), matrix(128, 128)

        def forward(self, x):
            return F.silu(x @ self.w1) * (x @ self.w2)

    class NTrans(nn.Module):
        def __init__(self):
            super().__init__()
            self.w1, self.w2 = vector(256), vector(256)

        def forward(self, h, x, alpha):
            return rms(h + alpha * (rms(x, self.w1) - h), self.w2)

    torch.manual_seed(0)
    qkv = lambda: (
        torch.randn(1, 4, 32, 32),
        torch.randn(1, 2, 128, 32),
        torch.randn(1, 2, 128, 32),
    )  # noqa: E731
    rows = lambda n: torch.randn(n, 256)  # noqa: E731
    return {
        "peer_gqa": (GQA(), qkv()),
        "peer_qknorm_gqa": (QKNormGQA(), qkv()),
        "peer_rmsnorm_linear": (RMSNormLinear(), (rows(4),)),
        "peer_lora": (LoRA(), (torch.randn(16, 64),)),
        "peer_gated_mlp": (GatedMLP(), (torch.randn(8, 128),)),
        "peer_ntrans": (NTrans(), (rows(8), rows(8), rows(8))),
    }


PEERS = (
    "peer_gqa",
    "peer_qknorm_gqa",
    "peer_rmsnorm_linear",
    "peer_lora",
    "peer_gated_mlp",
    "peer_ntrans",
)
PROGRAMS = EXAMPLE_NAMES + NARROW + PEERS


def _source(name: str) -> str:
    if name in EXAMPLE_NAMES:
        return load_example(name).mlir_path.read_text()
    if name in NARROW:
        return (NARROW_INPUTS / f"{name}.mlir").read_text()
    import mirage_mlir

    model, inputs = _peer_programs()[name]
    return mirage_mlir.import_torch(model, *inputs)


class Pipeline:
    """Each program's original, optimised and lowered text, computed once when first asked."""

    @functools.cache
    def texts(self, name: str) -> tuple[str, str, str]:
        ctx = mirage_context()
        original = _source(name)
        module = parse_mlir(original)
        EqsatOptimize().apply(ctx, module)
        optimised = print_mlir(module)
        ConvertMirageToLinalg().apply(ctx, module)
        module.verify()
        return original, optimised, print_mlir(module)


@pytest.fixture(scope="module")
def pipeline() -> Pipeline:
    return Pipeline()


def _main(text: str) -> func.FuncOp:
    (fn,) = [op for op in parse_mlir(text).walk() if isinstance(op, func.FuncOp)]
    return fn


def _compare(got, expected, outputs, tolerances, what: str) -> None:
    assert len(got) == len(expected)
    for index, (g, e, out_type) in enumerate(zip(got, expected, outputs)):
        dtype = str(out_type.get_element_type())
        g, e = np.asarray(g), np.asarray(e)
        assert g.shape == e.shape
        if dtype not in tolerances:
            np.testing.assert_array_equal(g, e, err_msg=f"{what}: output #{index}")
            continue
        tol = tolerances[dtype]
        np.testing.assert_allclose(
            g.astype(np.float64),
            e.astype(np.float64),
            rtol=tol,
            atol=tol,
            err_msg=f"{what}: output #{index} ({dtype})",
        )


# -- tests ---------------------------------------------------------------------------


def test_the_pass_is_registered_under_its_name():
    from mirage_mlir.tools.mirage_mlir_opt import pass_factories
    from mirage_mlir.universe import MIRAGE_UNIVERSE

    assert MIRAGE_UNIVERSE.all_passes["convert-mirage-to-linalg"]() is ConvertMirageToLinalg
    assert pass_factories()["convert-mirage-to-linalg"]() is ConvertMirageToLinalg
    for name, factory in MIRAGE_UNIVERSE.all_passes.items():
        assert factory().name == name


def test_the_programs_exercise_the_mirage_ops(pipeline):
    """The optimiser writes each of these somewhere, so the lowering of each is run below."""
    seen = set()
    for name in PROGRAMS:
        seen |= set(re.findall(r"mirage\.[a-z_]+", pipeline.texts(name)[1]))
    expected = {"attention", "softmax", "rms_norm", "batch_norm", "concat", "kernel", "yield"}
    assert {f"mirage.{op}" for op in expected} <= seen


@pytest.mark.parametrize("name", PROGRAMS)
def test_lowered_text_is_upstream_mlir(pipeline, name):
    from torch_mlir import ir

    lowered = pipeline.texts(name)[2]
    assert "mirage." not in lowered
    dialects = {op.name.split(".")[0] for op in parse_mlir(lowered).walk()}
    assert dialects <= UPSTREAM_DIALECTS
    with ir.Context():
        ir.Module.parse(lowered)


@pytest.mark.parametrize("name", PROGRAMS)
def test_lowered_program_runs_like_the_original(pipeline, name):
    original, _, lowered = pipeline.texts(name)
    fn = _main(lowered)
    arrays = random_arguments(fn, seed=1)
    expected = run_original(original, fn.sym_name.data, [a.copy() for a in arrays])
    got = run_original(lowered, fn.sym_name.data, [a.copy() for a in arrays])
    _compare(got, expected, fn.function_type.outputs.data, AGAINST_ORIGINAL, f"@{name}")
    assert any(np.abs(np.asarray(g, np.float64)).max() > 0 for g in got if g.size)


@pytest.mark.parametrize("name", PROGRAMS)
def test_lowered_program_runs_like_the_reference_semantics(pipeline, name):
    _, optimised, lowered = pipeline.texts(name)
    if "mirage." not in optimised:
        pytest.skip("the optimiser wrote no mirage op here")
    fn = _main(lowered)
    arrays = random_arguments(fn, seed=2)
    expected = run_with_weights(parse_mlir(optimised), fn.sym_name.data, [a.copy() for a in arrays])
    got = run_original(lowered, fn.sym_name.data, [a.copy() for a in arrays])
    _compare(got, expected, fn.function_type.outputs.data, AGAINST_REFERENCE, f"@{name}")
