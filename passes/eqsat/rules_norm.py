"""The `normalisation` ruleset: RMSNorm, LayerNorm and training BatchNorm from primitives.

Means are `reduce(.., "mean", ..)` e-nodes: encoding equates every sum with its mean times
1/n (language_nn.py), and the elementwise ruleset turns a division by the splat n into that
scale, so torch-mlir's sum-then-divide is a mean here. Square roots are in the form the
elementwise ruleset normalises to (a / sqrt(b) = a * rsqrt(b), x ** 2 = x * x), and products
are matched in one operand order (the elementwise ruleset commutes them).

- RMSNorm over the last axis: (x * rsqrt(mean_-1(x * x) + eps)) * w = rms_norm(x, w, eps);
- LayerNorm over the last axis, with d = x - mean_-1(x):
  (d * rsqrt(mean_-1(d * d) + eps)) * w + b = layer_norm(x, w, b, eps);
- BatchNorm with training statistics: the same over axis -2 with gamma and beta, which is
  axis 0 of the [N, C] input batch_norm takes = batch_norm(x, gamma, beta, eps);
- BatchNorm as `nn.BatchNorm1d` writes it in training mode, and LayerNorm as torch-mlir
  decomposes `aten.native_layer_norm` (GPT-2's, ViT's): the variance computed in f64 and
  cast back, cast(mean(e * e), t) with e = cast(x, f64) - mean(cast(x, f64)), the mean and
  the normalisation in x's own type. The same batch_norm / layer_norm: only the rounding of
  the variance differs (eager's own layer norm keeps it in f32), and the f64 variance itself
  stays available to a running-statistics update that also reads it.

The f64-variance rule needs no type guard: the left side multiplies x's centred values by a
function of the cast variance, and an elementwise product requires one element type, so the
cast's target is x's type wherever the pattern matches a typed e-graph.

The norms are guarded kinds (serialized.py): a weight that is not exactly the shape of the
normalised axis, or a BatchNorm input that is not [N, C], drops the new e-node; where the
types fit, both sides compute the same values.
"""

from __future__ import annotations

from functools import cache
from types import SimpleNamespace

from egglog import String, f64, rewrite, vars_

from mirage_mlir.passes.eqsat.graph import (
    Constant,
    Full,
    Graph,
    Input,
    batch_norm,
    cast,
    elementwise,
    layer_norm,
    reduce,
    rms_norm,
)
from mirage_mlir.passes.eqsat.language import Tensor
from mirage_mlir.passes.eqsat.rules_elementwise import ew
from mirage_mlir.passes.eqsat.rulesets import RewriteRule

EPS = 1e-5


@cache
def _vars() -> SimpleNamespace:
    """The pattern variables, by name (built once, on first use)."""
    names = SimpleNamespace()
    for sort, spec in ((Tensor, "x w b"), (f64, "eps"), (String, "d t")):
        for name, variable in zip(spec.split(), vars_(spec, sort)):
            setattr(names, name, variable)
    return names


def _normalised(centred: Tensor, mask: int) -> Tensor:
    """centred * rsqrt(mean(centred * centred) + eps), over the axes of mask."""
    v = _vars()
    var = Tensor.reduce(ew("mul", centred, centred), "mean", mask, 1)
    return ew("mul", centred, ew("rsqrt", ew("add", var, Tensor.full(v.eps, "", v.d))))


def _centred(mask: int) -> Tensor:
    v = _vars()
    return ew("sub", v.x, Tensor.reduce(v.x, "mean", mask, 1))


def _f64_normalised(mask: int) -> Tensor:
    """(x - mean(x)) * rsqrt(cast(var_f64(x), t) + eps): the variance computed in f64."""
    v = _vars()
    wide = Tensor.cast(v.x, "f64")
    deviation = ew("sub", wide, Tensor.reduce(wide, "mean", mask, 1))
    var = Tensor.cast(
        Tensor.reduce(ew("mul", deviation, deviation), "mean", mask, 1), v.t
    )
    return ew(
        "mul", _centred(mask), ew("rsqrt", ew("add", var, Tensor.full(v.eps, "", v.d)))
    )


