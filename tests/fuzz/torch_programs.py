"""Hypothesis strategies for small PyTorch programs, and the modules that run them.

A strategy draws a *recipe* (a plain dict: the family and its choices), so a failing case
prints readably and shrinks well; `build(recipe)` turns it into an `nn.Module` and its input
shapes. Families: matmul chains with transposes and scalars, elementwise chains with
broadcasting, reductions, softmax (torch.softmax, naive and max-subtracted by hand),
normalisations (RMSNorm and LayerNorm by hand and through torch.nn.functional),
attention-shaped graphs with an optional causal mask, and einsum networks of up to 5
operands. Input values are drawn so that every computation stays well conditioned in float32.
"""

from __future__ import annotations

from typing import Any

from hypothesis import strategies as st

from graph_programs import einsum_specs

UNARY = ("tanh", "sigmoid", "relu", "neg", "abs", "exp")
BINARY = ("add", "sub", "mul", "maximum", "minimum")
SCALARS = (0.5, 2.0, -1.5, 0.125)


@st.composite
def chain_recipes(draw) -> dict[str, Any]:
    """A @ B @ ... with transposed operands and scalars."""
    count = draw(st.integers(2, 5))
    return {
        "family": "chain",
        "batch": draw(st.sampled_from([[], [], [2]])),
        "dims": draw(st.lists(st.integers(1, 8), min_size=count + 1, max_size=count + 1)),
        "transposed": draw(st.lists(st.booleans(), min_size=count, max_size=count)),
        "scales": draw(st.lists(st.sampled_from((None, None) + SCALARS), min_size=count, max_size=count)),
    }


@st.composite
def elementwise_recipes(draw) -> dict[str, Any]:
    """A chain of unary, binary and scalar ops over broadcasting inputs."""
    shape = draw(st.lists(st.integers(1, 5), min_size=1, max_size=3))
    inputs = [shape]
    for _ in range(draw(st.integers(0, 2))):
        rank = draw(st.integers(1, len(shape)))
        inputs.append([1 if draw(st.booleans()) else s for s in shape[len(shape) - rank :]])
    ops = []
    for step in range(draw(st.integers(1, 6))):
        kind = draw(st.sampled_from(["unary", "binary", "binary", "scalar"]))
        pool = len(inputs) + step
        if kind == "unary":
            ops.append([draw(st.sampled_from(UNARY)), draw(st.integers(0, pool - 1))])
        elif kind == "binary":
            ops.append([draw(st.sampled_from(BINARY)), draw(st.integers(0, pool - 1)), draw(st.integers(0, pool - 1))])
        else:
            ops.append(["scalar_" + draw(st.sampled_from(["add", "mul"])), draw(st.integers(0, pool - 1)), draw(st.sampled_from(SCALARS))])
    return {"family": "elementwise", "inputs": inputs, "ops": ops}


@st.composite
def reduction_recipes(draw) -> dict[str, Any]:
    """sum/max/mean/amax over one axis, keepdim or not, with a neighbour op."""
    shape = draw(st.lists(st.integers(1, 6), min_size=1, max_size=3))
    return {
        "family": "reduction",
        "shape": shape,
        "op": draw(st.sampled_from(["sum", "max", "mean", "amax", "max_values"])),
        "dim": draw(st.integers(-len(shape), len(shape) - 1)),
        "keepdim": draw(st.booleans()),
        "prologue": draw(st.sampled_from([None, "tanh", "square"])),
        "subtract": draw(st.booleans()),
    }


@st.composite
def softmax_recipes(draw) -> dict[str, Any]:
    """torch.softmax, the naive exp/sum form, or the max-subtracted form written by hand."""
    shape = draw(st.lists(st.integers(1, 8), min_size=1, max_size=3))
    return {
        "family": "softmax",
        "shape": shape,
        "form": draw(st.sampled_from(["torch", "naive", "stable"])),
        "dim": draw(st.sampled_from([-1, -1, 0])),
        "scale": draw(st.sampled_from((None, 0.5, 2.0))),
    }


@st.composite
def norm_recipes(draw) -> dict[str, Any]:
    """RMSNorm or LayerNorm over the last axis, by hand or through F.*."""
    return {
        "family": "norm",
        "shape": draw(st.lists(st.integers(1, 8), min_size=2, max_size=3)),
        "kind": draw(st.sampled_from(["rms_hand", "rms_functional", "layer_hand", "layer_functional"])),
        "eps": draw(st.sampled_from([1e-5, 1e-6])),
        "affine": draw(st.booleans()),
    }


@st.composite
def attention_recipes(draw) -> dict[str, Any]:
    """softmax(q @ k^T * s [masked]) @ v with the scale in one of three places."""
    seq = draw(st.integers(1, 8))
    return {
        "family": "attention",
        "batch": draw(st.sampled_from([[], [2], [2, 2]])),
        "seq_q": seq if draw(st.booleans()) else draw(st.integers(1, 8)),
        "seq_k": seq,
        "d": draw(st.integers(1, 8)),
        "dv": draw(st.integers(1, 8)),
        "scale": draw(st.sampled_from([0.125, 0.5, 1.0])),
        "scale_on": draw(st.sampled_from(["scores", "q", "k"])),
        "causal": draw(st.booleans()),
    }


