"""Type rules of the tensor algebra: element types, shapes, einsum specs.

`result_type(kind, attrs, operand_types)` gives the type of a node from its kind, attributes
and operand types, or raises GraphError naming the problem. Graph nodes (graph.py) and e-graph
e-nodes (serialized.py) are typed by the same function, so an e-class whose e-nodes disagree
is caught as an unsound rewrite.
"""

from __future__ import annotations

import math
from typing import Any, NamedTuple, Sequence

Shape = tuple[int, ...]

#: Element sizes in bytes, by MLIR element type name.
DTYPE_BYTES: dict[str, int] = {
    "f64": 8,
    "f32": 4,
    "f16": 2,
    "bf16": 2,
    "i64": 8,
    "i32": 4,
    "i1": 1,
}

#: Elementwise operations and their arity. Comparisons produce `i1`.
ELEMENTWISE_ARITY: dict[str, int] = {
    "neg": 1,
    "abs": 1,
    "exp": 1,
    "log": 1,
    "tanh": 1,
    "sqrt": 1,
    "rsqrt": 1,
    "reciprocal": 1,
    "sigmoid": 1,
    "erf": 1,
    "sin": 1,
    "cos": 1,
    "relu": 1,
    "add": 2,
    "sub": 2,
    "mul": 2,
    "div": 2,
    "max": 2,
    "min": 2,
    "pow": 2,
    "gt": 2,
    "ge": 2,
    "lt": 2,
    "le": 2,
    "eq": 2,
    "ne": 2,
    "where": 3,
}
COMPARISONS = frozenset({"gt", "ge", "lt", "le", "eq", "ne"})

#: Einsum index letters, in the order that defines index bit masks and canonical layouts.
LETTERS = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"


class GraphError(ValueError):
    """A term graph that is ill-typed or malformed."""


class TensorType(NamedTuple):
    """The static type of a value: its shape and element type."""

    shape: Shape
    dtype: str

    def __str__(self) -> str:
        return "x".join(str(d) for d in self.shape + (self.dtype,))  # type: ignore[operator]

    @property
    def numel(self) -> int:
        """The number of elements."""
        return math.prod(self.shape)

    @property
    def nbytes(self) -> int:
        """The size in bytes."""
        return self.numel * DTYPE_BYTES[self.dtype]


# --------------------------------------------------------------------------------------------
# Type rules, shared by graph nodes and e-graph e-nodes


def parse_spec(spec: str, arity: int | None = None) -> tuple[list[str], str]:
    """Split an einsum spec "ab,bc->ac" into operand layouts and the output layout.

    The output must be explicit, letters only (no ellipsis), without repeated letters, and each
    output letter must occur in some operand.
    """
    if spec.count("->") != 1:
        raise GraphError(
            f"einsum spec '{spec}' needs exactly one '->' with an explicit output"
        )
    lhs, out = spec.split("->")
    layouts = lhs.split(",")
    for part in layouts + [out]:
        bad = [c for c in part if c not in LETTERS]
        if bad:
            raise GraphError(f"einsum spec '{spec}': '{bad[0]}' is not an index letter")
    if arity is not None and len(layouts) != arity:
        raise GraphError(
            f"einsum spec '{spec}' names {len(layouts)} operands, {arity} given"
        )
    if len(set(out)) != len(out):
        raise GraphError(f"einsum spec '{spec}' repeats a letter in its output")
    missing = set(out) - set("".join(layouts))
    if missing:
        raise GraphError(
            f"einsum spec '{spec}': output letter '{min(missing)}' is in no operand"
        )
    return layouts, out


def index_sizes(
    layouts: Sequence[str], shapes: Sequence[Shape], spec: str
) -> dict[str, int]:
    """The size of each einsum letter, checking that operands agree (no broadcasting)."""
    sizes: dict[str, int] = {}
    for layout, shape in zip(layouts, shapes):
        if len(layout) != len(shape):
            raise GraphError(
                f"einsum spec '{spec}': layout '{layout}' has {len(layout)} letters for an "
                f"operand of rank {len(shape)}"
            )
        for letter, dim in zip(layout, shape):
            if sizes.setdefault(letter, dim) != dim:
                raise GraphError(
                    f"einsum spec '{spec}': letter '{letter}' is {sizes[letter]} in one operand "
                    f"and {dim} in another"
                )
    return sizes


def broadcast_shapes(shapes: Sequence[Shape], what: str) -> Shape:
    """NumPy broadcasting of several shapes."""
    rank = max((len(s) for s in shapes), default=0)
    out: list[int] = []
    for axis in range(rank):
        dims = {s[axis - rank + len(s)] for s in shapes if axis - rank + len(s) >= 0}
        dims.discard(1)
        if len(dims) > 1:
            raise GraphError(
                f"{what}: shapes {', '.join(map(str, shapes))} do not broadcast"
            )
        out.append(dims.pop() if dims else 1)
    return tuple(out)


def normalized_axis(axis: int, rank: int, what: str) -> int:
    """`axis` (negative counts from the end) as an index in 0..rank-1; GraphError if out of range."""
    if not -rank <= axis < max(rank, 1):
        raise GraphError(f"{what}: axis {axis} is out of range for rank {rank}")
    return axis % max(rank, 1)


def same_dtype(types: Sequence[TensorType], what: str) -> str:
    """The one element type of `types`; GraphError naming `what` if they differ."""
    dtypes = {t.dtype for t in types}
    if len(dtypes) != 1:
        raise GraphError(
            f"{what}: operands have different element types {sorted(dtypes)}"
        )
    return dtypes.pop()


def check_leaf_type(shape: Any, dtype: Any, what: str) -> None:
    """GraphError unless `shape` is a tuple of sizes and `dtype` a known element type."""
    if not isinstance(shape, tuple) or not all(
        isinstance(d, int) and d >= 0 for d in shape
    ):
        raise GraphError(
            f"{what}: shape {shape!r} is not a tuple of non-negative integers"
        )
    if dtype not in DTYPE_BYTES:
        raise GraphError(f"{what}: unknown element type {dtype!r}")


def result_type(kind: str, attrs: tuple, operands: Sequence[TensorType]) -> TensorType:
    """The type of a `kind` node with `attrs` applied to operands of the given types.

    Each kind's rule is in its record in the op registry (passes/eqsat/kinds/). Raises
    GraphError, with a message naming the problem, for an ill-typed node.
    """
    from mirage_mlir.passes.eqsat.kinds import kind_named

    return kind_named(kind).type_rule(attrs, operands)