# --------------------------------------------------------------------------------------------
# Examples


def _normalised_graph(x, centred, axis: int):
    var = reduce(centred * centred, "mean", (axis,), True)
    eps = Full(EPS, (), "f32")
    return centred * elementwise("rsqrt", var + eps)


def _rms_example():
    x, w = Input("X", (2, 3, 5)), Constant("w", (5,))
    return Graph.of(_normalised_graph(x, x, -1) * w), Graph.of(rms_norm(x, w, EPS))


def _layer_example():
    x, w, b = Input("X", (2, 3, 5)), Constant("w", (5,)), Constant("b", (5,))
    centred = x - reduce(x, "mean", (-1,), True)
    return Graph.of(_normalised_graph(x, centred, -1) * w + b), Graph.of(
        layer_norm(x, w, b, EPS)
    )


def _batch_example():
    x, g, b = Input("X", (6, 4)), Constant("gamma", (4,)), Constant("beta", (4,))
    centred = x - reduce(x, "mean", (0,), True)
    return Graph.of(_normalised_graph(x, centred, 0) * g + b), Graph.of(
        batch_norm(x, g, b, EPS)
    )


def _f64_variance_graph(x, axis: int):
    """x normalised over `axis` with the variance computed in f64 and cast back to f32."""
    wide = cast(x, "f64")
    deviation = wide - reduce(wide, "mean", (axis,), True)
    var = cast(reduce(deviation * deviation, "mean", (axis,), True), "f32")
    centred = x - reduce(x, "mean", (axis,), True)
    return centred * elementwise("rsqrt", var + Full(EPS, (), "f32"))


def _batch_f64_example():
    """nn.BatchNorm1d's training form: the variance in f64, cast back to f32."""
    x, g, b = Input("X", (6, 4)), Constant("gamma", (4,)), Constant("beta", (4,))
    return Graph.of(_f64_variance_graph(x, 0) * g + b), Graph.of(
        batch_norm(x, g, b, EPS)
    )


def _layer_f64_example():
    """torch-mlir's decomposition of aten.native_layer_norm: the variance in f64."""
    x, w, b = Input("X", (2, 3, 5)), Constant("w", (5,)), Constant("b", (5,))
    return Graph.of(_f64_variance_graph(x, -1) * w + b), Graph.of(
        layer_norm(x, w, b, EPS)
    )


# --------------------------------------------------------------------------------------------
# Rewrites


def _rms():
    v = _vars()
    return [
        rewrite(ew("mul", _normalised(v.x, 1), v.w)).to(
            Tensor.rms_norm(v.x, v.w, v.eps)
        )
    ]


def _affine(mask: int, make):
    def build():
        v = _vars()
        return [
            rewrite(
                ew("add", ew("mul", _normalised(_centred(mask), mask), v.w), v.b)
            ).to(make(v.x, v.w, v.b, v.eps))
        ]

    return build


def _affine_f64(mask: int, make):
    def build():
        v = _vars()
        return [
            rewrite(ew("add", ew("mul", _f64_normalised(mask), v.w), v.b)).to(
                make(v.x, v.w, v.b, v.eps)
            )
        ]

    return build


DECLARATIONS = (
    RewriteRule("rms-norm", _rms, _rms_example),
    RewriteRule("layer-norm", _affine(1, Tensor.layer_norm), _layer_example),
    RewriteRule("batch-norm", _affine(2, Tensor.batch_norm), _batch_example),
    RewriteRule(
        "batch-norm-f64-variance", _affine_f64(2, Tensor.batch_norm), _batch_f64_example
    ),
    RewriteRule(
        "layer-norm-f64-variance", _affine_f64(1, Tensor.layer_norm), _layer_f64_example
    ),
)
