"""Scalar bodies of `linalg.generic` as elementwise terms over the iteration space.

A body's block arguments stand for the operands lifted into the iteration space (maps.py), so
each arith or math op of the body becomes one elementwise node on whole tensors:

    ^bb0(%in: f32, %b: f32, %out: f32):                 tanh(x * y + b)
      %0 = arith.mulf %in, %y : f32
      %1 = arith.addf %0, %b : f32
      %2 = math.tanh %1 : f32
      linalg.yield %2 : f32

Compile-time scalars (`arith.constant`, captured from outside the body or made inside it, and
casts of them) stay Python numbers until an op needs them: a product with a scalar becomes
`Scale`, any other use a 0-d `Full`. Ops the algebra does not model (`linalg.index`, integer
ops on non-boolean values it has no name for, unsigned comparisons) raise `Unrecognized`.

Ordered and unordered float comparisons (`ogt`/`ugt`, ...) both map to the algebra's one
comparison; they differ only when an operand is NaN.
"""

from __future__ import annotations

from typing import Callable, Union

import numpy as np
from xdsl.dialects import arith
from xdsl.ir import Block, BlockArgument, Operation, OpResult, SSAValue

from mirage_mlir.passes.eqsat.evaluate import NUMPY_DTYPES
from mirage_mlir.passes.eqsat.kinds.elementwise import ELEMENTWISE_NUMPY
from mirage_mlir.passes.eqsat.graph import Elementwise, Full, Node, Scale, cast
from mirage_mlir.passes.recognize.constants import (
    Scalar,
    element_dtype,
    round_to,
    scalar_constant,
)
from mirage_mlir.passes.recognize.contraction import narrow_product
from mirage_mlir.passes.recognize.state import Unrecognized

Term = Union[Node, Scalar]

#: arith/math ops that are one elementwise op of the algebra, by op name.
ELEMENTWISE_OPS: dict[str, str] = {
    "arith.addf": "add",
    "arith.subf": "sub",
    "arith.mulf": "mul",
    "arith.divf": "div",
    "arith.maximumf": "max",
    "arith.maxnumf": "max",
    "arith.minimumf": "min",
    "arith.minnumf": "min",
    "arith.negf": "neg",
    "arith.addi": "add",
    "arith.subi": "sub",
    "arith.muli": "mul",
    "arith.select": "where",
    "math.exp": "exp",
    "math.log": "log",
    "math.tanh": "tanh",
    "math.sqrt": "sqrt",
    "math.rsqrt": "rsqrt",
    "math.erf": "erf",
    "math.absf": "abs",
    "math.sin": "sin",
    "math.cos": "cos",
    "math.powf": "pow",
}

#: arith.cmpf predicates (MLIR's numbering) -> comparison; ordered and unordered alike.
CMPF_PREDICATES = {1: "eq", 2: "gt", 3: "ge", 4: "lt", 5: "le", 6: "ne",
                   8: "eq", 9: "gt", 10: "ge", 11: "lt", 12: "le", 13: "ne"}

#: arith.cmpi predicates -> comparison; only the signed (and sign-free) ones.
CMPI_PREDICATES = {0: "eq", 1: "ne", 2: "lt", 3: "le", 4: "gt", 5: "ge"}

_CASTS = ("arith.extf", "arith.truncf", "arith.sitofp")


def full(scalar: Scalar) -> Full:
    """A 0-d Full node holding a compile-time scalar."""
    if scalar.dtype not in NUMPY_DTYPES:
        raise Unrecognized(f"a scalar of type {scalar.dtype} in a tensor expression")
    return Full(scalar.value, (), scalar.dtype)


def as_node(term: Term) -> Node:
    """A term as a node (scalars become 0-d Full nodes)."""
    return full(term) if isinstance(term, Scalar) else term


def _fold(op: str, scalars: list[Scalar], dtype: str) -> Scalar:
    """Evaluate an elementwise op on compile-time scalars, in the result's precision."""
    if dtype not in NUMPY_DTYPES:
        raise Unrecognized(f"a scalar of type {dtype}")
    args = [np.asarray(s.value).astype(NUMPY_DTYPES[s.dtype]) for s in scalars]
    with np.errstate(all="ignore"):
        value = np.asarray(ELEMENTWISE_NUMPY[op](*args)).astype(NUMPY_DTYPES[dtype])
    return Scalar(float(value), dtype)


