"""`linalg` structured ops as whole-tensor torch expressions, for the CPU runtime.

A `linalg.generic` is run without a loop nest.  Every operand is viewed in the
op's loop space (one axis per loop, size 1 where its indexing map does not use
the loop), the body's scalar ops run once on those views with torch's
broadcasting, and the result is laid back out through the output's map:

    affine_map<(d0, d1) -> (d1)>   on tensor<512xf32>   ->  view of shape [1, 512]

Reductions take one of three routes, fastest first:

* a contraction (`yield addf(acc, mulf(a, b))`) is one `torch.einsum`, so BLAS
  does the work (E8's tensor network);
* a body that folds one value into its accumulator (`yield combine(acc, f(x))`
  with combine in add, mul, max, min) evaluates `f` over the whole loop space
  and reduces with `sum` / `prod` / `amax` / `amin`;
* anything else (torch-mlir's max/argmax pair, for example) steps through the
  reduction loops, running the body on each slice.

A `tensor.extract` in a body (an embedding lookup) is one advanced-indexing
gather over the loop space; a `cf.assert` in a body checks every point at
once and raises `RuntimeAssertionError` naming the assert where one fails.

Only projected permutations (plus constant-0 results on size-1 dims) are
accepted as indexing maps; others raise `TorchExecutorError` at load time.
"""

from __future__ import annotations

import itertools
from typing import Any, Callable

from xdsl.dialects.builtin import (
    AffineMapAttr,
    BFloat16Type,
    Float16Type,
    Float32Type,
    Float64Type,
    FloatAttr,
    IndexType,
    IntegerAttr,
    IntegerType,
    TensorType,
)
from xdsl.ir import Attribute, Block, Operation, SSAValue
from xdsl.ir.affine import AffineConstantExpr, AffineDimExpr, AffineMap

from mirage_mlir.driver.errors import MirageError


class TorchExecutorError(MirageError):
    """The CPU runtime cannot run an op of the module (the message names the op)."""


def torch_dtype(element_type: Attribute) -> Any:
    """The torch dtype holding values of an MLIR element type."""
    import torch

    if isinstance(element_type, TensorType):
        element_type = element_type.get_element_type()
    table = {
        Float32Type: torch.float32,
        Float64Type: torch.float64,
        Float16Type: torch.float16,
        BFloat16Type: torch.bfloat16,
        IndexType: torch.int64,
    }
    for kind, dtype in table.items():
        if isinstance(element_type, kind):
            return dtype
    if isinstance(element_type, IntegerType):
        width = element_type.width.data
        widths = {
            1: torch.bool,
            8: torch.int8,
            16: torch.int16,
            32: torch.int32,
            64: torch.int64,
        }
        if width in widths:
            return widths[width]
    raise TorchExecutorError(f"no torch dtype for element type {element_type}")


# ---------------------------------------------------------------------------------------------
# Scalar ops of a body, as functions on (broadcast) torch tensors.


def _cmpf(predicate: int) -> Callable[[Any, Any], Any]:
    import torch

    ordered = {
        1: torch.eq,
        2: torch.gt,
        3: torch.ge,
        4: torch.lt,
        5: torch.le,
        6: lambda a, b: torch.lt(a, b) | torch.gt(a, b),
        7: lambda a, b: ~(torch.isnan(a) | torch.isnan(b)),
    }
    if predicate == 0:
        return lambda a, b: torch.zeros_like(torch.eq(a, b))
    if predicate == 15:
        return lambda a, b: torch.ones_like(torch.eq(a, b))
    if predicate in ordered:
        return ordered[predicate]
    # Unordered predicates are the negations of the complementary ordered ones
    # (ugt = not ole, une = not oeq, uno = not ord, ...).
    complement = {8: 6, 9: 5, 10: 4, 11: 3, 12: 2, 13: 1, 14: 7}
    base = ordered[complement[predicate]]
    return lambda a, b: ~base(a, b)


