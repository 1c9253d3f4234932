"""The term graph: construction, type errors, and its NumPy semantics."""

from __future__ import annotations

import numpy as np
import pytest

from mirage_mlir.passes.eqsat.evaluate import evaluate, random_values
from mirage_mlir.passes.eqsat.graph import (
    Constant,
    Contract,
    Elementwise,
    Full,
    Graph,
    GraphError,
    Input,
    MatMul,
    Opaque,
    Reshape,
    Scale,
    Transpose,
    elementwise,
    make_node,
    tanh,
)


def test_types_follow_numpy():
    a, b = Input("a", (2, 3, 4)), Input("b", (1, 4, 5))
    assert (a @ b).shape == (2, 3, 5)
    assert Transpose(a, (2, 0, 1)).shape == (4, 2, 3)
    assert a.mT.shape == (2, 4, 3)
    assert Reshape(a, (6, 4)).shape == (6, 4)
    assert Contract((a, Input("c", (4, 5))), "bij,jk->bik").shape == (2, 3, 5)
    assert (Input("x", (3, 1)) + Input("y", (4,))).shape == (3, 4)
    assert elementwise("gt", Input("x", (3,)), Full(0.0)).dtype == "i1"
    assert Scale(a, 2).s == 2.0 and (a * 2.0).kind == "scale"


@pytest.mark.parametrize(
    "build, message",
    [
        (lambda: Input("a", (2, 3)) @ Input("b", (4, 5)), "inner dimensions differ"),
        (lambda: Input("a", (2, 3, 4)) @ Input("b", (3, 4, 5)), "do not broadcast"),
        (lambda: Input("a", (3,)) @ Input("b", (3, 2)), "rank >= 2"),
        (lambda: Transpose(Input("a", (2, 3)), (0, 0)), "not a permutation"),
        (lambda: Reshape(Input("a", (2, 3)), (4, 2)), "has 6 elements"),
        (lambda: Contract((Input("a", (2, 3)),), "ij"), "explicit output"),
        (lambda: Contract((Input("a", (2, 3)),), "ij->k"), "in no operand"),
        (
            lambda: Contract((Input("a", (2, 3)), Input("b", (4, 5))), "ij,jk->ik"),
            "letter 'j' is 3",
        ),
        (lambda: Contract((Input("a", (2, 3)),), "ijk->i"), "rank 2"),
        (lambda: Contract((Input("a", (2, 3)),), "i1->i"), "not an index letter"),
        (lambda: Elementwise("frobnicate", (Input("a", (2,)),)), "unknown operation"),
        (lambda: Elementwise("add", (Input("a", (2,)),)), "takes 2 operands"),
        (
            lambda: Input("a", (2,), "f32") + Input("b", (2,), "f16"),
            "different element types",
        ),
        (lambda: Input("a", (2,), "f8"), "unknown element type"),
        (lambda: MatMul(Input("a", (2, 2)), np.ones((2, 2))), "not a graph node"),
    ],
)
def test_ill_typed_nodes_are_rejected_with_a_message(build, message):
    with pytest.raises(GraphError, match=message):
        build()


def test_graph_checks_its_inputs():
    a, b = Input("a", (2, 2)), Input("b", (2, 2))
    with pytest.raises(GraphError, match="'b' is used but not among"):
        Graph((a,), (a @ b,))
    with pytest.raises(GraphError, match="repeat a name"):
        Graph((a, Input("a", (2, 2))), (a,))
    with pytest.raises(GraphError, match="both named 'a'"):
        Graph((a,), (a @ Constant("a", (2, 3)),))
    graph = Graph.of(b @ a, a)
    assert [i.name for i in graph.inputs] == ["b", "a"]


def test_nodes_are_listed_once_operands_first():
    a, b = Input("a", (2, 2)), Input("b", (2, 2))
    shared = a @ b
    graph = Graph.of(shared + shared, Scale(shared, 2.0))
    nodes = graph.nodes()
    assert len(nodes) == 5
    assert all(nodes.index(o) < nodes.index(n) for n in nodes for o in n.operands)
    text = str(graph)
    assert "matmul %0, %1 : 2x2xf32" in text and text.endswith("return %3, %4")


def test_make_node_inverts_kind_and_attrs():
    x, w = Input("x", (2, 3)), Constant("w", (3, 4))
    nodes = [
        x,
        w,
        Full(1.5, (4,)),
        x @ w,
        Transpose(x, (1, 0)),
        Reshape(x, (3, 2)),
        Scale(x, 3.0),
        Contract((x, w), "ij,jk->ik"),
        tanh(x),
        Opaque("softmax", (x,), (2, 3)),
    ]
    for node in nodes:
        rebuilt = make_node(node.kind, node.attrs, node.operands)
        assert (rebuilt.kind, rebuilt.attrs, rebuilt.type) == (
            node.kind,
            node.attrs,
            node.type,
        )


def test_evaluate_matches_numpy_for_every_kind():
    x, w = Input("x", (2, 3)), Constant("w", (3, 4))
    bias = Input("bias", (4,))
    y = x @ w
    outputs = [
        y,
        Transpose(y, (1, 0)),
        Reshape(y, (4, 2)),
        Scale(y, -2.0),
        Contract((x, w, bias), "ij,jk,k->i"),
        tanh(y * y + bias),
        Elementwise("max", (y, Full(0.0))),
        Elementwise("where", (Elementwise("gt", (y, Full(0.0))), y, Full(-1.0))),
        Opaque("double", (y,), (2, 4)),
    ]
    graph = Graph.of(*outputs)
    values = random_values(graph, seed=3)
    got = evaluate(graph, values, opaque={"double": lambda v: 2 * v})
    X, W, B = values["x"], values["w"], values["bias"]
    Y = X @ W
    expected = [
        Y,
        Y.T,
        Y.reshape(4, 2),
        -2 * Y,
        np.einsum("ij,jk,k->i", X, W, B),
        np.tanh(Y * Y + B),
        np.maximum(Y, 0),
        np.where(Y > 0, Y, -1),
        2 * Y,
    ]
    for g, e in zip(got, expected):
        assert g.dtype == np.float32
        np.testing.assert_allclose(g, e, rtol=1e-5, atol=1e-6)


def test_evaluate_reports_missing_values_and_implementations():
    x = Input("x", (2,))
    with pytest.raises(GraphError, match="no value given for input 'x'"):
        evaluate(Graph.of(x), {})
    with pytest.raises(GraphError, match="expects shape"):
        evaluate(Graph.of(x), {"x": np.ones(3)})
    with pytest.raises(
        GraphError, match="no NumPy implementation given for opaque op 'f'"
    ):
        evaluate(Graph.of(Opaque("f", (x,), (2,))), {"x": np.ones(2)})
    with pytest.raises(GraphError, match="produced shape"):
        evaluate(
            Graph.of(Opaque("f", (x,), (2,))), {"x": np.ones(2)}, {"f": lambda v: v[:1]}
        )
