"""How the matmul template reads its operand tiles: strided loads and prologues.

A product is `linalg.matmul`, `linalg.batch_matmul` or `mirage.matmul` (NumPy
batch broadcasting, `transpose_lhs` / `transpose_rhs`).  Each operand tile
is the logical `[rows, cols]` block of the operand matrix for one K step:

- an operand the kernel reads from memory is one strided load: a transposed
  operand swaps its two strides, and a batch dimension of size 1 (or one the
  operand lacks) has stride 0, so nothing is copied or broadcast in memory;
- an operand computed inside the kernel (a prologue: elementwise ops, and
  transposes, reshapes and slices of kernel inputs or of elementwise values)
  is evaluated on that block by `index_remap.IndexedValues`: each layout op
  maps the block's indices to its source's, so its inputs are read tile by
  tile at the addresses the chain names and the operand never reaches
  memory.  The result is narrowed back to the operand's element type, so
  f16/bf16 products still use f16/bf16 `tt.dot`.
"""

from __future__ import annotations

from dataclasses import dataclass

from xdsl.dialects import arith
from xdsl.dialects.builtin import TensorType, i32
from xdsl.ir import Operation, SSAValue

from mirage_mlir.dialects import tt
from mirage_mlir.dialects.arith import CmpiOp, SelectOp
from mirage_mlir.lowering.dtypes import narrow
from mirage_mlir.lowering.fused_body import KernelGroup, splat_constant_value
from mirage_mlir.lowering.index_remap import IndexedValues
from mirage_mlir.lowering.kernel_builder import LoweringError, const_i32, splat, splat_const


@dataclass(frozen=True)
class Product:
    """One matrix product of a kernel: `lhs @ rhs` with optional transposes."""

    op: Operation
    lhs: SSAValue
    rhs: SSAValue
    transpose_lhs: bool
    transpose_rhs: bool

    @property
    def result(self) -> SSAValue:
        """The product's value."""
        return self.op.results[0]

    @property
    def k(self) -> int:
        """The contracted size."""
        shape = self.lhs.type.get_shape()  # type: ignore[union-attr]
        return shape[-2] if self.transpose_lhs else shape[-1]


def product_of(op: Operation) -> Product:
    """The `Product` of a matmul op; linalg products must accumulate into a zero fill."""
    if op.name == "mirage.matmul":
        return Product(
            op, op.lhs, op.rhs, op.transpose_lhs is not None, op.transpose_rhs is not None
        )
    if splat_constant_value(op.outputs[0]) != 0.0:
        raise LoweringError(f"'{op.name}' must accumulate into a zero fill", op)
    return Product(op, op.inputs[0], op.inputs[1], False, False)


def prologue_ops(group: KernelGroup, values: list[SSAValue]) -> list[Operation]:
    """The group's ops that `values` (product operands) depend on, in program order."""
    in_group = {r: op for op in group.ops for r in op.results}
    needed: set[Operation] = set()
    work = list(values)
    while work:
        value = work.pop()
        op = in_group.get(value)
        if op is None or op in needed:
            continue
        needed.add(op)
        work.extend(op.operands)
    return [op for op in group.ops if op in needed]


def batch_indices(pid: SSAValue, batch_shape: tuple[int, ...]) -> list[SSAValue]:
    """Scalar index per batch dimension, from a flat batch program id (row-major)."""
    indices: list[SSAValue] = []
    rest = pid
    for d in reversed(range(len(batch_shape))):
        size = batch_shape[d]
        if d == 0:
            indices.insert(0, rest)
        else:
            indices.insert(0, arith.RemSIOp(rest, const_i32(size)).result)
            rest = arith.DivSIOp(rest, const_i32(size)).result
    return indices


def _outer(rows: SSAValue, cols: SSAValue) -> tuple[SSAValue, SSAValue]:
    """`rows` and `cols` broadcast to the [len(rows), len(cols)] block."""
    (r,), (c,) = rows.type.get_shape(), cols.type.get_shape()  # type: ignore[union-attr]
    return (
        tt.BroadcastOp(tt.ExpandDimsOp(rows, 1), [r, c]).result,
        tt.BroadcastOp(tt.ExpandDimsOp(cols, 0), [r, c]).result,
    )


def _in_range(index: SSAValue, size: int) -> SSAValue:
    return CmpiOp(index, splat_const(size, i32, index.type.get_shape()), "slt").result


@dataclass
class OperandReader:
    """Reads operand tiles of one kernel's products inside the K loop."""

    group: KernelGroup
    pointers: dict[SSAValue, SSAValue]
    batch: list[SSAValue]
    """Scalar batch indices of the output (empty for 2-D products)."""

    def tile(self, value: SSAValue, transposed: bool, rows: SSAValue, cols: SSAValue) -> SSAValue:
        """The logical `[rows, cols]` block of matrix operand `value` (masked with 0)."""
        tensor_type = value.type
        assert isinstance(tensor_type, TensorType)
        shape = tuple(tensor_type.get_shape())
        r2, c2 = _outer(rows, cols)
        block_shape = tuple(r2.type.get_shape())  # type: ignore[union-attr]
        # Stored dims: a transposed operand holds the logical rows in its last dim.
        stored_rows, stored_cols = (c2, r2) if transposed else (r2, c2)
        index = (*self._batch_blocks(shape, block_shape), stored_rows, stored_cols)
        mask = arith.AndIOp(_in_range(stored_rows, shape[-2]), _in_range(stored_cols, shape[-1])).result
        element = tensor_type.get_element_type()
        values = IndexedValues(block_shape, self.pointers, frozenset(prologue_ops(self.group, [value])))
        computed = values.evaluate(value, index, mask, self.group.anchor)
        if value in self.pointers:
            return computed  # a masked load: lanes outside the operand are already 0
        # Lanes outside the operand must add nothing to the product.
        zero = splat_const(0.0, computed.type.get_element_type(), block_shape)  # type: ignore[union-attr]
        return narrow(SelectOp(mask, computed, zero).result, element)

    def _batch_blocks(self, shape: tuple[int, ...], like) -> list[SSAValue | None]:
        """Per batch dim of the operand, its index (None, index 0, where it broadcasts)."""
        lead = len(shape) - 2
        blocks: list[SSAValue | None] = []
        for d in range(lead):
            out_d = len(self.batch) - lead + d
            blocks.append(None if shape[d] == 1 or out_d < 0 else splat(self.batch[out_d], like))
        return blocks
