"""Reductions in the kernel templates: how a reduction `linalg.generic` combines.

A reduction generic's body maps its inputs to one value and folds that value
into the accumulator with an associative, commutative combine.  `reduction_of`
recognises the combine in every form the front ends write:

- one float op of `REDUCTION_COMBINERS` (add, mul, max, min);
- one integer op: `addi`, `muli`, `andi`, `ori`, `xori`, `maxsi`, `minsi`,
  `maxui`, `minui`;
- a min or max written as a compare and a select, `select(cmpi(p, x, acc),
  x, acc)` (or `cmpf`), as torch-mlir writes `all`/`any` over i1 and integer
  `amax`/`amin`.

A `Reduction` rebuilds the combine on blocks or scalars (so it can be a
`tt.reduce` combiner and the step of a loop-carried accumulator) and knows
its identity, which fills lanes outside the reduced range.  `fold` reduces
one axis of a tile with it, masked lanes replaced by the identity.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from xdsl.dialects import arith
from xdsl.dialects.builtin import FloatAttr, IntegerAttr, IntegerType
from xdsl.ir import Attribute, Operation, SSAValue

from mirage_mlir.dialects import tt
from mirage_mlir.dialects.arith import CmpfOp, CmpiOp, SelectOp
from mirage_mlir.dialects.tt_types import element_type_of, shape_of
from mirage_mlir.lowering.dtypes import compute_type
from mirage_mlir.lowering.fused_body import splat_constant_value
from mirage_mlir.lowering.kernel_builder import (
    REDUCTION_COMBINERS,
    LoweringError,
    splat_const,
    tensor_operand_dims,
)

_INTEGER_COMBINERS: dict[str, tuple[type[Operation], str]] = {
    "arith.addi": (arith.AddiOp, "zero"),
    "arith.muli": (arith.MuliOp, "one"),
    "arith.andi": (arith.AndIOp, "ones"),
    "arith.ori": (arith.OrIOp, "zero"),
    "arith.xori": (arith.XOrIOp, "zero"),
    "arith.maxsi": (arith.MaxSIOp, "smin"),
    "arith.minsi": (arith.MinSIOp, "smax"),
    "arith.maxui": (arith.MaxUIOp, "zero"),
    "arith.minui": (arith.MinUIOp, "ones"),
}
"""Integer combine ops and the name of their identity (see `_integer_identity`)."""

_LESS = {"slt", "sle", "ult", "ule", "olt", "ole"}
_GREATER = {"sgt", "sge", "ugt", "uge", "ogt", "oge"}


def _integer_identity(kind: str, width: int) -> int:
    """An identity as the signed value of a `width`-bit integer (i1: true is -1)."""
    return {
        "zero": 0,
        "one": 1 if width > 1 else -1,
        "ones": -1,
        "smin": -(1 << (width - 1)),
        "smax": (1 << (width - 1)) - 1,
    }[kind]


Combine = Callable[[SSAValue, SSAValue], SSAValue]


@dataclass(frozen=True)
class Reduction:
    """The fold of a reduction generic.

    `combine(a, b)` builds the combine of two blocks (or scalars) of the
    accumulator's compute type `element`; `identity` leaves any value
    unchanged; `mapped` is the body value folded into the accumulator.
    """

    combine: Combine
    identity: float | int
    mapped: SSAValue
    element: Attribute


def _single_op_combine(
    combine: Operation, acc: SSAValue, element: Attribute
) -> tuple[Combine, float | int] | None:
    if combine.name in REDUCTION_COMBINERS:
        op_type, identity = REDUCTION_COMBINERS[combine.name]
        return (lambda a, b: op_type(a, b).result), identity
    if combine.name in _INTEGER_COMBINERS and isinstance(element, IntegerType):
        op_type, kind = _INTEGER_COMBINERS[combine.name]
        return (lambda a, b: op_type(a, b).result), _integer_identity(
            kind, element.width.data
        )
    return None


def _select_combine(
    select: Operation, acc: SSAValue, element: Attribute
) -> tuple[Combine, float | int, SSAValue] | None:
    """A min or max written `select(cmp(p, l, r), t, f)` with {l, r} = {t, f} = {x, acc}."""
    compare = select.operands[0].owner
    if not isinstance(compare, Operation) or compare.name not in (
        "arith.cmpi",
        "arith.cmpf",
    ):
        return None
    lhs, rhs = compare.operands
    _, true_value, false_value = select.operands
    if {lhs, rhs} != {true_value, false_value} or acc not in (lhs, rhs) or lhs == rhs:
        return None
    if len(list(compare.results[0].uses)) != 1:
        return None
    integer = compare.name == "arith.cmpi"
    names = (
        arith.CMPI_COMPARISON_OPERATIONS
        if integer
        else arith.CMPF_COMPARISON_OPERATIONS
    )
    predicate = names[compare.predicate.value.data]
    if predicate not in _LESS | _GREATER:
        return None
    # Which of the compared pair the select keeps when the comparison holds.
    picks_smaller = (predicate in _LESS) == (true_value == lhs)
    if integer:
        if not isinstance(element, IntegerType):
            return None
        width = element.width.data
        unsigned = predicate.startswith("u")
        if picks_smaller:
            kind = "ones" if unsigned else "smax"
        else:
            kind = "zero" if unsigned else "smin"
        identity: float | int = _integer_identity(kind, width)
    else:
        identity = float("inf") if picks_smaller else float("-inf")
    x = rhs if lhs == acc else lhs
    compare_type = CmpiOp if integer else CmpfOp

    def combine(a: SSAValue, b: SSAValue) -> SSAValue:
        # a stands for the folded-in value x, b for the accumulator.
        pick = {x: a, acc: b}
        cond = compare_type(pick[lhs], pick[rhs], predicate).result
        return SelectOp(cond, pick[true_value], pick[false_value]).result

    return combine, identity, x


def reduction_of(generic: Operation) -> Reduction | None:
    """The fold of a one-result reduction generic; None if its body is no known combine.

    Nothing but the combine may read the accumulator.
    """
    if generic.name != "linalg.generic" or len(generic.results) != 1:
        return None
    block = generic.regions[0].block
    acc = block.args[-1]
    element = compute_type(acc.type)
    yielded = block.last_op.operands[0] if block.last_op.operands else None
    combine = yielded.owner if yielded is not None else None
    if not isinstance(combine, Operation) or acc not in _operands_of(combine):
        return None
    acc_users = {use.operation for use in acc.uses}
    if combine.name == "arith.select":
        found = _select_combine(combine, acc, element)
        if found is None or acc_users != {combine, combine.operands[0].owner}:
            return None
        fn, identity, mapped = found
        return Reduction(fn, identity, mapped, element)
    if acc_users != {combine} or len(list(acc.uses)) != 1 or len(combine.operands) != 2:
        return None
    single = _single_op_combine(combine, acc, element)
    if single is None:
        return None
    a, b = combine.operands
    return Reduction(single[0], single[1], b if a == acc else a, element)


def _operands_of(op: Operation) -> list[SSAValue]:
    """The operands of `op`, and of the compare a select reads."""
    operands = list(op.operands)
    if op.name == "arith.select" and isinstance(op.operands[0].owner, Operation):
        operands += list(op.operands[0].owner.operands)
    return operands


def init_value(value: SSAValue) -> float | int | None:
    """The scalar a reduction's init is filled with (int for integer fills), else None."""
    owner = value.owner
    if isinstance(owner, Operation) and owner.name == "linalg.fill":
        source = owner.operands[0].owner
        if isinstance(source, Operation) and source.name == "arith.constant":
            attr = source.properties.get("value")
            attr = attr if attr is not None else source.attributes.get("value")
            if isinstance(attr, IntegerAttr):
                return attr.value.data
            if isinstance(attr, FloatAttr):
                return float(attr.value.data)
    return splat_constant_value(value)


