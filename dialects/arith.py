"""The arith dialect as mirage-mlir reads and writes it: comparisons on blocks.

xDSL 0.74's `arith.cmpi` and `arith.cmpf` always produce a scalar `i1`, and
its `arith.select` takes only a scalar `i1` condition.  MLIR (and every Triton
kernel) compares whole tensors, `arith.cmpi slt, %a, %b : tensor<128xi32>`
giving `tensor<128xi1>`, and selects lane by lane with a `tensor<128xi1>`.
With xDSL's ops such a kernel fails to parse ("operand is used with type
tensor<128xi1>, but has been previously used or defined with type i1"), and a
kernel built in Python prints a comparison whose result type Triton rejects.

The repaired ops here subclass xDSL's, so `isinstance(op, arith.CmpiOp)`
still holds.  Comparisons and selects on scalars, the only ones xDSL could
read, are still built as xDSL's own classes (custom and generic form alike),
so interpreters and passes keyed on xDSL's classes see no change; only shaped
ones use the repaired classes:

```mlir
%m = arith.cmpi slt, %offsets, %n : tensor<128xi32>
%v = arith.select %m, %x, %zeros : tensor<128xi1>, tensor<128xf32>
```
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from typing import Any

from xdsl.dialects import arith as _xdsl_arith
from xdsl.dialects.builtin import IntegerAttr, ShapedType, TensorType, VectorType, i1
from xdsl.ir import Attribute, Dialect, Operation, SSAValue
from xdsl.irdl import AnyAttr, IRDLOperation, OperandDef, ResultDef
from xdsl.irdl.operations import get_accessors_from_op_def
from xdsl.parser import Parser
from xdsl.printer import Printer
from xdsl.utils.exceptions import VerifyException

__all__ = ["Arith", "CmpfOp", "CmpiOp", "SelectOp", "bool_like"]


def bool_like(value_type: Attribute) -> Attribute:
    """`i1`, or a tensor/vector of `i1` of the same shape as `value_type`."""
    if isinstance(value_type, TensorType):
        return TensorType(i1, value_type.get_shape())
    if isinstance(value_type, VectorType):
        return VectorType(i1, value_type.get_shape())
    return i1


def _shaped(types: Sequence[Attribute]) -> bool:
    return any(isinstance(t, ShapedType) for t in types)


def _predicate(arg: int | str, names: Sequence[str], op_name: str) -> int:
    if isinstance(arg, int):
        return arg
    if arg not in names:
        raise VerifyException(f"unknown {op_name} predicate '{arg}'")
    return list(names).index(arg)


def _verify_comparison(op: Operation) -> None:
    """A comparison's operands agree, and its result is i1 in their shape."""
    lhs, rhs = op.operands
    if lhs.type != rhs.type:
        raise VerifyException(f"operands have different types {lhs.type} and {rhs.type}")
    expected = bool_like(lhs.type)
    if op.results[0].type != expected:
        raise VerifyException(f"result type {op.results[0].type} should be {expected}")


def _repaired(base: type[IRDLOperation], *, loosen: Sequence[str], check: Any):
    """Re-derive `base`'s IRDL definition on a subclass, with the operands and
    results named in `loosen` allowed any type (`check` verifies them instead).

    Re-running `irdl_op_definition` on a subclass of a defined op fails (its
    fields are already accessors), so the definition is copied and edited.
    """

    def decorate(cls: type[IRDLOperation]) -> type[IRDLOperation]:
        op_def = base.get_irdl_definition()
        op_def = dataclasses.replace(
            op_def,
            operands=[
                (n, OperandDef(AnyAttr()) if n in loosen else d)
                for n, d in op_def.operands
            ],
            results=[
                (n, ResultDef(AnyAttr()) if n in loosen else d)
                for n, d in op_def.results
            ],
            assembly_format=None,
        )
        for name, accessor in get_accessors_from_op_def(op_def, check).items():
            if name not in ("parse", "print"):
                setattr(cls, name, accessor)
        return cls

    return decorate


@_repaired(_xdsl_arith.CmpiOp, loosen=("result",), check=_verify_comparison)
class CmpiOp(_xdsl_arith.CmpiOp):
    """`arith.cmpi` whose result has the operands' shape (see the module doc)."""

    def __init__(
        self, operand1: Operation | SSAValue, operand2: Operation | SSAValue, arg: int | str
    ):
        lhs = SSAValue.get(operand1)
        predicate = _predicate(arg, _xdsl_arith.CMPI_COMPARISON_OPERATIONS, "cmpi")
        _init(
            self,
            [lhs, operand2],
            [bool_like(lhs.type)],
            {"predicate": IntegerAttr(predicate, 64)},
        )

    @classmethod
    def create(cls, *, result_types: Sequence[Attribute] = (), **kwargs: Any):
        if _shaped(result_types):
            return super().create(result_types=result_types, **kwargs)
        return _xdsl_arith.CmpiOp.create(result_types=result_types, **kwargs)

    @classmethod
    def parse(cls, parser: Parser) -> Operation:
        arg = parser.parse_identifier()
        lhs, rhs = _parse_comparison_operands(parser)
        parser.parse_punctuation(":")
        operand_type = parser.parse_type()
        lhs, rhs = parser.resolve_operands([lhs, rhs], 2 * [operand_type], parser.pos)
        if isinstance(operand_type, ShapedType):
            return cls(lhs, rhs, arg)
        return _xdsl_arith.CmpiOp(lhs, rhs, arg)


