"""Contraction orders found by cheap searches, seeded beside every einsum network.

The `contraction` ruleset builds every binary contraction tree of an n-operand einsum, but it
builds them bottom-up: the root e-class gets its first split only after the analyses have
climbed the whole factor list. When a limit stops saturation before that (networks of ten or
more operands, chains of about a hundred matrices, under the default limits), the root holds
nothing but the n-ary einsum, a single loop nest over every letter, which is both the costliest
form and one no kernel template runs.

So encoding also adds, in the same e-class, binary trees found by three searches that each win
on some networks:
- greedy by FLOPs: repeatedly contract the pair of current factors whose contraction costs the
  fewest FLOPs;
- greedy by shrinkage: the pair whose result is smallest against the pair's own sizes;
  (both prefer pairs that share a letter over outer products);
- intervals: the cheapest tree whose every node contracts a contiguous run of the factors in
  their written order, by dynamic programming over runs (O(n^3)); for a matrix chain this is
  the classic optimal parenthesisation, so chains of any length get the FLOP optimum.
Extraction therefore always has these orders to choose from, and saturation, when it gets far
enough, finds better ones (orders that are not contiguous, and costs other than FLOPs).

Chains too long to be one einsum network (more matrices than there are index letters) stay
trees of `matmul`s; `matmul_chain_tree` gives the longest such chains the same optimal
parenthesisation.

Intermediate results keep the letters still needed by the other factors or the output, in
sorted order, and a letter summed inside one factor is summed in that factor's first
contraction, exactly as the ruleset's splits do, so the FLOP counts are comparable.
"""

from __future__ import annotations

import math
from collections import Counter
from typing import Sequence

from mirage_mlir.passes.eqsat.graph import Contract, MatMul, Node
from mirage_mlir.passes.eqsat.type_rules import index_sizes, parse_spec

#: The searches, in the order their trees are offered.
RULES = ("interval", "flops", "shrink")

#: The interval searches cost O(n^3) steps; above this many factors they are skipped.
MAX_INTERVAL_FACTORS = 160
MAX_CHAIN_MATRICES = 256


def seed_trees(node: Contract) -> list[Node]:
    """Trees of binary `Contract`s equal to the n-ary `node`, one per search (none below three
    operands; a search that finds the same order as an earlier one adds nothing)."""
    if len(node.operands) < 3:
        return []
    trees: dict[str, Node] = {}
    for rule in RULES:
        if rule == "interval" and len(node.operands) > MAX_INTERVAL_FACTORS:
            continue
        tree = interval_tree(node) if rule == "interval" else greedy_tree(node, rule)
        trees.setdefault(_order(tree), tree)
    return list(trees.values())


def _order(tree: Node) -> str:
    """A key of a tree's contraction order (its specs, depth first)."""
    if tree.kind != "contract":
        return str(id(tree))
    return "(" + tree.attrs[0] + " " + " ".join(_order(o) for o in tree.operands) + ")"


def _network(node: Contract) -> tuple[list[tuple[Node, str]], str, dict[str, int]]:
    """The factors (operand, layout), the output layout and every letter's size."""
    operands = list(node.operands)
    layouts, out = parse_spec(node.spec, len(operands))
    sizes = index_sizes(layouts, [o.shape for o in operands], node.spec)
    return list(zip(operands, layouts)), out, sizes


def greedy_tree(node: Contract, rule: str = "flops") -> Node:
    """A greedy tree of binary `Contract`s equal to `node` (three or more operands)."""
    factors, out, sizes = _network(node)
    # How many of the current factors (and the output) hold each letter: a letter of a pair
    # is kept when someone besides the pair still holds it.
    holders = Counter(out)
    for _, layout in factors:
        holders.update(set(layout))
    while len(factors) > 2:
        i, j, kept = _cheapest_pair(factors, holders, sizes, rule)
        (a, la), (b, lb) = factors[i], factors[j]
        merged = Contract((a, b), f"{la},{lb}->{kept}")
        holders.subtract(set(la))
        holders.subtract(set(lb))
        holders.update(kept)
        # The result takes the place of the pair's first factor (i < j), so the factors keep
        # the einsum's order and a chain's last step reads (left, right) as a plain matmul.
        factors[i] = (merged, kept)
        del factors[j]
    (a, la), (b, lb) = factors
    return Contract((a, b), f"{la},{lb}->{out}")


