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

from mirage_mlir.passes.eqsat.kinds import elementwise, layout, leaves, linear, masks, neural
from mirage_mlir.passes.eqsat.kinds.kind import NO_ENGINE, Decoder, Kind
from mirage_mlir.passes.eqsat.type_rules import GraphError

__all__ = ["DECODERS", "KINDS", "NO_ENGINE", "STRUCTURED_KINDS", "Kind", "kind_named"]

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
