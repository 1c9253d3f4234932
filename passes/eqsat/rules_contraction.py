"""The `contraction` ruleset: every binary contraction tree of an einsum network.

An n-ary `einsum(L, out)` over the factor list L equals, for every split of L into two
non-empty sub-lists A and B (A holding L's first factor, so each split is made once), the
binary contraction of A's result with B's result. A side with one factor is that factor with
its own layout; a side with several is the einsum of its sub-list down to the letters still
needed, keep(A) = letters(A) & (letters(B) | letters(out)), laid out in canonical (sorted)
order. The sub-network e-classes are shared by every tree that contains them, so the e-graph
holds all contraction trees in one e-class per subset of factors (3^n / 2 e-nodes for n
factors), which is the dynamic programme over subsets that opt_einsum's 'optimal' searches.

Letters summed inside a pairwise contraction are those in neither the other factors nor the
output, exactly as in opt_einsum's paths, so the FLOP counts agree.

Analyses: the letters of a layout and of a list (`idx_mask`, `net_mask`), and every split of
every list (`part`, `split`), derived bottom-up along the cons lists.
"""

from __future__ import annotations

from functools import cache
from types import SimpleNamespace

from egglog import eq, i64, rewrite, rule, union, set_, vars_

from mirage_mlir.passes.eqsat.graph import Contract, Graph, Input
from mirage_mlir.passes.eqsat.language import (
    Idx,
    Net,
    Tensor,
    idx_mask,
    net_mask,
    part,
    split,
)
from mirage_mlir.passes.eqsat.rulesets import AnalysisRule, RewriteRule


@cache
def _vars() -> SimpleNamespace:
    """The pattern variables, by name (built once, on first use)."""
    names = SimpleNamespace()
    for sort, spec in (
        (Tensor, "top x x2 y y2"),
        (Idx, "out ix ix2 iy iy2"),
        (Net, "lst rest a b ra rb"),
        (i64, "m m1 m2 ma mb mo"),
    ):
        for name, variable in zip(spec.split(), vars_(spec, sort)):
            setattr(names, name, variable)
    return names


# --------------------------------------------------------------------------------------------
# Analyses


def _sorted_layout_mask():
    v = _vars()
    return [rule(eq(v.ix).to(Idx.sorted(v.m))).then(set_(idx_mask(v.ix)).to(v.m))]


def _net_mask_nil():
    v = _vars()
    return [rule(eq(v.lst).to(Net.nil())).then(set_(net_mask(v.lst)).to(i64(0)))]


def _net_mask_cons():
    v = _vars()
    return [
        rule(
            eq(v.lst).to(Net.cons(v.x, v.ix, v.rest)),
            eq(v.m1).to(idx_mask(v.ix)),
            eq(v.m2).to(net_mask(v.rest)),
        ).then(set_(net_mask(v.lst)).to(v.m1 | v.m2))
    ]


def _parts_nil():
    v = _vars()
    return [rule(eq(v.lst).to(Net.nil())).then(part(v.lst, v.lst, v.lst))]


def _parts_cons():
    v = _vars()
    return [
        rule(eq(v.lst).to(Net.cons(v.x, v.ix, v.rest)), part(v.rest, v.a, v.b)).then(
            part(v.lst, Net.cons(v.x, v.ix, v.a), v.b),
            part(v.lst, v.a, Net.cons(v.x, v.ix, v.b)),
            split(v.lst, Net.cons(v.x, v.ix, v.a), v.b),
        )
    ]


# --------------------------------------------------------------------------------------------
# Rewrites


