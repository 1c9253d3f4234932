"""Slices as strided loads: the joined projection x @ [Wq | Wk | Wv] wins over three matmuls.

Extraction prices each e-node as its own kernel, where a slice is a copy; the extraction that
anticipates fusion charges a slice nothing (it is a strided load of the matmul or attention
kernel reading it), and kernel formation then prices the real kernels.
"""

from __future__ import annotations

import numpy as np

from mirage_mlir.passes.eqsat.cost import get_target, kernel_cost, node_work
from mirage_mlir.passes.eqsat.evaluate import evaluate, random_values
from mirage_mlir.passes.eqsat.fusion import anticipated_cost
from mirage_mlir.passes.eqsat.graph import (
    Constant,
    Graph,
    Input,
    Reshape,
    Transpose,
    attention,
    strided_slice,
)


def test_a_slice_costs_a_copy_alone_and_nothing_when_fusion_is_anticipated():
    h100 = get_target("h100")
    whole = Input("x", (128, 768)).type
    piece = strided_slice(Input("x", (128, 768)), (0, 0), (128, 128))
    work = node_work("slice", piece.attrs, [whole], piece.type)
    assert kernel_cost(h100, work) > h100.launch
    assert anticipated_cost(h100, "slice", work) == 0


def _projections():
    """q, k, v = x @ Wqᵀ, x @ Wkᵀ, x @ Wvᵀ (as heads) feeding one attention, as in E7."""
    x = Input("x", (128, 256))
    wq, wk, wv = (Constant(n, (256, 256)) for n in ("wq", "wk", "wv"))
    q, k, v = (x @ w.mT for w in (wq, wk, wv))

    def heads(t):
        return Transpose(Reshape(t, (1, 128, 4, 64)), (0, 2, 1, 3))

    out = attention(heads(q), heads(k), heads(v), 0.125, causal=True)
    return Graph.of(out)


def test_three_projections_feeding_attention_become_one_joined_matmul():
    from mirage_mlir.passes.eqsat.optimize import optimize_graph

    graph = _projections()
    result = optimize_graph(graph, "h100")
    kinds = [n.kind for n in result.graph.nodes()]
    matmuls = [n for n in result.graph.nodes() if n.kind == "matmul"]
    assert len(matmuls) == 1 and matmuls[0].shape == (128, 768)
    assert kinds.count("slice") == 3
    assert [k.template for k in result.kernels] == ["matmul", "attention"]
    values = random_values(graph)
    (want,) = evaluate(graph, values, precision="f64")
    (got,) = evaluate(result.graph, values, precision="f64")
    np.testing.assert_allclose(got, want, rtol=1e-9, atol=1e-9)
