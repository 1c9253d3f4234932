"""Flash attention for E2 imported in f16 and bf16.

torch-mlir imports an f16 (or bf16) model's attention as narrow products into f32
accumulators rounded back (`truncf`), and its softmax in f32 between an `extf` and a `truncf`.
The attention rules see through that cast pair (rules_attention.py, the widened forms), so
written-out E2 (plain, with heads, causal) becomes one `mirage.attention` on the narrow
tensors, like the f32 import; SDPA, which torch-mlir computes in f32 between widening and
narrowing casts, becomes one attention in f32 there. Checked here, per example and type:

- the optimised function holds one attention and no seq x seq tensor, and keeps its signature;
- it matches eager PyTorch within the type's tolerance (2^-7 for f16, 2^-4 for bf16, relative
  plus absolute, as tests/bad_input/test_dtypes.py), and its error against the exact attention
  (float64 from the same narrow inputs) is no larger than eager PyTorch's own in that type;
- it lowers with `convert-mirage-to-triton` to one flash-attention kernel whose launch plan,
  run in the NumPy tt interpreter, matches eager PyTorch within the same tolerance;
- at the level of the term graph, the rewrite is what finds the attention (the optimiser
  without the widened rules keeps the score matrix) and is within tolerance in the narrow type
  itself, and a cast pair whose types do not let attention type-check is left alone.

bf16 arrays are held as float32 with bf16 values, as the interpreters hold them.
"""

from __future__ import annotations

import functools
import importlib.util
import re
from pathlib import Path

import numpy as np
import pytest

# Seconds per case: run by `make test`, left out of `make test-fast`.
pytestmark = pytest.mark.slow

pytest.importorskip("torch_mlir")

TOLERANCES = {"f16": 2.0**-7, "bf16": 2.0**-4}
TORCH_DTYPES = {"f16": "float16", "bf16": "bfloat16"}

WRITTEN_OUT = ("e2_attention", "e2_attention_heads", "e2_attention_causal")
EXAMPLES = WRITTEN_OUT + ("e2_sdpa",)
CASES = [(name, dtype) for name in EXAMPLES for dtype in ("f16", "bf16")]

INPUTS = Path(__file__).resolve().parents[1] / "filecheck" / "passes" / "eqsat-optimize" / "Inputs"


# -- the modules ---------------------------------------------------------------------


def _narrow_inputs(name: str, dtype: str):
    """The example's seed-0 inputs rounded to `dtype` (torch tensors)."""
    import torch

    from mirage_mlir.examples import load_example

    narrow = getattr(torch, TORCH_DTYPES[dtype])
    return [x.to(narrow) for x in load_example(name).make_inputs(0)]


@functools.cache
def imported(name: str, dtype: str) -> str:
    """Example `name` imported by torch-mlir with its model and inputs in `dtype`."""
    import torch

    import mirage_mlir
    from mirage_mlir.examples import load_example

    model = load_example(name).make_model().to(getattr(torch, TORCH_DTYPES[dtype]))
    return mirage_mlir.import_torch(model, *_narrow_inputs(name, dtype))


@functools.cache
def optimized(name: str, dtype: str):
    """`imported(name, dtype)` through eqsat-optimize with verify=true."""
    import mirage_mlir

    return mirage_mlir.optimize(imported(name, dtype), verify=True)


def _arrays(name: str, dtype: str) -> list[np.ndarray]:
    """The narrow inputs as the interpreters hold them (bf16 as float32)."""
    inputs = _narrow_inputs(name, dtype)
    return [x.float().numpy() if dtype == "bf16" else x.numpy() for x in inputs]


@functools.cache
def _references(name: str, dtype: str) -> tuple[np.ndarray, np.ndarray]:
    """(eager PyTorch in `dtype`, exact attention in float64) on the same narrow inputs."""
    import torch

    from mirage_mlir.examples import load_example

    model = load_example(name).make_model()
    inputs = _narrow_inputs(name, dtype)
    with torch.no_grad():
        eager = model.to(inputs[0].dtype)(*inputs).double().numpy()
        exact = model.double()(*[x.double() for x in inputs]).numpy()
    return eager, exact


