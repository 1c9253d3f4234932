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
  the classic optimal parenthesisation, so chains of any length get the FLOP optimum;
- dynamic programming: the least-FLOP tree without outer products, from opt_einsum's
  dynamic programme over connected sub-networks (`dp_tree`, exact, and tens of times faster
  than our own subset search below), for networks of up to MAX_DP_FACTORS factors;
- connected subsets: the same optimum by our own dynamic programme over the subsets of
  factors that share letters (`subset_tree`), tried only where opt_einsum's gave nothing,
  as long as the network has few enough of them (up to about ten factors always; sparse
  networks of many more).
Extraction therefore always has these orders to choose from, and saturation, when it gets far
enough, finds better ones (costs other than FLOPs, and outer products where they pay).

Chains too long to be one einsum network (more matrices than there are index letters) stay
trees of `matmul`s; `matmul_chain_tree` gives the longest such chains the same optimal
parenthesisation.

Intermediate results keep the letters still needed by the other factors or the output, in
sorted order, and a letter summed inside one factor is summed in that factor's first
contraction, exactly as the ruleset's splits do, so the FLOP counts are comparable.
"""

from __future__ import annotations

import math
import operator
from collections import Counter
from typing import Sequence

from mirage_mlir.passes.eqsat.graph import Contract, MatMul, Node
from mirage_mlir.passes.eqsat.kinds import KINDS
from mirage_mlir.passes.eqsat.type_rules import index_sizes, parse_spec

#: The searches, in the order their trees are offered.
RULES = ("interval", "dp", "subsets", "flops", "shrink")

#: opt_einsum's dynamic programme runs for networks of at most this many factors (16 factors:
#: 10-25 ms on the project's machine; its cost grows with the connected sub-networks).
MAX_DP_FACTORS = 24

#: The interval searches cost O(n^3) steps; above this many factors they are skipped.
MAX_INTERVAL_FACTORS = 160
MAX_CHAIN_MATRICES = 256

#: The subset search gives up (returns None) once it has listed more than this many pairs of
#: connected sub-networks (and connected sets without partners): 1.6-1.9 us a pair when the
#: search finishes (0.26 s at the cap on the project's machine, unloaded), 0.6 us a pair when
#: it gives up (listing only). budget.SEED_PAIR_RATE is the rate seeding is predicted with.
MAX_SUBSET_PAIRS = 150_000


def seed_trees(node: Contract) -> list[Node]:
    """Trees of binary `Contract`s equal to the n-ary `node`, one per search (none below three
    operands; a search that finds the same order as an earlier one adds nothing)."""
    if len(node.operands) < 3:
        return []
    trees: dict[str, Node] = {}
    exact = False
    for rule in RULES:
        if rule == "interval" and len(node.operands) > MAX_INTERVAL_FACTORS:
            continue
        if rule == "interval":
            tree = interval_tree(node)
        elif rule == "dp":
            found = dp_tree(node)
            if found is None:
                continue
            tree, exact = found, True
        elif rule == "subsets":
            if exact:  # the same optimum, already found by the faster search
                continue
            tree = subset_tree(node)
            if (
                tree is None
            ):  # too many connected sub-networks: the other searches stand
                continue
        else:
            tree = greedy_tree(node, rule)
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
    factors: Sequence[tuple[Node, str]],
    holders: Counter,
    sizes: dict[str, int],
    rule: str,
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


def dp_tree(node: Contract) -> Node | None:
    """The least-FLOP tree without outer products by opt_einsum's dynamic programme, or None
    for networks of more than MAX_DP_FACTORS factors (or letters opt_einsum cannot take).
    """
    import opt_einsum

    factors, out, sizes = _network(node)
    if len(factors) > MAX_DP_FACTORS:
        return None
    spec = ",".join(layout for _, layout in factors) + "->" + out
    shapes = [tuple(sizes[c] for c in layout) for _, layout in factors]
    try:
        path, _ = opt_einsum.contract_path(
            spec,
            *shapes,
            shapes=True,
            optimize=opt_einsum.paths.DynamicProgramming(minimize="flops"),
        )
    except (ValueError, KeyError):
        return None
    holders = Counter(out)
    for _, layout in factors:
        holders.update(set(layout))
    current = list(factors)
    for step in path:
        if len(step) == 1:
            # A sum inside one factor, which its first contraction does here: the factor
            # only moves to the end of the list, as opt_einsum's does.
            current.append(current.pop(step[0]))
            continue
        if len(step) != 2:
            return None
        i, j = sorted(step)
        (a, la), (b, lb) = current[i], current[j]
        sa, sb = set(la), set(lb)
        if len(current) == 2:
            kept = out
        else:
            kept = "".join(
                sorted(c for c in sa | sb if holders[c] > (c in sa) + (c in sb))
            )
        holders.subtract(sa)
        holders.subtract(sb)
        holders.update(kept)
        del current[j], current[i]
        current.append((Contract((a, b), f"{la},{lb}->{kept}"), kept))
    if len(current) != 1:
        return None
    return current[0][0]


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


class _TooManyPairs(Exception):
    """Raised inside the subset search when it passes its cap on pairs."""


def subset_tree(node: Contract, max_pairs: int = MAX_SUBSET_PAIRS) -> Node | None:
    """The least-FLOP tree of binary `Contract`s equal to `node` without outer products, or
    None when the network has more than `max_pairs` pairs of connected sub-networks.

    Dynamic programming over the connected subsets of factors (subsets whose factors are linked
    through shared letters; a letter held by three or more factors links them all): the best
    tree of a subset U is its cheapest split into two disjoint connected subsets that share a
    letter, each contracted by its own best tree. A sub-network's result keeps the letters
    that a factor outside it or the output still needs, so a letter summed inside one factor,
    or shared by several factors, is summed at the first contraction that holds all of its
    factors; the FLOPs of a pairwise contraction are those `greedy_tree` counts (2 per point
    of its loop nest when it sums a letter, 1 otherwise). The splits are listed once each, by
    growing connected subsets along shared letters (the csg-cmp pairs of Moerkotte and
    Neumann's DPccp), so the work is the number of such pairs: at most 3^n / 2 for n factors
    that all share letters, far fewer for sparse networks (n^3 / 6 for a chain). A network in
    several connected components has each component contracted by its best tree and the
    results multiplied last, smallest first.
    """
    factors, out, sizes = _network(node)
    n = len(factors)
    letters = sorted(sizes)
    bit = {c: 1 << k for k, c in enumerate(letters)}
    masks = [sum({bit[c] for c in layout}) for _, layout in factors]
    out_mask = sum({bit[c] for c in out})
    adjacent = [
        sum(1 << j for j in range(n) if j != i and masks[i] & masks[j])
        for i in range(n)
    ]
    try:
        pairs = _connected_pairs(adjacent, max_pairs)
    except _TooManyPairs:
        return None

    letters_of = _union_table(masks)
    everything = (1 << n) - 1

    def kept_letters(subset: int) -> int:
        outside = _union(letters_of, everything & ~subset)
        return _union(letters_of, subset) & (outside | out_mask)

    sizes_of = _union_table([sizes[c] for c in letters], operator.mul, 1)

    def volume(mask: int) -> int:
        return _union(sizes_of, mask, operator.mul, 1)

    # kept[S]: the layout (a letter mask) of S's result; a single factor keeps its own.
    kept = {1 << i: masks[i] for i in range(n)}
    cost = {1 << i: 0 for i in range(n)}
    split: dict[int, int] = {}
    # A pair's parts must be priced before the pair: smaller unions first.
    pairs.sort(key=lambda pair: (pair[0] | pair[1]).bit_count())
    for left, right in pairs:
        union = left | right
        if union not in kept:
            kept[union] = kept_letters(union)
        both = kept[left] | kept[right]
        total = (
            cost[left] + cost[right] + volume(both) * (2 if both & ~kept[union] else 1)
        )
        if union not in cost or total < cost[union]:
            cost[union], split[union] = total, left

    def layout(mask: int) -> str:
        return "".join(c for c in letters if mask & bit[c])

    def build(subset: int, result: str | None = None) -> tuple[Node, str]:
        if subset & (subset - 1) == 0:
            return factors[subset.bit_length() - 1]
        left = split[subset]
        (a, la), (b, lb) = build(left), build(subset ^ left)
        result = layout(kept[subset]) if result is None else result
        return Contract((a, b), f"{la},{lb}->{result}"), result

    components = _components(adjacent)
    if len(components) == 1:
        return build(everything, out)[0]
    # Outer products only between components, the smallest results first.
    parts = sorted(
        components, key=lambda c: (volume(kept.get(c) or kept_letters(c)), c)
    )
    acc, acc_layout = build(parts[0])
    done = parts[0]
    for part in parts[1:]:
        done |= part
        tensor, part_layout = build(part)
        result = out if done == everything else layout(kept_letters(done))
        acc = Contract((acc, tensor), f"{acc_layout},{part_layout}->{result}")
        acc_layout = result
    return acc


def _union_table(
    values: Sequence[int], combine=operator.or_, unit: int = 0
) -> list[list[int]]:
    """Tables giving `combine` (bitwise or by default) of values[i] over the set bits i of a
    mask, eight bits of the mask per table, so that folding a mask (`_union`) costs one lookup
    per byte instead of one step per bit."""
    tables = []
    for base in range(0, len(values), 8):
        chunk = values[base : base + 8]
        table = [unit] * (1 << len(chunk))
        for bits in range(1, len(table)):
            low = (bits & -bits).bit_length() - 1
            table[bits] = combine(table[bits & (bits - 1)], chunk[low])
        tables.append(table)
    return tables


def _union(
    tables: list[list[int]], mask: int, combine=operator.or_, unit: int = 0
) -> int:
    """`combine` of the values (see `_union_table`) at the set bits of `mask`."""
    result = unit
    for table in tables:
        if mask & 0xFF:
            result = combine(result, table[mask & 0xFF])
        mask >>= 8
        if not mask:
            break
    return result


def _components(adjacent: Sequence[int]) -> list[int]:
    """The connected components (vertex masks) of the graph with adjacency masks `adjacent`."""
    components, seen = [], 0
    for start in range(len(adjacent)):
        if seen >> start & 1:
            continue
        component, frontier = 0, 1 << start
        while frontier:
            component |= frontier
            grown = 0
            while frontier:
                low = frontier & -frontier
                grown |= adjacent[low.bit_length() - 1]
                frontier ^= low
            frontier = grown & ~component
        components.append(component)
        seen |= component
    return components


def _connected_pairs(adjacent: Sequence[int], cap: int) -> list[tuple[int, int]]:
    """Every unordered pair (S1, S2) of disjoint connected vertex sets with an edge between
    them, each once with S1 holding the lower vertex, of the graph with adjacency masks
    `adjacent`; raises _TooManyPairs once the pairs and the connected sets visited pass `cap`.

    Connected sets grow from their lowest vertex through neighbours above it, each set reached
    once because a recursion excludes the neighbours its siblings already added; the partners
    of a set grow the same way from each of its neighbours above its lowest vertex.
    """
    neighbours_of = _union_table(adjacent)
    pairs: list[tuple[int, int]] = []
    # Sets visited (with no partner, a set adds no pair but still costs a step).
    visited = [0]

    def neighbours(subset: int) -> int:
        return _union(neighbours_of, subset) & ~subset

    def reserve(count: int) -> None:
        # Checked before a loop over the 2^k - 1 subsets of k new neighbours, which is
        # astronomically long on a dense network of many factors.
        if len(pairs) + visited[0] + count > cap:
            raise _TooManyPairs

    def grow_partners(s1: int, s2: int, excluded: int) -> None:
        fresh = neighbours(s2) & ~excluded
        if not fresh:
            return
        reserve((1 << fresh.bit_count()) - 1)
        sub = fresh
        while sub:
            pairs.append((s1, s2 | sub))
            sub = (sub - 1) & fresh
        excluded |= fresh
        sub = fresh
        while sub:
            grow_partners(s1, s2 | sub, excluded)
            sub = (sub - 1) & fresh

    def partners(s1: int) -> None:
        visited[0] += 1
        lowest = s1 & -s1
        excluded = s1 | (lowest - 1)
        fresh = neighbours(s1) & ~excluded
        reserve(fresh.bit_count())
        rest = fresh
        while rest:
            top = 1 << (rest.bit_length() - 1)
            rest ^= top
            pairs.append((s1, top))
            grow_partners(s1, top, excluded | (fresh & ((top << 1) - 1)))

    def grow_sets(subset: int, excluded: int) -> None:
        fresh = neighbours(subset) & ~excluded
        if not fresh:
            return
        reserve((1 << fresh.bit_count()) - 1)
        sub = fresh
        while sub:
            partners(subset | sub)
            sub = (sub - 1) & fresh
        excluded |= fresh
        sub = fresh
        while sub:
            grow_sets(subset | sub, excluded)
            sub = (sub - 1) & fresh

    for i in reversed(range(len(adjacent))):
        vertex = 1 << i
        partners(vertex)
        grow_sets(vertex, (vertex << 1) - 1)
    return pairs


def matmul_chain_tree(root: Node) -> Node | None:
    """The optimal parenthesisation of the chain of 2-D `matmul`s under `root`, or None.

    The chain's matrices are the leaves met in order below `root` through 2-D matmuls (an
    inner matmul that has other users is still re-associated here: only `root` is equated
    with the new tree, so the other users keep theirs). None when `root` is not a 2-D matmul,
    the chain has fewer than three matrices or more than MAX_CHAIN_MATRICES.
    """
    if not KINDS[root.kind].matrix_chain or len(root.shape) != 2:
        return None
    leaves: list[Node] = []

    def collect(node: Node) -> None:
        if (
            KINDS[node.kind].matrix_chain
            and len(node.shape) == 2
            and all(len(o.shape) == 2 for o in node.operands)
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
