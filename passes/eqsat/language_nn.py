"""The egglog encoding of the structured node kinds, and the equalities only shapes can justify.

Each kind's `Tensor` constructor is in its record in the op registry (passes/eqsat/kinds/).
Axes are stored counted from the end (`negative_axis`), reduction axes as a mask with bit k
for axis -(k + 1) (`axes_mask`), so that the rules can say "the last axis" without a rank.

The e-graph holds no shapes, so a few equalities that depend on them are added once, at
encoding, where every node of the input graph has its type (`shape_facts`):

- a reshape that only restores the axes a reduction dropped is that reduction with keepdims;
- a mean is the sum times 1/n (n the number of elements reduced), both ways;
- an elementwise op reading a splat constant (`full`) that broadcasts away is the same op on
  the scalar splat, so the scalar rules (scale, relu, ...) see it;
- a batched matmul between reshapes that only merge or split batch axes, as torch-mlir writes
  4-D attention (collapse to 3-D, batch_matmul, expand), is the matmul on the 4-D operands;
- `causal_masked(m, s)`: m is the scores s with a causal mask applied, in one of the forms
  torch-mlir leaves once recognition has named the mask (see `CAUSAL_MASKS`);
- `repeat_heads(r, x)`: r is x with each head repeated consecutively, as torch-mlir writes
  `repeat_interleave` for grouped-query attention: reshape to [..., H, 1, S, D], broadcast to
  [..., H, G, S, D], reshape to [..., H*G, S, D].

Causal masks arrive in the MLIR as index arithmetic (iota, subtract, compare, select), which the
algebra does not model. Recognition replaces such a mask by a node of the `causal_mask` kind
(kinds/masks.py; `causal_mask_leaf` builds one) in one of the forms `CAUSAL_MASKS`:

    causal_allowed   i1  [Sq, Skv]  true where key j <= query i     where(m, scores, -inf)
    causal_future    i1  [Sq, Skv]  true where j > i                where(m, -inf, scores)
    causal_additive  f   [Sq, Skv]  0 where j <= i, -inf elsewhere  scores + m

and SDPA's additive mask where(causal_allowed, 0, -inf) (or where(causal_future, -inf, 0))
counts as causal_additive.

Shape facts are about particular shapes of program (a reshape of a reduction, a slice of a
concatenation), so `shape_facts` names the kinds they are made of; the patterns other stages
share are in patterns.py.
"""

from __future__ import annotations

import math
from mirage_mlir.passes.eqsat.graph import (
    Full,
    Graph,
    GraphError,
    Node,
    Structured,
)
from mirage_mlir.passes.eqsat.kinds.masks import CAUSAL_FORMS
from mirage_mlir.passes.eqsat.patterns import (
    causal_form,
    elementwise_op,
    permutation,
    through_reshape,
)

#: The forms of a causal mask (the `causal_mask` kind, kinds/masks.py).
CAUSAL_MASKS = CAUSAL_FORMS


def causal_mask_leaf(
    form: str, queries: int, keys: int, dtype: str | None = None
) -> Structured:
    """The causal mask `form` (one of CAUSAL_MASKS) for a [queries, keys] score matrix."""
    if form not in CAUSAL_MASKS:
        raise GraphError(
            f"unknown causal mask {form!r}; known: {', '.join(CAUSAL_MASKS)}"
        )
    dtype = dtype or ("f32" if form == "causal_additive" else "i1")
    return Structured("causal_mask", (form, queries, keys, dtype), ())


# --------------------------------------------------------------------------------------------
# Structured nodes


def negative_axis(axis: int, rank: int) -> int:
    """axis counted from the end: -1 is the last axis."""
    return axis - rank if axis >= 0 else axis


def axes_mask(axes, rank: int) -> int:
    """The mask of reduction axes: bit k is axis -(k + 1)."""
    mask = 0
    for axis in axes:
        mask |= 1 << (-negative_axis(axis, rank) - 1)
    return mask


def mask_axes(mask: int) -> tuple[int, ...]:
    """The negative axes of a mask, in increasing order."""
    return tuple(sorted(-(k + 1) for k in range(64) if mask >> k & 1))


def _text(values) -> str:
    return "x".join(str(v) for v in values)


# --------------------------------------------------------------------------------------------
# Shape facts


def _is_full(node: Node, value: float | None = None) -> bool:
    return isinstance(node, Full) and (value is None or node.value == value)


