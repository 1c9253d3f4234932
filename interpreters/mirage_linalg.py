"""Vectorised NumPy semantics of linalg structured ops on tensors.

xDSL's linalg interpreter runs the body once per point of the iteration space
on `ShapedArray`s.  Here the body runs once per point of the *reduction*
space only, on NumPy arrays that cover all parallel dimensions at once (the
arith and math ops of `mirage_elementwise` accept arrays), so a 1024x1024
elementwise generic is one body run and a row sum over 1024 columns is 1024.

Supported: every structured op whose indexing maps are projected
permutations, optionally with constant-0 results (the broadcast of a size-1
dimension torch-mlir writes): `linalg.generic` with `linalg.index` in its
body, the elementwise named ops, fill, copy, transpose and matmul; also
`linalg.broadcast`.  Results are tensors (destination-passing style on
buffers is not modelled).
"""

from __future__ import annotations

from itertools import product
from typing import Any

import numpy as np
from xdsl.dialects.linalg import ops as linalg
from xdsl.dialects.linalg.abstract_ops import LinalgStructuredOperation
from xdsl.dialects.linalg.attrs import IteratorType
from xdsl.interpreter import (
    Interpreter,
    InterpreterFunctions,
    PythonValues,
    ReturnedValues,
    TerminatorValue,
    impl,
    impl_terminator,
    register_impls,
)
from xdsl.ir import Operation
from xdsl.ir.affine import AffineConstantExpr, AffineDimExpr, AffineMap

from mirage_mlir.interpreters.mirage_elementwise import cast_to


def _check_map(interpreter: Interpreter, op: Any, m: AffineMap) -> None:
    """Only projected permutations (plus constant results) are vectorised."""
    dims = [e.position for e in m.results if isinstance(e, AffineDimExpr)]
    interpreter.interpreter_assert(
        all(isinstance(e, AffineDimExpr | AffineConstantExpr) for e in m.results)
        and len(set(dims)) == len(dims),
        f"{op.name}: indexing map {m} is not a projected permutation",
    )


def _lift(array: np.ndarray, m: AffineMap, ranges: list[int]) -> np.ndarray:
    """View an operand in the loop space: one axis per loop, size 1 where unindexed."""
    index = tuple(
        e.value if isinstance(e, AffineConstantExpr) else slice(None)
        for e in m.results
    )
    sub = array[index]
    dims = [e.position for e in m.results if isinstance(e, AffineDimExpr)]
    order = sorted(range(len(dims)), key=lambda k: dims[k])
    sub = sub.transpose(order)
    shape = [1] * len(ranges)
    for axis, k in enumerate(order):
        shape[dims[k]] = sub.shape[axis]
    return sub.reshape(shape)


def _unlift(
    interpreter: Interpreter,
    value: Any,
    m: AffineMap,
    parallel: list[int],
    ranges: list[int],
) -> np.ndarray:
    """Lay a value over the parallel loops out as an operand with map `m`."""
    full = np.broadcast_to(value, [ranges[d] for d in parallel])
    out_dims = [e.position for e in m.results if isinstance(e, AffineDimExpr)]
    missing = [k for k, d in enumerate(parallel) if d not in out_dims]
    interpreter.interpreter_assert(
        all(ranges[parallel[k]] == 1 for k in missing),
        "an output map omits a parallel loop of extent > 1",
    )
    full = full[tuple(0 if k in missing else slice(None) for k in range(len(parallel)))]
    kept = [d for d in parallel if d in out_dims]
    full = full.transpose([kept.index(d) for d in out_dims])
    for axis, e in enumerate(m.results):
        if isinstance(e, AffineConstantExpr):
            full = np.expand_dims(full, axis)
    return full