@_repaired(_xdsl_arith.CmpfOp, loosen=("result",), check=_verify_comparison)
class CmpfOp(_xdsl_arith.CmpfOp):
    """`arith.cmpf` whose result has the operands' shape (see the module doc)."""

    def __init__(
        self,
        operand1: SSAValue | Operation,
        operand2: SSAValue | Operation,
        arg: int | str,
        fastmath: _xdsl_arith.FastMathFlagsAttr = _xdsl_arith.FastMathFlagsAttr("none"),
    ):
        lhs = SSAValue.get(operand1)
        predicate = _predicate(arg, _xdsl_arith.CMPF_COMPARISON_OPERATIONS, "cmpf")
        _init(
            self,
            [lhs, operand2],
            [bool_like(lhs.type)],
            {"predicate": IntegerAttr(predicate, 64), "fastmath": fastmath},
        )

    @classmethod
    def create(cls, *, result_types: Sequence[Attribute] = (), **kwargs: Any):
        if _shaped(result_types):
            return super().create(result_types=result_types, **kwargs)
        return _xdsl_arith.CmpfOp.create(result_types=result_types, **kwargs)

    @classmethod
    def parse(cls, parser: Parser) -> Operation:
        arg = parser.parse_identifier()
        lhs, rhs = _parse_comparison_operands(parser)
        fastmath = _xdsl_arith.FastMathFlagsAttr("none")
        if parser.parse_optional_keyword("fastmath"):
            fastmath = _xdsl_arith.FastMathFlagsAttr(
                _xdsl_arith.FastMathFlagsAttr.parse_parameter(parser)
            )
        parser.parse_punctuation(":")
        operand_type = parser.parse_type()
        lhs, rhs = parser.resolve_operands([lhs, rhs], 2 * [operand_type], parser.pos)
        target = cls if isinstance(operand_type, ShapedType) else _xdsl_arith.CmpfOp
        return target(lhs, rhs, arg, fastmath)


def _verify_select(op: Operation) -> None:
    """The condition is i1, or i1 lanes in the shape of the result."""
    cond_type, result_type = op.operands[0].type, op.results[0].type
    if cond_type != i1 and cond_type != bool_like(result_type):
        raise VerifyException(
            f"condition type {cond_type} must be i1 or {bool_like(result_type)}"
        )


@_repaired(_xdsl_arith.SelectOp, loosen=("cond",), check=_verify_select)
class SelectOp(_xdsl_arith.SelectOp):
    """`arith.select` with a condition that is `i1` or a block of `i1` lanes.

    MLIR prints the condition type only when it is not `i1`:
    `arith.select %m, %a, %b : tensor<4xi1>, tensor<4xf32>`.
    """

    @classmethod
    def create(cls, *, operands: Sequence[SSAValue] = (), **kwargs: Any):
        if operands and isinstance(operands[0].type, ShapedType):
            return super().create(operands=operands, **kwargs)
        return _xdsl_arith.SelectOp.create(operands=operands, **kwargs)

    @classmethod
    def parse(cls, parser: Parser) -> Operation:
        cond = parser.parse_unresolved_operand()
        parser.parse_punctuation(",")
        lhs = parser.parse_unresolved_operand()
        parser.parse_punctuation(",")
        rhs = parser.parse_unresolved_operand()
        attributes = parser.parse_optional_attr_dict()
        parser.parse_punctuation(":")
        cond_type: Attribute = i1
        result_type = parser.parse_type()
        if parser.parse_optional_punctuation(","):
            cond_type, result_type = result_type, parser.parse_type()
        cond, lhs, rhs = parser.resolve_operands(
            [cond, lhs, rhs], [cond_type, result_type, result_type], parser.pos
        )
        target = cls if isinstance(cond_type, ShapedType) else _xdsl_arith.SelectOp
        op = target(cond, lhs, rhs)
        op.attributes |= attributes
        return op

    def print(self, printer: Printer) -> None:
        printer.print_string(" ")
        printer.print_list(self.operands, printer.print_operand)
        printer.print_op_attributes(self.attributes)
        printer.print_string(" : ")
        if self.cond.type != i1:
            printer.print_attribute(self.cond.type)
            printer.print_string(", ")
        printer.print_attribute(self.result.type)


def _init(
    op: Operation,
    operands: Sequence[SSAValue | Operation],
    result_types: Sequence[Attribute],
    properties: Mapping[str, Attribute],
) -> None:
    IRDLOperation.__init__(
        op, operands=operands, result_types=result_types, properties=properties
    )


def _parse_comparison_operands(parser: Parser):
    """Parse `, %lhs, %rhs` after a comparison's predicate."""
    parser.parse_punctuation(",")
    lhs = parser.parse_unresolved_operand()
    parser.parse_punctuation(",")
    rhs = parser.parse_unresolved_operand()
    return lhs, rhs


_REPAIRED = {"arith.cmpi": CmpiOp, "arith.cmpf": CmpfOp, "arith.select": SelectOp}

Arith = Dialect(
    "arith",
    [_REPAIRED.get(op.name, op) for op in _xdsl_arith.Arith.operations],
    list(_xdsl_arith.Arith.attributes),
    list(_xdsl_arith.Arith._interfaces),
)