@st.composite
def einsum_recipes(draw) -> dict[str, Any]:
    """An einsum network of 2 to 5 operands."""
    spec, sizes = draw(einsum_specs(max_operands=5))
    return {"family": "einsum", "spec": spec, "sizes": sizes}


ALL_RECIPES = {
    "chain": chain_recipes,
    "elementwise": elementwise_recipes,
    "reduction": reduction_recipes,
    "softmax": softmax_recipes,
    "norm": norm_recipes,
    "attention": attention_recipes,
    "einsum": einsum_recipes,
}


def build(recipe: dict[str, Any]):
    """The module of `recipe`, the shapes of its inputs, and the range of their values."""
    import torch
    import torch.nn.functional as F

    family = recipe["family"]

    class Program(torch.nn.Module):
        """One generated program (the recipe is its whole description)."""

        def forward(self, *args):
            return _forward(recipe, args, torch, F)

    if family == "chain":
        batch, dims = recipe["batch"], recipe["dims"]
        shapes = [
            batch + ([dims[i + 1], dims[i]] if t else [dims[i], dims[i + 1]])
            for i, t in enumerate(recipe["transposed"])
        ]
        # Half-range values keep every partial product small next to float32's epsilon.
        return Program(), shapes, 0.5
    if family == "elementwise":
        return Program(), recipe["inputs"], 1.0
    if family in ("reduction", "softmax"):
        return Program(), [recipe["shape"]], 3.0
    if family == "norm":
        features = recipe["shape"][-1]
        return Program(), [recipe["shape"], [features], [features]], 2.0
    if family == "attention":
        b = recipe["batch"]
        shapes = [b + [recipe["seq_q"], recipe["d"]], b + [recipe["seq_k"], recipe["d"]], b + [recipe["seq_k"], recipe["dv"]]]
        return Program(), shapes, 1.0
    if family == "einsum":
        terms = recipe["spec"].split("->")[0].split(",")
        return Program(), [[recipe["sizes"][c] for c in t] for t in terms], 1.0
    raise ValueError(f"unknown family {family!r}")


def _forward(recipe: dict[str, Any], args, torch, F):
    family = recipe["family"]
    if family == "chain":
        acc = None
        for arg, transposed, scale in zip(args, recipe["transposed"], recipe["scales"]):
            m = arg.transpose(-1, -2) if transposed else arg
            if scale is not None:
                m = m * scale
            acc = m if acc is None else acc @ m
        return acc
    if family == "elementwise":
        pool = list(args)
        for op in recipe["ops"]:
            name, a = op[0], pool[op[1]]
            if name == "exp":
                value = torch.exp(torch.tanh(a))
            elif name in UNARY:
                value = getattr(torch, name)(a)
            elif name in BINARY:
                value = getattr(torch, name)(a, pool[op[2]])
            elif name == "scalar_add":
                value = a + op[2]
            else:
                value = a * op[2]
            pool.append(value)
        return pool[-1]
    if family == "reduction":
        (x,) = args
        if recipe["prologue"] == "tanh":
            x = torch.tanh(x)
        elif recipe["prologue"] == "square":
            x = x * x
        dim, keep, op = recipe["dim"], recipe["keepdim"], recipe["op"]
        if op == "max_values":
            r = x.max(dim=dim, keepdim=keep).values
        elif op == "max":
            r = torch.max(x, dim=dim, keepdim=keep).values  # (values, indices) with a dim
        else:
            r = getattr(torch, op)(x, dim=dim, keepdim=keep)
        return x - r if recipe["subtract"] and keep else r
    if family == "softmax":
        (x,) = args
        if recipe["scale"] is not None:
            x = x * recipe["scale"]
        dim = recipe["dim"]
        if recipe["form"] == "torch":
            return torch.softmax(x, dim=dim)
        if recipe["form"] == "stable":
            x = x - x.amax(dim=dim, keepdim=True)
        e = torch.exp(x)
        return e / e.sum(dim=dim, keepdim=True)
    if family == "norm":
        x, w, b = args
        eps, kind = recipe["eps"], recipe["kind"]
        features = x.shape[-1]
        if kind == "rms_hand":
            y = x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps)
            return y * w if recipe["affine"] else y
        if kind == "rms_functional":
            return F.rms_norm(x, (features,), w if recipe["affine"] else None, eps)
        if kind == "layer_hand":
            mean = x.mean(-1, keepdim=True)
            var = ((x - mean) ** 2).mean(-1, keepdim=True)
            y = (x - mean) / torch.sqrt(var + eps)
            return y * w + b if recipe["affine"] else y
        return F.layer_norm(x, (features,), w if recipe["affine"] else None, b if recipe["affine"] else None, eps)
    if family == "attention":
        q, k, v = args
        s, on = recipe["scale"], recipe["scale_on"]
        kt = k.transpose(-1, -2)
        if on == "q":
            scores = (q * s) @ kt
        elif on == "k":
            scores = q @ (kt * s)
        else:
            scores = (q @ kt) * s
        if recipe["causal"]:
            mask = torch.ones(recipe["seq_q"], recipe["seq_k"], dtype=torch.bool).triu(1)
            scores = scores.masked_fill(mask, float("-inf"))
        return torch.softmax(scores, dim=-1) @ v
    if family == "einsum":
        return torch.einsum(recipe["spec"], *args)
    raise ValueError(f"unknown family {family!r}")
