"""The `linear_algebra` ruleset: products, transposes, scalars and reshapes.

- matmul associativity, batched too: (AB)C = A(BC). numpy.matmul broadcasts batch dimensions
  elementwise, so associativity holds for any batch shapes that type-check.
- the transpose of a product: (AB)^T = B^T A^T, with ^T the swap of the two innermost axes
  (rank-agnostic, so it needs no shapes), and (A^T)^T = A.
- scalar motion: (sA)B = s(AB) = A(sB), s(tA) = (st)A, 1A = A, and a scalar commutes with
  transposes.
- transposes compose: permute(permute(x, p), q) = permute(x, p o q), an identity permutation
  vanishes, and a swap of the two innermost axes becomes `mt` so the rules above apply. These
  are generated per rank (the permutation is packed in an i64 and composed with i64
  arithmetic); ranks above MAX_RULE_RANK keep their transposes as they are.
- reshape(reshape(x, s), t) = reshape(x, t) (row-major reshapes compose).

Nothing here relates elementwise ops to products: an elementwise product is not a matmul.
"""

from __future__ import annotations

from functools import cache
from types import SimpleNamespace

from egglog import birewrite, f64, i64, rewrite, String, vars_

from mirage_mlir.passes.eqsat.graph import (
    Graph,
    Input,
    Reshape,
    Scale,
    Transpose,
    swap_last_two,
)
from mirage_mlir.passes.eqsat.language import Tensor, pack_perm
from mirage_mlir.passes.eqsat.rulesets import RewriteRule

#: Highest rank for which transpose-composition rules are generated.
MAX_RULE_RANK = 6


@cache
def _vars() -> SimpleNamespace:
    """The pattern variables, by name (built once, on first use)."""
    names = SimpleNamespace()
    for sort, spec in (
        (Tensor, "a b c"),
        (f64, "s t"),
        (i64, "p q r"),
        (String, "u w"),
    ):
        for name, variable in zip(spec.split(), vars_(spec, sort)):
            setattr(names, name, variable)
    return names


def _compose(p: i64, q: i64, rank: int) -> i64:
    """The packed permutation of permute(permute(x, p), q): axis k comes from p[q[k]]."""
    out = i64(0)
    for k in range(rank):
        q_k = (q >> (4 * k)) & 15
        out = out + (((p >> (q_k * 4)) & 15) << (4 * k))
    return out


# --------------------------------------------------------------------------------------------
# Examples (left, right): small, distinct shapes, so a wrong rule shows numerically.


def _matmul_assoc_example() -> tuple[Graph, Graph]:
    a, b, c = Input("A", (2, 3, 4)), Input("B", (4, 5)), Input("C", (1, 5, 6))
    return Graph.of((a @ b) @ c), Graph.of(a @ (b @ c))


def _mt_matmul_example() -> tuple[Graph, Graph]:
    a, b = Input("A", (2, 3, 4)), Input("B", (4, 5))
    return Graph.of((a @ b).mT), Graph.of(b.mT @ a.mT)


def _mt_mt_example() -> tuple[Graph, Graph]:
    x = Input("X", (2, 3, 4))
    return Graph.of(x.mT.mT), Graph.of(x)


def _scale_left_example() -> tuple[Graph, Graph]:
    a, b = Input("A", (3, 4)), Input("B", (4, 5))
    return Graph.of(Scale(a, 0.5) @ b), Graph.of(Scale(a @ b, 0.5))


def _scale_right_example() -> tuple[Graph, Graph]:
    a, b = Input("A", (3, 4)), Input("B", (2, 4, 5))
    return Graph.of(a @ Scale(b, -3.0)), Graph.of(Scale(a @ b, -3.0))


def _scale_scale_example() -> tuple[Graph, Graph]:
    x = Input("X", (3, 4))
    return Graph.of(Scale(Scale(x, 0.5), 3.0)), Graph.of(Scale(x, 1.5))


def _scale_one_example() -> tuple[Graph, Graph]:
    x = Input("X", (3, 4))
    return Graph.of(Scale(x, 1.0)), Graph.of(x)


def _mt_scale_example() -> tuple[Graph, Graph]:
    x = Input("X", (2, 3, 4))
    return Graph.of(Scale(x, 0.25).mT), Graph.of(Scale(x.mT, 0.25))


def _permute_scale_example() -> tuple[Graph, Graph]:
    x = Input("X", (2, 3, 4))
    return Graph.of(Transpose(Scale(x, 2.0), (2, 0, 1))), Graph.of(
        Scale(Transpose(x, (2, 0, 1)), 2.0)
    )


def _reshape_reshape_example() -> tuple[Graph, Graph]:
    x = Input("X", (2, 3, 4))
    return Graph.of(Reshape(Reshape(x, (6, 4)), (4, 6))), Graph.of(Reshape(x, (4, 6)))


def _rotate(rank: int) -> tuple[int, ...]:
    return tuple(range(1, rank)) + (0,)


def _example_input(rank: int) -> Input:
    return Input("X", tuple(range(2, 2 + rank)))


def _permute_compose_example(rank: int):
    def example() -> tuple[Graph, Graph]:
        x, p = _example_input(rank), _rotate(rank)
        composed = tuple(p[p[k]] for k in range(rank))
        return Graph.of(Transpose(Transpose(x, p), p)), Graph.of(Transpose(x, composed))

    return example