def _cmpi(predicate: int) -> Callable[[Any, Any], Any]:
    import torch

    # Signed and unsigned compare alike: index and loop values are never negative.
    table = [
        torch.eq,
        torch.ne,
        torch.lt,
        torch.le,
        torch.gt,
        torch.ge,
        torch.lt,
        torch.le,
        torch.gt,
        torch.ge,
    ]
    return table[predicate]


def _binary_table() -> dict[str, Callable[[Any, Any], Any]]:
    import torch

    return {
        "arith.addf": torch.add,
        "arith.subf": torch.sub,
        "arith.mulf": torch.mul,
        "arith.divf": torch.div,
        "arith.maximumf": torch.maximum,
        "arith.minimumf": torch.minimum,
        "arith.maxnumf": torch.fmax,
        "arith.minnumf": torch.fmin,
        "arith.addi": torch.add,
        "arith.subi": torch.sub,
        "arith.muli": torch.mul,
        "arith.divsi": lambda a, b: torch.div(a, b, rounding_mode="trunc"),
        "arith.divui": lambda a, b: torch.div(a, b, rounding_mode="trunc"),
        "arith.remsi": torch.fmod,
        "arith.remf": torch.fmod,
        "arith.maxsi": torch.maximum,
        "arith.minsi": torch.minimum,
        "arith.andi": torch.bitwise_and,
        "arith.ori": torch.bitwise_or,
        "arith.xori": torch.bitwise_xor,
        "math.powf": torch.pow,
        "math.atan2": torch.atan2,
        "math.copysign": torch.copysign,
    }


def _unary_table() -> dict[str, Callable[[Any], Any]]:
    import torch

    return {
        "arith.negf": torch.neg,
        "math.exp": torch.exp,
        "math.exp2": torch.exp2,
        "math.expm1": torch.expm1,
        "math.log": torch.log,
        "math.log2": torch.log2,
        "math.log1p": torch.log1p,
        "math.sqrt": torch.sqrt,
        "math.rsqrt": torch.rsqrt,
        "math.tanh": torch.tanh,
        "math.erf": torch.erf,
        "math.absf": torch.abs,
        "math.absi": torch.abs,
        "math.sin": torch.sin,
        "math.cos": torch.cos,
        "math.floor": torch.floor,
        "math.ceil": torch.ceil,
        "math.round": torch.round,
        "math.roundeven": torch.round,
        "math.trunc": torch.trunc,
    }


_CASTS = frozenset(
    {
        "arith.extf",
        "arith.truncf",
        "arith.sitofp",
        "arith.uitofp",
        "arith.fptosi",
        "arith.fptoui",
        "arith.extsi",
        "arith.extui",
        "arith.trunci",
        "arith.index_cast",
        "arith.bitcast",
    }
)


def scalar_op_function(op: Operation) -> Callable[..., Any]:
    """A torch function computing `op` (an arith/math op) elementwise on its operands."""
    import torch

    name = op.name
    if name == "arith.constant":
        value = op.properties.get("value", op.attributes.get("value"))
        if not isinstance(value, FloatAttr | IntegerAttr):
            raise TorchExecutorError(
                f"{name}: only scalar constants may appear in a body"
            )
        number = value.value.data
        tensor = torch.tensor(number, dtype=torch_dtype(op.results[0].type))
        return lambda: tensor
    binary = _binary_table()
    if name in binary:
        return binary[name]
    unary = _unary_table()
    if name in unary:
        return unary[name]
    if name in _CASTS:
        dtype = torch_dtype(op.results[0].type)
        if name == "arith.bitcast":
            return lambda a: a.view(dtype)
        return lambda a: a.to(dtype)
    if name == "arith.select":
        return torch.where
    if name == "arith.cmpf":
        return _cmpf(op.properties["predicate"].value.data)
    if name == "arith.cmpi":
        return _cmpi(op.properties["predicate"].value.data)
    if name == "math.fpowi" or name == "math.ipowi":
        return torch.pow
    if name == "tensor.extract":
        # A gather: the indices are whole index tensors over the loop space, so
        # advanced indexing reads every point's element at once.
        return lambda source, *indices: source[indices]
    if name == "cf.assert":
        from mirage_mlir.driver.torch_convolution import assert_function

        return assert_function(op)
    raise TorchExecutorError(f"the CPU runtime has no torch form of '{name}'")