def loop_sizes(op: Operation) -> list[int]:
    """The trip count of every loop of a `linalg.generic`, from its operands' shapes."""
    sizes: list[int | None] = [None] * op.indexing_maps.data[0].data.num_dims
    for value, attr in zip(op.operands, op.indexing_maps.data):
        for size, dim in zip(
            value.type.get_shape(), tensor_operand_dims(attr.data, op)
        ):
            if dim is not None:
                sizes[dim] = size
    if any(s is None for s in sizes):
        raise LoweringError("a loop of the reduction is read by no operand", op)
    return sizes  # type: ignore[return-value]


def fold(
    tile: SSAValue, axis: int, reduction: Reduction, mask: SSAValue | None
) -> SSAValue:
    """`tile` reduced along `axis`, lanes outside `mask` counting as the identity."""
    if mask is not None:
        fill = splat_const(
            reduction.identity, element_type_of(tile.type), shape_of(tile.type)
        )
        tile = SelectOp(mask, tile, fill).result
    return tt.ReduceOp([tile], axis, lambda a, b: [reduction.combine(a, b)]).result[0]


def combine_init(
    total: SSAValue, reduction: Reduction, init: float | int, shape: Sequence[int]
):
    """The reduced value folded into the init the generic starts from."""
    return reduction.combine(total, splat_const(init, reduction.element, shape))


def require_reduction(op: Operation, template: str) -> Reduction:
    """`reduction_of(op)`, or a located error naming the template."""
    found = reduction_of(op)
    if found is None:
        raise LoweringError(
            f"a {template}'s body must fold one value into the accumulator with one add, mul, "
            "max, min or bitwise op, or a compare-and-select min/max",
            op,
        )
    return found
