"""A greedy contraction order for every einsum network, seeded into the e-graph.

The `contraction` ruleset builds every binary contraction tree of an n-operand einsum, but it
builds them bottom-up: the root e-class gets its first split only after the analyses have
climbed the whole factor list. When a limit stops saturation before that (networks of ten or
more operands under the default limits), the root holds nothing but the n-ary einsum, a single
loop nest over every letter, which is both the costliest form and one no kernel template runs.

So encoding also adds, in the same e-class, binary trees found greedily, by two rules that
each win on some networks: repeatedly contract the pair of current factors whose contraction
costs the fewest FLOPs, or the pair whose result shrinks the data most (result size minus the
sizes of the pair); both prefer pairs that share a letter over outer products. Extraction
therefore always has these orders to choose from, and saturation, when it gets far enough,
finds better ones.

Intermediate results keep the letters still needed by the other factors or the output, in
sorted order, and a letter summed inside one factor is summed in that factor's first
contraction, exactly as the ruleset's splits do, so the FLOP counts are comparable.
"""

from __future__ import annotations

import math
from typing import Sequence

from mirage_mlir.passes.eqsat.graph import Contract, Node
from mirage_mlir.passes.eqsat.type_rules import index_sizes, parse_spec


#: The greedy rules: by the pair's FLOPs, or by how much the pair's result shrinks the data.
RULES = ("flops", "shrink")


def greedy_trees(node: Contract) -> list[Node]:
    """Trees of binary `Contract`s equal to the n-ary `node`, one per rule (none below three
    operands; a rule that finds the same order as an earlier one adds nothing)."""
    if len(node.operands) < 3:
        return []
    trees: dict[str, Node] = {}
    for rule in RULES:
        tree = greedy_tree(node, rule)
        trees.setdefault(_order(tree), tree)
    return list(trees.values())


def _order(tree: Node) -> str:
    """A key of a tree's contraction order (its specs, depth first)."""
    if tree.kind != "contract":
        return str(id(tree))
    return "(" + tree.attrs[0] + " " + " ".join(_order(o) for o in tree.operands) + ")"


def greedy_tree(node: Contract, rule: str = "flops") -> Node:
    """A tree of binary `Contract`s equal to the n-ary `node` (three or more operands)."""
    operands = list(node.operands)
    layouts, out = parse_spec(node.spec, len(operands))
    sizes = index_sizes(layouts, [o.shape for o in operands], node.spec)
    factors: list[tuple[Node, str]] = list(zip(operands, layouts))
    while len(factors) > 2:
        i, j, kept = _cheapest_pair(factors, out, sizes, rule)
        (a, la), (b, lb) = factors[i], factors[j]
        merged = Contract((a, b), f"{la},{lb}->{kept}")
        # The result takes the place of the pair's first factor (i < j), so the factors keep
        # the einsum's order and a chain's last step reads (left, right) as a plain matmul.
        factors[i] = (merged, kept)
        del factors[j]
    (a, la), (b, lb) = factors
    return Contract((a, b), f"{la},{lb}->{out}")


def _cheapest_pair(
    factors: Sequence[tuple[Node, str]], out: str, sizes: dict[str, int], rule: str
) -> tuple[int, int, str]:
    """The pair (i, j) to contract next and the layout of its result."""
    best: tuple | None = None
    for i in range(len(factors)):
        for j in range(i + 1, len(factors)):
            la, lb = factors[i][1], factors[j][1]
            others = set(out).union(
                *(set(l) for k, (_, l) in enumerate(factors) if k not in (i, j))
            )
            letters = set(la) | set(lb)
            kept = "".join(sorted(letters & others))
            summed = bool(letters - others)
            flops = math.prod(sizes[c] for c in letters) * (2 if summed else 1)
            outer = not (set(la) & set(lb))
            size = math.prod(sizes[c] for c in kept)
            if rule == "flops":
                key = (outer, flops, size, i, j)
            else:
                volume = lambda layout: math.prod(sizes[c] for c in layout)  # noqa: E731
                key = (outer, size - volume(la) - volume(lb), flops, i, j)
            if best is None or key < best[0]:
                best = (key, i, j, kept)
    assert best is not None
    return best[1], best[2], best[3]
