"""Kernel template: column reductions (statistics over axis 0) with their epilogue.

The group works on an `x` of shape [N, C].  Its values are either *full*
([N, C], computed block by block in registers) or *column* values ([C] or
[1, C], one per column).  One program owns `block_c` columns and walks the
rows in `scf.for` loops of `block_r` rows:

- a reduction of axis 0 (`linalg.generic` with iterators
  `["reduction", "parallel"]`) accumulates its column block across a loop;
- `mirage.batch_norm` gathers mean and biased variance in one loop with
  Chan's parallel update (block mean and centred sum of squares merged into
  running ones), so no E[x²] - E[x]² cancellation; its running statistics are
  column values;
- elementwise generics and `tensor.collapse_shape`/`expand_shape` between
  [1, C] and [C] run on whichever kind they produce.

Scheduling: a reduction whose input needs the results of reductions of
level k has level k + 1 and runs in loop k + 1; a full output whose column
inputs have level k is stored in loop k + 1, beside that loop's reductions.
BatchNorm + ReLU therefore reads x twice (statistics, then normalise and
store) and writes the output once; column outputs are stored once at the end.

f16 and bf16 values are widened to f32 as they are loaded, so column sums,
BatchNorm statistics and the normalisation run in f32, and are rounded to
the output's type only when stored.

Grid: `(cdiv(C, block_c),)`.
"""

from __future__ import annotations

from xdsl.builder import ImplicitBuilder
from xdsl.dialects import arith, scf
from xdsl.dialects import math as xmath
from xdsl.dialects.builtin import TensorType, i32
from xdsl.ir import Block, Operation, Region, SSAValue

from mirage_mlir.dialects import tt
from mirage_mlir.dialects.arith import CmpiOp, SelectOp
from mirage_mlir.lowering.dtypes import compute_type, convert, widen
from mirage_mlir.lowering.fused_body import KernelGroup, is_elementwise_generic, splat_constant_value
from mirage_mlir.lowering.kernel_builder import (
    REDUCTION_COMBINERS,
    LoweringError,
    const_i32,
    emit_elementwise_body,
    next_power_of_two,
    reduction_combine,
    splat,
    splat_const,
    tensor_operand_dims,
)
from mirage_mlir.lowering.kernel_signature import kernel_for_group

BLOCK_C = 32
"""Columns per program (upper bound)."""

BLOCK_R = 64
"""Rows per loop iteration (upper bound)."""

_VIEWS = ("tensor.collapse_shape", "tensor.expand_shape")


def _element(value: SSAValue):
    return value.type.get_element_type()  # type: ignore[union-attr]


def _compute(value: SSAValue):
    """The type a value is computed in: f32 for f16/bf16 (see `lowering.dtypes`)."""
    return compute_type(_element(value))


def _is_column_reduction(op: Operation) -> bool:
    return op.name == "linalg.generic" and [str(t.data) for t in op.iterator_types] == [
        "reduction",
        "parallel",
    ]


