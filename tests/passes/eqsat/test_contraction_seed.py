"""Contraction orders seeded into the e-graph (passes/eqsat/contraction_seed.py).

The seeds are rewrites like any other: each seeded tree must compute the n-ary einsum it is
put beside (checked in float64 on random networks, hyperedges, scalars and letters summed
inside one factor included). And they must matter: when a limit stops saturation before the
`contraction` ruleset reaches the root of a large network, the extracted plan is the best
seed, not the n-ary loop nest; and the interval search makes a long matrix chain's plan the
dynamic-programming optimum whatever the limits. The subset search is exact: checked against
opt_einsum's exhaustive and dynamic-programming paths, and against a brute-force search over
all splits of all subsets on networks with hyperedges and letters summed inside one factor.
"""

from __future__ import annotations

import itertools
import math
import time

import numpy as np
import opt_einsum
import pytest

from mirage_mlir.passes.eqsat import contraction_seed, language
from mirage_mlir.passes.eqsat.cost import contraction_flops
from mirage_mlir.passes.eqsat.evaluate import evaluate, random_values
from mirage_mlir.passes.eqsat.graph import LETTERS, Contract, Graph, Input
from mirage_mlir.passes.eqsat.optimize import optimize_graph
from mirage_mlir.passes.eqsat.saturate import Limits

from test_eqsat_einsum import network_graph, random_network


def chain_network(dims: list[int]) -> tuple[str, dict[str, int]]:
    """The einsum of a chain of len(dims) - 1 matrices."""
    letters = list(LETTERS[: len(dims)])
    spec = ",".join(letters[k] + letters[k + 1] for k in range(len(dims) - 1))
    return spec + "->" + letters[0] + letters[-1], dict(zip(letters, dims))


def dp_chain_flops(dims: list[int]) -> int:
    """The optimal parenthesisation's FLOPs (2 per multiply-add)."""
    n = len(dims) - 1
    best = [[0] * n for _ in range(n)]
    for length in range(2, n + 1):
        for i in range(n - length + 1):
            j = i + length - 1
            best[i][j] = min(
                best[i][k] + best[k + 1][j] + 2 * dims[i] * dims[k + 1] * dims[j + 1]
                for k in range(i, j)
            )
    return best[0][n - 1]


def tree_flops(node) -> int:
    """FLOPs of a tree of binary contractions (opt_einsum's convention)."""
    if node.kind != "contract":
        return 0
    own, _ = contraction_flops(node.spec, [o.shape for o in node.operands])
    return own + sum(tree_flops(o) for o in node.operands)


def twelve_operand_network() -> tuple[str, dict[str, int]]:
    """A ring of twelve matrices with a chord: too large to saturate under small limits."""
    letters = "abcdefghijkl"
    layouts = [letters[k] + letters[(k + 1) % 12] for k in range(12)]
    layouts[0] += "x"
    layouts[6] += "y"
    layouts[3] += "z"
    layouts[9] += "z"
    sizes = {c: 2 + (3 * k) % 7 for k, c in enumerate(letters)} | {
        "x": 5,
        "y": 3,
        "z": 4,
    }
    return ",".join(layouts) + "->xy", sizes


@pytest.mark.parametrize("standard", [True, False])
def test_every_seeded_tree_computes_the_einsum(standard):
    rng = np.random.default_rng(3 if standard else 4)
    checked = 0
    for trial in range(40):
        spec, sizes = random_network(rng, max_operands=7, standard=standard)
        graph = network_graph(spec, sizes)
        (root,) = graph.outputs
        trees = contraction_seed.seed_trees(root)
        if len(root.operands) < 3:
            assert trees == []
            continue
        values = random_values(graph, seed=trial)
        want = evaluate(graph, values, precision="f64")[0]
        for tree in trees:
            assert all(
                n.kind != "contract" or len(n.operands) == 2
                for n in Graph.of(tree).nodes()
            )
            got = evaluate(Graph.of(tree), values, precision="f64")[0]
            assert got.shape == want.shape, spec
            np.testing.assert_allclose(
                got,
                want,
                rtol=1e-9,
                atol=1e-9 * max(1.0, float(np.abs(want).max())),
                err_msg=spec,
            )
            checked += 1
    assert checked > 40


