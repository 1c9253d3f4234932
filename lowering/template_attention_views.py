"""Strided views: where an attention operand's elements sit in a kernel buffer.

A fused attention kernel may read q, k and v through `tensor.extract_slice`
of a joined QKV projection, `tensor.expand_shape` into heads and a
`linalg.transpose`, and write its result through the inverse chain.  None of
these ops moves data: each only changes how an index maps to an element of the
buffer.  A `StridedView` is that map (an element offset plus one stride per
dimension), so the kernel addresses the buffer directly and the views cost
nothing.

Two kinds of `linalg.generic` are views too.  A *copy generic* has one input,
an identity output map and a body that yields its input, perhaps through one
`arith.extf` or `arith.truncf`: torch-mlir wraps f16/bf16 attention in them
(widen q, k and v to f32, narrow the result), and writes grouped-query
attention's `repeat_interleave` as one whose input map drops the group
dimension (a stride of 0) before a `collapse_shape` merges it into the heads.
Such a merge is a dimension with a *repeat* r: index i reads element
i // r, which is how the kernel maps query head h to KV head h // r.  The
element type conversions met on the way are returned beside the view, in the
order the values pass through them.
"""

from __future__ import annotations

from dataclasses import dataclass

from xdsl.ir import Attribute, Operation, SSAValue

from mirage_mlir.lowering.kernel_builder import (
    LoweringError,
    row_major_strides,
    tensor_operand_dims,
)

_CONVERSIONS = ("arith.extf", "arith.truncf")


@dataclass(frozen=True)
class StridedView:
    """Element `offset` and per-dimension `strides` of a tensor inside a buffer.

    `repeats[d]` (all 1 when empty) says that index i along d reads element
    i // repeats[d] of that dimension.
    """

    offset: int
    shape: tuple[int, ...]
    strides: tuple[int, ...]
    repeats: tuple[int, ...] = ()

    def repeat(self, dim: int) -> int:
        """How many consecutive indices along `dim` read the same element."""
        return self.repeats[dim] if self.repeats else 1

    def unrepeated(self, op: Operation | None = None) -> StridedView:
        """The view itself; a `LoweringError` if any dimension repeats."""
        if any(r != 1 for r in self.repeats):
            raise LoweringError("a repeated (broadcast) dimension cannot be addressed here", op)
        return StridedView(self.offset, self.shape, self.strides)


@dataclass(frozen=True)
class SourceOperand:
    """A kernel operand read through views: its `buffer`, its `view`, and the
    float types its values are converted to after loading, in order."""

    buffer: SSAValue
    view: StridedView
    conversions: tuple[Attribute, ...] = ()


def _shape(value: SSAValue) -> tuple[int, ...]:
    return tuple(value.type.get_shape())  # type: ignore[union-attr]


def _element(value: SSAValue) -> Attribute:
    return value.type.get_element_type()  # type: ignore[union-attr]


def _groups(op: Operation) -> list[list[int]]:
    return [[i.value.data for i in group.data] for group in op.reassociation.data]


def copy_generic_dims(op: Operation) -> list[int | None] | None:
    """For a copy generic (see the module doc): the iteration dim each input dim
    is read at (None: index 0).  None for any other op."""
    if op.name != "linalg.generic" or len(op.inputs) != 1 or len(op.results) != 1:
        return None
    if any(str(t.data) != "parallel" for t in op.iterator_types):
        return None
    in_map, out_map = (m.data for m in op.indexing_maps.data)
    block = op.regions[0].block
    body = list(block.ops)
    yielded = body[-1].operands[0] if body and body[-1].name == "linalg.yield" else None
    copies = len(body) == 1 and yielded is block.args[0]
    converts = (
        len(body) == 2
        and body[0].name in _CONVERSIONS
        and body[0].operands[0] is block.args[0]
        and yielded is body[0].results[0]
    )
    if not (copies or converts):
        return None
    try:
        if tensor_operand_dims(out_map, op) != list(range(out_map.num_dims)):
            return None
        return tensor_operand_dims(in_map, op)
    except LoweringError:
        return None  # not a projected permutation: it moves data


def _split(view: StridedView, groups: list[list[int]], shape: tuple[int, ...], op) -> StridedView:
    """Each dim of `view` split into the dims of its group (expand_shape)."""
    strides = [0] * len(shape)
    for source_dim, group in enumerate(groups):
        if view.repeat(source_dim) != 1 and len([d for d in group if shape[d] != 1]) > 1:
            raise LoweringError("expand_shape of a repeated dimension cannot be addressed", op)
        step = view.strides[source_dim]
        for dim in reversed(group):
            strides[dim] = step
            step *= shape[dim]
    repeats = [1] * len(shape)
    for source_dim, group in enumerate(groups):
        kept = [d for d in group if shape[d] != 1] or group[-1:]
        repeats[kept[-1]] = view.repeat(source_dim)
    return StridedView(view.offset, shape, tuple(strides), tuple(repeats))