# ---------------------------------------------------------------------------------------------
# Structured ops.

#: Accumulating ops whose fold over a loop is one torch reduction.
_REDUCTIONS = {
    "arith.addf": "sum",
    "arith.addi": "sum",
    "arith.mulf": "prod",
    "arith.muli": "prod",
    "arith.maximumf": "amax",
    "arith.maxnumf": "amax",
    "arith.maxsi": "amax",
    "arith.minimumf": "amin",
    "arith.minnumf": "amin",
    "arith.minsi": "amin",
}


def _select_fold(
    select: Operation, acc: SSAValue, producers: dict[SSAValue, Operation]
) -> tuple[str, Callable, SSAValue] | None:
    """An integer min or max written as `select(cmpi(x, acc), x, acc)`, as a fold.

    Only integer compares (exact, no NaN): signed ones on wider integers, unsigned ones on
    i1 (where min is `all` and max `any`); `_cmpi` compares as signed, so an unsigned
    compare of wide integers or a signed one of i1 (true is -1) is left to the loop.
    """
    import torch

    condition, if_true, if_false = select.operands
    if acc not in (if_true, if_false) or if_true == if_false:
        return None
    other = if_false if if_true == acc else if_true
    compare = producers.get(condition)
    if (
        compare is None
        or compare.name != "arith.cmpi"
        or set(compare.operands) != {other, acc}
    ):
        return None
    if len(list(acc.uses)) != 2:  # the compare and the select only
        return None
    predicate = compare.properties["predicate"].value.data
    if predicate not in (2, 3, 4, 5, 6, 7, 8, 9) or not isinstance(
        other.type, IntegerType
    ):
        return None
    if (predicate >= 6) != (other.type.width.data == 1):  # i1 is signed -1/0 to MLIR
        return None
    less = predicate in (2, 3, 6, 7)
    if compare.operands[0] == acc:  # cmp(acc, x): the other way round
        less = not less
    picks_other = if_true == other
    if less == picks_other:
        return "amin", torch.minimum, other
    return "amax", torch.maximum, other


def _check_maps(op: Operation, maps: list[AffineMap]) -> None:
    for m in maps:
        dims = [e.position for e in m.results if isinstance(e, AffineDimExpr)]
        if len(set(dims)) != len(dims) or not all(
            isinstance(e, AffineDimExpr)
            or (isinstance(e, AffineConstantExpr) and e.value == 0)
            for e in m.results
        ):
            raise TorchExecutorError(
                f"{op.name}: indexing map {m} is not a projected permutation"
            )


def _lift(tensor: Any, m: AffineMap, n_loops: int) -> Any:
    """View an operand in the loop space: one axis per loop, size 1 where unindexed."""
    index = tuple(
        0 if isinstance(e, AffineConstantExpr) else slice(None) for e in m.results
    )
    sub = (
        tensor[index]
        if any(isinstance(e, AffineConstantExpr) for e in m.results)
        else tensor
    )
    dims = [e.position for e in m.results if isinstance(e, AffineDimExpr)]
    order = sorted(range(len(dims)), key=lambda k: dims[k])
    sub = sub.permute(order) if order != list(range(len(dims))) else sub
    shape = [1] * n_loops
    for axis, k in enumerate(order):
        shape[dims[k]] = sub.shape[axis]
    return sub.reshape(shape)


def _unlift(
    value: Any, m: AffineMap, loop_shape: list[int], result_shape: tuple[int, ...]
) -> Any:
    """Lay a loop-space value (size 1 on reduction loops) out as a result with map `m`."""
    full = value.expand(loop_shape)
    dims = [e.position for e in m.results if isinstance(e, AffineDimExpr)]
    rest = [d for d in range(len(loop_shape)) if d not in dims]
    order = dims + rest
    if order != list(range(len(loop_shape))):
        full = full.permute(order)
    return full.reshape(result_shape)