def _split(a_single: bool, b_single: bool):
    """One of the four shapes of a split: each side one factor or several."""

    def build():
        v = _vars()
        keep_a = v.ma & (v.mb | v.mo)
        keep_b = v.mb & (v.ma | v.mo)
        if a_single:
            a_pattern, a_term, a_layout = Net.cons(v.x, v.ix, Net.nil()), v.x, v.ix
        else:
            a_pattern = Net.cons(v.x, v.ix, Net.cons(v.x2, v.ix2, v.ra))
            a_term, a_layout = Tensor.einsum(v.a, Idx.sorted(keep_a)), Idx.sorted(
                keep_a
            )
        if b_single:
            b_pattern, b_term, b_layout = Net.cons(v.y, v.iy, Net.nil()), v.y, v.iy
        else:
            b_pattern = Net.cons(v.y, v.iy, Net.cons(v.y2, v.iy2, v.rb))
            b_term, b_layout = Tensor.einsum(v.b, Idx.sorted(keep_b)), Idx.sorted(
                keep_b
            )
        return [
            rule(
                eq(v.top).to(Tensor.einsum(v.lst, v.out)),
                split(v.lst, v.a, v.b),
                eq(v.a).to(a_pattern),
                eq(v.b).to(b_pattern),
                eq(v.ma).to(net_mask(v.a)),
                eq(v.mb).to(net_mask(v.b)),
                eq(v.mo).to(idx_mask(v.out)),
            ).then(
                union(v.top).with_(
                    Tensor.contract(a_term, a_layout, b_term, b_layout, v.out)
                )
            )
        ]

    return build


def _einsum_identity():
    v = _vars()
    return [rewrite(Tensor.einsum(Net.cons(v.x, v.ix, Net.nil()), v.ix)).to(v.x)]


def _inputs(*shapes):
    return [Input(name, shape) for name, shape in zip("ABCD", shapes)]


def _single_single_example() -> tuple[Graph, Graph]:
    a, b, c = _inputs((2, 3), (3, 4), (4, 5))
    left = Contract((a, b, c), "ij,jk,kl->il")
    right = Contract((Contract((a, b), "ij,jk->ik"), c), "ik,kl->il")
    return Graph.of(left), Graph.of(right)


def _single_multi_example() -> tuple[Graph, Graph]:
    a, b, c = _inputs((3, 2), (3, 4), (4, 5))
    left = Contract((a, b, c), "ji,jk,kl->li")
    right = Contract((a, Contract((b, c), "jk,kl->jl")), "ji,jl->li")
    return Graph.of(left), Graph.of(right)


def _multi_single_example() -> tuple[Graph, Graph]:
    # A hyperedge (j in all three) and an outer product inside the tree.
    a, b, c = _inputs((2, 3), (3, 4), (3, 5))
    left = Contract((a, b, c), "ij,jk,jl->ikl")
    right = Contract((Contract((a, c), "ij,jl->ijl"), b), "ijl,jk->ikl")
    return Graph.of(left), Graph.of(right)


def _multi_multi_example() -> tuple[Graph, Graph]:
    a, b, c, d = _inputs((2, 3), (3, 4), (4, 5), (5, 6))
    left = Contract((a, b, c, d), "ij,jk,kl,lm->im")
    right = Contract(
        (Contract((a, b), "ij,jk->ik"), Contract((c, d), "kl,lm->km")), "ik,km->im"
    )
    return Graph.of(left), Graph.of(right)


def _einsum_identity_example() -> tuple[Graph, Graph]:
    (a,) = _inputs((2, 3))
    return Graph.of(Contract((a,), "ij->ij")), Graph.of(a)


DECLARATIONS = (
    AnalysisRule(
        "sorted-layout-mask", _sorted_layout_mask, "idx_mask of a sorted layout"
    ),
    AnalysisRule("net-mask-nil", _net_mask_nil, "net_mask of the empty list is 0"),
    AnalysisRule(
        "net-mask-cons", _net_mask_cons, "net_mask of a list: union of its layouts"
    ),
    AnalysisRule("parts-nil", _parts_nil, "the empty list splits into two empty lists"),
    AnalysisRule("parts-cons", _parts_cons, "every order-keeping split of every list"),
    RewriteRule("split-single-single", _split(True, True), _single_single_example),
    RewriteRule("split-single-multi", _split(True, False), _single_multi_example),
    RewriteRule("split-multi-single", _split(False, True), _multi_single_example),
    RewriteRule("split-multi-multi", _split(False, False), _multi_multi_example),
    RewriteRule("einsum-identity", _einsum_identity, _einsum_identity_example),
)