class _ColumnKernel:
    """Emits the loops of one column-reduction kernel (see the module doc)."""

    def __init__(self, group: KernelGroup, n: int, c: int, pointers: dict):
        self.group, self.n, self.c, self.pointers = group, n, c, pointers
        self.block_c = min(BLOCK_C, next_power_of_two(c))
        self.block_r = min(BLOCK_R, next_power_of_two(n))
        self.columns: dict[SSAValue, SSAValue] = {}
        self.full_tiles: dict[SSAValue, SSAValue] = {}
        self._levels: dict[SSAValue, int] = {}

    # -- classification and scheduling -----------------------------------

    def kind(self, value: SSAValue) -> str:
        """'full' for [N, C] values, 'column' for [C] / [1, C] ones."""
        shape = tuple(value.type.get_shape())  # type: ignore[union-attr]
        if shape == (self.n, self.c):
            return "full"
        if shape in ((self.c,), (1, self.c)):
            return "column"
        raise LoweringError(
            f"a column-reduction kernel over {self.n}x{self.c} cannot hold a value of "
            f"{value.type}",
            self._user(value),
        )

    def _user(self, value: SSAValue) -> Operation:
        owner = value.owner
        return owner if isinstance(owner, Operation) else self.group.anchor

    def _deps(self, value: SSAValue) -> list[SSAValue]:
        owner = value.owner
        if value in self.pointers or not isinstance(owner, Operation):
            return []
        if owner.name == "linalg.generic":
            return list(owner.inputs)
        if owner.name in _VIEWS:
            return [owner.operands[0]]
        if owner.name == "mirage.batch_norm":
            return list(owner.operands)
        return []

    def level(self, value: SSAValue) -> int:
        """The loop after which a column value is known (0: before any loop).

        For a full value: the highest level of the column values it reads.
        """
        if value in self._levels:
            return self._levels[value]
        owner = value.owner
        deps = max((self.level(d) for d in self._deps(value)), default=0)
        # BatchNorm's output reads its own statistics, so it is one level up too.
        produced_by_loop = isinstance(owner, Operation) and (
            _is_column_reduction(owner) or owner.name == "mirage.batch_norm"
        )
        self._levels[value] = deps + 1 if produced_by_loop else deps
        return self._levels[value]

    # -- column values -----------------------------------------------------

    def column(self, value: SSAValue, cols: SSAValue, col_mask: SSAValue) -> SSAValue:
        """The [block_c] tile of a column value whose producers have run."""
        if value in self.columns:
            return self.columns[value]
        owner = value.owner
        if value in self.pointers:
            pointers = tt.AddPtrOp(splat(self.pointers[value], [self.block_c]), cols).result
            other = splat_const(0.0, _element(value), [self.block_c])
            tile = widen(tt.LoadOp(pointers, col_mask, other).result)
        elif (scalar := splat_constant_value(value)) is not None:
            tile = splat_const(scalar, _compute(value), [self.block_c])
        elif isinstance(owner, Operation) and owner.name in _VIEWS:
            tile = self.column(owner.operands[0], cols, col_mask)
        elif isinstance(owner, Operation) and is_elementwise_generic(owner):
            tiles = [self.column(v, cols, col_mask) for v in owner.inputs]
            out_arg = owner.regions[0].block.args[-1]
            out = self.column(owner.outputs[0], cols, col_mask) if out_arg.uses else tiles[0]
            (tile,) = emit_elementwise_body(owner, [*tiles, out], [self.block_c])
        else:
            raise LoweringError(
                "a column value of a column-reduction kernel must come from its inputs, "
                "a reduction over axis 0, or elementwise ops on those",
                self._user(value),
            )
        self.columns[value] = tile
        return tile

    def column_deps(self, value: SSAValue, found: dict) -> None:
        """Collect the column values a full value reads (to compute before a loop)."""
        if self.kind(value) == "column":
            found[value] = None
            return
        for dep in self._deps(value):
            self.column_deps(dep, found)

    # -- full values, inside a loop body -------------------------------------

    def full(self, value: SSAValue, rows_cols: tuple, mask: SSAValue) -> SSAValue:
        """The [block_r, block_c] tile of a full value for the current row block."""
        if value in self.full_tiles:
            return self.full_tiles[value]
        shape = [self.block_r, self.block_c]
        owner = value.owner
        if value in self.pointers:
            rows, cols = rows_cols
            offsets = arith.AddiOp(
                arith.MuliOp(rows, splat_const(self.c, i32, shape)), cols
            ).result
            pointers = tt.AddPtrOp(splat(self.pointers[value], shape), offsets).result
            other = splat_const(0.0, _element(value), shape)
            tile = widen(tt.LoadOp(pointers, mask, other).result)
        elif (scalar := splat_constant_value(value)) is not None:
            tile = splat_const(scalar, _compute(value), shape)
        elif isinstance(owner, Operation) and is_elementwise_generic(owner):
            maps = [m.data for m in owner.indexing_maps.data]
            tiles = [self._read(v, m, owner, rows_cols, mask) for v, m in zip(owner.inputs, maps)]
            out_arg = owner.regions[0].block.args[-1]
            out = self.full(owner.outputs[0], rows_cols, mask) if out_arg.uses else tiles[0]
            (tile,) = emit_elementwise_body(owner, [*tiles, out], shape)
        elif isinstance(owner, Operation) and owner.name == "mirage.batch_norm":
            x = self.full(owner.operands[0], rows_cols, mask)
            mean, rstd = self.columns[("mean", owner)], self.columns[("rstd", owner)]
            gamma, beta = (self._wide(self.columns[v]) for v in owner.operands[1:3])
            centred = arith.SubfOp(x, self._wide(mean)).result
            tile = arith.MulfOp(centred, self._wide(rstd)).result
            tile = arith.AddfOp(arith.MulfOp(tile, gamma), beta).result
        else:
            raise LoweringError(
                f"'{owner.name if isinstance(owner, Operation) else value}' cannot be lowered "
                "by the column-reduction template",
                self._user(value),
            )
        self.full_tiles[value] = tile
        return tile

    def _wide(self, column_tile: SSAValue) -> SSAValue:
        """A [block_c] tile repeated down the rows of the block."""
        return tt.BroadcastOp(tt.ExpandDimsOp(column_tile, 0), [self.block_r, self.block_c]).result

    def _read(self, value, indexing_map, user, rows_cols, mask) -> SSAValue:
        dims = tensor_operand_dims(indexing_map, user)
        if self.kind(value) == "full" and dims == [0, 1]:
            return self.full(value, rows_cols, mask)
        if self.kind(value) == "column" and [d for d in dims if d is not None] == [1]:
            return self._wide(self.columns[value])
        raise LoweringError(
            "a column-reduction kernel reads [N, C] values unpermuted and columns broadcast "
            "down the rows only",
            user,
        )

    # -- reductions ------------------------------------------------------------

    def reduction_step(self, op: Operation, acc: SSAValue, rows_cols, mask) -> SSAValue:
        """Fold one row block of a reduction generic into its [block_c] accumulator."""
        block = op.regions[0].block
        found = reduction_combine(op)
        if found is None or len(op.results) != 1:
            raise LoweringError(
                "a column reduction's body must end in one add, mul, max or min with the "
                "accumulator",
                op,
            )
        combine, mapped = found
        maps = [m.data for m in op.indexing_maps.data]
        tiles = [self._read(v, m, op, rows_cols, mask) for v, m in zip(op.inputs, maps)]
        if mapped in block.args:
            tile = tiles[list(block.args).index(mapped)]
        else:
            shape = [self.block_r, self.block_c]
            (tile,) = emit_elementwise_body(op, [*tiles, tiles[0]], shape, until=mapped)
        combiner, identity = REDUCTION_COMBINERS[combine.name]
        element = _compute(op.results[0])
        tile = SelectOp(mask, tile, splat_const(identity, element, [self.block_r, self.block_c])).result
        part = tt.ReduceOp([tile], 0, lambda a, b: [combiner(a, b).result]).result[0]
        return combiner(acc, part).result

    def identity(self, op: Operation) -> float:
        """The identity of a reduction generic's combine (its accumulator's start)."""
        combine = op.regions[0].block.last_op.operands[0].owner
        return REDUCTION_COMBINERS[combine.name][1] if combine.name in REDUCTION_COMBINERS else 0.0


