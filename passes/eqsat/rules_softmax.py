"""The `softmax` ruleset: the naive and max-subtracted forms are the (stable) softmax, and the
log-sum-exp, log-softmax and log(exp) forms have stable equals.

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
- log-softmax: log(softmax(x, a)) = (x - M) - log(sum_a(exp(x - M), keepdims)), M the max
  over a with the axis kept: the log of a probability that rounds to 0 is -inf, where this
  form is finite.

Over any reduction mask m, and for any x:

- log-sum-exp: log(sum_m(exp(x), k)) = max_m(x, k) + log(sum_m(exp(x - max_m(x, keepdims)), k))
  for any reduction mask m and either keepdims k (the max keeps the reduced axes where it is
  subtracted, so it broadcasts back to x, and matches the sum's k where it is added).
- shift idempotence: (x - M) - max_m(x - M, keepdims) = x - M for M = max_m(x, keepdims).
  Exact in floating point: the largest element of x - M is M - M = +0, so the inner max is
  0 and subtracting it changes nothing. It closes log-sum-exp: applied to an already
  max-subtracted sum, the rule above only adds max(..) + itself to the same e-class (a
  cycle extraction never takes) instead of a new shift at every iteration.
- log-exp: log(exp(x)) = x, exact in real arithmetic; exp(x) overflows above 88.7 in f32.

The max-subtracted forms are exact for finite inputs; where a reduced row holds +inf, or
only -inf, both sides give NaN or the naive side an infinity (log-sum-exp of a row of -inf
is -inf, its stable form NaN).

`softmax` e-nodes, and the max-subtracted exps, are the stable forms; the extraction penalty
for exp of an input not bounded above, and for the log of a probability that can underflow,
is in stability.py.
"""

from __future__ import annotations

from functools import cache
from types import SimpleNamespace

from egglog import String, f64, i64, rewrite, vars_

from mirage_mlir.passes.eqsat.graph import (
    Full,
    Graph,
    Input,
    elementwise,
    exp,
    reduce,
    softmax,
)
from mirage_mlir.passes.eqsat.language import Tensor
from mirage_mlir.passes.eqsat.rules_elementwise import ew
from mirage_mlir.passes.eqsat.rulesets import RewriteRule

#: Softmax axes -1 .. -MAX_AXIS get rules.
MAX_AXIS = 4


@cache
def _vars() -> SimpleNamespace:
    """The pattern variables, by name (built once, on first use)."""
    names = SimpleNamespace()
    for sort, spec in ((Tensor, "x"), (String, "op d"), (f64, "v"), (i64, "k m")):
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


def _log(x):
    return elementwise("log", x)


def _stable_lse(x, axes: tuple[int, ...], keepdims: bool):
    """max + log(sum(exp(x - max))), the max kept over `axes` where it is subtracted."""
    kept = reduce(x, "max", axes, True)
    total = reduce(exp(x - kept), "sum", axes, keepdims)
    return reduce(x, "max", axes, keepdims) + _log(total)


def _lse_example(axes: tuple[int, ...], keepdims: bool):
    def example():
        x = Input("X", (5, 4, 3))
        naive = _log(reduce(exp(x), "sum", axes, keepdims))
        return Graph.of(naive), Graph.of(_stable_lse(x, axes, keepdims))

    return example


def _shift_twice_example(axes: tuple[int, ...]):
    def example():
        x = Input("X", (5, 4, 3))
        shifted = x - reduce(x, "max", axes, True)
        return Graph.of(shifted - reduce(shifted, "max", axes, True)), Graph.of(shifted)

    return example


def _log_softmax_example(axis: int):
    def example():
        x = Input("X", (5, 4, 3, 2)[4 - max(2, -axis) :])
        shifted = x - reduce(x, "max", (axis,), True)
        stable = shifted - _log(reduce(exp(shifted), "sum", (axis,), True))
        return Graph.of(_log(softmax(x, axis))), Graph.of(stable)

    return example


def _log_exp_example():
    x = Input("X", (3, 4))
    return Graph.of(_log(exp(x))), Graph.of(x)


def _log_sum_exp():
    v = _vars()
    kept = Tensor.reduce(v.x, "max", v.m, 1)
    total = Tensor.reduce(ew("exp", ew("sub", v.x, kept)), "sum", v.m, v.k)
    return [
        rewrite(ew("log", Tensor.reduce(ew("exp", v.x), "sum", v.m, v.k))).to(
            ew("add", Tensor.reduce(v.x, "max", v.m, v.k), ew("log", total))
        )
    ]


def _shift_twice():
    v = _vars()
    shifted = ew("sub", v.x, Tensor.reduce(v.x, "max", v.m, 1))
    return [rewrite(ew("sub", shifted, Tensor.reduce(shifted, "max", v.m, 1))).to(shifted)]


def _log_softmax(axis: int):
    def build():
        v = _vars()
        mask = 1 << (-axis - 1)
        shifted = ew("sub", v.x, Tensor.reduce(v.x, "max", mask, 1))
        total = Tensor.reduce(ew("exp", shifted), "sum", mask, 1)
        return [
            rewrite(ew("log", Tensor.softmax(v.x, axis))).to(
                ew("sub", shifted, ew("log", total))
            )
        ]

    return build


def _log_exp():
    v = _vars()
    return [rewrite(ew("log", ew("exp", v.x))).to(v.x)]


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
        yield RewriteRule(f"log-softmax-axis{axis}", _log_softmax(axis), _log_softmax_example(axis))
    yield RewriteRule("log-sum-exp", _log_sum_exp, _lse_example((-1,), False))
    yield RewriteRule("shift-by-max-idempotent", _shift_twice, _shift_twice_example((-1,)))
    yield RewriteRule("log-exp", _log_exp, _log_exp_example)


DECLARATIONS = tuple(_declarations())

#: Further examples each shift rule must also prove (the splat form, another reduction).
EXTRA_EXAMPLES = {
    f"softmax-shift-{op}-axis{-k}": (
        _shift_example(-k, op, "scalar"),
        _shift_example(-k, op, "mean"),
    )
    for k in range(1, MAX_AXIS + 1)
    for op in ("sub", "add")
} | {
    # Any reduction mask, either keepdims.
    "log-sum-exp": (
        _lse_example((-1,), True),
        _lse_example((0,), False),
        _lse_example((0, 2), True),
    ),
    "shift-by-max-idempotent": (_shift_twice_example((0, 1)),),
}
