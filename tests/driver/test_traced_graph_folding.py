"""The traced CPU runtime graph (driver/torch_graph.py) runs what reads only constants once.

A reduction whose init is a fill keeps the reduced axis as size 1 (`(d0, d1) -> (d0, 0)`);
the runtime lifts that init to the loop space with a select and a view of a constant on
every call. In the traced graph those ops are computed once and read as constants.
"""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")

from mirage_mlir.driver.torch_executor import TorchProgram  # noqa: E402

ROW_SUMS = """
func.func @main(%x: tensor<4x8xf32>) -> tensor<4x1xf32> {
  %zero = arith.constant 0.0 : f32
  %e = tensor.empty() : tensor<4x1xf32>
  %init = linalg.fill ins(%zero : f32) outs(%e : tensor<4x1xf32>) -> tensor<4x1xf32>
  %r = linalg.generic {indexing_maps = [affine_map<(d0, d1) -> (d0, d1)>,
                                        affine_map<(d0, d1) -> (d0, 0)>],
                       iterator_types = ["parallel", "reduction"]}
      ins(%x : tensor<4x8xf32>) outs(%init : tensor<4x1xf32>) {
  ^bb0(%in: f32, %acc: f32):
    %s = arith.addf %in, %acc : f32
    linalg.yield %s : f32
  } -> tensor<4x1xf32>
  func.return %r : tensor<4x1xf32>
}
"""


def _calls(graph, name: str) -> int:
    return sum(
        1
        for n in graph.graph.nodes
        if n.op == "call_function" and name in str(n.target)
    )


def test_ops_on_constants_are_folded_and_the_results_stay_exact():
    program = TorchProgram.from_text(ROW_SUMS)
    x = torch.randn(4, 8, generator=torch.Generator().manual_seed(0))
    first = program(x)[0]
    second = program(x)[0]  # traces the steps into one graph
    graph = program.graph
    assert graph is not None
    assert _calls(graph, "select") == 0
    assert any(
        n.op == "get_attr" and "_folded_constant" in str(n.target)
        for n in graph.graph.nodes
    )
    y = torch.randn(4, 8, generator=torch.Generator().manual_seed(1))
    assert torch.equal(program(y)[0], program.block.run([y])[0])
    assert torch.equal(first, second)
