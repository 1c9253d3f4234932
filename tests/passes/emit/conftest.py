"""Emission harness: a function for a hand-built graph, emitted, printed, re-parsed and run.

`emit_and_run(graph, kernels=None)` builds `func.func @main` whose arguments are the graph's
inputs and constants (in first-use order) and whose body returns placeholder `tensor.empty`
values, emits the graph into it, checks that the printed module parses and verifies again,
runs it with the NumPy semantics of mirage + linalg, and compares every result with
`evaluate(graph)`. It returns the printed MLIR so that tests can check its shape.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import numpy as np
import pytest
from xdsl.dialects import func, tensor
from xdsl.dialects.builtin import ModuleOp
from xdsl.ir import Block, Operation, Region, SSAValue

from mirage_mlir.dialects.context import parse_mlir, print_mlir
from mirage_mlir.interpreters.mirage import run_function
from mirage_mlir.passes.emit import emit_function
from mirage_mlir.passes.emit.structured import tensor_type
from mirage_mlir.passes.eqsat.evaluate import evaluate, random_values
from mirage_mlir.passes.eqsat.graph import Graph


@dataclass
class HandRecognized:
    """The fields of a recognised function that emission reads, built by hand."""

    func: func.FuncOp
    graph: Graph
    leaves: dict[str, SSAValue]
    opaque_ops: dict[str, tuple[Operation, int]] = field(default_factory=dict)


def function_for(graph: Graph) -> tuple[ModuleOp, HandRecognized]:
    """A module holding @main(leaves...) returning placeholders of the graph's output types."""
    leaves = []
    for node in graph.nodes():
        if node.kind in ("input", "constant") and node.attrs[0] not in [n.attrs[0] for n in leaves]:
            leaves.append(node)
    block = Block(arg_types=[tensor_type(n.shape, n.dtype) for n in leaves])
    placeholders = [tensor.EmptyOp([], tensor_type(o.shape, o.dtype)) for o in graph.outputs]
    block.add_ops(placeholders)
    block.add_op(func.ReturnOp(*[p.tensor for p in placeholders]))
    fn = func.FuncOp(
        "main",
        ([a.type for a in block.args], [p.tensor.type for p in placeholders]),
        Region(block),
    )
    module = ModuleOp([fn])
    recognized = HandRecognized(
        fn, graph, {n.attrs[0]: arg for n, arg in zip(leaves, block.args)}
    )
    return module, recognized


def run_emitted(graph: Graph, kernels=None, seed: int = 0, tolerance: float = 1e-5) -> str:
    """Emit `graph`, round-trip it through text, run it, compare with evaluate(graph)."""
    module, recognized = function_for(graph)
    emit_function(recognized, graph, kernels)
    module.verify()
    text = print_mlir(module)
    reparsed = parse_mlir(text, "emitted.mlir")
    assert print_mlir(reparsed) == text
    values = random_values(graph, seed=seed)
    arrays = [values[name] for name in recognized.leaves]
    got = run_function(reparsed, "main", *arrays)
    want = evaluate(graph, values)
    assert len(got) == len(want)
    for index, (g, w) in enumerate(zip(got, want)):
        assert g.shape == w.shape, f"output {index}: shape {g.shape} != {w.shape}"
        np.testing.assert_allclose(g, w, rtol=tolerance, atol=tolerance, err_msg=f"output {index}")
    return text


@pytest.fixture
def emit_and_run() -> Callable[..., str]:
    """See `run_emitted`."""
    return run_emitted
