"""The ops of a kernel group and how their elementwise part runs on one tile.

A `KernelGroup` is what becomes one kernel: the ops (the body of a
`mirage.kernel`, or one op on its own), the values it reads from memory and
the values it writes.  `FusedBody` evaluates the elementwise ops of a group on
a `TileSpace`: each tensor value becomes a tile in registers, and only the
group's inputs are loaded (through their indexing maps) and only its outputs
stored, so intermediates never reach memory.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from xdsl.dialects.builtin import (
    DenseIntOrFPElementsAttr,
    FloatAttr,
    IntegerAttr,
    TensorType,
)
from xdsl.ir import Operation, SSAValue

from mirage_mlir.dialects import tt
from mirage_mlir.lowering.dtypes import compute_type, narrow
from mirage_mlir.lowering.kernel_builder import (
    LoweringError,
    TileSpace,
    emit_elementwise_body,
    splat,
    splat_const,
    tensor_operand_dims,
)
from mirage_mlir.lowering.index_remap import (
    index_of_space,
    result_index,
    row_major_offsets,
)
from mirage_mlir.lowering.layout_ops import LAYOUT_OPS, run_layout_op


@dataclass
class KernelGroup:
    """The ops that become one kernel, with what it reads and writes.

    `inputs` are values the body reads from memory (block arguments of a
    `mirage.kernel`, or operands of a lone op and the tensors its generic
    bodies extract from), `outputs` the values it writes;
    `anchor` is the op that errors point at, and `template` names the kernel
    template that builds it.
    """

    template: str
    ops: list[Operation]
    inputs: list[SSAValue]
    outputs: list[SSAValue]
    anchor: Operation


def splat_constant_value(value: SSAValue) -> float | int | None:
    """The scalar of a splat `arith.constant` tensor or a `linalg.fill`, else None."""
    owner = value.owner
    if isinstance(owner, Operation) and owner.name == "arith.constant":
        attr = owner.properties.get("value")
        attr = attr if attr is not None else owner.attributes.get("value")
        if isinstance(attr, DenseIntOrFPElementsAttr):
            values = attr.get_values()
            if len(set(values)) == 1:
                return float(values[0])
        if isinstance(attr, FloatAttr):
            return float(attr.value.data)
        if isinstance(attr, IntegerAttr):
            return attr.value.data
    if isinstance(owner, Operation) and owner.name == "linalg.fill":
        return splat_constant_value(owner.operands[0])
    return None


def captured_tensors(ops: Sequence[Operation]) -> list[SSAValue]:
    """Tensors the regions of `ops` read but that are defined outside all of `ops`.

    A `linalg.generic` body may `tensor.extract` from a weight or a function
    argument; such a tensor is one more input of the kernel (a gather reads it).
    """
    inside: set[SSAValue] = set()
    for op in ops:
        for nested in op.walk():
            inside.update(nested.results)
            for region in nested.regions:
                for block in region.blocks:
                    inside.update(block.args)
    found: list[SSAValue] = []
    for op in ops:
        for region in op.regions:
            for nested in region.walk():
                for operand in nested.operands:
                    if isinstance(operand.type, TensorType) and operand not in inside:
                        found.append(operand)
    return list(dict.fromkeys(found))


def is_elementwise_generic(op: Operation) -> bool:
    """A `linalg.generic` with only parallel loops and one identity-mapped output."""
    if op.name != "linalg.generic" or len(op.results) != 1:
        return False
    if any(str(t.data) != "parallel" for t in op.iterator_types):
        return False
    out_map = op.indexing_maps.data[-1].data
    return tensor_operand_dims(out_map, op) == list(range(out_map.num_dims))


@dataclass
class FusedBody:
    """Evaluates a group's elementwise ops on one tile space of `space_shape`.

    `pointers` maps each group input to its kernel pointer argument.  `tiles`
    holds every value computed so far as a tile over the whole space;
    values in `row_constant` (results of a reduction of the last dimension)
    are the same all along the last dimension.
    """

    space: TileSpace
    space_shape: tuple[int, ...]
    pointers: dict[SSAValue, SSAValue]
    tiles: dict[SSAValue, SSAValue] = field(default_factory=dict)
    row_constant: set[SSAValue] = field(default_factory=set)

    def read(
        self, value: SSAValue, dims: Sequence[int | None], user: Operation
    ) -> SSAValue:
        """The tile of `value` read at iteration dims `dims` of the space."""
        identity = list(dims) == list(range(len(self.space_shape)))
        if value in self.tiles:
            dropped_last = list(dims) == list(range(len(self.space_shape) - 1))
            if identity or (value in self.row_constant and dropped_last):
                return self.tiles[value]
            raise LoweringError(
                f"'{user.name}' reads a value computed in the same kernel through a "
                "broadcast or permutation, which this template cannot fuse",
                user,
            )
        if value in self.pointers:
            return self.space.load(self.pointers[value], value.type, dims)
        scalar = splat_constant_value(value)
        if scalar is not None:
            element = compute_type(value.type.get_element_type())  # type: ignore[union-attr]
            return splat_const(scalar, element, self.space.shape)
        raise LoweringError(
            f"'{user.name}' reads a value this kernel does not have", user
        )

    def run(self, op: Operation) -> bool:
        """Evaluate `op` if it is elementwise (or free); False if it is not."""
        if op.name in ("tensor.empty", "linalg.fill", "arith.constant"):
            return True  # read lazily as splats, or as matmul inits
        if op.name in LAYOUT_OPS:
            run_layout_op(self, op)
            return True
        if op.name == "linalg.transpose":
            self._check_shape(op, op.results[0].type)
            perm = list(op.permutation.get_values())
            dims: list[int | None] = [0] * len(perm)
            for result_dim, source_dim in enumerate(perm):
                dims[source_dim] = result_dim
            self.tiles[op.results[0]] = self.read(op.operands[0], dims, op)
            return True
        if is_elementwise_generic(op):
            self._check_shape(op, op.results[0].type)
            maps = [m.data for m in op.indexing_maps.data]
            tiles = [
                self.read(v, tensor_operand_dims(m, op), op)
                for v, m in zip(op.inputs, maps)
            ]
            out_arg = op.regions[0].block.args[-1]
            tiles.append(
                self.read(op.outputs[0], list(range(len(self.space_shape))), op)
                if out_arg.uses
                else (
                    tiles[0]
                    if tiles
                    else splat_const(0.0, compute_type(out_arg.type), self.space.shape)
                )
            )
            (self.tiles[op.results[0]],) = emit_elementwise_body(
                op, tiles, self.space.shape, space=self.space, captured=self.pointers
            )
            return True
        return False

    def _check_shape(self, op: Operation, result_type: object) -> None:
        assert isinstance(result_type, TensorType)
        if tuple(result_type.get_shape()) != self.space_shape:
            raise LoweringError(
                f"'{op.name}' produces {result_type}, but the kernel's iteration space is "
                + "x".join(map(str, self.space_shape)),
                op,
            )


def store_output(
    body: FusedBody,
    views: dict[SSAValue, Operation],
    value: SSAValue,
    pointer: SSAValue,
    anchor: Operation,
    kernel: str,
) -> None:
    """Write output `value` of `kernel` ("a matmul kernel"): a tile of `body`, or a view of one
    through the layout ops in `views` (value -> the op that makes it), each lane at the
    address its index maps to."""
    space = body.space
    chain: list[Operation] = []
    source = value
    while source in views:
        chain.append(views[source])
        source = views[source].operands[0]
    if source not in body.tiles:
        raise LoweringError(
            f"{kernel}'s output must be a value of its epilogue", anchor
        )
    tile = body.read(source, list(range(len(body.space_shape))), anchor)
    if not chain:
        space.store(pointer, value.type, tile)
        return
    index = index_of_space(space.index, body.space_shape)
    for op in reversed(chain):
        index = result_index(op, index, space.shape)
    out_type = value.type
    assert isinstance(out_type, TensorType)
    offsets = row_major_offsets(tuple(out_type.get_shape()), index, space.shape)
    pointers = tt.AddPtrOp(splat(pointer, space.shape), offsets).result
    tt.StoreOp(pointers, narrow(tile, out_type.get_element_type()), space.mask)