def test_greedy_trees_keep_the_chain_order():
    """A matrix chain's seed reads left to right, so its steps are plain matmuls."""
    mats = [
        Input(f"m{k}", shape)
        for k, shape in enumerate([(100, 10), (10, 20), (20, 5), (5, 100)])
    ]
    tree = contraction_seed.greedy_tree(
        Contract(tuple(mats), "ik,kj,jl,lm->im"), "flops"
    )
    left, right = tree.operands
    assert right is mats[3], "the last step multiplies (A B C) by D, in that order"
    assert tree_flops(tree) == 2 * (10 * 20 * 5 + 100 * 10 * 5 + 100 * 5 * 100)


def test_a_stopped_saturation_still_extracts_the_best_seed(monkeypatch):
    spec, sizes = twelve_operand_network()
    graph = network_graph(spec, sizes)
    (root,) = graph.outputs
    loop_nest, _ = contraction_flops(spec, [o.shape for o in root.operands])
    best_seed = min(tree_flops(t) for t in contraction_seed.seed_trees(root))
    assert best_seed * 1000 < loop_nest

    stopped = Limits(iterations=2)
    result = optimize_graph(graph, target="flops", limits=stopped)
    assert not result.saturated
    assert result.flops_after == best_seed
    values = random_values(graph, seed=1)
    want = evaluate(graph, values, precision="f64")[0]
    got = evaluate(result.graph, values, precision="f64")[0]
    np.testing.assert_allclose(
        got, want, rtol=1e-9, atol=1e-9 * float(np.abs(want).max())
    )

    # Without the seeds, the same limits leave the n-ary loop nest in place.
    monkeypatch.setattr(language, "seed_trees", lambda node: [])
    unseeded = optimize_graph(graph, target="flops", limits=stopped)
    assert unseeded.flops_after == loop_nest


def test_seeded_plan_is_within_reach_of_opt_einsums_exact_one():
    """Under the default limits a 12-operand network gets a plan no worse than opt_einsum's
    greedy one, and within 2x of its exact 'dp' plan."""
    spec, sizes = twelve_operand_network()
    graph = network_graph(spec, sizes)
    result = optimize_graph(graph, target="flops")
    shapes = [
        tuple(sizes[c] for c in layout) for layout in spec.split("->")[0].split(",")
    ]
    greedy = opt_einsum.contract_path(spec, *shapes, shapes=True, optimize="greedy")[1]
    exact = opt_einsum.contract_path(spec, *shapes, shapes=True, optimize="dp")[1]
    assert result.flops_after <= int(greedy.opt_cost)
    assert result.flops_after <= 2 * int(exact.opt_cost)
    assert math.isfinite(result.cost_after)


def test_interval_tree_is_the_optimal_parenthesisation_of_random_chains():
    rng = np.random.default_rng(5)
    for trial in range(30):
        dims = [int(d) for d in rng.integers(1, 60, size=int(rng.integers(4, 14)))]
        spec, sizes = chain_network(dims)
        (root,) = network_graph(spec, sizes).outputs
        tree = contraction_seed.interval_tree(root)
        assert tree_flops(tree) == dp_chain_flops(dims), (trial, dims)


