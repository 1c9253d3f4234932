"""Building blocks of the kernel templates: tiles, strided loads and stores, bodies.

Every template of `convert-mirage-to-triton` computes one tile of an iteration
space per program.  A `TileSpace` holds, for each iteration dimension, an i32
block with that dimension's index at every lane (all blocks of the tile's
shape), and the i1 mask of lanes inside the iteration space.  With it a
template reads any operand of a fused op through its indexing map (broadcasts
and permutations become strides; a dimension a map drops is not read),
writes a result, and evaluates the scalar body of an elementwise
`linalg.generic` on whole tiles, including bodies that read their loop
indices, check them (`cf.assert` becomes `tt.assert`) and gather from a
tensor defined outside the body (`tensor.extract`, as embeddings do).

Shapes are static, so sizes and strides are `arith.constant`s baked into the
kernel: a kernel's only arguments are its buffers.  Must be called inside an
`ImplicitBuilder` that inserts into the kernel.
"""

from __future__ import annotations

import math as pymath
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from xdsl.dialects import arith
from xdsl.dialects.builtin import (
    DenseIntOrFPElementsAttr,
    FloatAttr,
    IndexType,
    IntegerAttr,
    IntegerType,
    TensorType,
    i1,
    i8,
    i32,
    i64,
)
from xdsl.ir import Attribute, Operation, SSAValue
from xdsl.ir.affine import AffineConstantExpr, AffineDimExpr, AffineMap

from mirage_mlir.dialects import tt
from mirage_mlir.dialects.arith import CmpfOp, CmpiOp, SelectOp
from mirage_mlir.dialects.tt_types import block_type, element_type_of, shape_of
from mirage_mlir.lowering.dtypes import compute_type, narrow, widen


class LoweringError(Exception):
    """An op (or a use of it) that no kernel template can lower; `op` is the culprit."""

    def __init__(self, message: str, op: Operation | None = None):
        super().__init__(message)
        self.op = op


#: The ops a reduction body may combine its accumulator with: the op and its identity.
REDUCTION_COMBINERS = {
    "arith.addf": (arith.AddfOp, 0.0),
    "arith.mulf": (arith.MulfOp, 1.0),
    "arith.maximumf": (arith.MaximumfOp, float("-inf")),
    "arith.maxnumf": (arith.MaxnumfOp, float("-inf")),
    "arith.minimumf": (arith.MinimumfOp, float("inf")),
    "arith.minnumf": (arith.MinnumfOp, float("inf")),
}


def reduction_combine(generic: Operation) -> tuple[Operation, SSAValue] | None:
    """The op that combines a reduction generic's accumulator, and the value it combines in.

    None unless the body yields one REDUCTION_COMBINERS op of the accumulator, and nothing
    else in the body reads the accumulator.
    """
    block = generic.regions[0].block
    acc_arg, yielded = block.args[-1], block.last_op.operands[0]
    combine = yielded.owner
    if (
        not isinstance(combine, Operation)
        or combine.name not in REDUCTION_COMBINERS
        or acc_arg not in combine.operands
        or len(list(acc_arg.uses)) != 1
    ):
        return None
    a, b = combine.operands
    return combine, (b if a == acc_arg else a)


def next_power_of_two(n: int) -> int:
    """The smallest power of two >= n (Triton's block sizes are powers of two)."""
    return 1 << max(0, (int(n) - 1).bit_length())


def row_major_strides(shape: Sequence[int]) -> list[int]:
    """Element strides of a contiguous row-major tensor."""
    strides, step = [], 1
    for size in reversed(shape):
        strides.append(step)
        step *= size
    return strides[::-1]


def const_i32(value: int) -> SSAValue:
    """An i32 scalar constant."""
    return arith.ConstantOp(IntegerAttr(value, i32)).result


def splat_const(
    value: float | int, element: Attribute, shape: Sequence[int]
) -> SSAValue:
    """A block of `shape` filled with `value` (a scalar constant when shape is ())."""
    integer = isinstance(element, (IntegerType, IndexType))
    # Splat values arrive as Python floats whatever the element type (a term graph's `full`).
    value = int(value) if integer else float(value)
    if not shape:
        attr = IntegerAttr(value, element) if integer else FloatAttr(value, element)
        return arith.ConstantOp(attr).result
    dense = DenseIntOrFPElementsAttr.from_list(TensorType(element, shape), [value])
    return arith.ConstantOp(dense).result


