"""Strided views: where an attention operand's elements sit in a kernel buffer.

A fused attention kernel may read q, k and v through `tensor.extract_slice`
of a joined QKV projection, `tensor.expand_shape` into heads and a
`linalg.transpose`, and write its result through the inverse chain.  None of
these ops moves data: each only changes how an index maps to an element of the
buffer.  A `StridedView` is that map (an element offset plus one stride per
dimension), so the kernel addresses the buffer directly and the views cost
nothing.
"""

from __future__ import annotations

from dataclasses import dataclass

from xdsl.ir import Operation, SSAValue

from mirage_mlir.lowering.kernel_builder import LoweringError, row_major_strides


@dataclass(frozen=True)
class StridedView:
    """Element `offset` and per-dimension `strides` of a tensor inside a buffer."""

    offset: int
    shape: tuple[int, ...]
    strides: tuple[int, ...]


def _shape(value: SSAValue) -> tuple[int, ...]:
    return tuple(value.type.get_shape())  # type: ignore[union-attr]


def _groups(op: Operation) -> list[list[int]]:
    return [[i.value.data for i in group.data] for group in op.reassociation.data]


def _split(view: StridedView, groups: list[list[int]], shape: tuple[int, ...]) -> StridedView:
    """Each dim of `view` split into the dims of its group (expand_shape)."""
    strides = [0] * len(shape)
    for source_dim, group in enumerate(groups):
        step = view.strides[source_dim]
        for dim in reversed(group):
            strides[dim] = step
            step *= shape[dim]
    return StridedView(view.offset, shape, tuple(strides))


def _merge(view: StridedView, groups: list[list[int]], shape: tuple[int, ...], op) -> StridedView:
    """The dims of each group merged into one (collapse_shape); they must be contiguous."""
    strides = []
    for group in groups:
        for outer, inner in zip(group, group[1:]):
            if view.shape[inner] != 1 and view.strides[outer] != view.strides[inner] * view.shape[inner]:
                raise LoweringError("collapse_shape of a non-contiguous view cannot be addressed", op)
        kept = [d for d in group if view.shape[d] != 1] or group[-1:]
        strides.append(view.strides[kept[-1]])
    return StridedView(view.offset, shape, tuple(strides))


def source_view(value: SSAValue, buffers: set[SSAValue]) -> tuple[SSAValue, StridedView]:
    """The buffer `value` is read from, and its view: walks back through view ops."""
    if value in buffers:
        shape = _shape(value)
        return value, StridedView(0, shape, tuple(row_major_strides(shape)))
    op = value.owner
    if not isinstance(op, Operation):
        raise LoweringError("an attention operand must come from the kernel's inputs")
    if op.name == "linalg.transpose":
        buffer, view = source_view(op.operands[0], buffers)
        perm = [int(p) for p in op.permutation.get_values()]
        return buffer, StridedView(
            view.offset, _shape(value), tuple(view.strides[p] for p in perm)
        )
    if op.name == "tensor.expand_shape":
        buffer, view = source_view(op.operands[0], buffers)
        return buffer, _split(view, _groups(op), _shape(value))
    if op.name == "tensor.collapse_shape":
        buffer, view = source_view(op.operands[0], buffers)
        return buffer, _merge(view, _groups(op), _shape(value), op)
    if op.name == "tensor.extract_slice":
        if op.offsets or op.sizes or op.strides:
            raise LoweringError("extract_slice with dynamic offsets cannot be addressed", op)
        buffer, view = source_view(op.operands[0], buffers)
        offsets = list(op.static_offsets.get_values())
        steps = list(op.static_strides.get_values())
        sizes = list(op.static_sizes.get_values())
        if len(sizes) != len(_shape(value)):
            raise LoweringError("rank-reducing extract_slice cannot be addressed", op)
        offset = view.offset + sum(o * s for o, s in zip(offsets, view.strides))
        return buffer, StridedView(
            offset, _shape(value), tuple(s * t for s, t in zip(view.strides, steps))
        )
    raise LoweringError(f"an attention kernel cannot read its operand through '{op.name}'", op)


def result_view(result: SSAValue, output: SSAValue) -> StridedView:
    """The view of `result` inside the row-major buffer of `output`, a view chain of it."""
    shape = _shape(output)
    return _rebase(result, output, StridedView(0, shape, tuple(row_major_strides(shape))))


def _rebase(result: SSAValue, value: SSAValue, view: StridedView) -> StridedView:
    """Continue `result_view` from `value`, already placed at `view`."""
    if value is result:
        return view
    op = value.owner
    if not isinstance(op, Operation) or op.name not in (
        "linalg.transpose", "tensor.expand_shape", "tensor.collapse_shape"
    ):
        raise LoweringError("an attention kernel's output must be its result or a view of it")
    source = op.operands[0]
    if op.name == "linalg.transpose":
        perm = [int(p) for p in op.permutation.get_values()]
        strides = [0] * len(perm)
        for i, p in enumerate(perm):
            strides[p] = view.strides[i]
        inner = StridedView(view.offset, _shape(source), tuple(strides))
    elif op.name == "tensor.expand_shape":
        inner = _merge(view, _groups(op), _shape(source), op)
    else:
        inner = _split(view, _groups(op), _shape(source))
    return _rebase(result, source, inner)
