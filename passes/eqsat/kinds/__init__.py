"""The op registry: every kind of the term graph, declared once (see kinds/kind.py).

    from mirage_mlir.passes.eqsat.kinds import KINDS, kind_named
    kind_named("softmax").type_rule((-1,), [x_type])

Modules by family: leaves.py (input, constant, full, opaque), linear.py (matmul, transpose,
reshape, scale, contract), elementwise.py, layout.py (reduce, broadcast, concat, slice,
cast), neural.py (softmax, attention, rms_norm, layer_norm, batch_norm), masks.py
(causal_mask). A new kind is one
`Kind` record in the module of its family, added to that module's KINDS, plus its rules.
"""

from __future__ import annotations

from mirage_mlir.passes.eqsat.kinds import (
    elementwise,
    layout,
    leaves,
    linear,
    masks,
    neural,
)
from mirage_mlir.passes.eqsat.kinds.kind import (
    COLUMN,
    NO_ENGINE,
    ROW,
    Decoder,
    Kind,
    Origin,
)
from mirage_mlir.passes.eqsat.type_rules import GraphError

__all__ = [
    "COLUMN",
    "COMPILE_TIME_KINDS",
    "DECODERS",
    "FREE_KINDS",
    "KINDS",
    "LAYOUT_KINDS",
    "NO_ENGINE",
    "PER_ELEMENT_KINDS",
    "ROW",
    "STRIDED_LOAD_KINDS",
    "STRUCTURED_KINDS",
    "VIEW_KINDS",
    "Kind",
    "Origin",
    "kind_named",
]

#: Every kind, by name.
KINDS: dict[str, Kind] = {
    k.name: k
    for family in (leaves, linear, elementwise, layout, neural, masks)
    for k in family.KINDS
}

#: The kinds built as `graph.Structured` nodes (no node class of their own).
STRUCTURED_KINDS: tuple[str, ...] = tuple(
    k.name for k in layout.KINDS + neural.KINDS + masks.KINDS
)


def _names(test) -> frozenset[str]:
    return frozenset(k.name for k in KINDS.values() if test(k))


# The families of kinds (see `Kind`), as sets of names for stages that test many nodes.

#: Kinds whose value no kernel computes: arguments, named constants, splats.
FREE_KINDS = _names(
    lambda k: k.origin in (Origin.ARGUMENT, Origin.CONSTANT, Origin.SPLAT)
)
#: Kinds whose value is known when the program is built: named constants, splats.
COMPILE_TIME_KINDS = _names(lambda k: k.origin in (Origin.CONSTANT, Origin.SPLAT))
#: Kinds that only move or retype data.
LAYOUT_KINDS = _names(lambda k: k.layout)
#: Views: no data moves.
VIEW_KINDS = _names(lambda k: k.view)
#: Kinds that map each element (after broadcasting) independently.
PER_ELEMENT_KINDS = _names(lambda k: k.per_element)
#: Index remappings a tiled kernel applies while loading (pointer arithmetic on strides).
STRIDED_LOAD_KINDS = _names(lambda k: k.strided_load)

#: Every e-node decoder, by the egglog constructor it reads ("Tensor.<name>").
DECODERS: dict[str, Decoder] = {
    constructor: decoder
    for k in KINDS.values()
    for constructor, decoder in k.decoders.items()
}


def kind_named(name: str) -> Kind:
    """The kind called `name`; GraphError for a name no kind has."""
    try:
        return KINDS[name]
    except KeyError:
        raise GraphError(f"unknown node kind {name!r}") from None
