"""Whole models by regions: cuts where little crosses, identical layers searched once, results
cached on disk, the stitched program equal to the input."""

from __future__ import annotations

import numpy as np

from mirage_mlir.passes.eqsat.evaluate import evaluate, random_values
from mirage_mlir.passes.eqsat.graph import (
    Constant,
    Full,
    Graph,
    Input,
    Opaque,
    elementwise,
    reduce,
    softmax,
    tanh,
)
from mirage_mlir.passes.eqsat.regions import (
    MIN_REGION,
    WHOLE_GRAPH,
    RegionCache,
    canonical_region,
    cut_widths,
    optimize_by_regions,
    partition,
)
from mirage_mlir.passes.eqsat.saturate import Limits

WIDTH = 32


def block(x, layer: int):
    """A pre-norm residual block: RMS statistics, a gated MLP, softmax scores, residual."""
    w1 = Constant(f"l{layer}.w1", (WIDTH, WIDTH))
    w2 = Constant(f"l{layer}.w2", (WIDTH, WIDTH))
    w3 = Constant(f"l{layer}.w3", (WIDTH, WIDTH))
    g = Constant(f"l{layer}.g", (WIDTH,))
    square = elementwise("mul", x, x)
    mean = elementwise("div", reduce(square, "sum", (1,), True), Full(float(WIDTH)))
    norm = elementwise(
        "mul", x, elementwise("rsqrt", elementwise("add", mean, Full(1e-6)))
    )
    h = elementwise("mul", norm, g)
    for _ in range(3):
        h = tanh(h @ w1) * (h @ w2)
        h = softmax(h @ w3) + elementwise("mul", h, Full(0.5))
    return x + h @ w1


def deep(layers: int) -> Graph:
    x = Input("x", (8, WIDTH))
    y = x
    for layer in range(layers):
        y = block(y, layer)
    return Graph.of(y)


def assert_same_values(before: Graph, after: Graph) -> None:
    values = random_values(before, seed=3)
    for a, b in zip(
        evaluate(before, values, precision="f64"),
        evaluate(after, values, precision="f64"),
    ):
        np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-9)


def test_cuts_fall_between_the_layers_and_far_apart():
    graph = deep(6)
    widths = cut_widths(graph)
    regions = partition(graph)
    assert len(regions) >= 6
    assert all(len(r.nodes) >= MIN_REGION // 2 for r in regions)
    # Every region hands the next one only the residual stream.
    assert all(len(r.outputs) == 1 for r in regions)
    assert min(widths) == 1
    # Regions cover the compute nodes once each, in order.
    covered = [id(n) for r in regions for n in r.nodes]
    assert covered == [id(n) for n in graph.nodes() if n.operands]


def test_identical_layers_have_one_canonical_form_weights_aside():
    regions = partition(deep(6))
    texts = [canonical_region(r).text for r in regions]
    # The layers in the middle are the same computation on different weights.
    assert len(set(texts[1:-1])) == 1
    assert "l2.w1" not in texts[2] and "w0" in texts[2]


def test_optimising_by_regions_searches_each_distinct_region_once_and_keeps_values():
    graph = deep(6)
    result, stats = optimize_by_regions(graph, "h100", Limits(seconds=20))
    assert stats.regions == len(partition(graph))
    assert stats.distinct < stats.regions
    assert stats.searched == stats.distinct and stats.cache_hits == 0
    assert result.cost_after <= result.cost_before
    assert result.kernels is not None
    # Every compute node of the result is in exactly one kernel or is free.
    assert_same_values(graph, result.graph)


def test_region_results_are_cached_on_disk(tmp_path):
    graph = deep(4)
    first, stats = optimize_by_regions(
        graph, "h100", Limits(), cache=RegionCache(tmp_path)
    )
    assert stats.searched == stats.distinct
    assert list(tmp_path.glob("*.pickle"))
    again, stats = optimize_by_regions(
        graph, "h100", Limits(), cache=RegionCache(tmp_path)
    )
    assert stats.searched == 0 and stats.cache_hits == stats.distinct
    assert str(again.graph) == str(first.graph)
    assert_same_values(graph, again.graph)


def test_an_unreadable_cache_entry_is_searched_again(tmp_path):
    graph = deep(4)
    optimize_by_regions(graph, "h100", Limits(), cache=RegionCache(tmp_path))
    for entry in tmp_path.glob("*.pickle"):
        entry.write_bytes(b"not a pickle")
    result, stats = optimize_by_regions(
        graph, "h100", Limits(), cache=RegionCache(tmp_path)
    )
    assert stats.searched == stats.distinct
    assert_same_values(graph, result.graph)


def test_small_graphs_are_searched_whole():
    graph = deep(1)
    assert len(partition(graph)) == 1
    result, stats = optimize_by_regions(graph, "h100", Limits())
    assert (stats.regions, stats.searched) == (1, 1)
    assert_same_values(graph, result.graph)


def test_an_op_every_region_reads_is_computed_by_one_kernel():
    # An opaque op without operands (torch-mlir's stacked expert weights, for instance) read
    # by every layer: each region copies it as a leaf, and the stitched kernels hold it once.
    shared = Opaque("make_table", (), (8, WIDTH), "f32")
    x = Input("x", (8, WIDTH))
    y = x
    for layer in range(4):
        y = block(elementwise("add", y, shared), layer)
    graph = Graph.of(y)
    result, stats = optimize_by_regions(graph, "h100", Limits())
    assert stats.regions > 1 and result.kernels is not None
    members = [id(n) for k in result.kernels for n in k.nodes]
    assert len(members) == len(set(members))
    for kernel in result.kernels:
        inside = {id(n) for n in kernel.nodes}
        assert all(id(o) in inside for o in kernel.outputs)
        assert not any(id(i) in inside for i in kernel.inputs)
    table = np.random.default_rng(0).standard_normal((8, WIDTH))
    values = random_values(graph, seed=3)
    opaque = {"make_table": lambda: table}
    for a, b in zip(
        evaluate(graph, values, opaque, precision="f64"),
        evaluate(result.graph, values, opaque, precision="f64"),
    ):
        np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-9)


