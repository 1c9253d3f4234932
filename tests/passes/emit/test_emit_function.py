"""emit_function as a whole: kernel groups, opaque ops, dead code, errors."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pytest

from mirage_mlir.dialects.context import parse_mlir, print_mlir
from mirage_mlir.interpreters.mirage import run_function
from mirage_mlir.passes.emit import EmitError, emit_function, schedule
from mirage_mlir.passes.eqsat.graph import (
    Constant,
    Graph,
    Input,
    Opaque,
    Scale,
    softmax,
    tanh,
)
from conftest import HandRecognized, function_for


@dataclass(frozen=True)
class Group:
    template: str
    nodes: tuple


def gated_layer():
    x = Input("x", (8, 16))
    w1, w2, bias = Constant("w1", (16, 32)), Constant("w2", (16, 32)), Constant("bias", (32,))
    y1, y2 = x @ w1, x @ w2
    prod = y1 * y2
    out = tanh(prod + bias)
    return Graph.of(out), (y1, y2, prod, out)


def test_a_group_becomes_one_kernel_with_its_template(emit_and_run):
    graph, (y1, y2, prod, out) = gated_layer()
    add = out.operands[0]
    kernels = [Group("dual_matmul_epilogue", (y1, y2, prod, add, out))]
    text = emit_and_run(graph, kernels)
    assert text.count("mirage.kernel") == 1
    assert 'template = "dual_matmul_epilogue"' in text
    body = text[text.index("mirage.kernel") : text.index("mirage.yield")]
    assert body.count("linalg.matmul") == 2 and "math.tanh" in body


def test_values_used_outside_a_kernel_are_its_results(emit_and_run):
    x = Input("x", (4, 8))
    s = Scale(x, 2.0)
    t = tanh(s)
    u = softmax(t)
    graph = Graph.of(u, s)
    text = emit_and_run(graph, [Group("elementwise", (s, t)), Group("row", (u,))])
    # The kernel yields both s (a function result) and t (read by the softmax).
    assert "-> (tensor<4x8xf32>, tensor<4x8xf32>)" in text
    assert text.count("mirage.kernel") == 1  # the single-node group is emitted bare


def test_groups_that_feed_each_other_are_rejected():
    x = Input("x", (4, 4))
    a = tanh(x)
    b = tanh(Scale(a, 2.0))
    c = b + a
    # {a, c} reads b, which reads a: no order emits the group as one kernel.
    with pytest.raises(EmitError, match="not convex"):
        schedule(Graph.of(c), [Group("g", (a, c))])


def test_an_opaque_op_keeps_its_original_when_its_operands_are_unchanged():
    text = """
    func.func @main(%x: tensor<4x4xf32>) -> tensor<4x4xf32> {
      %e = tensor.empty() : tensor<4x4xf32>
      %f = linalg.generic {indexing_maps = [affine_map<(d0, d1) -> (d0, d1)>, affine_map<(d0, d1) -> (d0, d1)>], iterator_types = ["parallel", "parallel"]} ins(%x : tensor<4x4xf32>) outs(%e : tensor<4x4xf32>) {
      ^bb0(%in: f32, %out: f32):
        %r = math.absf %in : f32
        linalg.yield %r : f32
      } -> tensor<4x4xf32>
      func.return %f : tensor<4x4xf32>
    }
    """
    module = parse_mlir(text)
    fn = module.ops.first
    generic = [op for op in fn.body.block.ops if op.name == "linalg.generic"][0]
    x = Input("arg0", (4, 4))
    empty = Opaque("tensor.empty#0:0", (), (4, 4))
    floor = Opaque("linalg.generic#1:0", (x, empty), (4, 4))
    graph = Graph((x,), (Scale(floor, 2.0),))
    recognized = HandRecognized(
        fn,
        graph,
        {"arg0": fn.body.block.args[0]},
        {"tensor.empty#0:0": (generic.operands[1].op, 0), "linalg.generic#1:0": (generic, 0)},
    )
    emit_function(recognized, graph)
    out = print_mlir(module)
    assert out.count("math.absf") == 1 and "arith.mulf" in out
    got = run_function(parse_mlir(out), "main", np.full((4, 4), -1.5, np.float32))[0]
    np.testing.assert_array_equal(got, np.full((4, 4), 3.0, np.float32))


def test_an_opaque_op_on_new_operands_is_cloned():
    text = """
    func.func @main(%x: tensor<4x4xf32>) -> tensor<4x4xf32> {
      %e = tensor.empty() : tensor<4x4xf32>
      %f = linalg.generic {indexing_maps = [affine_map<(d0, d1) -> (d0, d1)>, affine_map<(d0, d1) -> (d0, d1)>], iterator_types = ["parallel", "parallel"]} ins(%x : tensor<4x4xf32>) outs(%e : tensor<4x4xf32>) {
      ^bb0(%in: f32, %out: f32):
        %r = math.absf %in : f32
        linalg.yield %r : f32
      } -> tensor<4x4xf32>
      func.return %f : tensor<4x4xf32>
    }
    """
    module = parse_mlir(text)
    fn = module.ops.first
    generic = [op for op in fn.body.block.ops if op.name == "linalg.generic"][0]
    x = Input("arg0", (4, 4))
    empty = Opaque("tensor.empty#0:0", (), (4, 4))
    floor = Opaque("linalg.generic#1:0", (Scale(x, 3.0), empty), (4, 4))
    graph = Graph((x,), (floor,))
    recognized = HandRecognized(
        fn,
        graph,
        {"arg0": fn.body.block.args[0]},
        {"tensor.empty#0:0": (generic.operands[1].op, 0), "linalg.generic#1:0": (generic, 0)},
    )
    emit_function(recognized, graph)
    out = print_mlir(module)
    assert out.count("math.absf") == 1  # the original is dead and erased
    got = run_function(parse_mlir(out), "main", np.full((4, 4), -0.5, np.float32))[0]
    np.testing.assert_array_equal(got, np.full((4, 4), 1.5, np.float32))


def test_dead_code_elimination_keeps_ops_with_side_effects():
    text = """
    func.func @main(%x: tensor<4xf32>, %m: memref<4xf32>) -> tensor<4xf32> {
      %c = arith.constant 0 : index
      %v = arith.constant 1.0 : f32
      memref.store %v, %m[%c] : memref<4xf32>
      func.return %x : tensor<4xf32>
    }
    """
    module = parse_mlir(text)
    fn = module.ops.first
    x = Input("arg0", (4,))
    graph = Graph((x,), (tanh(x),))
    emit_function(HandRecognized(fn, graph, {"arg0": fn.body.block.args[0]}), graph)
    out = print_mlir(module)
    assert "memref.store" in out and "math.tanh" in out


def test_a_leaf_without_a_value_is_a_clear_error():
    graph = Graph.of(tanh(Input("x", (2, 2))))
    module, recognized = function_for(graph)
    recognized.leaves.clear()
    with pytest.raises(EmitError, match="input 'x' has no value"):
        emit_function(recognized, graph)
