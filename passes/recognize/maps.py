"""Indexing maps: moving tensors between their own layout and a loop nest's iteration space.

A structured op's indexing map says which loop indexes each axis of an operand. The maps
torch-mlir writes are projected permutations, possibly with constant-0 results for axes of
size 1 that are broadcast:

    (d0, d1, d2) -> (d0, d1, d2)     the operand spans the whole iteration space
    (d0, d1, d2) -> (d0, d1, 0)      a [B, S, 1] operand broadcast along d2
    (d0, d1, d2) -> (d2)             a bias broadcast along d0 and d1
    (d0, d1, d2, d3, d4) -> (d0, d1, d3, d4)    GQA's repeat: broadcast along d2

`lift` turns an operand into a term whose axes are the loops in order (absent loops as size-1
axes, so NumPy broadcasting reaches the iteration space); `place` turns a term over some loops
into the layout an output map asks for.
"""

from __future__ import annotations

from typing import Sequence

from xdsl.ir.affine import AffineConstantExpr, AffineDimExpr, AffineMap

from mirage_mlir.passes.eqsat.graph import Node, broadcast
from mirage_mlir.passes.recognize.state import Unrecognized, reshape, transpose


def map_dims(amap: AffineMap) -> list[int | None]:
    """The loop of each result of a projected-permutation map (None for a constant 0)."""
    dims: list[int | None] = []
    for expr in amap.results:
        if isinstance(expr, AffineDimExpr):
            dims.append(expr.position)
        elif isinstance(expr, AffineConstantExpr) and expr.value == 0:
            dims.append(None)
        else:
            raise Unrecognized(f"indexing map {amap} is not a projected permutation")
    used = [d for d in dims if d is not None]
    if len(set(used)) != len(used):
        raise Unrecognized(f"indexing map {amap} repeats a loop")
    return dims


def loop_sizes(maps: Sequence[AffineMap], shapes: Sequence[tuple[int, ...]]) -> list[int]:
    """The extent of every loop, read from the operand shapes through their maps."""
    if not maps:
        raise Unrecognized("a structured op without indexing maps")
    count = maps[0].num_dims
    sizes: list[int | None] = [None] * count
    for amap, shape in zip(maps, shapes):
        if amap.num_dims != count or len(amap.results) != len(shape):
            raise Unrecognized(f"indexing map {amap} does not fit an operand of shape {shape}")
        for axis, loop in enumerate(map_dims(amap)):
            if loop is None:
                if shape[axis] != 1:
                    raise Unrecognized(f"a constant index reads an axis of size {shape[axis]}")
                continue
            if sizes[loop] is None:
                sizes[loop] = shape[axis]
            elif sizes[loop] != shape[axis]:
                raise Unrecognized(f"loop d{loop} has extents {sizes[loop]} and {shape[axis]}")
    if any(s is None for s in sizes):
        raise Unrecognized("a loop whose extent no operand gives")
    return [int(s) for s in sizes]  # type: ignore[arg-type]


def _strip_leading_ones(shape: Sequence[int]) -> tuple[int, ...]:
    shape = tuple(shape)
    while shape and shape[0] == 1:
        shape = shape[1:]
    return shape


def lift(node: Node, amap: AffineMap, sizes: Sequence[int]) -> Node:
    """`node` with its axes in loop order; loops it does not span become size-1 axes.

    The result broadcasts (NumPy rules) to the iteration space `sizes`; leading size-1 axes
    are left out, so a [C] bias stays [C] rather than [1, C].
    """
    dims = map_dims(amap)
    loops = [d for d in dims if d is not None]
    if loops != sorted(loops):
        dense = reshape(node, tuple(s for s, d in zip(node.shape, dims) if d is not None))
        order = sorted(range(len(loops)), key=lambda i: loops[i])
        node = transpose(dense, tuple(order))
    needed = _strip_leading_ones(sizes[k] if k in loops else 1 for k in range(len(sizes)))
    if len(node.shape) <= len(sizes) and _strip_leading_ones(node.shape) == needed:
        return node
    return reshape(node, needed)


def fill_space(node: Node, sizes: Sequence[int]) -> Node:
    """`node` broadcast to the whole iteration space, when it does not span it already."""
    sizes = tuple(sizes)
    if node.shape == sizes:
        return node
    if _strip_leading_ones(node.shape) == _strip_leading_ones(sizes) and len(node.shape) < len(sizes):
        return reshape(node, sizes)
    return broadcast(node, sizes)


def place(node: Node, loops: Sequence[int], amap: AffineMap, shape: Sequence[int]) -> Node:
    """Lay out `node`, whose axes are `loops` in order, as output map `amap` asks: `shape`."""
    dims = map_dims(amap)
    wanted = [d for d in dims if d is not None]
    if sorted(wanted) != sorted(loops):
        raise Unrecognized(f"output map {amap} does not name exactly the loops {list(loops)}")
    perm = tuple(list(loops).index(k) for k in wanted)
    return reshape(transpose(node, perm), tuple(shape))
