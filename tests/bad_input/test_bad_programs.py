"""Programs at the edge of what eqsat-optimize handles: a clear error or an unchanged pass-through,
never a traceback, a hang or a changed result."""

from __future__ import annotations

from pathlib import Path

import pytest

import mirage_mlir
from mirage_mlir.driver.optimize import OptimizeError

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"

_INT_ADD = """func.func @main(%a: tensor<4x4xi32>, %b: tensor<4x4xi32>) -> tensor<4x4xi32> {
  %0 = tensor.empty() : tensor<4x4xi32>
  %1 = linalg.generic {indexing_maps = [affine_map<(d0, d1) -> (d0, d1)>, affine_map<(d0, d1) -> (d0, d1)>, affine_map<(d0, d1) -> (d0, d1)>], iterator_types = ["parallel", "parallel"]} ins(%a, %b : tensor<4x4xi32>, tensor<4x4xi32>) outs(%0 : tensor<4x4xi32>) {
  ^bb0(%x: i32, %y: i32, %o: i32):
    %s = arith.addi %x, %y : i32
    linalg.yield %s : i32
  } -> tensor<4x4xi32>
  func.return %1 : tensor<4x4xi32>
}"""

_SCF_IF = """func.func @main(%c: i1, %a: tensor<4xf32>, %b: tensor<4xf32>) -> tensor<4xf32> {
  %r = scf.if %c -> (tensor<4xf32>) {
    scf.yield %a : tensor<4xf32>
  } else {
    scf.yield %b : tensor<4xf32>
  }
  func.return %r : tensor<4xf32>
}"""

_DYNAMIC = """func.func @main(%a: tensor<?x4xf32>) -> tensor<?x4xf32> {
  func.return %a : tensor<?x4xf32>
}"""


def test_a_time_limit_of_zero_returns_the_input_program():
    result = mirage_mlir.optimize((EXAMPLES / "e1_matrix_chain.mlir").read_text(), target="flops", timeout=0.0)
    (entry,) = result.report["functions"]
    assert not entry["saturated"] and entry["stop_reason"] == "seconds"
    assert entry["flops_after"] == entry["flops_before"] == 120_000


def test_integer_tensors_are_optimised_and_verified():
    result = mirage_mlir.optimize(_INT_ADD, verify=True)
    assert result.report["functions"][0]["verified"]


def test_control_flow_passes_through_unchanged():
    result = mirage_mlir.optimize(_SCF_IF, verify=False)
    assert "scf.if" in result.mlir and result.mlir.count("scf.yield") == 2


def test_dynamic_dimensions_are_a_clear_error_naming_the_argument():
    with pytest.raises(OptimizeError, match=r"argument 0 of @main has type tensor<\?x4xf32>"):
        mirage_mlir.optimize(_DYNAMIC)
