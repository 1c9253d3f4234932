"""The `shared_input` ruleset: matmuls reading the same x become one matmul on joined weights.

    x @ w1, x @ w2          =  take_0(x @ [w1 | w2]), take_1(x @ [w1 | w2])
    x @ w1, x @ w2, x @ w3  =  take_i(x @ [w1 | w2 | w3])

where [w1 | w2] is the concatenation along the last axis and take_i is piece i of it. Shapes
are not in the e-graph, so a piece is named by its index and the list of pieces (`take`): once
e-classes are typed, the pieces' widths give the slice (serialized.py). The weights must be
plain weights, `weight(w)`: a constant or the transpose of one (torch's Linear multiplies
by Wᵀ), whose concatenation is free at run time (joining two arguments would cost a copy
for every call). That keeps the rules from joining joined weights again, which would
grow the e-graph without end.

- concat-of-transposes: [aᵀ | bᵀ] (last axis) = [a ; b]ᵀ (concatenated on axis -2): the
  transposes of the joined weights become one transpose of their concatenation, and the
  concatenation of constants is free (it is folded at compile time, see folding.py).

concat and take are guarded kinds (serialized.py): weights whose shapes differ off the last
axis drop the new e-nodes; where they fit, x @ [w1 | w2] holds x @ w1 and x @ w2 side by side.
"""

from __future__ import annotations

from functools import cache
from types import SimpleNamespace

from egglog import String, eq, ne, rule, union, vars_

from mirage_mlir.passes.eqsat.graph import Constant, Graph, Input, concat, strided_slice
from mirage_mlir.passes.eqsat.language import Args, Tensor, weight
from mirage_mlir.passes.eqsat.rulesets import AnalysisRule, RewriteRule


@cache
def _vars() -> SimpleNamespace:
    """The pattern variables, by name (built once, on first use)."""
    names = SimpleNamespace()
    for sort, spec in ((Tensor, "x w1 w2 w3 t1 t2 t3 a b c"), (String, "n")):
        for name, variable in zip(spec.split(), vars_(spec, sort)):
            setattr(names, name, variable)
    return names


def _list(*items: Tensor) -> Args:
    args = Args.nil()
    for item in reversed(items):
        args = Args.cons(item, args)
    return args


# --------------------------------------------------------------------------------------------
# Analyses


def _weights():
    v = _vars()
    return [
        rule(eq(v.a).to(leaf)).then(weight(v.a))
        for leaf in (
            Tensor.constant(v.n),
            Tensor.mt(Tensor.constant(v.n)),
        )
    ]


# --------------------------------------------------------------------------------------------
# Examples


def _pair_example():
    x = Input("X", (3, 4))
    w1, w2 = Constant("W1", (4, 5)), Constant("W2", (4, 2))
    joined = x @ concat((w1, w2), -1)
    return Graph.of(x @ w1, x @ w2), Graph.of(
        strided_slice(joined, (0, 0), (3, 5)), strided_slice(joined, (0, 5), (3, 2))
    )


def _triple_example():
    x = Input("X", (2, 3, 4))
    ws = [Constant(f"W{i}", (4, n)) for i, n in ((1, 5), (2, 2), (3, 3))]
    joined = x @ concat(ws, -1)
    return Graph.of(*(x @ w for w in ws)), Graph.of(
        strided_slice(joined, (0, 0, 0), (2, 3, 5)),
        strided_slice(joined, (0, 0, 5), (2, 3, 2)),
        strided_slice(joined, (0, 0, 7), (2, 3, 3)),
    )


def _concat_transposes_example():
    a, b = Constant("A", (5, 4)), Constant("B", (2, 4))
    return Graph.of(concat((a.mT, b.mT), -1)), Graph.of(concat((a, b), -2).mT)


# --------------------------------------------------------------------------------------------
# Rewrites


def _pair():
    v = _vars()
    pieces = _list(v.w1, v.w2)
    joined = Tensor.matmul(v.x, Tensor.concat(pieces, -1))
    return [
        rule(
            eq(v.t1).to(Tensor.matmul(v.x, v.w1)),
            eq(v.t2).to(Tensor.matmul(v.x, v.w2)),
            weight(v.w1),
            weight(v.w2),
            ne(v.w1).to(v.w2),
        ).then(
            union(v.t1).with_(Tensor.take(joined, 0, pieces, -1)),
            union(v.t2).with_(Tensor.take(joined, 1, pieces, -1)),
        )
    ]


def _triple():
    v = _vars()
    pieces = _list(v.w1, v.w2, v.w3)
    joined = Tensor.matmul(v.x, Tensor.concat(pieces, -1))
    return [
        rule(
            eq(v.t1).to(Tensor.matmul(v.x, v.w1)),
            eq(v.t2).to(Tensor.matmul(v.x, v.w2)),
            eq(v.t3).to(Tensor.matmul(v.x, v.w3)),
            weight(v.w1),
            weight(v.w2),
            weight(v.w3),
            ne(v.w1).to(v.w2),
            ne(v.w1).to(v.w3),
            ne(v.w2).to(v.w3),
        ).then(
            union(v.t1).with_(Tensor.take(joined, 0, pieces, -1)),
            union(v.t2).with_(Tensor.take(joined, 1, pieces, -1)),
            union(v.t3).with_(Tensor.take(joined, 2, pieces, -1)),
        )
    ]


def _concat_transposes():
    v = _vars()
    return [
        rule(eq(v.t1).to(Tensor.concat(_list(Tensor.mt(v.a), Tensor.mt(v.b)), -1))).then(
            union(v.t1).with_(Tensor.mt(Tensor.concat(_list(v.a, v.b), -2)))
        ),
        rule(
            eq(v.t1).to(
                Tensor.concat(_list(Tensor.mt(v.a), Tensor.mt(v.b), Tensor.mt(v.c)), -1)
            )
        ).then(union(v.t1).with_(Tensor.mt(Tensor.concat(_list(v.a, v.b, v.c), -2)))),
    ]


DECLARATIONS = (
    AnalysisRule("plain-weights", _weights, "weight(w) for constants and their transposes"),
    RewriteRule("shared-input-pair", _pair, _pair_example),
    RewriteRule("shared-input-triple", _triple, _triple_example),
    RewriteRule("concat-of-transposes", _concat_transposes, _concat_transposes_example),
)