def splat(value: SSAValue, shape: Sequence[int]) -> SSAValue:
    """Fill a block of `shape` with a scalar value (or pointer)."""
    return tt.SplatOp(value, shape).result


def broadcast_to(value: SSAValue, shape: Sequence[int]) -> SSAValue:
    """A scalar or block made into a block of `shape` (splat or broadcast)."""
    have = shape_of(value.type)
    if have == tuple(shape):
        return value
    if not have:
        return splat(value, shape)
    return tt.BroadcastOp(value, shape).result


def tensor_operand_dims(indexing_map: AffineMap, op: Operation) -> list[int | None]:
    """For each tensor dimension of a map, the iteration dim it reads (None: index 0)."""
    dims: list[int | None] = []
    for expr in indexing_map.results:
        if isinstance(expr, AffineDimExpr):
            dims.append(expr.position)
        elif isinstance(expr, AffineConstantExpr) and expr.value == 0:
            dims.append(None)
        else:
            raise LoweringError(
                f"indexing map {indexing_map} is not a projected permutation", op
            )
    return dims


@dataclass
class TileSpace:
    """One program's tile of an iteration space.

    `index[d]` is an i32 block of `shape` holding the index along iteration
    dimension d at every lane; `mask` says which lanes lie inside the space.
    """

    shape: tuple[int, ...]
    index: list[SSAValue]
    mask: SSAValue
    _offsets: dict[tuple, SSAValue] = field(default_factory=dict)

    def offsets(
        self, tensor_shape: Sequence[int], dims: Sequence[int | None]
    ) -> SSAValue:
        """Element offsets into a row-major tensor read at iteration dims `dims`."""
        key = (tuple(tensor_shape), tuple(dims))
        if key in self._offsets:
            return self._offsets[key]
        total: SSAValue | None = None
        for size, stride, dim in zip(
            tensor_shape, row_major_strides(tensor_shape), dims
        ):
            if dim is None or size == 1:
                continue
            term = self.index[dim]
            if stride != 1:
                term = arith.MuliOp(term, splat_const(stride, i32, self.shape)).result
            total = term if total is None else arith.AddiOp(total, term).result
        if total is None:
            total = splat_const(0, i32, self.shape)
        self._offsets[key] = total
        return total

    def load(
        self,
        pointer: SSAValue,
        tensor_type: Attribute,
        dims: Sequence[int | None],
        other: float = 0.0,
    ) -> SSAValue:
        """Read a row-major tensor through `pointer` at iteration dims `dims`.

        f16 and bf16 elements arrive widened to f32 (see `lowering.dtypes`).
        """
        offsets = self.offsets(shape_of(tensor_type), dims)
        element = element_type_of(tensor_type)
        pointers = tt.AddPtrOp(splat(pointer, self.shape), offsets).result
        return widen(load_elements(pointers, self.mask, element, other))

    def store(
        self,
        pointer: SSAValue,
        tensor_type: Attribute,
        value: SSAValue,
        mask: SSAValue | None = None,
    ) -> None:
        """Write `value` to a row-major tensor indexed by the iteration dims in order.

        `value` is narrowed to the tensor's element type (f32 -> f16/bf16).
        """
        shape = shape_of(tensor_type)
        value = narrow(value, element_type_of(tensor_type))
        offsets = self.offsets(shape, list(range(len(shape))))
        pointers = tt.AddPtrOp(splat(pointer, self.shape), offsets).result
        store_elements(pointers, broadcast_to(value, self.shape), mask or self.mask)


def _byte_pointers(pointers: SSAValue) -> SSAValue:
    """A block of i1 pointers as i8 pointers: an i1 tensor is stored one byte per element."""
    return tt.BitcastOp(
        pointers, block_type(tt.ptr(i8), shape_of(pointers.type))
    ).result


def load_elements(
    pointers: SSAValue, mask: SSAValue, element: Attribute, other: float = 0.0
) -> SSAValue:
    """`tt.load` of `element`s; i1 goes through bytes (nonzero is true), as Triton does."""
    shape = shape_of(pointers.type)
    if element != i1:
        return tt.LoadOp(pointers, mask, splat_const(other, element, shape)).result
    loaded = tt.LoadOp(
        _byte_pointers(pointers), mask, splat_const(other, i8, shape)
    ).result
    return CmpiOp(loaded, splat_const(0, i8, shape), "ne").result


