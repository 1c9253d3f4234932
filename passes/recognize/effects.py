"""Which ops have side effects: the ops eqsat-optimize must keep exactly where they are.

An op with side effects (a `func.call`, a `memref` load or store, `bufferization.to_tensor`,
an op of an unknown dialect, a `linalg.generic` whose body calls a function) may not be
cloned, moved past another such op, or erased, even when its results are unused.
Recognition makes each tensor result of such an op a leaf of the term graph (an Opaque node
with no operands), so the op stays in place and only the pure program around it is
optimised; emission's dead-code elimination never erases it.

    %m = linalg.matmul ...                       pure: optimised
    %s = func.call @log(%m) : (...) -> tensor    side effects: a leaf, kept in place
    %r = linalg.matmul ins(%s, %c ...)           pure: optimised, reads the leaf

xDSL 0.74 declares memory effects for arith, math, tensor and mirage ops but none for
linalg ops (not even `linalg.yield`), which its own helpers then treat as "unknown, assume
the worst". Here a linalg op on tensors is as pure as the ops in its body.
"""

from __future__ import annotations

from xdsl.dialects.builtin import MemRefType
from xdsl.ir import Operation
from xdsl.traits import MemoryEffect, RecursiveMemoryEffect

#: linalg ops that only name values of the enclosing op: no effects of their own.
_LINALG_BODY_OPS = ("linalg.yield", "linalg.index")


def has_side_effects(op: Operation) -> bool:
    """Whether `op` may read or write memory, allocate, or do anything but compute its results.

    Unknown ops (no declared effects) count as having side effects.
    """
    if op.name in _LINALG_BODY_OPS:
        return False
    if op.dialect_name() == "linalg":
        if any(isinstance(v.type, MemRefType) for v in op.operands):
            return True
        return _any_nested_effects(op)
    traits = op.get_traits_of_type(MemoryEffect)
    if not traits:
        return True
    for trait in traits:
        if isinstance(trait, RecursiveMemoryEffect):
            if _any_nested_effects(op):
                return True
            continue
        effects = trait.get_effects(op)
        if effects is None or effects:
            return True
    return False


def _any_nested_effects(op: Operation) -> bool:
    return any(
        has_side_effects(inner)
        for region in op.regions
        for block in region.blocks
        for inner in block.ops
    )