def shape_facts(graph: Graph, terms: dict[int, object]) -> list:
    """The equalities and relations of the module docstring, for the nodes of `graph`."""
    from egglog import union

    from mirage_mlir.passes.eqsat.language import (
        Args,
        Tensor,
        causal_masked,
        repeat_heads,
    )

    facts: list = []

    def term(node: Node):
        return terms[id(node)]

    def args(items) -> object:
        out = Args.nil()
        for item in reversed(items):
            out = Args.cons(item, out)
        return out

    for node in graph.nodes():
        kind = node.kind
        if kind == "reshape":
            x = node.operands[0]
            if x.kind == "reduce" and not x.attrs[2]:
                op, axes, _ = x.attrs
                source = x.operands[0]
                rank = len(source.shape)
                norm = {a % rank for a in axes}
                kept = tuple(1 if i in norm else d for i, d in enumerate(source.shape))
                if node.shape == kept:
                    facts.append(
                        union(term(node)).with_(
                            Tensor.reduce(term(source), op, axes_mask(axes, rank), 1)
                        )
                    )
            facts.extend(_batch_reshape_facts(node, term, Tensor, repeat_heads, union))
            repeated = _repeat_source(node.operands[0], node.shape)
            if repeated is not None:
                facts.append(repeat_heads(term(node), term(repeated)))
        if kind == "reduce" and node.attrs[0] in ("sum", "mean"):
            op, axes, keepdims = node.attrs
            x = node.operands[0]
            rank = len(x.shape)
            n = math.prod(x.shape[a] for a in axes) if x.shape else 1
            mask = axes_mask(axes, rank)
            mean = Tensor.reduce(term(x), "mean", mask, int(keepdims))
            total = Tensor.reduce(term(x), "sum", mask, int(keepdims))
            if n:
                facts.append(union(mean).with_(Tensor.scale(total, 1.0 / n)))
        if kind == "slice":
            facts.extend(_take_facts(node, term, args, Tensor, union))
        if elementwise_op(node) is not None:
            facts.extend(_scalar_full_facts(node, term, args, Tensor, union))
            _causal_facts(node, term, causal_masked, facts)
    return facts


def _scalar_full_facts(node, term, args, tensor, union) -> list:
    """op(..., full(v, shape), ...) = op(..., full(v, ()), ...) when the shape broadcasts away."""
    if not any(_is_full(o) and o.shape for o in node.operands):
        return []
    from mirage_mlir.passes.eqsat.graph import broadcast_shapes

    others = [o.shape for o in node.operands if not (_is_full(o) and o.shape)]
    try:
        shape = broadcast_shapes(others, "elementwise") if others else ()
    except GraphError:
        return []
    if shape != node.shape:
        return []
    items = [
        tensor.full(o.value, "", o.dtype) if _is_full(o) and o.shape else term(o)
        for o in node.operands
    ]
    return [union(term(node)).with_(tensor.elementwise(node.attrs[0], args(items)))]


def _pieces(whole: Node, term, tensor):
    """(piece terms, piece widths, axis) when `whole` is laid out in pieces, else None.

    whole is laid out in pieces when it is concat(pieces, axis), x @ concat(pieces, -1), or
    x @ concat(pieces, -2)ᵀ (a Linear layer's weights joined, then transposed): then its
    pieces are the transposes.
    """
    if whole.kind == "concat":
        rank = len(whole.shape)
        axis = whole.attrs[0] % rank
        return (
            [term(p) for p in whole.operands],
            [p.shape[axis] for p in whole.operands],
            axis,
        )
    if whole.kind != "matmul":
        return None
    rank = len(whole.shape)
    weights = whole.operands[1]
    if (
        weights.kind == "concat"
        and weights.attrs[0] % len(weights.shape) == len(weights.shape) - 1
    ):
        return (
            [term(p) for p in weights.operands],
            [p.shape[-1] for p in weights.operands],
            rank - 1,
        )
    perm = permutation(weights)
    if perm is not None and len(weights.shape) >= 2:
        joined = weights.operands[0]
        swap = tuple(range(len(weights.shape) - 2)) + (
            len(weights.shape) - 1,
            len(weights.shape) - 2,
        )
        if (
            perm == swap
            and joined.kind == "concat"
            and joined.attrs[0] % len(joined.shape) == len(joined.shape) - 2
        ):
            return (
                [tensor.mt(term(p)) for p in joined.operands],
                [p.shape[-2] for p in joined.operands],
                rank - 1,
            )
    return None