@register_impls
class TensorLinalgFunctions(InterpreterFunctions):
    """linalg structured ops on NumPy arrays, vectorised over parallel loops."""

    def __init__(self) -> None:
        # One entry per structured op being run: loop dim -> its index value(s),
        # read by linalg.index in the body.
        self._loop_indices: list[dict[int, Any]] = []

    def run_structured_op(
        self,
        interpreter: Interpreter,
        op: LinalgStructuredOperation,
        args: PythonValues,
    ) -> PythonValues:
        """Run any structured op with projected-permutation maps on arrays."""
        interpreter.interpreter_assert(
            len(op.results) == len(op.outputs),
            f"{op.name}: only the tensor form (with results) is supported",
        )
        maps = [attr.data for attr in op.get_indexing_maps()]
        kinds = [it.data for it in op.get_iterator_types()]
        for m in maps:
            _check_map(interpreter, op, m)
        interpreter.interpreter_assert(
            IteratorType.WINDOW not in kinds, f"{op.name}: window loops unsupported"
        )
        n_loops = len(kinds)
        ranges: list[int | None] = [None] * n_loops
        for value, m in zip(args, maps):
            if np.ndim(value) > 0:
                for axis, e in enumerate(m.results):
                    if isinstance(e, AffineDimExpr):
                        ranges[e.position] = np.shape(value)[axis]
        interpreter.interpreter_assert(
            None not in ranges, f"{op.name}: a loop has no extent"
        )
        loop_ranges = [int(r) for r in ranges if r is not None]
        parallel = [d for d, k in enumerate(kinds) if k == IteratorType.PARALLEL]
        reduction = [d for d, k in enumerate(kinds) if k == IteratorType.REDUCTION]
        lifted = [
            _lift(np.asarray(v), m, loop_ranges) if np.ndim(v) > 0 else v
            for v, m in zip(args, maps)
        ]
        n_in = len(op.inputs)
        for m in maps[n_in:]:
            interpreter.interpreter_assert(
                not any(
                    isinstance(e, AffineDimExpr) and e.position in reduction
                    for e in m.results
                ),
                f"{op.name}: an output is indexed by a reduction loop",
            )
        # A 0-d output (a full reduction) is not lifted: it is the accumulator itself.
        accumulators = [
            np.squeeze(v, axis=tuple(reduction)) if np.ndim(v) > 0 else v
            for v in lifted[n_in:]
        ]
        indices: dict[int, Any] = {
            d: np.arange(loop_ranges[d]).reshape(
                [loop_ranges[d] if q == d else 1 for q in parallel]
            )
            for d in parallel
        }
        for point in product(*(range(loop_ranges[d]) for d in reduction)):
            at = dict(zip(reduction, point))
            inputs = [
                v[
                    tuple(
                        (at[d] if v.shape[d] != 1 else 0) if d in at else slice(None)
                        for d in range(n_loops)
                    )
                ]
                if np.ndim(v) > 0
                else v
                for v in lifted[:n_in]
            ]
            self._loop_indices.append({**indices, **at})
            try:
                accumulators = list(
                    interpreter.run_ssacfg_region(
                        op.body, (*inputs, *accumulators), op.name
                    )
                )
            finally:
                self._loop_indices.pop()
        return tuple(
            cast_to(_unlift(interpreter, acc, m, parallel, loop_ranges), r.type)
            for acc, m, r in zip(accumulators, maps[n_in:], op.results)
        )

    @impl(linalg.GenericOp)
    def run_generic(self, interpreter: Interpreter, op: Any, args: PythonValues):
        return self.run_structured_op(interpreter, op, args)

    @impl(linalg.AddOp)
    def run_add(self, interpreter: Interpreter, op: Any, args: PythonValues):
        return self.run_structured_op(interpreter, op, args)

    @impl(linalg.SubOp)
    def run_sub(self, interpreter: Interpreter, op: Any, args: PythonValues):
        return self.run_structured_op(interpreter, op, args)

    @impl(linalg.MulOp)
    def run_mul(self, interpreter: Interpreter, op: Any, args: PythonValues):
        return self.run_structured_op(interpreter, op, args)

    @impl(linalg.MaxOp)
    def run_max(self, interpreter: Interpreter, op: Any, args: PythonValues):
        return self.run_structured_op(interpreter, op, args)

    @impl(linalg.MinOp)
    def run_min(self, interpreter: Interpreter, op: Any, args: PythonValues):
        return self.run_structured_op(interpreter, op, args)

    @impl(linalg.ExpOp)
    def run_exp(self, interpreter: Interpreter, op: Any, args: PythonValues):
        return self.run_structured_op(interpreter, op, args)

    @impl(linalg.LogOp)
    def run_log(self, interpreter: Interpreter, op: Any, args: PythonValues):
        return self.run_structured_op(interpreter, op, args)

    @impl(linalg.SqrtOp)
    def run_sqrt(self, interpreter: Interpreter, op: Any, args: PythonValues):
        return self.run_structured_op(interpreter, op, args)

    @impl(linalg.SelectOp)
    def run_select(self, interpreter: Interpreter, op: Any, args: PythonValues):
        return self.run_structured_op(interpreter, op, args)

    @impl(linalg.CopyOp)
    def run_copy(self, interpreter: Interpreter, op: Any, args: PythonValues):
        return self.run_structured_op(interpreter, op, args)

    @impl(linalg.FillOp)
    def run_fill(self, interpreter: Interpreter, op: Any, args: PythonValues):
        return self.run_structured_op(interpreter, op, args)

    @impl(linalg.TransposeOp)
    def run_transpose(self, interpreter: Interpreter, op: Any, args: PythonValues):
        return self.run_structured_op(interpreter, op, args)

    @impl(linalg.MatmulOp)
    def run_matmul(self, interpreter: Interpreter, op: Any, args: PythonValues):
        return self.run_structured_op(interpreter, op, args)

    @impl(linalg.IndexOp)
    def run_index(
        self, interpreter: Interpreter, op: linalg.IndexOp, args: PythonValues
    ) -> PythonValues:
        interpreter.interpreter_assert(
            bool(self._loop_indices), "linalg.index outside a structured op"
        )
        return (self._loop_indices[-1][op.dim.value.data],)

    @impl_terminator(linalg.YieldOp)
    def run_yield(
        self, interpreter: Interpreter, op: linalg.YieldOp, args: PythonValues
    ) -> tuple[TerminatorValue, PythonValues]:
        return ReturnedValues(args), ()

    @impl(linalg.BroadcastOp)
    def run_broadcast(
        self, interpreter: Interpreter, op: linalg.BroadcastOp, args: PythonValues
    ) -> PythonValues:
        source, init = np.asarray(args[0]), np.asarray(args[1])
        expanded = np.expand_dims(source, tuple(op.dimensions.get_values()))
        return (cast_to(np.broadcast_to(expanded, init.shape), op.result[0].type),)


def _run_structured(
    self: TensorLinalgFunctions, interpreter: Interpreter, op: Any, args: PythonValues
) -> PythonValues:
    return self.run_structured_op(interpreter, op, args)


def linalg_functions_for(module: Operation) -> TensorLinalgFunctions:
    """The linalg implementations, extended to every structured op class in `module`.

    The interpreter dispatches on the exact op class, so structured ops that
    other dialect definitions subclass or add (a fixed `linalg.generic`,
    `linalg.batch_matmul`) get the same vectorised runner here.
    """
    known = {op_type for op_type, _ in TensorLinalgFunctions._impls()}
    extra = sorted(
        {
            type(op)
            for op in module.walk()
            if isinstance(op, LinalgStructuredOperation) and type(op) not in known
        },
        key=lambda t: (t.__module__, t.__qualname__),
    )
    if not extra:
        return TensorLinalgFunctions()
    namespace = {f"run_{i}": impl(t)(_run_structured) for i, t in enumerate(extra)}
    subclass = register_impls(
        type("ModuleLinalgFunctions", (TensorLinalgFunctions,), namespace)
    )
    return subclass()