def _merge(view: StridedView, groups: list[list[int]], shape: tuple[int, ...], op) -> StridedView:
    """The dims of each group merged into one (collapse_shape).

    The dims must be contiguous, except that trailing dims of stride 0 (a
    broadcast) make the merged dim repeat each element (grouped-query heads).
    """
    strides, repeats = [], []
    for group in groups:
        dims = [d for d in group if view.shape[d] != 1] or group[-1:]
        stride, repeat = view.strides[dims[0]], view.repeat(dims[0])
        for dim in dims[1:]:
            size, step = view.shape[dim], view.strides[dim]
            if step == 0 and view.repeat(dim) == 1:
                repeat *= size
            elif repeat == 1 and view.repeat(dim) == 1 and stride == step * size:
                stride = step
            else:
                raise LoweringError(
                    "collapse_shape of a non-contiguous view cannot be addressed", op
                )
        strides.append(stride)
        repeats.append(repeat)
    return StridedView(view.offset, shape, tuple(strides), tuple(repeats))


def _through_generic(view: StridedView, dims: list[int | None], shape) -> StridedView:
    """The view of a copy generic's result, from the view of its input."""
    strides, repeats = [0] * len(shape), [1] * len(shape)
    for input_dim, dim in enumerate(dims):
        if dim is not None:
            strides[dim], repeats[dim] = view.strides[input_dim], view.repeat(input_dim)
    return StridedView(view.offset, tuple(shape), tuple(strides), tuple(repeats))


def source_view(value: SSAValue, buffers: set[SSAValue]) -> SourceOperand:
    """The buffer `value` is read from, its view and conversions: walks back through views."""
    if value in buffers:
        shape = _shape(value)
        return SourceOperand(value, StridedView(0, shape, tuple(row_major_strides(shape))))
    op = value.owner
    if not isinstance(op, Operation):
        raise LoweringError("an attention operand must come from the kernel's inputs")
    if op.name == "linalg.generic" and (dims := copy_generic_dims(op)) is not None:
        source = source_view(op.inputs[0], buffers)
        conversions = source.conversions
        if _element(value) != _element(op.inputs[0]):
            conversions = (*conversions, _element(value))
        view = _through_generic(source.view, dims, _shape(value))
        return SourceOperand(source.buffer, view, conversions)
    if op.name not in (
        "linalg.transpose", "tensor.expand_shape", "tensor.collapse_shape", "tensor.extract_slice"
    ):
        raise LoweringError(f"an attention kernel cannot read its operand through '{op.name}'", op)
    source = source_view(op.operands[0], buffers)
    view = source.view
    if op.name == "linalg.transpose":
        perm = [int(p) for p in op.permutation.get_values()]
        view = StridedView(
            view.offset, _shape(value), tuple(view.strides[p] for p in perm),
            tuple(view.repeat(p) for p in perm),
        )
    elif op.name == "tensor.expand_shape":
        view = _split(view, _groups(op), _shape(value), op)
    elif op.name == "tensor.collapse_shape":
        view = _merge(view, _groups(op), _shape(value), op)
    else:
        view = _slice(view.unrepeated(op), op, _shape(value))
    return SourceOperand(source.buffer, view, source.conversions)


def _slice(view: StridedView, op: Operation, shape: tuple[int, ...]) -> StridedView:
    if op.offsets or op.sizes or op.strides:
        raise LoweringError("extract_slice with dynamic offsets cannot be addressed", op)
    offsets = list(op.static_offsets.get_values())
    steps = list(op.static_strides.get_values())
    sizes = list(op.static_sizes.get_values())
    if len(sizes) != len(shape):
        raise LoweringError("rank-reducing extract_slice cannot be addressed", op)
    offset = view.offset + sum(o * s for o, s in zip(offsets, view.strides))
    return StridedView(offset, shape, tuple(s * t for s, t in zip(view.strides, steps)))


def result_view(result: SSAValue, output: SSAValue) -> tuple[StridedView, tuple[Attribute, ...]]:
    """The view of `result` inside the row-major buffer of `output`, a view chain of
    it, and the float types the values are converted to on the way, in order."""
    shape = _shape(output)
    return _rebase(result, output, StridedView(0, shape, tuple(row_major_strides(shape))))


def _rebase(
    result: SSAValue, value: SSAValue, view: StridedView
) -> tuple[StridedView, tuple[Attribute, ...]]:
    """Continue `result_view` from `value`, already placed at `view`."""
    if value is result:
        return view, ()
    op = value.owner
    dims = copy_generic_dims(op) if isinstance(op, Operation) else None
    if not isinstance(op, Operation) or (dims is None and op.name not in (
        "linalg.transpose", "tensor.expand_shape", "tensor.collapse_shape"
    )):
        raise LoweringError("an attention kernel's output must be its result or a view of it")
    source = op.operands[0]
    conversion: tuple[Attribute, ...] = ()
    if dims is not None:
        if sorted(d for d in dims if d is not None) != list(range(len(dims))) or None in dims:
            raise LoweringError("an attention result cannot be broadcast into its output", op)
        inner = StridedView(view.offset, _shape(source), tuple(view.strides[d] for d in dims))
        if _element(value) != _element(source):
            conversion = (_element(value),)
    elif op.name == "linalg.transpose":
        perm = [int(p) for p in op.permutation.get_values()]
        strides = [0] * len(perm)
        for i, p in enumerate(perm):
            strides[p] = view.strides[i]
        inner = StridedView(view.offset, _shape(source), tuple(strides))
    elif op.name == "tensor.expand_shape":
        inner = _merge(view, _groups(op), _shape(source), op).unrepeated(op)
    else:
        inner = _split(view, _groups(op), _shape(source), op)
    found, conversions = _rebase(result, source, inner)
    return found, conversions + conversion
