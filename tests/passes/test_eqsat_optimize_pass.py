"""The `eqsat-optimize` pass and `mirage_mlir.optimize`: reports, figures, verification."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from xdsl.utils.exceptions import DiagnosticException

import mirage_mlir
from mirage_mlir.dialects.context import parse_mlir
from mirage_mlir.driver.optimize import OptimizeError
from mirage_mlir.examples import EXAMPLE_NAMES, load_example
from mirage_mlir.passes.eqsat_optimize import EqsatOptimize, optimize_module

# Seconds per case: run by `make test`, left out of `make test-fast`.
pytestmark = pytest.mark.slow

REPORT_FIELDS = {
    "name",
    "cost_before_s",
    "cost_after_s",
    "flops_before",
    "flops_after",
    "bytes_before",
    "bytes_after",
    "kernels_before",
    "kernels_after",
    "eclasses",
    "enodes",
    "iterations",
    "saturated",
    "programs",
    "extraction",
    "seconds",
    "target",
    "stop_reason",
    "extraction_optimal",
}


def example_text(name: str) -> str:
    return load_example(name).mlir_path.read_text()


def test_the_pass_is_registered_under_its_name():
    from mirage_mlir.universe import MIRAGE_UNIVERSE

    assert MIRAGE_UNIVERSE.all_passes["eqsat-optimize"]() is EqsatOptimize
    assert EqsatOptimize.name == "eqsat-optimize"


def test_e1_report_and_figures(tmp_path):
    path = tmp_path / "report.json"
    module = parse_mlir(example_text("e1_matrix_chain"))
    optimize_module(module, EqsatOptimize(target="flops", report=str(path)))
    report = json.loads(path.read_text())
    (entry,) = report["functions"]
    assert REPORT_FIELDS <= set(entry)
    assert set(entry["seconds"]) == {"recognize", "saturate", "extract", "emit"}
    assert (entry["flops_before"], entry["flops_after"]) == (120_000, 41_600)
    assert entry["cost_before_s"] == 120_000 and entry["cost_after_s"] == 41_600
    assert entry["programs"] == 5 and entry["saturated"] and entry["extraction_optimal"]
    assert entry["kernels_before"] == 3


def test_optimize_returns_text_that_parses_and_keeps_the_weights():
    result = mirage_mlir.optimize(example_text("e5_gated_layer"))
    module = parse_mlir(result.mlir)
    assert "dialect_resources" in result.mlir
    assert module is not None
    (entry,) = result.report["functions"]
    assert entry["kernels_after"] < entry["kernels_before"]


def test_e4_reaches_the_optimal_contraction_order():
    result = mirage_mlir.optimize(example_text("e4_einsum_chain"), target="flops")
    (entry,) = result.report["functions"]
    assert (entry["flops_before"], entry["flops_after"]) == (160_000, 112_000)


def test_e8_matches_opt_einsum_optimal():
    import opt_einsum

    shapes = [(12, 12, 12, 12)] * 4
    _, info = opt_einsum.contract_path(
        "abcd,bcef,cdfg,degh->ah", *shapes, shapes=True, optimize="optimal"
    )
    result = mirage_mlir.optimize(example_text("e8_tensor_network"), target="flops")
    assert result.report["functions"][0]["flops_after"] == int(info.opt_cost)


SLOW = {"e7_llama_attention"}


@pytest.mark.parametrize(
    "name",
    [pytest.param(n, marks=pytest.mark.slow) if n in SLOW else n for n in EXAMPLE_NAMES],
)
def test_verify_passes_on_every_example(name):
    result = mirage_mlir.optimize(example_text(name), verify=True)
    for entry in result.report["functions"]:
        # verify raises beyond 1e-4 abs + 1e-4 rel; E8's outputs sum 12^4 products and reach
        # the hundreds, so its absolute error in fp32 is larger than the others'.
        assert entry["verified"]
        assert max(entry["max_abs_error"]) <= (1e-3 if name == "e8_tensor_network" else 1e-4)


def test_an_unknown_target_is_a_clear_error():
    module = parse_mlir(example_text("e1_matrix_chain"))
    with pytest.raises(DiagnosticException, match="unknown target 'tpu'"):
        optimize_module(module, EqsatOptimize(target="tpu"))


def test_unknown_limits_are_refused():
    with pytest.raises(TypeError, match="max_nodes"):
        mirage_mlir.optimize(example_text("e1_matrix_chain"), max_nodes=3)


def test_a_verification_failure_names_the_function_and_the_error(monkeypatch):
    # Make the emitted scale wrong: verification must catch it.
    from mirage_mlir.passes.emit import function as emit_function_module
    from mirage_mlir.passes.emit.emit_elementwise import emit_elementwise

    def wrong_softmax(node, operands):
        from mirage_mlir.passes.eqsat.graph import Elementwise

        return emit_elementwise(Elementwise("exp", node.operands), operands)

    monkeypatch.setitem(emit_function_module.EMITTERS, "softmax", wrong_softmax)
    with pytest.raises(OptimizeError, match=r"@main: output #0 differs .* max abs error"):
        mirage_mlir.optimize(example_text("e6_naive_softmax"), verify=True)


# --------------------------------------------------------------------------------------------
# The examples' figures on the default target (h100), as the report states them.


def tool_report(name: str, tmp_path, target: str = "h100") -> dict:
    """Run `mirage-mlir-opt -p 'eqsat-optimize{report=...}'` on an example; return its entry."""
    import subprocess
    import sys

    path = tmp_path / f"{name}.json"
    child = subprocess.run(
        [
            sys.executable,
            "-m",
            "mirage_mlir.tools.mirage_mlir_opt",
            str(load_example(name).mlir_path),
            "-p",
            f'eqsat-optimize{{target={target} report="{path}"}}',
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert child.returncode == 0, child.stderr
    (entry,) = json.loads(path.read_text())["functions"]
    return entry


def test_e1_through_the_tool_on_h100_reaches_the_optimum(tmp_path):
    entry = tool_report("e1_matrix_chain", tmp_path)
    assert (entry["flops_before"], entry["flops_after"]) == (120_000, 41_600)
    assert entry["cost_after_s"] < entry["cost_before_s"]


def test_e4_through_the_tool_on_h100_reaches_the_optimum(tmp_path):
    entry = tool_report("e4_einsum_chain", tmp_path)
    assert (entry["flops_before"], entry["flops_after"]) == (160_000, 112_000)


def test_e8_on_h100_matches_opt_einsum_optimal(tmp_path):
    import opt_einsum

    shapes = [(12, 12, 12, 12)] * 4
    _, info = opt_einsum.contract_path(
        "abcd,bcef,cdfg,degh->ah", *shapes, shapes=True, optimize="optimal"
    )
    entry = tool_report("e8_tensor_network", tmp_path)
    assert entry["flops_after"] == int(info.opt_cost) == 12_441_600
    # The naive single einsum, for scale: the optimum is far below it.
    naive = opt_einsum.contract_path(
        "abcd,bcef,cdfg,degh->ah", *shapes, shapes=True, optimize=False
    )[1]
    assert entry["flops_after"] * 100 < naive.opt_cost


#: fp32 bytes of x [512, 256] and of one [256] parameter vector (E3).
E3_X_BYTES = 512 * 256 * 4
E3_VECTOR_BYTES = 256 * 4


def test_e3_by_hand_is_one_kernel_reading_x_once():
    entry = mirage_mlir.optimize(example_text("e3_batchnorm_relu"), verify=True).report[
        "functions"
    ][0]
    assert (entry["kernels_before"], entry["kernels_after"]) == (12, 1)
    # x read once, the output written once, gamma and beta read: nothing else in memory.
    assert entry["bytes_after"] == 2 * E3_X_BYTES + 2 * E3_VECTOR_BYTES
    assert entry["verified"]


def test_e3_as_modules_is_one_batch_norm_kernel_reading_x_at_most_twice(tmp_path):
    entry = tool_report("e3_batchnorm_module", tmp_path)
    # Before: the 22 ops that read x (the running statistics' momentum products read only
    # weights and are computed when the program is built).
    assert (entry["kernels_before"], entry["kernels_after"]) == (22, 1)
    # Reads: x (at most twice), gamma, beta and the two running statistics; writes: the
    # output once and the two updated statistics. The f64 copies of x never reach memory.
    budget = 2 * E3_X_BYTES + E3_X_BYTES + 6 * E3_VECTOR_BYTES
    assert entry["bytes_after"] <= budget
    assert entry["bytes_after"] >= 2 * E3_X_BYTES + 6 * E3_VECTOR_BYTES
    assert entry["bytes_before"] > 10 * entry["bytes_after"]


def test_e3_as_modules_keeps_torch_running_statistics_exact():
    import torch

    # run_function with the module's weights (dense_resource constants) decoded.
    from mirage_mlir.passes.emit.verify import run_with_weights

    example = load_example("e3_batchnorm_module")
    result = mirage_mlir.optimize(example.mlir_path.read_text(), verify=True)
    assert result.report["functions"][0]["verified"]
    assert "mirage.batch_norm" in result.mlir and "column_reduction" in result.mlir
    (x,) = example.make_inputs(5)
    model = example.make_model()
    with torch.no_grad():
        expected = model(x)
    mean, var, count, out = run_with_weights(parse_mlir(result.mlir), "main", [x.numpy()])
    np.testing.assert_allclose(mean, model.norm.running_mean.numpy(), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(var, model.norm.running_var.numpy(), rtol=1e-5, atol=1e-6)
    assert int(count) == int(model.norm.num_batches_tracked) == 1
    np.testing.assert_allclose(out, expected.numpy(), rtol=1e-4, atol=1e-4)


def test_e5_is_one_kernel_whose_only_traffic_is_its_operands_and_output():
    entry = mirage_mlir.optimize(example_text("e5_gated_layer")).report["functions"][0]
    x, w, bias = 256 * 512 * 4, 512 * 512 * 4, 512 * 4
    assert (entry["kernels_before"], entry["kernels_after"]) == (5, 1)
    # x + w1 + w2 + bias + out: y1 and y2 never reach memory.
    assert entry["bytes_after"] == x + 2 * w + bias + x


def test_e6_optimised_is_right_near_1000_where_the_original_is_nan():
    import torch

    from mirage_mlir.interpreters.mirage import run_function

    text = example_text("e6_naive_softmax")
    result = mirage_mlir.optimize(text)
    generator = torch.Generator().manual_seed(1)
    x = 1000.0 + torch.randn(256, 1024, generator=generator)
    expected = torch.softmax(x, dim=-1).numpy()
    with np.errstate(all="ignore"):
        (original,) = run_function(parse_mlir(text), "main", x.numpy())
    assert np.isnan(original).all()
    (optimised,) = run_function(parse_mlir(result.mlir), "main", x.numpy())
    np.testing.assert_allclose(optimised, expected, rtol=1e-5, atol=1e-9)


@pytest.mark.parametrize(
    "name",
    [pytest.param(n, marks=pytest.mark.slow) if n in SLOW else n for n in EXAMPLE_NAMES],
)
def test_saturation_and_extraction_take_under_five_seconds(name):
    entry = mirage_mlir.optimize(example_text(name)).report["functions"][0]
    assert entry["seconds"]["saturate"] + entry["seconds"]["extract"] < 5.0


# --------------------------------------------------------------------------------------------
# Causal attention, grouped-query attention and the joined QKV projection (E2-causal, E7)


def test_causal_attention_is_one_causal_attention_kernel():
    result = mirage_mlir.optimize(example_text("e2_attention_causal"), verify=True)
    (entry,) = result.report["functions"]
    assert entry["verified"] and max(entry["max_abs_error"]) <= 1e-4
    # Before: 13 ops (the causal mask's index arithmetic reads no input: computed when the
    # program is built).
    assert (entry["kernels_before"], entry["kernels_after"]) == (13, 1)
    body = result.mlir.split("{-#")[0]
    assert body.count("mirage.attention") == 1
    assert "scale 1.250000e-01 causal" in body
    # Neither the 256x256 mask (nor the index arithmetic building it) nor the scores remain.
    assert "256x256" not in body and "linalg.index" not in body
    assert entry["opaque_ops"] == 0


@pytest.mark.slow
def test_llama_attention_joins_qkv_and_runs_causal_gqa_flash_attention():
    result = mirage_mlir.optimize(example_text("e7_llama_attention"), verify=True)
    (entry,) = result.report["functions"]
    assert entry["verified"] and max(entry["max_abs_error"]) <= 1e-4
    # rms_norm, the joined q/k/v matmul, flash attention (with the slices of q, k and v as
    # strided loads), the output projection and the residual add.
    # Before: 36 ops, the weights' transposes and the causal mask computed when the program
    # is built.
    assert (entry["kernels_before"], entry["kernels_after"]) == (36, 5)
    assert entry["cost_after_s"] < entry["cost_before_s"] / 5
    body = result.mlir.split("{-#")[0]
    assert body.count("linalg.matmul") == 2
    assert "-> tensor<128x768xf32>" in body  # 512 query + 128 key + 128 value columns
    assert body.count("mirage.attention") == 1
    assert "causal : tensor<1x8x128x64xf32>, tensor<1x2x128x64xf32>, tensor<1x2x128x64xf32>" in body
    assert "1x2x4x128x64" not in body  # the repeated K/V is never materialised
    assert "8x128x128" not in body and "linalg.index" not in body
    assert "math.exp" not in body and "mirage.softmax" not in body
    assert 'template = "attention"' in body


# --------------------------------------------------------------------------------------------
# What is kept op for op, and what is rewritten at equal cost (and why the report says so).

REWRITE_REASONS = {"lower cost", "fewer kernels at equal cost", "numerical stability"}

ONE_MATMUL = """func.func @main(%a: tensor<64x32xf32>, %b: tensor<32x16xf32>) -> tensor<64x16xf32> {
  %cst = arith.constant 0.0 : f32
  %e = tensor.empty() : tensor<64x16xf32>
  %f = linalg.fill ins(%cst : f32) outs(%e : tensor<64x16xf32>) -> tensor<64x16xf32>
  %m = linalg.matmul ins(%a, %b : tensor<64x32xf32>, tensor<32x16xf32>) outs(%f : tensor<64x16xf32>) -> tensor<64x16xf32>
  func.return %m : tensor<64x16xf32>
}
"""


def _printed_functions(text: str) -> dict[str, str]:
    from xdsl.dialects import func

    from mirage_mlir.dialects.context import print_mlir

    module = parse_mlir(text)
    return {
        op.sym_name.data: print_mlir(op) for op in module.walk() if isinstance(op, func.FuncOp)
    }


def test_a_graph_with_no_outputs_comes_back_unchanged():
    from mirage_mlir.passes.eqsat.graph import Graph, Input
    from mirage_mlir.passes.eqsat.optimize import optimize_graph

    graph = Graph((Input("x", (4, 4), "f32"),), ())
    result = optimize_graph(graph, "h100")
    assert result.graph is graph and result.kept_input
    assert (result.cost_before, result.cost_after, result.kernels_after) == (0, 0, 0)
    assert result.extraction == "none" and result.skipped == ()


@pytest.mark.parametrize("target", ["h100", "cpu", "flops"])
def test_a_function_nothing_improves_keeps_its_text_op_for_op(target):
    result = mirage_mlir.optimize(ONE_MATMUL, target=target, verify=True)
    (entry,) = result.report["functions"]
    assert entry["kept_input"] and entry["rewrite_reason"] is None and entry["verified"]
    assert entry["cost_after_s"] == entry["cost_before_s"]
    assert entry["kernels_after"] == entry["kernels_before"] == 1
    assert _printed_functions(result.mlir) == _printed_functions(ONE_MATMUL)
    # The names and the order of the source survive, which a re-emission would renumber.
    assert "%cst = arith.constant" in result.mlir and "%m = linalg.matmul" in result.mlir


@pytest.mark.parametrize("target", ["h100", "flops"])
@pytest.mark.parametrize("name", EXAMPLE_NAMES)
def test_every_example_is_kept_or_rewritten_for_a_reason_its_figures_show(name, target):
    text = example_text(name)
    result = mirage_mlir.optimize(text, target=target)
    before, after = _printed_functions(text), _printed_functions(result.mlir)
    for entry in result.report["functions"]:
        cost_before, cost_after = entry["cost_before_s"], entry["cost_after_s"]
        same_cost = math.isclose(cost_after, cost_before, rel_tol=1e-9)
        reason = entry["rewrite_reason"]
        if entry["kept_input"]:
            assert reason is None and cost_after == cost_before
            assert after[entry["name"]] == before[entry["name"]]
            continue
        assert reason in REWRITE_REASONS
        if reason == "lower cost":
            assert cost_after < cost_before and not same_cost
        elif reason == "fewer kernels at equal cost":
            assert same_cost and entry["kernels_after"] < entry["kernels_before"]
        else:  # numerical stability, which may cost more
            assert name == "e6_naive_softmax"
        if same_cost and entry["kernels_after"] == entry["kernels_before"]:
            assert reason == "numerical stability"


@pytest.mark.parametrize(
    "name, reason",
    [
        ("e5_gated_layer", "fewer kernels at equal cost"),
        ("e8_tensor_network", "fewer kernels at equal cost"),
        ("e6_naive_softmax", "numerical stability"),
    ],
)
def test_on_flops_an_equal_or_higher_cost_rewrite_says_why(name, reason):
    (entry,) = mirage_mlir.optimize(example_text(name), target="flops").report["functions"]
    assert not entry["kept_input"] and entry["rewrite_reason"] == reason
    assert entry["cost_after_s"] >= entry["cost_before_s"]