def _take_facts(node, term, args, tensor, union) -> list:
    """slice(t) = take(t, i, pieces, axis) when the slice is exactly piece i of t's layout."""
    whole = node.operands[0]
    found = _pieces(whole, term, tensor)
    if found is None:
        return []
    pieces, widths, axis = found
    rank = len(whole.shape)
    offsets, sizes, strides = node.attrs
    start = 0
    for index, width in enumerate(widths):
        expected = tuple(start if i == axis else 0 for i in range(rank))
        size = tuple(width if i == axis else d for i, d in enumerate(whole.shape))
        if offsets == expected and sizes == size and set(strides) <= {1}:
            taken = tensor.take(term(whole), index, args(pieces), axis - rank)
            return [union(term(node)).with_(taken)]
        start += width
    return []


def _is_additive_causal(mask: Node) -> bool:
    """A causal_additive leaf, or where(causal_allowed, 0, -inf) (SDPA's, as torch-mlir)."""
    if causal_form(mask) == "causal_additive":
        return True
    if elementwise_op(mask) != "where":
        return False
    cond, a, b = mask.operands
    return mask.shape == cond.shape and (
        (
            causal_form(cond) == "causal_allowed"
            and _is_full(a, 0.0)
            and _is_full(b, -math.inf)
        )
        or (
            causal_form(cond) == "causal_future"
            and _is_full(a, -math.inf)
            and _is_full(b, 0.0)
        )
    )


def _causal_facts(node, term, causal_masked, facts: list) -> None:
    """causal_masked(node, scores) for the three mask forms of the module docstring."""
    op, ops = node.attrs[0], node.operands
    candidates = []
    if op == "where" and len(ops) == 3:
        cond, a, b = ops
        if causal_form(cond) == "causal_allowed" and _is_full(b, -math.inf):
            candidates.append((cond, a))
        if causal_form(cond) == "causal_future" and _is_full(a, -math.inf):
            candidates.append((cond, b))
    if op == "add" and len(ops) == 2:
        for mask, scores in (ops, ops[::-1]):
            if _is_additive_causal(mask):
                candidates.append((mask, scores))
    for mask, scores in candidates:
        if (
            len(scores.shape) >= 2
            and scores.shape == node.shape
            and mask.shape == scores.shape[-2:]
        ):
            facts.append(causal_masked(term(node), term(scores)))


def _repeat_source(node: Node, shape: tuple[int, ...]) -> Node | None:
    """x when `node` reshaped to `shape` is x with its heads repeated (module docstring)."""
    if node.kind != "broadcast" or node.operands[0].kind != "reshape":
        return None
    x = node.operands[0].operands[0]
    if len(x.shape) < 3:
        return None
    lead, heads, tail = x.shape[:-3], x.shape[-3], x.shape[-2:]
    group = node.shape[len(lead) + 1] if len(node.shape) == len(x.shape) + 1 else 0
    # The reshape may leave out leading unit axes: broadcasting adds them back.
    reshaped = node.operands[0].shape
    padded = (1,) * (len(node.shape) - len(reshaped)) + reshaped
    return (
        x
        if (
            padded == lead + (heads, 1) + tail
            and node.shape == lead + (heads, group) + tail
            and shape == lead + (heads * group,) + tail
        )
        else None
    )


def _batch_reshape_facts(node, term, tensor, repeat_heads, union) -> list:
    """reshape(matmul(p, q), s) = matmul(p', q') when p, q only had their batch axes reshaped.

    p' is the operand p was reshaped from (or p reshaped), with batch axes s[:-2].
    """
    product = node.operands[0]
    if product.kind != "matmul" or len(node.shape) < 2:
        return []
    p, q = product.operands
    batch = product.shape[:-2]
    if (
        node.shape[-2:] != product.shape[-2:]
        or p.shape[:-2] != batch
        or q.shape[:-2] != batch
    ):
        return []
    target = node.shape[:-2]
    facts, sides = [], []
    for operand in (p, q):
        source = through_reshape(operand)
        if source.shape[-2:] != operand.shape[-2:] or len(source.shape) < 2:
            source = operand
        if source.shape[:-2] == target:
            sides.append(term(source))
            continue
        shape = target + source.shape[-2:]
        reshaped = tensor.reshape(term(source), _text(shape))
        repeated = _repeat_source(source, shape)
        if repeated is not None:
            facts.append(repeat_heads(reshaped, term(repeated)))
        sides.append(reshaped)
    facts.append(union(term(node)).with_(tensor.matmul(*sides)))
    return facts
