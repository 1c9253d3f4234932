"""Lifting chains of products (through transposes and reshapes) into einsum networks."""

import numpy as np
import pytest

from mirage_mlir.passes.eqsat.evaluate import evaluate, random_values
from mirage_mlir.passes.eqsat.graph import Graph, Input, Reshape, Transpose, tanh
from mirage_mlir.passes.eqsat.networks import lift_networks


def contracts(graph):
    return [n.attrs[0] for n in graph.nodes() if n.kind == "contract"]


def same_values(a: Graph, b: Graph):
    values = random_values(a, seed=3)
    for x, y in zip(evaluate(a, values, precision="f64"), evaluate(b, values, precision="f64")):
        assert x.shape == y.shape
        assert np.allclose(x, y, rtol=1e-9, atol=1e-9)


def test_plain_matmul_chain_is_left_to_the_linear_algebra_rules():
    a, b, c, d = Input("A", (10, 2)), Input("B", (2, 10)), Input("C", (10, 3)), Input("D", (3, 7))
    graph = Graph.of(((a @ b) @ c) @ d)
    assert lift_networks(graph).outputs == graph.outputs


def test_chain_behind_unit_reshapes_becomes_one_network():
    a, b, c, d = Input("A", (10, 2)), Input("B", (2, 10)), Input("C", (10, 3)), Input("D", (3, 7))
    abc = Reshape(Reshape(a @ b, (1, 10, 10)) @ Reshape(c, (1, 10, 3)), (10, 3))
    graph = Graph.of(abc @ d)
    lifted = lift_networks(graph)
    assert contracts(lifted) == ["ab,bc,cd,de->ae"]
    same_values(graph, lifted)


def test_einsum_glue_of_unit_batches_and_transposes_is_seen_through():
    # torch-mlir's einsum: expand to a batch of 1, batch_matmul, collapse, transpose back.
    a, b, c = Input("A", (4, 5)), Input("B", (5, 6)), Input("C", (7, 6))
    ab = Reshape(Reshape(a, (1, 4, 5)) @ Reshape(b, (1, 5, 6)), (4, 6))
    abc = Transpose(Reshape(Reshape(c, (1, 7, 6)) @ Reshape(ab, (1, 4, 6)).mT, (7, 4)), (1, 0))
    graph = Graph.of(abc)
    lifted = lift_networks(graph)
    assert len(contracts(lifted)) == 1
    assert len(contracts(lifted)[0].split("->")[0].split(",")) == 3
    same_values(graph, lifted)


def test_shared_intermediate_ends_the_network():
    a, b, c = Input("A", (4, 5)), Input("B", (5, 6)), Input("C", (6, 2))
    ab = a @ b
    graph = Graph.of((ab @ c), ab)
    lifted = lift_networks(graph)
    # AB is used twice: it stays one value, so no network of two products forms.
    assert contracts(lifted) == []
    same_values(graph, lifted)


def test_non_linear_ops_end_the_network():
    a, b, c, d = (Input(n, (8, 8)) for n in "ABCD")
    graph = Graph.of(Reshape(tanh(a @ b) @ c, (1, 8, 8)) @ Reshape(d, (1, 8, 8)))
    lifted = lift_networks(graph)
    assert contracts(lifted) == ["ab,bc,cd->ad"]
    same_values(graph, lifted)


def test_scales_ride_along():
    a, b, c = Input("A", (3, 4)), Input("B", (4, 5)), Input("C", (5, 2))
    graph = Graph.of(Reshape((a * 0.5) @ b, (1, 3, 5)) @ Reshape(c * 3.0, (1, 5, 2)))
    lifted = lift_networks(graph)
    assert [n.kind for n in lifted.outputs] == ["scale"]
    same_values(graph, lifted)


@pytest.mark.parametrize("batch_b", [(1,), (4,)])
def test_broadcast_batches_are_left_alone(batch_b):
    a, b, c = Input("A", (4, 3, 5)), Input("B", batch_b + (5, 6)), Input("C", (4, 6, 2))
    graph = Graph.of((a @ b) @ c)
    lifted = lift_networks(graph)
    if batch_b == (1,):
        assert contracts(lifted) == []
    same_values(graph, lifted)


def test_glue_after_the_last_product_joins_the_network():
    a, b, c = Input("A", (4, 5)), Input("B", (5, 6)), Input("C", (6, 3))
    abc = Reshape(Reshape(a @ b, (1, 4, 6)) @ Reshape(c, (1, 6, 3)), (4, 1, 3))
    graph = Graph.of(Reshape(Transpose(abc, (2, 1, 0)), (3, 4)))
    lifted = lift_networks(graph)
    assert contracts(lifted) == ["ab,bc,cd->da"]
    assert [n.kind for n in lifted.nodes() if n.kind != "input"] == ["contract"]
    same_values(graph, lifted)