def _permute_identity_example(rank: int):
    def example() -> tuple[Graph, Graph]:
        x = _example_input(rank)
        return Graph.of(Transpose(x, tuple(range(rank)))), Graph.of(x)

    return example


def _permute_swap_example(rank: int):
    def example() -> tuple[Graph, Graph]:
        x, p, swap = _example_input(rank), _rotate(rank), swap_last_two(rank)
        inverse = tuple(sorted(range(rank), key=lambda axis: p[axis]))
        q = tuple(inverse[swap[k]] for k in range(rank))
        return Graph.of(Transpose(Transpose(x, p), q)), Graph.of(x.mT)

    return example


# --------------------------------------------------------------------------------------------
# Rewrites


def _matmul_assoc():
    v = _vars()
    return [
        birewrite(Tensor.matmul(Tensor.matmul(v.a, v.b), v.c)).to(
            Tensor.matmul(v.a, Tensor.matmul(v.b, v.c))
        )
    ]


def _mt_matmul():
    v = _vars()
    return [
        birewrite(Tensor.mt(Tensor.matmul(v.a, v.b))).to(
            Tensor.matmul(Tensor.mt(v.b), Tensor.mt(v.a))
        )
    ]


def _mt_mt():
    v = _vars()
    return [rewrite(Tensor.mt(Tensor.mt(v.a))).to(v.a)]


def _scale_left():
    v = _vars()
    return [
        birewrite(Tensor.matmul(Tensor.scale(v.a, v.s), v.b)).to(
            Tensor.scale(Tensor.matmul(v.a, v.b), v.s)
        )
    ]


def _scale_right():
    v = _vars()
    return [
        birewrite(Tensor.matmul(v.a, Tensor.scale(v.b, v.s))).to(
            Tensor.scale(Tensor.matmul(v.a, v.b), v.s)
        )
    ]


def _scale_scale():
    v = _vars()
    return [
        rewrite(Tensor.scale(Tensor.scale(v.a, v.s), v.t)).to(
            Tensor.scale(v.a, v.s * v.t)
        )
    ]


def _scale_one():
    v = _vars()
    return [rewrite(Tensor.scale(v.a, 1.0)).to(v.a)]


def _mt_scale():
    v = _vars()
    return [
        birewrite(Tensor.mt(Tensor.scale(v.a, v.s))).to(
            Tensor.scale(Tensor.mt(v.a), v.s)
        )
    ]


def _permute_scale():
    v = _vars()
    return [
        birewrite(Tensor.permute(Tensor.scale(v.a, v.s), v.p, v.r)).to(
            Tensor.scale(Tensor.permute(v.a, v.p, v.r), v.s)
        )
    ]


def _reshape_reshape():
    v = _vars()
    return [
        rewrite(Tensor.reshape(Tensor.reshape(v.a, v.u), v.w)).to(
            Tensor.reshape(v.a, v.w)
        )
    ]


def _permute_compose(rank: int):
    def build():
        v = _vars()
        return [
            rewrite(Tensor.permute(Tensor.permute(v.a, v.p, rank), v.q, rank)).to(
                Tensor.permute(v.a, _compose(v.p, v.q, rank), rank)
            )
        ]

    return build


def _permute_identity(rank: int):
    def build():
        v = _vars()
        return [
            rewrite(Tensor.permute(v.a, pack_perm(tuple(range(rank))), rank)).to(v.a)
        ]

    return build


def _permute_swap(rank: int):
    def build():
        v = _vars()
        return [
            rewrite(Tensor.permute(v.a, pack_perm(swap_last_two(rank)), rank)).to(
                Tensor.mt(v.a)
            )
        ]

    return build


DECLARATIONS = (
    RewriteRule("matmul-assoc", _matmul_assoc, _matmul_assoc_example),
    RewriteRule("transpose-of-product", _mt_matmul, _mt_matmul_example),
    RewriteRule("transpose-transpose", _mt_mt, _mt_mt_example),
    RewriteRule("scale-matmul-left", _scale_left, _scale_left_example),
    RewriteRule("scale-matmul-right", _scale_right, _scale_right_example),
    RewriteRule("scale-scale", _scale_scale, _scale_scale_example),
    RewriteRule("scale-one", _scale_one, _scale_one_example),
    RewriteRule("transpose-scale", _mt_scale, _mt_scale_example),
    RewriteRule("permute-scale", _permute_scale, _permute_scale_example),
    RewriteRule("reshape-reshape", _reshape_reshape, _reshape_reshape_example),
    *(
        RewriteRule(
            f"permute-compose-rank{r}", _permute_compose(r), _permute_compose_example(r)
        )
        for r in range(3, MAX_RULE_RANK + 1)
    ),
    *(
        RewriteRule(
            f"permute-identity-rank{r}",
            _permute_identity(r),
            _permute_identity_example(r),
        )
        for r in range(0, MAX_RULE_RANK + 1)
    ),
    *(
        RewriteRule(f"permute-swap-rank{r}", _permute_swap(r), _permute_swap_example(r))
        for r in range(3, MAX_RULE_RANK + 1)
    ),
)
