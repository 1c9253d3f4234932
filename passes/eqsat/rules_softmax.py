"""The `softmax` ruleset: the naive and max-subtracted forms are the (stable) softmax.

For each axis a (counted from the end, -1 to -MAX_AXIS; a reduction over a alone has mask
1 << (-a - 1)):

- naive: exp(x) / sum_a(exp(x), keepdims) = softmax(x, a). The sum keeps the reduced axis, so
  the division broadcasts it back: exactly the form recognition writes for torch's
  `exp(x) / exp(x).sum(-1, keepdim=True)` (a reshape restoring a dropped axis becomes the
  keepdims reduction at encoding).
- shift: softmax(x - c, a) = softmax(x + c, a) = softmax(x, a) when c is constant along a. Two
  forms of c are provably so without shapes: a keepdims reduction of x itself over a (its
  shape is x's with 1 at a, so subtracting it cannot broadcast x to a larger shape: the
  e-class keeps one type), and a scalar splat. With `naive`, this makes the max-subtracted
  form exp(x - max(x)) / sum(exp(x - max(x))) equal to softmax(x).

`softmax` e-nodes are the stable form; the extraction penalty for exp of an unbounded input
inside such a ratio is in stability.py.
"""

from __future__ import annotations

from functools import cache
from types import SimpleNamespace

from egglog import String, f64, i64, rewrite, vars_

from mirage_mlir.passes.eqsat.graph import Full, Graph, Input, exp, reduce, softmax
from mirage_mlir.passes.eqsat.language import Tensor
from mirage_mlir.passes.eqsat.rules_elementwise import ew
from mirage_mlir.passes.eqsat.rulesets import RewriteRule

#: Softmax axes -1 .. -MAX_AXIS get rules.
MAX_AXIS = 4


@cache
def _vars() -> SimpleNamespace:
    """The pattern variables, by name (built once, on first use)."""
    names = SimpleNamespace()
    for sort, spec in ((Tensor, "x"), (String, "op d"), (f64, "v"), (i64, "k")):
        for name, variable in zip(spec.split(), vars_(spec, sort)):
            setattr(names, name, variable)
    return names


def _naive_example(axis: int):
    def example():
        x = Input("X", (5, 4, 3, 2)[4 - max(2, -axis) :])
        e = exp(x)
        return Graph.of(e / reduce(e, "sum", (axis,), True)), Graph.of(softmax(x, axis))

    return example


def _shift_example(axis: int, op: str, by: str):
    def example():
        x = Input("X", (5, 4, 3, 2)[4 - max(2, -axis) :])
        c = reduce(x, by, (axis,), True) if by != "scalar" else Full(2.5, (), "f32")
        shifted = x - c if op == "sub" else x + c
        return Graph.of(softmax(shifted, axis)), Graph.of(softmax(x, axis))

    return example


def _naive(axis: int):
    def build():
        v = _vars()
        e = ew("exp", v.x)
        return [
            rewrite(ew("div", e, Tensor.reduce(e, "sum", 1 << (-axis - 1), 1))).to(
                Tensor.softmax(v.x, axis)
            )
        ]

    return build


def _shift(axis: int, op: str):
    def build():
        v = _vars()
        mask = 1 << (-axis - 1)
        return [
            rewrite(
                Tensor.softmax(ew(op, v.x, Tensor.reduce(v.x, v.op, mask, 1)), axis)
            ).to(Tensor.softmax(v.x, axis)),
            rewrite(Tensor.softmax(ew(op, v.x, Tensor.full(v.v, "", v.d)), axis)).to(
                Tensor.softmax(v.x, axis)
            ),
        ]

    return build


def _declarations():
    for k in range(1, MAX_AXIS + 1):
        axis = -k
        yield RewriteRule(f"softmax-naive-axis{axis}", _naive(axis), _naive_example(axis))
        for op in ("sub", "add"):
            yield RewriteRule(
                f"softmax-shift-{op}-axis{axis}",
                _shift(axis, op),
                _shift_example(axis, op, "max"),
            )


DECLARATIONS = tuple(_declarations())

#: Further examples each shift rule must also prove (the splat form, another reduction).
EXTRA_EXAMPLES = {
    f"softmax-shift-{op}-axis{-k}": (
        _shift_example(-k, op, "scalar"),
        _shift_example(-k, op, "mean"),
    )
    for k in range(1, MAX_AXIS + 1)
    for op in ("sub", "add")
}
