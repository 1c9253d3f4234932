"""NumPy reference semantics of the term graph.

`evaluate(graph, values)` runs a graph on NumPy arrays. It is the oracle for every rewrite rule
(both sides of a rule's example must agree) and for every extraction (the optimised graph must
compute what the input graph computed). bf16 has no NumPy type: its values are float32
arrays rounded to bf16 after every node, as torch rounds after every op.
"""

from __future__ import annotations

from typing import Callable, Mapping

import numpy as np

from mirage_mlir.interpreters.mirage_numpy import round_to_bfloat16
from mirage_mlir.passes.eqsat.graph import Graph, GraphError, Node
from mirage_mlir.passes.eqsat.kinds import Origin, kind_named
from mirage_mlir.passes.eqsat.patterns import is_float_cast

NUMPY_DTYPES: dict[str, type] = {
    "f64": np.float64,
    "f32": np.float32,
    "f16": np.float16,
    "bf16": np.float32,
    "i64": np.int64,
    "i32": np.int32,
    "i1": np.bool_,
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
        if precision is not None and is_float_cast(node):
            # A cast between float types only rounds: at a fixed precision it is the identity.
            value = args[0]
        else:
            value = _evaluate_node(node, args, values, opaque or {})
        dtype = NUMPY_DTYPES[node.dtype]
        if precision is not None and node.dtype.startswith(("f", "bf")):
            dtype = NUMPY_DTYPES[precision]
        value = np.asarray(value).astype(dtype, copy=False)
        if node.dtype == "bf16" and precision is None:
            # Held in float32, rounded as every bf16 value is rounded.
            value = round_to_bfloat16(value)
        if value.shape != node.shape:
            raise GraphError(
                f"{node.kind} produced shape {value.shape}, its type says {node.shape}"
            )
        results[id(node)] = value
    return [results[id(o)] for o in graph.outputs]


def _evaluate_node(
    node: Node,
    args: list[np.ndarray],
    values: Mapping[str, np.ndarray],
    opaque: Mapping[str, Callable[..., np.ndarray]],
) -> np.ndarray:
    kind, attrs = node.kind, node.attrs
    origin = kind_named(kind).origin
    if origin in (Origin.ARGUMENT, Origin.CONSTANT):
        name = attrs[0]
        if name not in values:
            raise GraphError(f"no value given for {kind} {name!r}")
        array = np.asarray(values[name])
        if array.shape != node.shape:
            raise GraphError(
                f"{kind} {name!r} expects shape {node.shape}, got {array.shape}"
            )
        return array
    if origin is Origin.OPAQUE:
        if attrs[0] not in opaque:
            raise GraphError(
                f"no NumPy implementation given for opaque op {attrs[0]!r}"
            )
        return opaque[attrs[0]](*args)
    semantics = kind_named(kind).semantics
    if semantics is None:
        raise GraphError(f"node kind {kind!r} has no reference semantics")
    return semantics(attrs, args)


def random_values(
    graph: Graph, seed: int = 0, low: float = -1.0, high: float = 1.0
) -> dict[str, np.ndarray]:
    """Random arrays for every Input and Constant of `graph` (for numeric checks)."""
    rng = np.random.default_rng(seed)
    values: dict[str, np.ndarray] = {}
    for node in graph.nodes():
        named = kind_named(node.kind).origin in (Origin.ARGUMENT, Origin.CONSTANT)
        if named and node.attrs[0] not in values:
            dtype = NUMPY_DTYPES[node.dtype]
            if node.dtype == "i1":
                values[node.attrs[0]] = rng.random(node.shape) < 0.5
            else:
                values[node.attrs[0]] = rng.uniform(low, high, node.shape).astype(dtype)
    return values