class StructuredOpRunner:
    """Runs one linalg structured op on torch tensors (see the module docstring).

    Call it with the op's inputs, its outputs (inits) and the values its body
    captures from outside (in `captured` order); it returns the results.
    """

    def __init__(self, op: Any) -> None:
        """Analyse the op once: maps, loops, body ops and the fastest route."""
        self.op = op
        self.maps: list[AffineMap] = [
            (a.data if isinstance(a, AffineMapAttr) else a)
            for a in op.get_indexing_maps()
        ]
        _check_maps(op, self.maps)
        kinds = [str(it.data) for it in op.get_iterator_types()]
        self.n_loops = len(kinds)
        self.reduction = [d for d, k in enumerate(kinds) if k.endswith("reduction")]
        self.n_in = len(op.inputs)
        self.result_shapes = [tuple(r.type.get_shape()) for r in op.results]
        self.result_dtypes = [torch_dtype(r.type) for r in op.results]
        block: Block = op.body.block
        self.args = list(block.args)
        self.body = list(block.ops)[:-1]
        self.yielded = list(block.last_op.operands)
        inside = set(self.args) | {r for o in self.body for r in o.results}
        self.captured: list[SSAValue] = []
        # Values from outside the body: operands of its ops, and values yielded as they are
        # (a fill written as a generic yields a scalar of the enclosing function).
        for v in [v for o in self.body for v in o.operands] + self.yielded:
            if v not in inside and v not in self.captured:
                self.captured.append(v)
        # linalg.index values are set per call (they depend on the loop extents).
        self.functions = [
            None if o.name == "linalg.index" else scalar_op_function(o)
            for o in self.body
        ]
        self.einsum = self._einsum_equation()
        self.folds = self._folds()

    # -- analysis ------------------------------------------------------------------------------

    def _einsum_equation(self) -> str | None:
        """`ab,bc->ac` when the op is a plain two-input contraction, else None."""
        if self.n_in != 2 or len(self.op.outputs) != 1 or len(self.body) != 2:
            return None
        mul, add = self.body
        if mul.name != "arith.mulf" or add.name != "arith.addf":
            return None
        if (
            set(mul.operands) != {self.args[0], self.args[1]}
            or len(set(mul.operands)) != 2
        ):
            return None
        if set(add.operands) != {mul.results[0], self.args[2]} or self.yielded != [
            add.results[0]
        ]:
            return None
        if any(isinstance(e, AffineConstantExpr) for m in self.maps for e in m.results):
            return None
        if self.n_loops > 26:
            return None
        letters = "abcdefghijklmnopqrstuvwxyz"
        terms = ["".join(letters[e.position] for e in m.results) for m in self.maps]
        return f"{terms[0]},{terms[1]}->{terms[2]}"

    def _folds(self) -> list[tuple[str, Callable, SSAValue]] | None:
        """Per result (torch reduction, combining function, folded value) when every result
        folds."""
        if not self.reduction:
            return None
        accumulators = self.args[self.n_in :]
        producers = {r: o for o in self.body for r in o.results}
        depends: dict[SSAValue, bool] = {a: a in accumulators for a in self.args}
        for o in self.body:
            flag = any(depends.get(v, False) for v in o.operands)
            for r in o.results:
                depends[r] = flag
        folds = []
        for acc, value in zip(accumulators, self.yielded):
            o = producers.get(value)
            if o is not None and o.name == "arith.select":
                fold = _select_fold(o, acc, producers)
                if fold is None or depends.get(fold[2], False):
                    return None
                folds.append(fold)
                continue
            if o is None or o.name not in _REDUCTIONS or len(o.operands) != 2:
                return None
            a, b = o.operands
            other = b if a == acc else a if b == acc else None
            if other is None or depends.get(other, False):
                return None
            # The accumulator may feed nothing but its own combining op.
            if any(acc in p.operands for p in self.body if p is not o):
                return None
            folds.append((_REDUCTIONS[o.name], scalar_op_function(o), other))
        return folds

    # -- running -------------------------------------------------------------------------------

    def _loop_shape(self, lifted: list[Any]) -> list[int]:
        shape = [1] * self.n_loops
        for t in lifted:
            for d, n in enumerate(t.shape):
                shape[d] = max(shape[d], n)
        return shape

    def _evaluate(self, env: dict[SSAValue, Any]) -> None:
        for o, fn in zip(self.body, self.functions):
            if fn is None:
                continue
            outs = fn(*(env[v] for v in o.operands))
            if not o.results:
                continue
            if len(o.results) == 1:
                env[o.results[0]] = outs
            else:
                for r, value in zip(o.results, outs):
                    env[r] = value

    def _index_values(self, env: dict[SSAValue, Any], loop_shape: list[int]) -> None:
        import torch

        for o in self.body:
            if o.name == "linalg.index":
                d = o.properties["dim"].value.data
                shape = [1] * self.n_loops
                shape[d] = loop_shape[d]
                env[o.results[0]] = torch.arange(loop_shape[d]).reshape(shape)

    def __call__(
        self, inputs: list[Any], inits: list[Any], captured: list[Any]
    ) -> list[Any]:
        """The op's results for these input, init and captured tensors."""
        import torch

        if self.einsum is not None:
            product = torch.einsum(self.einsum, inputs[0], inputs[1])
            return [product + inits[0]]
        lifted = [
            _lift(t, m, self.n_loops) for t, m in zip((*inputs, *inits), self.maps)
        ]
        loop_shape = self._loop_shape(lifted)
        env: dict[SSAValue, Any] = dict(zip(self.captured, captured))
        has_index = any(o.name == "linalg.index" for o in self.body)
        results: list[Any]
        if not self.reduction:
            env.update(zip(self.args, lifted))
            if has_index:
                self._index_values(env, loop_shape)
            self._evaluate(env)
            results = [env[v] for v in self.yielded]
        elif self.folds is not None:
            env.update(zip(self.args, lifted))
            if has_index:
                self._index_values(env, loop_shape)
            self._evaluate(env)
            results = []
            full = list(loop_shape)
            for (kind, combine, value), init in zip(self.folds, lifted[self.n_in :]):
                folded = env[value].expand(full)
                folded = (
                    getattr(torch, kind)(folded, dim=self.reduction, keepdim=True)
                    if kind != "prod"
                    else _prod(folded, self.reduction)
                )
                results.append(combine(init, folded))
        else:
            results = self._stepped(env, lifted, loop_shape, has_index)
        reduced_shape = [
            1 if d in self.reduction else n for d, n in enumerate(loop_shape)
        ]
        return [
            _unlift(torch.as_tensor(r).to(dtype), m, reduced_shape, shape)
            for r, m, shape, dtype in zip(
                results, self.maps[self.n_in :], self.result_shapes, self.result_dtypes
            )
        ]

    def _stepped(
        self,
        env: dict[SSAValue, Any],
        lifted: list[Any],
        loop_shape: list[int],
        has_index: bool,
    ) -> list[Any]:
        """Run the body once per point of the reduction loops (the general route)."""
        accumulators = list(lifted[self.n_in :])
        ranges = [range(loop_shape[d]) for d in self.reduction]
        for point in itertools.product(*ranges):
            at = dict(zip(self.reduction, point))
            step = []
            for t in lifted[: self.n_in]:
                index = tuple(
                    (
                        slice(at[d], at[d] + 1)
                        if d in at and t.shape[d] != 1
                        else slice(None)
                    )
                    for d in range(self.n_loops)
                )
                step.append(t[index])
            env.update(zip(self.args, (*step, *accumulators)))
            if has_index:
                self._index_values(env, loop_shape)
                for o in self.body:
                    if (
                        o.name == "linalg.index"
                        and o.properties["dim"].value.data in at
                    ):
                        d = o.properties["dim"].value.data
                        env[o.results[0]] = env[o.results[0]].new_full(
                            (1,) * self.n_loops, at[d]
                        )
            self._evaluate(env)
            accumulators = [env[v] for v in self.yielded]
        return accumulators


def _prod(value: Any, dims: list[int]) -> Any:
    for d in dims:
        value = value.prod(dim=d, keepdim=True)
    return value