def _row_block(kernel: _ColumnKernel, r0: SSAValue, cols: SSAValue, col_mask: SSAValue):
    """Row and column indices and the in-bounds mask of the block starting at row r0."""
    br, bc = kernel.block_r, kernel.block_c
    rows = arith.AddiOp(splat(r0, [br]), tt.MakeRangeOp(0, br)).result
    row_mask = CmpiOp(rows, splat_const(kernel.n, i32, [br]), "slt").result
    rows2 = tt.BroadcastOp(tt.ExpandDimsOp(rows, 1), [br, bc]).result
    cols2 = tt.BroadcastOp(tt.ExpandDimsOp(cols, 0), [br, bc]).result
    mask = arith.AndIOp(
        tt.BroadcastOp(tt.ExpandDimsOp(row_mask, 1), [br, bc]),
        tt.BroadcastOp(tt.ExpandDimsOp(col_mask, 0), [br, bc]),
    ).result
    return (rows2, cols2), mask


def _welford_step(kernel: _ColumnKernel, op, r0, mean, m2, rows_cols, mask):
    """Merge one row block into the running mean and centred sum of squares (Chan)."""
    br, bc = kernel.block_r, kernel.block_c
    x = kernel.full(op.operands[0], rows_cols, mask)
    element = _compute(op.results[1])
    zero = splat_const(0.0, element, [br, bc])
    count = arith.MinSIOp(const_i32(br), arith.SubiOp(const_i32(kernel.n), r0)).result
    count_b = arith.SIToFPOp(count, element).result
    seen = arith.SIToFPOp(r0, element).result
    total = arith.AddfOp(seen, count_b).result
    add = lambda a, b: [arith.AddfOp(a, b).result]  # noqa: E731
    block_sum = tt.ReduceOp([SelectOp(mask, x, zero).result], 0, add).result[0]
    block_mean = arith.DivfOp(block_sum, splat(count_b, [bc])).result
    centred = SelectOp(mask, arith.SubfOp(x, kernel._wide(block_mean)), zero).result
    block_m2 = tt.ReduceOp([arith.MulfOp(centred, centred).result], 0, add).result[0]
    delta = arith.SubfOp(block_mean, mean).result
    weight = arith.DivfOp(count_b, total).result
    new_mean = arith.AddfOp(mean, arith.MulfOp(delta, splat(weight, [bc]))).result
    cross = arith.MulfOp(arith.MulfOp(delta, delta), splat(arith.MulfOp(seen, weight).result, [bc]))
    new_m2 = arith.AddfOp(m2, arith.AddfOp(block_m2, cross)).result
    return new_mean, new_m2