def _within(actual: np.ndarray, expected: np.ndarray, tolerance: float) -> bool:
    difference = np.abs(actual.astype(np.float64) - expected)
    return bool((difference <= tolerance + tolerance * np.abs(expected)).all())


def _error(actual: np.ndarray, expected: np.ndarray) -> float:
    return float(np.abs(actual.astype(np.float64) - expected).max())


def _element_types(text: str) -> set[str]:
    return set(re.findall(r"tensor<(?:[0-9?]+x)*([a-z]+[0-9]*)>", text))


def _signature(text: str):
    from xdsl.dialects import func

    from mirage_mlir.dialects.context import parse_mlir

    (main,) = [op for op in parse_mlir(text).walk() if isinstance(op, func.FuncOp)]
    return main.function_type


def _sequence(name: str) -> int:
    return _narrow_inputs(name, "f16")[0].shape[-2]


# -- eqsat-optimize on the imports ----------------------------------------------------


@pytest.mark.parametrize("name, dtype", CASES)
def test_import_becomes_one_attention_without_score_matrix(name, dtype):
    result = optimized(name, dtype)
    text = result.mlir
    (entry,) = result.report["functions"]
    assert entry["verified"]
    assert text.count("mirage.attention") == 1
    assert "mirage.softmax" not in text and "matmul" not in text
    seq = _sequence(name)
    assert not re.search(rf"tensor<[0-9x]*{seq}x{seq}x", text), "a seq x seq tensor is left"
    assert _signature(text) == _signature(imported(name, dtype))
    if name in WRITTEN_OUT:
        # The attention itself is narrow: no f32 tensor, no cast is left.
        assert _element_types(text) == {dtype}
    else:
        # SDPA as imported: attention in f32 between the widening and narrowing casts.
        assert _element_types(text) == {dtype, "f32"}


@pytest.mark.parametrize("name, dtype", CASES)
def test_optimized_matches_eager_torch_and_is_as_accurate(name, dtype):
    from mirage_mlir.dialects.context import parse_mlir
    from mirage_mlir.interpreters.mirage import run_function

    (out,) = run_function(parse_mlir(optimized(name, dtype).mlir), "main", *_arrays(name, dtype))
    eager, exact = _references(name, dtype)
    assert out.dtype == (np.float16 if dtype == "f16" else np.float32)
    assert _within(out, eager, TOLERANCES[dtype]), _error(out, eager)
    # f32 scores and statistics: no further from the exact attention than the narrow original
    # (which rounds the scores, the scaled scores and the probabilities).
    assert _error(out, exact) <= _error(eager, exact), (_error(out, exact), _error(eager, exact))


@pytest.mark.parametrize("name, dtype", CASES)
def test_optimized_lowers_to_flash_attention_that_matches_torch(name, dtype):
    from mirage_mlir.lowering.program import lower_module, run_plan_interpreted

    program = lower_module(optimized(name, dtype).mlir)
    (launch,) = program.launches()
    assert "attention" in launch.kernel_name
    (ttir,) = [t for _, t in program.kernels]
    assert f"!tt.ptr<{dtype}>" in ttir
    (out,) = run_plan_interpreted(program, *_arrays(name, dtype))
    eager, _ = _references(name, dtype)
    assert _within(out, eager, TOLERANCES[dtype]), _error(out, eager)


# -- the rewrite on term graphs -------------------------------------------------------