def _apply(op: str, terms: list[Term], dtype: str) -> Term:
    """The elementwise op on terms: folded for scalars, Scale for a product with a scalar."""
    if all(isinstance(t, Scalar) for t in terms):
        return _fold(op, terms, dtype)  # type: ignore[arg-type]
    if op == "mul":
        a, b = terms
        if isinstance(b, Scalar) and dtype.startswith(("f", "bf")):
            return Scale(a, b.value)  # type: ignore[arg-type]
        if isinstance(a, Scalar) and dtype.startswith(("f", "bf")):
            return Scale(b, a.value)  # type: ignore[arg-type]
    return Elementwise(op, tuple(as_node(t) for t in terms))


class BodyTranslator:
    """Translates the values of one generic body into terms, given terms for its arguments."""

    def __init__(self, block: Block, arguments: dict[BlockArgument, Term]):
        self.block = block
        self.memo: dict[SSAValue, Term] = dict(arguments)

    def term(self, value: SSAValue) -> Term:
        """The term computing `value` (a block argument, body op result or captured value)."""
        found = self.memo.get(value)
        if found is not None:
            return found
        if isinstance(value, BlockArgument):
            raise Unrecognized("the body reads a block argument with no term (an accumulator)")
        assert isinstance(value, OpResult)
        if value.op.parent_block() is not self.block:
            scalar = scalar_constant(value)
            if scalar is None:
                raise Unrecognized(f"the body captures a non-constant value from '{value.op.name}'")
            result: Term = scalar
        else:
            result = self._translate(value.op)
        self.memo[value] = result
        return result

    def _translate(self, op: Operation) -> Term:
        if len(op.results) != 1:
            raise Unrecognized(f"'{op.name}' in a generic body")
        dtype = element_dtype(op.results[0].type)
        if dtype is None:
            raise Unrecognized(f"'{op.name}' yields {op.results[0].type}, not a tensor element")
        name = op.name
        if isinstance(op, arith.ConstantOp):
            scalar = scalar_constant(op.results[0])
            if scalar is None:
                raise Unrecognized("a non-scalar constant in a generic body")
            return scalar
        if name in _CASTS:
            source = self.term(op.operands[0])
            if isinstance(source, Scalar):
                return Scalar(round_to(source.value, dtype), dtype)
            return narrow_product(source, dtype) or cast(source, dtype)
        if name in ("arith.cmpf", "arith.cmpi"):
            table = CMPF_PREDICATES if name == "arith.cmpf" else CMPI_PREDICATES
            predicate = op.predicate.value.data  # type: ignore[attr-defined]
            if predicate not in table:
                raise Unrecognized(f"'{name}' with predicate {predicate}")
            return _apply(table[predicate], [self.term(v) for v in op.operands], "i1")
        if name in ("arith.andi", "arith.ori", "arith.xori"):
            return self._logic(name, [self.term(v) for v in op.operands], dtype)
        if name == "math.fpowi":
            return self._power(op, dtype)
        if name in ELEMENTWISE_OPS:
            if name in ("arith.addi", "arith.subi", "arith.muli") and dtype == "i1":
                raise Unrecognized(f"'{name}' on i1")
            return _apply(ELEMENTWISE_OPS[name], [self.term(v) for v in op.operands], dtype)
        raise Unrecognized(f"'{name}' in a generic body")

    def _logic(self, name: str, terms: list[Term], dtype: str) -> Term:
        """Boolean and/or/xor on i1 as where/ne (the algebra has no logical ops)."""
        if dtype != "i1":
            raise Unrecognized(f"'{name}' on {dtype} (only i1 logic is modelled)")
        a, b = terms
        false, true = Scalar(0.0, "i1"), Scalar(1.0, "i1")
        if name == "arith.andi":
            return _apply("where", [a, b, false], "i1")
        if name == "arith.ori":
            return _apply("where", [a, true, b], "i1")
        return _apply("ne", [a, b], "i1")

    def _power(self, op: Operation, dtype: str) -> Term:
        """math.fpowi with a constant exponent: x*x for 2 (as torch writes x**2), else pow."""
        base = self.term(op.operands[0])
        exponent = scalar_constant(op.operands[1])
        if exponent is None:
            raise Unrecognized("math.fpowi with a non-constant exponent")
        if exponent.value == 2:
            return _apply("mul", [base, base], dtype)
        return _apply("pow", [base, Scalar(exponent.value, dtype)], dtype)


def uses_only(block: Block, value: SSAValue, allowed: Callable[[BlockArgument], bool]) -> bool:
    """Whether the body computation of `value` reads only block arguments that are `allowed`."""
    stack, seen = [value], set()
    while stack:
        current = stack.pop()
        if current in seen:
            continue
        seen.add(current)
        if isinstance(current, BlockArgument):
            if current.block is block and not allowed(current):
                return False
            continue
        if isinstance(current, OpResult) and current.op.parent_block() is block:
            stack.extend(current.op.operands)
    return True