def build_column_reduction_kernel(
    name: str, group: KernelGroup
) -> tuple[tt.FuncOp, tuple[int, ...]]:
    """The column-reduction kernel of `group` and its launch grid."""
    fulls = {
        tuple(v.type.get_shape())
        for v in [*group.inputs, *group.outputs]
        if len(v.type.get_shape()) == 2 and v.type.get_shape()[0] != 1  # type: ignore[union-attr]
    }
    if len(fulls) != 1:
        raise LoweringError(
            "a column-reduction kernel needs exactly one [N, C] shape among its buffers", group.anchor
        )
    ((n, c),) = fulls
    kernel_op, pointers, out_pointers = kernel_for_group(name, group)
    k = _ColumnKernel(group, n, c, pointers)
    reductions = [op for op in group.ops if _is_column_reduction(op)]
    norms = [op for op in group.ops if op.name == "mirage.batch_norm"]
    for op in norms:
        if len(op.operands[0].type.get_shape()) != 2:  # type: ignore[union-attr]
            raise LoweringError("mirage.batch_norm is lowered for [N, C] inputs only", op)
        if n < 2:
            raise LoweringError("mirage.batch_norm needs more than one row", op)
    for op in group.ops:
        ok = (
            op in reductions or op in norms or is_elementwise_generic(op)
            or op.name in (*_VIEWS, "tensor.empty", "linalg.fill", "arith.constant")
        )
        if not ok:
            raise LoweringError(f"'{op.name}' cannot be lowered by the column-reduction template", op)
    full_outputs = [v for v in group.outputs if k.kind(v) == "full"]
    loops = max(
        [k.level(op.results[0]) for op in reductions]
        + [k.level(op.results[1]) for op in norms]
        + [k.level(v) + 1 for v in full_outputs]
        + [0]
    )
    bc = k.block_c
    with ImplicitBuilder(kernel_op.body.block):
        start = arith.MuliOp(tt.GetProgramIdOp(0), const_i32(bc)).result
        cols = arith.AddiOp(splat(start, [bc]), tt.MakeRangeOp(0, bc)).result
        col_mask = CmpiOp(cols, splat_const(c, i32, [bc]), "slt").result
        for loop_level in range(1, loops + 1):
            _emit_loop(k, loop_level, reductions, norms, full_outputs, out_pointers, group, cols, col_mask)
        for value, pointer in zip(group.outputs, out_pointers):
            if k.kind(value) == "column":
                tile = k.column(value, cols, col_mask)
                tile = convert(tile, _element(value))
                tt.StoreOp(tt.AddPtrOp(splat(pointer, [bc]), cols), tile, col_mask)
        tt.ReturnOp()
    return kernel_op, (-(-c // bc),)


def _emit_loop(k, level, reductions, norms, full_outputs, out_pointers, group, cols, col_mask):
    """One pass over the rows: level-`level` statistics, and outputs they allow."""
    my_reductions = [op for op in reductions if k.level(op.results[0]) == level]
    my_norms = [op for op in norms if k.level(op.results[1]) == level]
    stores = [
        (v, p) for v, p in zip(group.outputs, out_pointers)
        if v in full_outputs and max(k.level(v), 0) + 1 == level
    ]
    needed: dict = {}
    for op in my_reductions:
        for value in op.inputs:
            k.column_deps(value, needed)
    for op in my_norms:
        k.column_deps(op.operands[0], needed)
    for value, _ in stores:
        k.column_deps(value, needed)
    for value in needed:
        k.column(value, cols, col_mask)
    bc = k.block_c
    inits, types = [], []
    for op in my_reductions:
        element = _compute(op.results[0])
        inits.append(splat_const(k.identity(op), element, [bc]))
        types.append(TensorType(element, [bc]))
    for op in my_norms:
        element = _compute(op.results[1])
        inits += [splat_const(0.0, element, [bc])] * 2
        types += [TensorType(element, [bc])] * 2
    body = Block(arg_types=[i32, *types])
    loop = scf.ForOp(const_i32(0), const_i32(k.n), const_i32(k.block_r), inits, Region(body))
    with ImplicitBuilder(body) as (r0, *accs):
        k.full_tiles = {}
        rows_cols, mask = _row_block(k, r0, cols, col_mask)
        results = [
            k.reduction_step(op, acc, rows_cols, mask) for op, acc in zip(my_reductions, accs)
        ]
        rest = accs[len(my_reductions):]
        for i, op in enumerate(my_norms):
            results += _welford_step(k, op, r0, rest[2 * i], rest[2 * i + 1], rows_cols, mask)
        br = k.block_r
        for value, pointer in stores:
            rows, cols2 = rows_cols
            offsets = arith.AddiOp(arith.MuliOp(rows, splat_const(k.c, i32, [br, bc])), cols2).result
            tile = convert(k.full(value, rows_cols, mask), _element(value))
            tt.StoreOp(tt.AddPtrOp(splat(pointer, [br, bc]), offsets), tile, mask)
        scf.YieldOp(*results)
    k.full_tiles = {}
    outs = list(loop.results)
    for op, acc in zip(my_reductions, outs):
        init = splat_constant_value(op.outputs[0])
        if init is None:
            raise LoweringError("a column reduction's init must be a constant fill", op)
        combiner = REDUCTION_COMBINERS[op.regions[0].block.last_op.operands[0].owner.name][0]
        k.columns[op.results[0]] = combiner(acc, splat_const(init, _element(acc), [bc])).result
    for i, op in enumerate(my_norms):
        _finish_batch_norm(k, op, outs[len(my_reductions) + 2 * i], outs[len(my_reductions) + 2 * i + 1], cols, col_mask)


def _finish_batch_norm(k: _ColumnKernel, op, mean, m2, cols, col_mask) -> None:
    """rstd, and the new running statistics, from the column statistics."""
    element = _compute(op.results[1])
    bc = k.block_c
    const = lambda v: splat_const(v, element, [bc])  # noqa: E731
    variance = arith.DivfOp(m2, const(float(k.n))).result
    eps = op.eps.value.data
    k.columns[("mean", op)] = mean
    k.columns[("rstd", op)] = xmath.RsqrtOp(arith.AddfOp(variance, const(eps))).result
    for value in op.operands[1:]:
        k.column(value, cols, col_mask)
    momentum = op.momentum.value.data
    rm, rv = (k.columns[v] for v in op.operands[3:5])
    unbiased = arith.MulfOp(variance, const(k.n / (k.n - 1))).result
    k.columns[op.results[1]] = arith.AddfOp(
        arith.MulfOp(rm, const(1.0 - momentum)), arith.MulfOp(mean, const(momentum))
    ).result
    k.columns[op.results[2]] = arith.AddfOp(
        arith.MulfOp(rv, const(1.0 - momentum)), arith.MulfOp(unbiased, const(momentum))
    ).result

