"""The equality-saturation core of `eqsat-optimize`: algebra, rules, cost model, extraction.

    from mirage_mlir.passes.eqsat import Input, Graph, optimize_graph, Limits
    a, b, c = Input("A", (100, 2)), Input("B", (2, 100)), Input("C", (100, 2))
    result = optimize_graph(Graph.of((a @ b) @ c), target="flops")
    result.graph, result.flops_before, result.flops_after

Modules, one theme each: `graph` (the term graph, the interface with recognition and
re-emission), `evaluate` (its NumPy semantics), `language` (the egglog sorts and the graph ->
e-graph encoding), `rules_linalg` and `rules_contraction` (the rulesets, declared through
`rulesets`), `saturate` (running them under limits), `budget` (one time budget for every
stage, resident memory), `serialized` (reading the e-graph back), `cost` (the roofline model
and the target table), `extract` (DAG-aware greedy and ILP extraction), `unit_axes` (wide
transposes brought within the encoding's reach), `optimize` (the whole pipeline).

egglog is imported only by the modules that need it, so importing this package is cheap.
"""

from __future__ import annotations

from typing import Any

from mirage_mlir.passes.eqsat.graph import (
    Constant,
    Contract,
    Elementwise,
    Full,
    Graph,
    GraphError,
    Input,
    MatMul,
    Node,
    Opaque,
    Reshape,
    Scale,
    Transpose,
    TensorType,
    Weight,
)

__all__ = [
    "Constant",
    "Contract",
    "Elementwise",
    "Full",
    "Graph",
    "GraphError",
    "Input",
    "Limits",
    "MatMul",
    "Node",
    "Opaque",
    "OptimizationResult",
    "Reshape",
    "Scale",
    "TensorType",
    "Transpose",
    "Weight",
    "evaluate",
    "graph_cost",
    "optimize_graph",
]

_LAZY = {
    "Limits": "mirage_mlir.passes.eqsat.saturate",
    "OptimizationResult": "mirage_mlir.passes.eqsat.optimize",
    "optimize_graph": "mirage_mlir.passes.eqsat.optimize",
    "evaluate": "mirage_mlir.passes.eqsat.evaluate",
    "graph_cost": "mirage_mlir.passes.eqsat.cost",
}


def __getattr__(name: str) -> Any:
    """Import egglog- and NumPy-backed names on first use."""
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