@pytest.mark.slow
def test_a_100_matrix_chain_gets_the_dp_optimum_under_the_default_limits(monkeypatch):
    """Longer than any einsum network (52 letters), the chain stays matmuls, and the chain
    seed gives it the optimum that saturation alone does not reach within the limits."""
    rng = np.random.default_rng(6)
    dims = [int(d) for d in rng.integers(1, 257, size=101)]
    mats = [Input(f"m{k}", (dims[k], dims[k + 1])) for k in range(100)]
    expr = mats[0]
    for m in mats[1:]:
        expr = expr @ m
    graph = Graph.of(expr)
    limits = Limits(seconds=3.0)
    result = optimize_graph(graph, target="flops", limits=limits)
    assert result.flops_after == dp_chain_flops(dims)
    values = random_values(graph, seed=2, low=0.5, high=1.5)
    want = evaluate(graph, values, precision="f64")[0]
    got = evaluate(result.graph, values, precision="f64")[0]
    np.testing.assert_allclose(got, want, rtol=1e-9)

    monkeypatch.setattr(language, "matmul_chain_tree", lambda node: None)
    unseeded = optimize_graph(graph, target="flops", limits=limits)
    assert unseeded.flops_after > dp_chain_flops(dims)


# --------------------------------------------------------------------------------------------
# The subset search