def store_elements(pointers: SSAValue, value: SSAValue, mask: SSAValue) -> None:
    """`tt.store`; an i1 value is written as bytes 0 and 1, as Triton does."""
    if element_type_of(value.type) != i1:
        tt.StoreOp(pointers, value, mask)
        return
    byte = arith.ExtUIOp(value, block_type(i8, shape_of(value.type))).result
    tt.StoreOp(_byte_pointers(pointers), byte, mask)


def unflatten(flat: SSAValue, sizes: Sequence[int]) -> list[SSAValue]:
    """Row-major indices along `sizes` of the flat positions in the i32 block `flat`
    (division and remainder by constants; none where a dimension needs neither)."""
    shape = shape_of(flat.type)
    numel = pymath.prod(sizes)
    index: list[SSAValue] = []
    for size, stride in zip(sizes, row_major_strides(sizes)):
        value = flat
        if stride != 1:
            value = arith.DivSIOp(value, splat_const(stride, i32, shape)).result
        if stride * size != numel:
            value = arith.RemSIOp(value, splat_const(size, i32, shape)).result
        index.append(value)
    return index


def flat_tile_space(
    space_shape: Sequence[int], block: int, program: SSAValue
) -> TileSpace:
    """A 1-D tile of `block` consecutive elements of a row-major iteration space.

    The index along each dimension comes from the flat element number by
    division and remainder by constants; lanes past the last element are masked.
    """
    numel = pymath.prod(space_shape)
    start = arith.MuliOp(program, const_i32(block)).result
    flat = arith.AddiOp(splat(start, [block]), tt.MakeRangeOp(0, block)).result
    mask = CmpiOp(flat, splat_const(numel, i32, [block]), "slt").result
    return TileSpace((block,), unflatten(flat, space_shape), mask)


def body_type(element: Attribute) -> Attribute:
    """The type a generic body's scalar of type `element` has in a kernel.

    f16/bf16 compute in f32 (`lowering.dtypes`); `index` values are i64, so
    gathered indices and their bounds checks keep every bit of the i64 they
    were cast from.
    """
    return i64 if isinstance(element, IndexType) else compute_type(element)