def _cheapest_pair(
    factors: Sequence[tuple[Node, str]], holders: Counter, sizes: dict[str, int], rule: str
) -> tuple[int, int, str]:
    """The pair (i, j) to contract next and the layout of its result."""
    best: tuple | None = None
    letter_sets = [set(layout) for _, layout in factors]
    volumes = [math.prod(sizes[c] for c in letters) for letters in letter_sets]
    for i in range(len(factors)):
        for j in range(i + 1, len(factors)):
            sa, sb = letter_sets[i], letter_sets[j]
            letters = sa | sb
            kept_set = {c for c in letters if holders[c] > (c in sa) + (c in sb)}
            kept = "".join(sorted(kept_set))
            summed = len(kept_set) < len(letters)
            flops = math.prod(sizes[c] for c in letters) * (2 if summed else 1)
            outer = not (sa & sb)
            size = math.prod(sizes[c] for c in kept_set)
            if rule == "flops":
                key = (outer, flops, size, i, j)
            else:
                key = (outer, size - volumes[i] - volumes[j], flops, i, j)
            if best is None or key < best[0]:
                best = (key, i, j, kept)
    assert best is not None
    return best[1], best[2], best[3]


def interval_tree(node: Contract) -> Node:
    """The least-FLOP tree contracting only contiguous runs of the factors (see the module
    docstring); exact for matrix chains."""
    factors, out, sizes = _network(node)
    n = len(factors)
    letters = sorted(sizes)
    bit = {c: 1 << k for k, c in enumerate(letters)}
    masks = [sum({bit[c] for c in layout}) for _, layout in factors]
    prefix, suffix = [0] * (n + 1), [0] * (n + 1)
    for k in range(n):
        prefix[k + 1] = prefix[k] | masks[k]
        suffix[n - 1 - k] = suffix[n - k] | masks[n - 1 - k]
    out_mask = sum({bit[c] for c in out})

    def volume(mask: int) -> int:
        return math.prod(sizes[c] for c in letters if mask & bit[c])

    # kept[i][j]: the letters the run i..j still needs after it is contracted.
    kept = [[0] * n for _ in range(n)]
    for i in range(n):
        run = 0
        for j in range(i, n):
            run |= masks[j]
            kept[i][j] = run & (prefix[i] | suffix[j + 1] | out_mask)
    cost = [[0] * n for _ in range(n)]
    split = [[0] * n for _ in range(n)]
    volumes: dict[int, int] = {}
    for length in range(2, n + 1):
        for i in range(n - length + 1):
            j = i + length - 1
            best = None
            for k in range(i, j):
                both = kept[i][k] | kept[k + 1][j]
                if both not in volumes:
                    volumes[both] = volume(both)
                flops = volumes[both] * (2 if both & ~kept[i][j] else 1)
                total = cost[i][k] + cost[k + 1][j] + flops
                if best is None or total < best:
                    best, split[i][j] = total, k
            cost[i][j] = best

    def layout(mask: int) -> str:
        return "".join(c for c in letters if mask & bit[c])

    def build(i: int, j: int) -> tuple[Node, str]:
        if i == j:
            return factors[i]
        k = split[i][j]
        (a, la), (b, lb) = build(i, k), build(k + 1, j)
        result = out if (i, j) == (0, n - 1) else layout(kept[i][j])
        return Contract((a, b), f"{la},{lb}->{result}"), result

    return build(0, n - 1)[0]


def matmul_chain_tree(root: Node) -> Node | None:
    """The optimal parenthesisation of the chain of 2-D `matmul`s under `root`, or None.

    The chain's matrices are the leaves met in order below `root` through 2-D matmuls (an
    inner matmul that has other users is still re-associated here: only `root` is equated
    with the new tree, so the other users keep theirs). None when `root` is not a 2-D matmul,
    the chain has fewer than three matrices or more than MAX_CHAIN_MATRICES.
    """
    if root.kind != "matmul" or len(root.shape) != 2:
        return None
    leaves: list[Node] = []

    def collect(node: Node) -> None:
        if node.kind == "matmul" and len(node.shape) == 2 and all(
            len(o.shape) == 2 for o in node.operands
        ):
            for operand in node.operands:
                collect(operand)
        else:
            leaves.append(node)

    collect(root)
    n = len(leaves)
    if n < 3 or n > MAX_CHAIN_MATRICES:
        return None
    dims = [leaves[0].shape[0]] + [leaf.shape[1] for leaf in leaves]
    cost = [[0] * n for _ in range(n)]
    split = [[0] * n for _ in range(n)]
    for length in range(2, n + 1):
        for i in range(n - length + 1):
            j = i + length - 1
            outer = dims[i] * dims[j + 1]
            best, best_k = None, i
            for k in range(i, j):
                total = cost[i][k] + cost[k + 1][j] + outer * dims[k + 1]
                if best is None or total < best:
                    best, best_k = total, k
            cost[i][j], split[i][j] = best, best_k

    def build(i: int, j: int) -> Node:
        if i == j:
            return leaves[i]
        k = split[i][j]
        return MatMul(build(i, k), build(k + 1, j))

    return build(0, n - 1)