def connected_network(n: int, rng) -> tuple[str, dict[str, int]]:
    """A connected standard network of n operands (every letter in two operands, or in one and
    the output): a random tree of shared letters, n // 2 extra ones, two open letters.
    """
    letters = iter(LETTERS)
    layouts: list[list[str]] = [[] for _ in range(n)]
    sizes: dict[str, int] = {}
    edges = [(k, int(rng.integers(0, k))) for k in range(1, n)]
    edges += [
        tuple(int(x) for x in rng.choice(n, 2, replace=False)) for _ in range(n // 2)
    ]
    for a, b in edges:
        letter = next(letters)
        layouts[a].append(letter)
        layouts[b].append(letter)
        sizes[letter] = int(rng.integers(2, 9))
    output = []
    for _ in range(2):
        letter = next(letters)
        layouts[int(rng.integers(0, n))].append(letter)
        sizes[letter] = int(rng.integers(2, 9))
        output.append(letter)
    for layout in layouts:
        rng.shuffle(layout)
    return ",".join("".join(l) for l in layouts) + "->" + "".join(output), sizes


def opt_einsum_path(spec: str, sizes: dict[str, int], how: str):
    """opt_einsum's path and its FLOPs."""
    shapes = [
        tuple(sizes[c] for c in layout) for layout in spec.split("->")[0].split(",")
    ]
    path, info = opt_einsum.contract_path(spec, *shapes, shapes=True, optimize=how)
    return path, int(info.opt_cost)


def has_outer_product(spec: str, path) -> bool:
    """Whether a pairwise path contracts two tensors that share no letter."""
    layouts = [set(l) for l in spec.split("->")[0].split(",")]
    for step in path:
        picked = [layouts[k] for k in step]
        if len(picked) == 2 and not picked[0] & picked[1]:
            return True
        for k in sorted(step, reverse=True):
            del layouts[k]
        layouts.append(set().union(*picked))
    return False


def brute_force_flops(spec: str, sizes: dict[str, int]) -> int:
    """The least FLOPs over all trees without outer products, by trying every split of every
    subset (exponential; for a handful of connected operands)."""
    inputs, out = spec.split("->")
    layouts = [set(l) for l in inputs.split(",")]
    n = len(layouts)

    def letters(subset):
        return set().union(*(layouts[k] for k in subset))

    def connected(subset):
        reached, frontier = {subset[0]}, [subset[0]]
        while frontier:
            k = frontier.pop()
            for j in subset:
                if j not in reached and layouts[j] & layouts[k]:
                    reached.add(j)
                    frontier.append(j)
        return len(reached) == len(subset)

    def kept(subset):
        if len(subset) == 1:
            return layouts[subset[0]]
        rest = tuple(k for k in range(n) if k not in subset)
        return letters(subset) & (letters(rest) | set(out))

    best = {(k,): 0 for k in range(n)}
    for size in range(2, n + 1):
        for subset in itertools.combinations(range(n), size):
            if not connected(subset):
                continue
            for left_size in range(1, size):
                for left in itertools.combinations(subset, left_size):
                    right = tuple(k for k in subset if k not in left)
                    if left[0] != subset[0] or left not in best or right not in best:
                        continue
                    if not letters(left) & letters(right):
                        continue
                    both = kept(left) | kept(right)
                    own = math.prod(sizes[c] for c in both) * (
                        2 if both - kept(subset) else 1
                    )
                    total = best[left] + best[right] + own
                    best[subset] = min(best.get(subset, total), total)
    return best[tuple(range(n))]


@pytest.mark.slow
def test_subset_tree_is_exact_on_small_networks():
    """3..9 operands: the subset search equals opt_einsum's 'dp' (the same trees: no outer
    products), and its exhaustive 'optimal' wherever that path has no outer product (an outer
    product of two small vectors sometimes saves a few percent; never less than 'optimal').
    """
    rng = np.random.default_rng(7)
    equal_to_optimal = 0
    for trial in range(35):
        n = 3 + trial % 7
        spec, sizes = connected_network(n, rng)
        (root,) = network_graph(spec, sizes).outputs
        tree = contraction_seed.subset_tree(root)
        flops = tree_flops(tree)
        optimal_path, optimal = opt_einsum_path(spec, sizes, "optimal")
        assert flops == opt_einsum_path(spec, sizes, "dp")[1], spec
        assert flops >= optimal, spec
        if not has_outer_product(spec, optimal_path):
            assert flops == optimal, spec
            equal_to_optimal += 1
    assert equal_to_optimal >= 25


def test_subset_tree_is_exact_on_mid_sized_networks():
    """10..16 operands: no worse than opt_einsum's 'dp' whenever the search finishes within
    its cap (most networks up to 14 operands)."""
    rng = np.random.default_rng(8)
    finished = 0
    for n in (10, 11, 12, 13, 14, 16):
        spec, sizes = connected_network(n, rng)
        (root,) = network_graph(spec, sizes).outputs
        tree = contraction_seed.subset_tree(root)
        if tree is None:
            continue
        finished += 1
        assert tree_flops(tree) <= opt_einsum_path(spec, sizes, "dp")[1], spec
    assert finished >= 4


def test_subset_tree_handles_hyperedges_and_inner_sums():
    """Letters in three or more factors, letters summed inside one factor, letters of one
    factor kept for the output: the least FLOPs of a brute-force search, and the einsum's
    values."""
    rng = np.random.default_rng(9)
    checked = 0
    for trial in range(200):
        spec, sizes = random_network(rng, max_operands=7, standard=False)
        graph = network_graph(spec, sizes)
        (root,) = graph.outputs
        layouts = [set(l) for l in spec.split("->")[0].split(",")]
        if (
            len(layouts) < 3
            or len(
                contraction_seed._components(
                    [
                        sum(
                            1 << j
                            for j in range(len(layouts))
                            if j != i and layouts[i] & layouts[j]
                        )
                        for i in range(len(layouts))
                    ]
                )
            )
            > 1
        ):
            continue
        tree = contraction_seed.subset_tree(root)
        assert tree_flops(tree) == brute_force_flops(spec, sizes), spec
        values = random_values(graph, seed=trial)
        want = evaluate(graph, values, precision="f64")[0]
        got = evaluate(Graph.of(tree), values, precision="f64")[0]
        np.testing.assert_allclose(
            got,
            want,
            rtol=1e-9,
            atol=1e-9 * max(1.0, float(np.abs(want).max())),
            err_msg=spec,
        )
        checked += 1
    # Hyperedges and inner sums are in most of them.
    assert checked >= 30
    hyper = "ab,ac,ad,ae->a"  # one letter in every factor, summed nowhere
    sizes = dict(zip("abcde", (3, 4, 5, 6, 7)))
    (root,) = network_graph(hyper, sizes).outputs
    assert tree_flops(contraction_seed.subset_tree(root)) == brute_force_flops(
        hyper, sizes
    )


def test_connected_pairs_lists_every_split_once():
    """The pairs listed are exactly the splits of connected sets into two connected, linked
    parts, each once (counted by brute force on random graphs)."""
    rng = np.random.default_rng(10)
    for trial in range(40):
        n = int(rng.integers(2, 9))
        adjacent = [0] * n
        for i, j in itertools.combinations(range(n), 2):
            if rng.random() < 0.4:
                adjacent[i] |= 1 << j
                adjacent[j] |= 1 << i

        def connected(mask):
            reached = mask & -mask
            while True:
                grown = reached
                for k in range(n):
                    if reached >> k & 1:
                        grown |= adjacent[k] & mask
                if grown == reached:
                    return reached == mask
                reached = grown

        def linked(a, b):
            return any(a >> k & 1 and adjacent[k] & b for k in range(n))

        want = {
            (a, u ^ a)
            for u in range(1, 1 << n)
            if connected(u)
            for a in range(1, u)
            if a & u == a
            and a & (u & -u)
            and connected(a)
            and connected(u ^ a)
            and linked(a, u ^ a)
        }
        got = contraction_seed._connected_pairs(adjacent, 10**6)
        assert len(got) == len(set(got)) and set(got) == want, (trial, adjacent)


def test_subset_search_gives_up_quickly_on_a_dense_network():
    """Twenty factors that all share letters (a ring of loops walked three times): far past the
    cap, so the search returns None, fast, and the other seeds still stand."""
    loops = 7
    layouts = [LETTERS[k % loops] + LETTERS[(k + 1) % loops] for k in range(20)]
    spec = ",".join(layouts) + "->ad"
    (root,) = network_graph(spec, {c: 2 for c in LETTERS[:loops]}).outputs
    start = time.perf_counter()
    assert contraction_seed.subset_tree(root) is None
    assert time.perf_counter() - start < 1.0
    assert len(contraction_seed.seed_trees(root)) >= 1


def test_dp_tree_equals_opt_einsums_exact_plan_on_16_operand_networks():
    """opt_einsum's dynamic programme as a seed: its FLOPs on networks where the subset
    search gives up at its cap (16 operands), and trees that compute the einsum."""
    rng = np.random.default_rng(11)
    for trial in range(4):
        spec, sizes = connected_network(16, rng)
        graph = network_graph(spec, sizes)
        (root,) = graph.outputs
        tree = contraction_seed.dp_tree(root)
        assert tree_flops(tree) == opt_einsum_path(spec, sizes, "dp")[1], spec
        assert any(
            tree_flops(t) == tree_flops(tree) for t in contraction_seed.seed_trees(root)
        )
        values = random_values(graph, seed=trial)
        want = evaluate(graph, values, precision="f64")[0]
        got = evaluate(Graph.of(tree), values, precision="f64")[0]
        np.testing.assert_allclose(got, want, rtol=1e-9)


def test_dp_tree_takes_hyperedges_and_inner_sums():
    """Letters in three or more factors and letters summed inside one factor: the einsum's
    values, and never more FLOPs than a brute-force search without outer products."""
    rng = np.random.default_rng(12)
    checked = 0
    for trial in range(120):
        spec, sizes = random_network(rng, max_operands=6, standard=False)
        graph = network_graph(spec, sizes)
        (root,) = graph.outputs
        if len(root.operands) < 3:
            continue
        tree = contraction_seed.dp_tree(root)
        values = random_values(graph, seed=trial)
        want = evaluate(graph, values, precision="f64")[0]
        got = evaluate(Graph.of(tree), values, precision="f64")[0]
        np.testing.assert_allclose(got, want, rtol=1e-9, atol=1e-9)
        checked += 1
    assert checked >= 40


def test_dp_tree_leaves_networks_over_its_size_to_the_other_searches():
    spec, sizes = connected_network(
        contraction_seed.MAX_DP_FACTORS + 1, np.random.default_rng(3)
    )
    (root,) = network_graph(spec, sizes).outputs
    assert contraction_seed.dp_tree(root) is None
    assert contraction_seed.seed_trees(root)