def emit_elementwise_body(
    generic: Operation,
    operands: Sequence[SSAValue],
    shape: Sequence[int],
    until: SSAValue | None = None,
    space: TileSpace | None = None,
    captured: Mapping[SSAValue, SSAValue] | None = None,
) -> list[SSAValue]:
    """Evaluate a `linalg.generic` body on tiles: one tile per operand, in order.

    `operands` are the tiles of the generic's inputs then of its outputs
    (outputs are read only by bodies that use them, e.g. a reduction's init).
    The scalar ops are re-created with block types; scalar constants become
    splat blocks.  Returns the tiles the body yields, or only the tile of
    `until` (a value of the body) as soon as it is computed.

    With the tile `space` of the generic's loops (its index blocks are the
    loops' indices) the body may also use `linalg.index`, `cf.assert` (a
    device assert over the lanes inside the space) and `tensor.extract` of a
    tensor defined outside the body, which `captured` maps to its kernel
    pointer: a gathered load at the computed element offsets.
    """
    block = generic.regions[0].block
    values: dict[SSAValue, SSAValue] = dict(zip(block.args, operands))
    captured = captured or {}

    def scalar_constant(op: Operation) -> SSAValue | None:
        attr = _constant_attr(op)
        if op.name == "arith.constant" and isinstance(attr, FloatAttr | IntegerAttr):
            return splat_const(attr.value.data, body_type(attr.type), shape)
        return None

    def value(v: SSAValue) -> SSAValue:
        """The tile of `v`; a scalar constant defined outside the body becomes a splat."""
        if v not in values:
            owner = v.owner if isinstance(v.owner, Operation) else None
            splat_value = scalar_constant(owner) if owner is not None else None
            if splat_value is None:
                raise LoweringError(
                    "a linalg.generic body reads a value defined outside it that is not a "
                    "scalar constant or a tensor it extracts from; the kernel templates "
                    "cannot pass it in",
                    generic,
                )
            values[v] = splat_value
        return values[v]

    def loop_space(op: Operation) -> TileSpace:
        if space is None or tuple(space.shape) != tuple(shape):
            raise LoweringError(
                f"'{op.name}' inside a linalg.generic body is not supported by this template",
                generic,
            )
        return space

    for op in block.ops:
        if until is not None and until in values:
            return [values[until]]
        if op.name == "linalg.yield":
            return [value(v) for v in op.operands]
        if op.name == "arith.constant":
            splat_value = scalar_constant(op)
            if splat_value is not None:
                values[op.results[0]] = splat_value
                continue
        if op.name == "linalg.index":
            index = loop_space(op).index[op.dim.value.data]
            values[op.results[0]] = arith.ExtSIOp(index, TensorType(i64, shape)).result
            continue
        if op.name == "cf.assert":
            _device_assert(loop_space(op), value(op.operands[0]), op.msg.data)
            continue
        if op.name == "tensor.extract":
            values[op.results[0]] = _extract(
                generic,
                op,
                [value(v) for v in op.operands[1:]],
                loop_space(op),
                captured,
            )
            continue
        if op.regions or not op.name.startswith(("arith.", "math.")):
            raise LoweringError(
                f"'{op.name}' inside a linalg.generic body is not supported", generic
            )
        if op.name in ("arith.index_cast", "arith.index_castui"):
            values[op.results[0]] = _cast_integer(
                value(op.operands[0]),
                body_type(op.results[0].type),
                op.name.endswith("ui"),
                shape,
            )
            continue
        if op.name in ("arith.extf", "arith.truncf") and compute_type(
            op.operands[0].type
        ) == compute_type(op.results[0].type):
            # f16/bf16 already compute in f32: the conversion is the identity here.
            values[op.results[0]] = value(op.operands[0])
            continue
        if op.name in _EXPANSIONS:
            values[op.results[0]] = _EXPANSIONS[op.name](value(op.operands[0]), shape)
            continue
        if op.name == "math.powf":
            values[op.results[0]] = _powf(
                value(op.operands[0]), value(op.operands[1]), shape
            )
            continue
        new = op.create(
            operands=[value(v) for v in op.operands],
            result_types=[
                TensorType(body_type(r.type), shape) if shape else body_type(r.type)
                for r in op.results
            ],
            properties=dict(op.properties),
            attributes=dict(op.attributes),
        )
        _insert(new)
        for old, result in zip(op.results, new.results):
            values[old] = result
    raise LoweringError("linalg.generic body without linalg.yield", generic)


def _constant_attr(op: Operation) -> Attribute | None:
    """The `value` of a constant op (a property, or an attribute in older forms)."""
    attr = op.properties.get("value")
    return attr if attr is not None else op.attributes.get("value")


def _cast_integer(
    value: SSAValue, target: Attribute, unsigned: bool, shape
) -> SSAValue:
    """An integer tile converted to `target` (an `arith.index_cast` in a kernel)."""
    have = element_type_of(value.type)
    if have == target:
        return value
    result_type = TensorType(target, shape) if shape else target
    if have.width.data < target.width.data:  # type: ignore[union-attr]
        if unsigned:
            return arith.ExtUIOp(value, result_type).result
        return arith.ExtSIOp(value, result_type).result
    return arith.TruncIOp(value, result_type).result


def _device_assert(space: TileSpace, condition: SSAValue, message: str) -> None:
    """`tt.assert` that `condition` holds on every lane inside the space."""
    outside = arith.XOrIOp(space.mask, splat_const(1, i1, space.shape)).result
    tt.AssertOp(arith.OrIOp(condition, outside).result, message)


def _extract(
    generic: Operation,
    op: Operation,
    indices: list[SSAValue],
    space: TileSpace,
    captured: Mapping[SSAValue, SSAValue],
) -> SSAValue:
    """`tensor.extract` in a body: a load of a kernel input at gathered offsets."""
    source = op.operands[0]
    if source not in captured:
        raise LoweringError(
            "a linalg.generic body extracts from a tensor that is not passed to the kernel",
            generic,
        )
    tensor_shape = source.type.get_shape()
    if pymath.prod(tensor_shape) >= 2**31:
        raise LoweringError(
            f"a gather from {source.type} needs 64-bit element offsets; at most 2**31 elements",
            generic,
        )
    total: SSAValue | None = None
    for size, stride, index, operand in zip(
        tensor_shape, row_major_strides(tensor_shape), indices, op.operands[1:]
    ):
        fixed = _constant_int(operand)
        if size == 1 or fixed == 0:
            continue
        term = arith.TruncIOp(index, TensorType(i32, space.shape)).result
        if stride != 1:
            term = arith.MuliOp(term, splat_const(stride, i32, space.shape)).result
        total = term if total is None else arith.AddiOp(total, term).result
    if total is None:
        total = splat_const(0, i32, space.shape)
    element = element_type_of(source.type)
    pointers = tt.AddPtrOp(splat(captured[source], space.shape), total).result
    return widen(load_elements(pointers, space.mask, element))


