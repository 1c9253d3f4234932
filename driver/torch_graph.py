"""The CPU runtime's steps traced into one aten graph, so a call costs what eager's own
dispatch costs.

`TorchProgram` runs an optimised function as a list of torch closures (torch_executor.py); each
closure also does Python work of its own (lifting a generic's operands to its loop space,
reading maps, looking values up), which costs far more than the torch ops on a small model.
`trace_steps` (on the program's second call) runs the closures once under `make_fx` with
real tensors: what is recorded is only the aten ops, with every shape and index computation
of the closures folded away, as a `torch.fx.GraphModule` whose generated code calls them
directly.

The graph is kept only when it reproduces the steps exactly on the call that traced it (the
same dtypes, shapes and values, NaN where NaN). `cf.assert` checks are recorded as
`aten._assert_async` while tracing (`tracing()`), so a failing bounds check still fails the
graph; the caller then runs the steps, which raise the precise `RuntimeAssertionError`.
Ops of the graph that read only constants (a scalar taken out of a weight, an arange) run
once when it is traced and become constants of the graph.
"""

from __future__ import annotations

import contextlib
import threading
from typing import Any, Callable

__all__ = ["trace_steps", "tracing"]

_STATE = threading.local()


def tracing() -> bool:
    """Whether the steps are being traced now (checks become graph ops, not Python raises)."""
    return getattr(_STATE, "tracing", False)


@contextlib.contextmanager
def _tracing():
    _STATE.tracing = True
    try:
        yield
    finally:
        _STATE.tracing = False


#: What the traced graph is run by: "aten" (the graph's own generated code) or "inductor"
#: (torch.compile's CPU code generation for the graph: fused C++ loops, at a compile cost of
#: seconds to tens of seconds per model, cached on disk by torch).
CODEGENS = ("aten", "inductor")


def trace_steps(
    run: Callable[[list[Any]], list[Any]], arguments: list[Any], codegen: str = "aten"
) -> tuple[Any, list[Any]]:
    """(the traced graph or None, the steps' results on `arguments`).

    The steps run as they are first, so the results returned are theirs whatever happens to
    the trace; None means they could not be traced, or the graph computed something else.
    With codegen "inductor" the graph is handed to Inductor and kept compiled when it matches
    the steps within float rounding (fused loops reassociate); else the aten graph is kept.
    """
    import torch
    from torch.fx.experimental.proxy_tensor import make_fx

    outs = run(arguments)
    try:
        with _tracing():
            graph = make_fx(lambda *xs: tuple(run(list(xs))), tracing_mode="real")(
                *arguments
            )
        # Values the closures made and nothing read (a generic's unused init, a shape's
        # view) are not part of the graph.
        graph.graph.eliminate_dead_code()
        _fold_views(graph.graph, torch)
        _fold_constants(graph, torch)
        graph.graph.eliminate_dead_code()
        graph.recompile()
        again = graph(*arguments)
    except Exception:  # anything the tracer cannot follow: run step by step
        return None, outs
    if len(again) != len(outs) or not all(
        _identical(a, b, torch) for a, b in zip(again, outs)
    ):
        return None, outs
    if codegen == "inductor":
        return _inductor(graph, arguments, outs), outs
    return graph, outs


def _fold_views(graph: Any, torch: Any) -> None:
    """Fewer ops for the same values: a view of a view is one view of the first's operand,
    and a view or expand to the operand's own shape is the operand. (The closures reshape
    every value they lift to a generic's loop space and back; a wrong fold cannot pass the
    exact comparison that follows.)"""
    aten = torch.ops.aten
    views = {aten.view.default, aten._unsafe_view.default}
    for node in list(graph.nodes):
        if node.op != "call_function" or node.target not in views | {
            aten.expand.default
        }:
            continue
        source = node.args[0]
        shape = node.meta.get("val").shape if "val" in node.meta else None
        source_shape = (
            source.meta.get("val").shape
            if hasattr(source, "meta") and "val" in source.meta
            else None
        )
        if shape is not None and shape == source_shape:
            node.replace_all_uses_with(source)
            continue
        if (
            node.target in views
            and getattr(source, "op", None) == "call_function"
            and source.target in views
        ):
            node.args = (source.args[0], *node.args[1:])


#: Ops whose value is not a function of their operands alone.
_UNFOLDABLE_NAMES = ("rand", "empty", "bernoulli", "normal", "uniform", "assert")


def _fold_constants(module: Any, torch: Any) -> None:
    """Ops of the graph that read only its constants (a scalar taken out of a weight, an
    arange, a mask built from both) run once here; the graph reads their results as new
    constants. Results much larger than what they read stay ops (a broadcast weight)."""
    from mirage_mlir.passes.eqsat.folding import worth_folding

    graph = module.graph
    known: dict[Any, Any] = {}
    for node in list(graph.nodes):
        if node.op == "get_attr":
            known[node] = getattr(module, node.target)
            continue
        if node.op != "call_function" or not isinstance(
            node.target, torch._ops.OpOverload
        ):
            continue
        schema = node.target._schema
        if schema.is_mutable or any(w in schema.name for w in _UNFOLDABLE_NAMES):
            continue
        inputs = node.all_input_nodes
        if not all(n in known for n in inputs):
            continue
        args, kwargs = torch.fx.node.map_arg((node.args, node.kwargs), known.get)
        try:
            value = node.target(*args, **kwargs)
        except Exception:  # leave it to run (and fail, if it does) as it would have
            continue
        if not isinstance(value, torch.Tensor):
            continue
        read = sum(
            known[n].numel() * known[n].element_size()
            for n in inputs
            if isinstance(known[n], torch.Tensor)
        )
        if not worth_folding(value.numel() * value.element_size(), read):
            continue
        name = f"_folded_constant_{len(known)}"
        module.register_buffer(name, value.clone(), persistent=False)
        with graph.inserting_before(node):
            constant = graph.get_attr(name)
        constant.meta = dict(node.meta)
        node.replace_all_uses_with(constant)
        known[constant] = getattr(module, name)
        known[node] = known[constant]


def _inductor(graph: Any, arguments: list[Any], outs: list[Any]) -> Any:
    """`graph` compiled by Inductor when that compiles and matches `outs`, else `graph`."""
    import torch

    try:
        compiled = torch.compile(graph, backend="inductor", dynamic=False)
        again = compiled(*arguments)
    except Exception:  # no C++ compiler, an op Inductor refuses: the aten graph runs
        return graph
    for a, b in zip(again, outs):
        if a.dtype != b.dtype or a.shape != b.shape:
            return graph
        if a.is_floating_point():
            if not torch.allclose(a, b, rtol=1e-5, atol=1e-6, equal_nan=True):
                return graph
        elif not torch.equal(a, b):
            return graph
    return compiled


def _identical(a: Any, b: Any, torch: Any) -> bool:
    if not isinstance(a, torch.Tensor) or not isinstance(b, torch.Tensor):
        return False
    if a.dtype != b.dtype or a.shape != b.shape:
        return False
    return bool(torch.equal(a, b)) or bool(
        torch.allclose(a, b, rtol=0.0, atol=0.0, equal_nan=True)
    )
