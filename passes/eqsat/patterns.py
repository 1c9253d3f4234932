"""Small structural patterns over the term graph and the e-graph, written once.

The facts about a kind are fields of its record (kinds/kind.py). What is left are shapes of
program that several stages look for by name: "an elementwise op and its operation", "a
reshape of x", "a cast between float types", "an einsum that is a matmul". Each is a function
here, so that this module is the one place outside the registry that spells how such a
pattern is written in kinds and attributes. The functions read only `kind`, `attrs` and
`operands` (or `shape` and `dtype`), so those over a single node also take e-nodes.
"""

from __future__ import annotations

from typing import Any

FLOAT_PREFIXES = ("f", "bf")


def elementwise_op(node: Any) -> str | None:
    """The operation of an elementwise node or e-node ("exp", "sub", ...); None otherwise."""
    return node.attrs[0] if node.kind == "elementwise" else None


def through_reshape(node: Any) -> Any:
    """The operand of a reshape node, or the node itself when it is no reshape."""
    return node.operands[0] if node.kind == "reshape" else node


def through_reshapes(node: Any) -> Any:
    """The node a chain of reshapes reads (the node itself when it is no reshape)."""
    while node.kind == "reshape":
        node = node.operands[0]
    return node


def permutation(node: Any) -> tuple[int, ...] | None:
    """The permutation of a transpose node or e-node; None for any other node."""
    return node.attrs[0] if node.kind == "transpose" else None


def causal_form(node: Any) -> str | None:
    """The form of a causal mask node ("causal_allowed", ...), or None for any other node."""
    return node.attrs[0] if node.kind == "causal_mask" else None


def is_float_cast(node: Any) -> bool:
    """Whether `node` is a cast from one floating-point type to another (it only rounds)."""
    return (
        node.kind == "cast"
        and node.dtype.startswith(FLOAT_PREFIXES)
        and node.operands[0].dtype.startswith(FLOAT_PREFIXES)
    )


def matmul_layout(spec: str) -> bool:
    """Whether a binary einsum is exactly numpy.matmul: "...ik,...kj->...ij", same batch."""
    lhs, out = spec.split("->")
    parts = lhs.split(",")
    if len(parts) != 2:
        return False
    la, lb = parts
    if len(la) < 2 or len(la) != len(lb) or len(out) != len(la):
        return False
    if len(set(la)) != len(la) or len(set(lb)) != len(lb):
        return False
    batch, (i, k), (k2, j) = la[:-2], la[-2:], lb[-2:]
    return (
        lb[:-2] == batch
        and k == k2
        and out == batch + i + j
        and len({i, k, j} | set(batch)) == len(batch) + 3
    )


def is_matmul_einsum(kind: str, attrs: tuple) -> bool:
    """Whether a node of `kind` and `attrs` is an einsum contraction that is exactly a matmul."""
    return kind == "contract" and matmul_layout(attrs[0])
