"""NumPy reference semantics of the term graph.

`evaluate(graph, values)` runs a graph on NumPy arrays. It is the oracle for every rewrite rule
(both sides of a rule's example must agree) and for every extraction (the optimised graph must
compute what the input graph computed). bf16 has no NumPy type and is evaluated in float32.
"""

from __future__ import annotations

from typing import Callable, Mapping

import numpy as np

from mirage_mlir.passes.eqsat.graph import Graph, GraphError, Node
from mirage_mlir.passes.eqsat.graph_nn import STRUCTURED_KINDS, evaluate_structured

NUMPY_DTYPES: dict[str, type] = {
    "f64": np.float64,
    "f32": np.float32,
    "f16": np.float16,
    "bf16": np.float32,
    "i64": np.int64,
    "i32": np.int32,
    "i1": np.bool_,
}


def _erf(x: np.ndarray) -> np.ndarray:
    from scipy.special import erf

    return erf(x).astype(x.dtype)


ELEMENTWISE_NUMPY: dict[str, Callable[..., np.ndarray]] = {
    "neg": np.negative,
    "abs": np.abs,
    "exp": np.exp,
    "log": np.log,
    "tanh": np.tanh,
    "sqrt": np.sqrt,
    "rsqrt": lambda x: np.reciprocal(np.sqrt(x)),
    "reciprocal": np.reciprocal,
    "sigmoid": lambda x: np.reciprocal(1 + np.exp(-x)),
    "erf": _erf,
    "sin": np.sin,
    "cos": np.cos,
    "relu": lambda x: np.maximum(x, np.zeros((), x.dtype)),
    "add": np.add,
    "sub": np.subtract,
    "mul": np.multiply,
    "div": np.divide,
    "max": np.maximum,
    "min": np.minimum,
    "pow": np.power,
    "gt": np.greater,
    "ge": np.greater_equal,
    "lt": np.less,
    "le": np.less_equal,
    "eq": np.equal,
    "ne": np.not_equal,
    "where": np.where,
}


def evaluate(
    graph: Graph,
    values: Mapping[str, np.ndarray],
    opaque: Mapping[str, Callable[..., np.ndarray]] | None = None,
    precision: str | None = None,
) -> list[np.ndarray]:
    """Evaluate `graph`; `values` maps Input and Constant names to arrays.

    `opaque` maps the name of each Opaque op to a NumPy implementation; an Opaque op without
    one raises GraphError. Results are cast to the graph's element types, or, with
    precision="f64", every floating-point value is computed in float64 (to compare two
    programs up to rounding alone).
    """
    results: dict[int, np.ndarray] = {}
    for node in graph.nodes():
        args = [results[id(o)] for o in node.operands]
        if precision is not None and node.kind == "cast" and _float_cast(node):
            # A cast between float types only rounds: at a fixed precision it is the identity.
            value = args[0]
        else:
            value = _evaluate_node(node, args, values, opaque or {})
        dtype = NUMPY_DTYPES[node.dtype]
        if precision is not None and node.dtype.startswith(("f", "bf")):
            dtype = NUMPY_DTYPES[precision]
        value = np.asarray(value).astype(dtype, copy=False)
        if value.shape != node.shape:
            raise GraphError(
                f"{node.kind} produced shape {value.shape}, its type says {node.shape}"
            )
        results[id(node)] = value
    return [results[id(o)] for o in graph.outputs]


def _float_cast(node: Node) -> bool:
    """Whether `node` (a cast) converts one floating-point type to another."""
    float_types = ("f", "bf")
    return node.dtype.startswith(float_types) and node.operands[0].dtype.startswith(float_types)


def _evaluate_node(
    node: Node,
    args: list[np.ndarray],
    values: Mapping[str, np.ndarray],
    opaque: Mapping[str, Callable[..., np.ndarray]],
) -> np.ndarray:
    kind, attrs = node.kind, node.attrs
    if kind in ("input", "constant"):
        name = attrs[0]
        if name not in values:
            raise GraphError(f"no value given for {kind} {name!r}")
        array = np.asarray(values[name])
        if array.shape != node.shape:
            raise GraphError(
                f"{kind} {name!r} expects shape {node.shape}, got {array.shape}"
            )
        return array
    if kind == "full":
        return np.full(node.shape, attrs[0])
    if kind == "matmul":
        return np.matmul(*args)
    if kind == "transpose":
        return np.transpose(args[0], attrs[0])
    if kind == "reshape":
        return np.reshape(args[0], attrs[0])
    if kind == "scale":
        return args[0] * args[0].dtype.type(attrs[0])
    if kind == "contract":
        # optimize=True only chooses the evaluation order; the value is the same einsum.
        return np.einsum(attrs[0], *args, optimize=len(args) > 2)
    if kind == "elementwise":
        return ELEMENTWISE_NUMPY[attrs[0]](*args)
    if kind == "opaque":
        if attrs[0] not in opaque:
            raise GraphError(
                f"no NumPy implementation given for opaque op {attrs[0]!r}"
            )
        return opaque[attrs[0]](*args)
    if kind in STRUCTURED_KINDS:
        return evaluate_structured(kind, attrs, args)
    raise GraphError(f"unknown node kind {kind!r}")


def random_values(
    graph: Graph, seed: int = 0, low: float = -1.0, high: float = 1.0
) -> dict[str, np.ndarray]:
    """Random arrays for every Input and Constant of `graph` (for numeric checks)."""
    rng = np.random.default_rng(seed)
    values: dict[str, np.ndarray] = {}
    for node in graph.nodes():
        if node.kind in ("input", "constant") and node.attrs[0] not in values:
            dtype = NUMPY_DTYPES[node.dtype]
            if node.dtype == "i1":
                values[node.attrs[0]] = rng.random(node.shape) < 0.5
            else:
                values[node.attrs[0]] = rng.uniform(low, high, node.shape).astype(dtype)
    return values
