"""Functions with several blocks (branches between them) pass through `eqsat-optimize` unchanged.

The optimiser's term graph is the dataflow of one block, so a function whose body branches
(`cf.br`, `cf.cond_br`, a loop through a back edge) is left exactly as it is and listed under
the report's `skipped_functions` with the reason, while the other functions of the module are
still optimised. Checked through the tool as a user runs it (a subprocess) and through
`mirage_mlir.optimize`, with verification on.
"""

from __future__ import annotations

import json

import pytest

import mirage_mlir

#: Either a or a @ a, chosen by %c: three blocks and a join with a block argument.
BRANCH = """func.func @branch(%a: tensor<4x4xf32>, %c: i1) -> tensor<4x4xf32> {
  cf.cond_br %c, ^bb1, ^bb2
^bb1:
  cf.br ^bb3(%a : tensor<4x4xf32>)
^bb2:
  %cst = arith.constant 0.0 : f32
  %e = tensor.empty() : tensor<4x4xf32>
  %f = linalg.fill ins(%cst : f32) outs(%e : tensor<4x4xf32>) -> tensor<4x4xf32>
  %m = linalg.matmul ins(%a, %a : tensor<4x4xf32>, tensor<4x4xf32>) outs(%f : tensor<4x4xf32>) -> tensor<4x4xf32>
  cf.br ^bb3(%m : tensor<4x4xf32>)
^bb3(%r: tensor<4x4xf32>):
  func.return %r : tensor<4x4xf32>
}
"""

#: a @ a repeated %n times: a loop through a back edge, whose body holds a matmul chain
#: (x @ b) @ c that a single-block function would see reordered.
LOOP = """func.func @loop(%x: tensor<64x2xf32>, %b: tensor<2x64xf32>, %c: tensor<64x2xf32>, %n: index) -> tensor<64x2xf32> {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  cf.br ^head(%c0, %x : index, tensor<64x2xf32>)
^head(%i: index, %acc: tensor<64x2xf32>):
  %more = arith.cmpi slt, %i, %n : index
  cf.cond_br %more, ^body, ^exit
^body:
  %cst = arith.constant 0.0 : f32
  %e = tensor.empty() : tensor<64x64xf32>
  %f = linalg.fill ins(%cst : f32) outs(%e : tensor<64x64xf32>) -> tensor<64x64xf32>
  %p = linalg.matmul ins(%acc, %b : tensor<64x2xf32>, tensor<2x64xf32>) outs(%f : tensor<64x64xf32>) -> tensor<64x64xf32>
  %e2 = tensor.empty() : tensor<64x2xf32>
  %f2 = linalg.fill ins(%cst : f32) outs(%e2 : tensor<64x2xf32>) -> tensor<64x2xf32>
  %q = linalg.matmul ins(%p, %c : tensor<64x64xf32>, tensor<64x2xf32>) outs(%f2 : tensor<64x2xf32>) -> tensor<64x2xf32>
  %next = arith.addi %i, %c1 : index
  cf.br ^head(%next, %q : index, tensor<64x2xf32>)
^exit:
  func.return %acc : tensor<64x2xf32>
}
"""

#: (a @ b) @ c with a 100x100 intermediate: 80,000 FLOPs, 1,600 as a @ (b @ c).
CHAIN = """func.func @chain(%a: tensor<100x2xf32>, %b: tensor<2x100xf32>, %c: tensor<100x2xf32>) -> tensor<100x2xf32> {
  %cst = arith.constant 0.0 : f32
  %e = tensor.empty() : tensor<100x100xf32>
  %f = linalg.fill ins(%cst : f32) outs(%e : tensor<100x100xf32>) -> tensor<100x100xf32>
  %m = linalg.matmul ins(%a, %b : tensor<100x2xf32>, tensor<2x100xf32>) outs(%f : tensor<100x100xf32>) -> tensor<100x100xf32>
  %e2 = tensor.empty() : tensor<100x2xf32>
  %f2 = linalg.fill ins(%cst : f32) outs(%e2 : tensor<100x2xf32>) -> tensor<100x2xf32>
  %m2 = linalg.matmul ins(%m, %c : tensor<100x100xf32>, tensor<100x2xf32>) outs(%f2 : tensor<100x2xf32>) -> tensor<100x2xf32>
  func.return %m2 : tensor<100x2xf32>
}
"""

MODULE = BRANCH + LOOP + CHAIN
REASON = "has several blocks (control flow between blocks)"


def _printed(helpers, text: str, name: str) -> str:
    """@name of `text` as the project prints it (a canonical form to compare op for op)."""
    from mirage_mlir.dialects.context import print_mlir

    return print_mlir(helpers.function(helpers.parse(text), name))


def _check(helpers, report: dict, optimized: str) -> None:
    assert report["skipped_functions"] == [
        {"name": "branch", "reason": REASON},
        {"name": "loop", "reason": REASON},
    ]
    (entry,) = report["functions"]
    assert entry["name"] == "chain" and entry["verified"]
    assert (entry["flops_before"], entry["flops_after"]) == (80_000, 1_600)
    for name in ("branch", "loop"):
        assert _printed(helpers, optimized, name) == _printed(helpers, MODULE, name)
    assert "tensor<100x100xf32>" not in _printed(helpers, optimized, "chain")
    helpers.same_results(MODULE, optimized, name="chain")


@pytest.mark.slow
def test_the_tool_passes_branching_functions_through_and_optimises_the_rest(helpers, tmp_path):
    path = tmp_path / "control_flow.mlir"
    path.write_text(MODULE)
    report = tmp_path / "report.json"
    done = helpers.run_tool(
        path, "-p", f'eqsat-optimize{{target=flops verify=true report="{report}"}}'
    )
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr
    _check(helpers, json.loads(report.read_text()), done.stdout)


def test_the_api_passes_branching_functions_through_and_optimises_the_rest(helpers):
    result = mirage_mlir.optimize(MODULE, target="flops", verify=True)
    _check(helpers, result.report, result.mlir)


@pytest.mark.parametrize("text, name", [(BRANCH, "branch"), (LOOP, "loop")])
def test_a_module_of_one_branching_function_comes_back_as_it_was(helpers, text, name):
    result = mirage_mlir.optimize(text, verify=True)
    assert result.report["functions"] == []
    assert result.report["skipped_functions"] == [{"name": name, "reason": REASON}]
    assert _printed(helpers, result.mlir, name) == _printed(helpers, text, name)
