"""The `elementwise` ruleset: elementwise algebra on scalars and the forms torch-mlir writes.

- ReLU: max(x, 0) = relu(x), and where(x > 0, x, 0) = relu(x) (torch-mlir's form). Only this direction: the splat 0 of the other side needs an
  element type, which the e-graph does not record for x.
- commutativity of add, mul, max and min, so the patterns of the other rulesets need one
  operand order only;
- scalar folding: x * full(v) = v·x (a `scale`), x / full(v) = (1/v)·x, x + 0 = x - 0 = x,
  x * 1 = x (scale of scale and 1·x = x are in the linear-algebra ruleset);
- the forms torch-mlir writes for norms: x ** 2 = x * x, a / sqrt(b) = a * rsqrt(b).

Splats are scalar (`full(v, "")`): encoding turns a splat that broadcasts away into a scalar
one (language_nn.py), so no rule here can change a shape. `ew` builds elementwise terms for
the other rule modules.
"""

from __future__ import annotations

from functools import cache
from types import SimpleNamespace

from egglog import String, f64, rewrite, vars_

from mirage_mlir.passes.eqsat.graph import Full, Graph, Input, Scale, elementwise
from mirage_mlir.passes.eqsat.language import Args, Tensor
from mirage_mlir.passes.eqsat.rulesets import RewriteRule


def ew(op: str, *operands: Tensor) -> Tensor:
    """The elementwise term op(operands...)."""
    args = Args.nil()
    for operand in reversed(operands):
        args = Args.cons(operand, args)
    return Tensor.elementwise(op, args)


@cache
def _vars() -> SimpleNamespace:
    """The pattern variables, by name (built once, on first use)."""
    names = SimpleNamespace()
    for sort, spec in ((Tensor, "a b"), (f64, "v"), (String, "d")):
        for name, variable in zip(spec.split(), vars_(spec, sort)):
            setattr(names, name, variable)
    return names


def _scalar(value: float) -> Full:
    return Full(value, (), "f32")


# --------------------------------------------------------------------------------------------
# Examples


def _x() -> Input:
    return Input("X", (3, 4))


def _relu_example():
    x = _x()
    return Graph.of(elementwise("max", x, _scalar(0.0))), Graph.of(elementwise("relu", x))


def _relu_where_example():
    x, zero = _x(), _scalar(0.0)
    positive = elementwise("gt", x, zero)
    return Graph.of(elementwise("where", positive, x, zero)), Graph.of(elementwise("relu", x))


def _commute_example(op: str):
    def example():
        x, y = _x(), Input("Y", (4,))
        return Graph.of(elementwise(op, x, y)), Graph.of(elementwise(op, y, x))

    return example


def _mul_full_example():
    x = _x()
    return Graph.of(x * _scalar(0.75)), Graph.of(Scale(x, 0.75))


def _div_full_example():
    x = _x()
    return Graph.of(x / _scalar(4.0)), Graph.of(Scale(x, 0.25))


def _add_zero_example():
    x = _x()
    return Graph.of(x + _scalar(0.0)), Graph.of(x)


def _sub_zero_example():
    x = _x()
    return Graph.of(x - _scalar(0.0)), Graph.of(x)


def _mul_one_example():
    x = _x()
    return Graph.of(x * _scalar(1.0)), Graph.of(x)


def _square_example():
    x = _x()
    return Graph.of(elementwise("pow", x, _scalar(2.0))), Graph.of(x * x)


def _div_sqrt_example():
    x, y = _x(), Input("Y", (3, 1))
    y2 = elementwise("abs", y)
    return Graph.of(x / elementwise("sqrt", y2)), Graph.of(x * elementwise("rsqrt", y2))


# --------------------------------------------------------------------------------------------
# Rewrites


def _relu():
    v = _vars()
    return [rewrite(ew("max", v.a, Tensor.full(0.0, "", v.d))).to(ew("relu", v.a))]


def _relu_where():
    v = _vars()
    zero = Tensor.full(0.0, "", v.d)
    return [rewrite(ew("where", ew("gt", v.a, zero), v.a, zero)).to(ew("relu", v.a))]


def _commute(op: str):
    def build():
        v = _vars()
        return [rewrite(ew(op, v.a, v.b)).to(ew(op, v.b, v.a))]

    return build


def _mul_full():
    v = _vars()
    return [rewrite(ew("mul", v.a, Tensor.full(v.v, "", v.d))).to(Tensor.scale(v.a, v.v))]


def _div_full():
    v = _vars()
    return [
        rewrite(ew("div", v.a, Tensor.full(v.v, "", v.d))).to(
            Tensor.scale(v.a, f64(1.0) / v.v)
        )
    ]


def _identity(op: str, value: float):
    def build():
        v = _vars()
        return [rewrite(ew(op, v.a, Tensor.full(value, "", v.d))).to(v.a)]

    return build


def _square():
    v = _vars()
    return [rewrite(ew("pow", v.a, Tensor.full(2.0, "", v.d))).to(ew("mul", v.a, v.a))]


def _div_sqrt():
    v = _vars()
    return [
        rewrite(ew("div", v.a, ew("sqrt", v.b))).to(ew("mul", v.a, ew("rsqrt", v.b)))
    ]


DECLARATIONS = (
    RewriteRule("relu-max", _relu, _relu_example),
    RewriteRule("relu-where", _relu_where, _relu_where_example),
    *(
        RewriteRule(f"commute-{op}", _commute(op), _commute_example(op))
        for op in ("add", "mul", "max", "min")
    ),
    RewriteRule("mul-full-scale", _mul_full, _mul_full_example),
    RewriteRule("div-full-scale", _div_full, _div_full_example),
    RewriteRule("add-zero", _identity("add", 0.0), _add_zero_example),
    RewriteRule("sub-zero", _identity("sub", 0.0), _sub_zero_example),
    RewriteRule("mul-one", _identity("mul", 1.0), _mul_one_example),
    RewriteRule("square", _square, _square_example),
    RewriteRule("div-sqrt", _div_sqrt, _div_sqrt_example),
)