def _constant_int(value: SSAValue) -> int | None:
    """The integer of a scalar `arith.constant`, else None."""
    owner = value.owner
    if isinstance(owner, Operation) and owner.name == "arith.constant":
        attr = _constant_attr(owner)
        if isinstance(attr, IntegerAttr):
            return attr.value.data
    return None


def _tanh(x: SSAValue, shape: Sequence[int]) -> SSAValue:
    """tanh(x) = 1 - 2 / (exp(2x) + 1): exact at both infinities, no NaN."""
    from xdsl.dialects import math

    element = element_type_of(x.type)
    two, one = splat_const(2.0, element, shape), splat_const(1.0, element, shape)
    e = math.ExpOp(arith.MulfOp(x, two)).result
    return arith.SubfOp(one, arith.DivfOp(two, arith.AddfOp(e, one))).result


def _splat_value(tile: SSAValue) -> float | None:
    """The scalar of a tile made by a splat `arith.constant`, else None."""
    owner = tile.owner
    if not isinstance(owner, Operation) or owner.name != "arith.constant":
        return None
    attr = _constant_attr(owner)
    if isinstance(attr, FloatAttr):
        return float(attr.value.data)
    if isinstance(attr, DenseIntOrFPElementsAttr) and len(set(attr.get_values())) == 1:
        return float(attr.get_values()[0])
    return None


def _powf(x: SSAValue, y: SSAValue, shape: Sequence[int]) -> SSAValue:
    """x ** y for Triton, which has no `math.powf`.

    A constant small integer exponent (GELU's x ** 3) is exact products; 0.5 is
    a square root; any other exponent is exp2(y * log2|x|) with C's rules for a
    negative base (odd integer exponent: negative; non-integer: NaN) and y = 0.
    """
    from xdsl.dialects import math

    element = element_type_of(x.type)
    exponent = _splat_value(y)
    if exponent is not None and exponent == int(exponent) and abs(exponent) <= 16:
        result = splat_const(1.0, element, shape)
        power, base = abs(int(exponent)), x
        while power:
            if power & 1:
                result = arith.MulfOp(result, base).result
            power >>= 1
            if power:
                base = arith.MulfOp(base, base).result
        if exponent < 0:
            result = arith.DivfOp(splat_const(1.0, element, shape), result).result
        return result
    if exponent == 0.5:
        return math.SqrtOp(x).result
    magnitude = math.Exp2Op(arith.MulfOp(y, math.Log2Op(math.AbsFOp(x)).result)).result
    zero, one, two = (splat_const(v, element, shape) for v in (0.0, 1.0, 2.0))
    whole = CmpfOp(math.FloorOp(y).result, y, "oeq").result
    half = math.FloorOp(arith.DivfOp(y, two)).result
    odd = CmpfOp(arith.SubfOp(y, arith.MulfOp(half, two)).result, one, "oeq").result
    negative = CmpfOp(x, zero, "olt").result
    flip = arith.AndIOp(negative, odd).result
    result = SelectOp(flip, arith.NegfOp(magnitude).result, magnitude).result
    invalid = arith.AndIOp(
        negative, arith.XOrIOp(whole, splat_const(1, i1, shape)).result
    )
    nan = splat_const(float("nan"), element, shape)
    result = SelectOp(invalid.result, nan, result).result
    return SelectOp(CmpfOp(y, zero, "oeq").result, one, result).result


_EXPANSIONS = {"math.tanh": _tanh}
"""Math ops Triton's GPU conversion does not legalise, written with ones it does."""


def _insert(op: Operation) -> None:
    """Make sure a created op sits at the implicit builder's insertion point.

    `Operation.create` already inserts it inside an `ImplicitBuilder` (through
    `__post_init__`); outside one it stays detached, which is a bug here.
    """
    if op.parent is None:
        raise AssertionError("kernel ops must be built inside an ImplicitBuilder")
