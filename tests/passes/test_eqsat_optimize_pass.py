"""The `eqsat-optimize` pass and `mirage_mlir.optimize`: reports, figures, verification."""

from __future__ import annotations

import json

import pytest
from xdsl.utils.exceptions import DiagnosticException

import mirage_mlir
from mirage_mlir.dialects.context import parse_mlir
from mirage_mlir.driver.optimize import OptimizeError
from mirage_mlir.examples import EXAMPLE_NAMES, load_example
from mirage_mlir.passes.eqsat_optimize import EqsatOptimize, optimize_module

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
