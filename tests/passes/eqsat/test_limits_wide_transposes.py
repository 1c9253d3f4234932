"""Transposes wider than the e-graph language encodes (rank above 15), as torch's einsum
writes them, lose their axes of size 1 and become encodable, computing the same values."""

from __future__ import annotations

import numpy as np
import pytest

from mirage_mlir.passes.eqsat.evaluate import evaluate, random_values
from mirage_mlir.passes.eqsat.graph import Graph, GraphError, Input, Transpose
from mirage_mlir.passes.eqsat.language import MAX_PERMUTE_RANK, encode
from mirage_mlir.passes.eqsat.optimize import optimize_graph
from mirage_mlir.passes.eqsat.unit_axes import squeeze_transposes


def wide_transpose(seed: int, rank: int = 24, big_axes: int = 4) -> Graph:
    """A transpose of a rank-`rank` input with `big_axes` axes of size above 1."""
    rng = np.random.default_rng(seed)
    shape = [1] * rank
    for axis in rng.choice(rank, big_axes, replace=False):
        shape[axis] = int(rng.integers(2, 5))
    x = Input("x", tuple(shape))
    return Graph((x,), (Transpose(x, tuple(int(p) for p in rng.permutation(rank))),))


@pytest.mark.parametrize("seed", range(8))
def test_a_squeezed_transpose_computes_the_same_values(seed):
    graph = wide_transpose(seed)
    squeezed = squeeze_transposes(graph)
    assert all(
        len(n.shape) <= MAX_PERMUTE_RANK for n in squeezed.nodes() if n.kind == "transpose"
    )
    values = random_values(graph, np.random.default_rng(seed))
    (expected,) = evaluate(graph, values)
    (got,) = evaluate(squeezed, values)
    assert got.shape == expected.shape
    np.testing.assert_array_equal(got, expected)


def test_moving_only_unit_axes_is_a_reshape():
    x = Input("x", (1,) * 10 + (3,) + (1,) * 10 + (4,))
    perm = list(range(22))
    perm.insert(15, perm.pop(5))  # axis 5 (size 1) moves past axis 10 (size 3)
    squeezed = squeeze_transposes(Graph((x,), (Transpose(x, tuple(perm)),)))
    assert [n.kind for n in squeezed.nodes()] == ["input", "reshape"]


def test_narrow_graphs_are_left_exactly_as_they_are():
    x = Input("x", (1, 2, 1, 3))
    graph = Graph((x,), (Transpose(x, (3, 2, 1, 0)),))
    assert squeeze_transposes(graph) is graph


def test_a_wide_transpose_is_optimised_instead_of_refused():
    graph = wide_transpose(0)
    with pytest.raises(GraphError, match="exceeds the supported"):
        encode(graph)
    result = optimize_graph(graph)
    assert result.cost_after <= result.cost_before
    values = random_values(graph, np.random.default_rng(0))
    np.testing.assert_array_equal(evaluate(result.graph, values)[0], evaluate(graph, values)[0])