def test_a_deep_model_searches_no_more_regions_than_a_shallow_one():
    # Depth adds regions, not searches: 24 equal layers are as many distinct searches as 4.
    shallow = optimize_by_regions(deep(4), "h100", Limits())[1]
    deeper = optimize_by_regions(deep(24), "h100", Limits())[1]
    assert deeper.regions >= 24 and deeper.searched == shallow.searched


def test_a_chain_of_products_is_never_cut():
    # Every point of a matmul chain is equally narrow, but its order is one choice.
    rng = np.random.default_rng(0)
    dims = [int(d) for d in rng.integers(2, 10, 2 * WHOLE_GRAPH)]
    product = Input("m0", (dims[0], dims[1]))
    for i in range(1, 2 * WHOLE_GRAPH - 1):
        product = product @ Input(f"m{i}", (dims[i], dims[i + 1]))
    graph = Graph.of(elementwise("tanh", product))
    assert len([n for n in graph.nodes() if n.operands]) > WHOLE_GRAPH
    assert len(partition(graph)) == 1


def attention_block(x, layer: int, steps: int):
    """A residual block whose attention has a long chain between its two products: scores
    q @ kᵀ, then `steps` elementwise ops and a softmax before the product with v."""
    wq, wk, wv = (Constant(f"l{layer}.w{n}", (WIDTH, WIDTH)) for n in "qkv")
    q, k, v = x @ wq, x @ wk, x @ wv
    scores = q @ k.mT
    for _ in range(steps):
        scores = elementwise("mul", scores, Full(0.5))
    return x + softmax(scores) @ v


def test_no_cut_between_attentions_two_products():
    # Between q @ kᵀ and P @ v the only value crossing is the scores (width 1, as narrow as
    # the residual stream), but cutting there would hide the attention from the search.
    x = Input("x", (8, WIDTH))
    y = x
    for layer in range(4):
        y = attention_block(y, layer, steps=2 * MIN_REGION)
    graph = Graph.of(y)
    regions = partition(graph)
    assert len(regions) > 1
    for region in regions:
        members = {id(n) for n in region.nodes}
        for node in region.nodes:
            if node.kind == "softmax":
                # The scores' product and the probabilities' product sit in its region.
                (scores,) = node.operands
                while scores.kind != "matmul":
                    scores = scores.operands[0]
                assert id(scores) in members
                readers = [n for n in region.nodes if node in n.operands]
                assert readers and all(r.kind == "matmul" for r in readers)