def _narrow_attention_graph(
    dtype: str, p_type: str | None = None, wide_type: str = "f32", seq: int = 48, head: int = 16
):
    """softmax(q kᵀ / 4) v as recognition builds it from a narrow import: the product and the
    scaling in `dtype`, the softmax in `wide_type` between casts, P cast to `p_type` (default
    dtype)."""
    from mirage_mlir.passes.eqsat.graph import Graph, Input, Reshape, Scale, cast, exp, reduce

    q, k = (Input(n, (2, seq, head), dtype) for n in "qk")
    v = Input("v", (2, seq, head), p_type or dtype)
    wide = cast(Scale(q @ k.mT, 0.25), wide_type)
    e = exp(wide - Reshape(reduce(wide, "max", (2,), False), (2, seq, 1)))
    p = cast(e / reduce(e, "sum", (2,), True), p_type or dtype)
    return Graph.of(p @ v)


def _kinds(graph) -> set[str]:
    return {node.kind for node in graph.nodes()}


@pytest.mark.parametrize("dtype", ["f16", "bf16"])
def test_widened_rule_is_what_finds_the_attention(dtype, monkeypatch):
    from mirage_mlir.passes.eqsat import rulesets
    from mirage_mlir.passes.eqsat.evaluate import evaluate, random_values
    from mirage_mlir.passes.eqsat.optimize import optimize_graph

    graph = _narrow_attention_graph(dtype)
    found = optimize_graph(graph).graph
    assert _kinds(found) == {"input", "attention"}
    assert found.outputs[0].type == graph.outputs[0].type

    # Without the widened rules (K as given, and K passed transposed) the cast pair hides
    # the softmax from attention.
    widened = frozenset(
        d.name
        for d in rulesets.declarations("attention")
        if d.name.startswith(("attention-widened", "attention-kt-widened"))
    )
    assert len(widened) == 10

    def without_widened(name: str):
        return rulesets.build_ruleset(name, widened if name == "attention" else frozenset())

    monkeypatch.setattr(rulesets, "ruleset", without_widened)
    assert "attention" not in _kinds(optimize_graph(graph).graph)
    monkeypatch.undo()

    # In the narrow type itself, not only up to rounding: within the tolerance of the type.
    values = random_values(graph, seed=11, low=-2.0, high=2.0)
    if dtype == "bf16":
        import torch

        values = {n: torch.from_numpy(a).bfloat16().float().numpy() for n, a in values.items()}
    (before,) = evaluate(graph, values)
    (after,) = evaluate(found, values)
    (exact,) = evaluate(graph, values, precision="f64")
    assert _within(after, before.astype(np.float64), TOLERANCES[dtype])
    assert _error(after, exact) <= _error(before, exact)


@pytest.mark.parametrize(
    "dtype, p_type, wide_type",
    [("f16", "f32", "f32"), ("bf16", "f16", "f32"), ("f32", "f32", "f16")],
    ids=["p-f32-v-f32", "bf16-scores-f16-values", "softmax-in-f16"],
)
def test_cast_pair_that_is_no_widened_softmax_is_left_alone(dtype, p_type, wide_type):
    """An attention would mix element types (P and v of another type than q and k), or the
    softmax is computed in a narrower type (f16 between f32 tensors, which a more precise
    softmax must not replace): no attention is made, and the result is the original's."""
    from mirage_mlir.passes.eqsat.evaluate import evaluate, random_values
    from mirage_mlir.passes.eqsat.optimize import optimize_graph

    graph = _narrow_attention_graph(dtype, p_type, wide_type)
    found = optimize_graph(graph).graph
    assert "attention" not in _kinds(found)
    assert found.outputs[0].type == graph.outputs[0].type
    values = random_values(graph, seed=5)
    (before,), (after,) = evaluate(graph, values), evaluate(found, values)
    np.testing.assert_allclose(after, before, rtol=1e-3, atol=1e-3)


# -- the FileCheck inputs ---------------------------------------------------------------


def test_filecheck_inputs_equal_a_fresh_import():
    source = INPUTS / "narrow_attention.py"
    spec = importlib.util.spec_from_file_location("narrow_attention", source)
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    for name, dtype in script.FILES:
        assert script.path(name, dtype).read_text() == script.render(name, dtype), (
            f"{script.path(name, dtype)} is stale: run {source}"
        )
