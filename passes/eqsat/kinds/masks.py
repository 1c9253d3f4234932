"""The causal mask kind: a [queries, keys] mask that depends on nothing but its shape.

    kind          attrs                          operands
    causal_mask   (form, queries, keys, dtype)   ()

Causal masks arrive in the MLIR as index arithmetic (iota, subtract, compare, select), which
the algebra does not model; recognition (recognize/masks.py) evaluates such a compile-time
subgraph and, when its value is one of these forms, replaces it by this kind:

    causal_allowed   i1  true where key j <= query i     used as where(m, scores, -inf)
    causal_future    i1  true where j > i                used as where(m, -inf, scores)
    causal_additive  f   0 where j <= i, -inf elsewhere  used as scores + m

The attention rules then see through the mask (language_nn's `causal_masked` facts); a mask
still read by the optimised program is emitted as one linalg.generic over its grid.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from mirage_mlir.passes.eqsat.kinds.kind import EncodeContext, ENodeChildren, Kind
from mirage_mlir.passes.eqsat.type_rules import GraphError, TensorType, check_leaf_type

#: The forms of a causal mask, with the element type each holds.
CAUSAL_FORMS = ("causal_allowed", "causal_future", "causal_additive")


def _type(attrs: tuple, operands: Sequence[TensorType]) -> TensorType:
    form, queries, keys, dtype = attrs
    if form not in CAUSAL_FORMS:
        raise GraphError(
            f"unknown causal mask {form!r}; known: {', '.join(CAUSAL_FORMS)}"
        )
    if operands:
        raise GraphError("causal_mask: takes no operands")
    check_leaf_type((queries, keys), dtype, f"causal mask {form}")
    if (dtype == "i1") == (form == "causal_additive"):
        raise GraphError(
            f"causal mask {form}: element type {dtype} does not fit the form"
        )
    return TensorType((queries, keys), dtype)


def _semantics(attrs: tuple, args: list[np.ndarray]) -> np.ndarray:
    form, queries, keys, _ = attrs
    allowed = np.tril(np.ones((queries, keys), dtype=bool))
    if form == "causal_allowed":
        return allowed
    if form == "causal_future":
        return ~allowed
    return np.where(allowed, 0.0, -np.inf)


def _encode(node, terms: list, context: EncodeContext):
    from mirage_mlir.passes.eqsat.language import Tensor

    form, queries, keys, dtype = node.attrs
    return Tensor.causal_mask(form, queries, keys, dtype)


def _decode(e: ENodeChildren) -> tuple[str, tuple, list[str]]:
    return "causal_mask", tuple(e.literal(i) for i in range(4)), []


CAUSAL_MASK = Kind(
    name="causal_mask",
    attrs=("form", "queries", "keys", "dtype"),
    type_rule=_type,
    semantics=_semantics,
    # Computed from the loop indices where it is read: it writes its grid, reads nothing.
    work=lambda attrs, operands, result: (0, "vector"),
    encode=_encode,
    decoders={"causal_mask": _decode},
    emit="mirage_mlir.passes.emit.emit_masks:emit_causal_mask",
)

KINDS = (CAUSAL_MASK,)
