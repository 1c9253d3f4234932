"""Constant folding in extraction: layout ops on constants cost nothing at run time.

A concatenation, transpose, reshape, slice, broadcast or cast whose operands are all known at
compile time (constants, splats, or such layout ops of them) is computed once when the program
is built, not by a kernel: joining weights for one matmul on [w1 | w2] (rules_shared_input.py)
is free. `folded_enodes` lists those e-nodes; extraction gives them cost 0.
"""

from __future__ import annotations

from mirage_mlir.passes.eqsat.kinds import COMPILE_TIME_KINDS
from mirage_mlir.passes.eqsat.kinds import LAYOUT_KINDS as _LAYOUT_GRAPH_KINDS
from mirage_mlir.passes.eqsat.serialized import ENODE_FORMS, EGraphView

#: The e-node kinds that only move data: the layout kinds, and the e-node forms of them
#: ("mt" is a transpose, "take" a slice).
LAYOUT_KINDS = _LAYOUT_GRAPH_KINDS | {
    name for name, form in ENODE_FORMS.items() if form.kind in _LAYOUT_GRAPH_KINDS
}


def folded_enodes(view: EGraphView) -> set[str]:
    """Ids of the layout e-nodes whose operands are all compile-time constants."""
    constant_classes = {
        eclass
        for eclass, nodes in view.classes.items()
        if any(node.kind in COMPILE_TIME_KINDS for node in nodes)
    }
    folded: set[str] = set()
    changed = True
    while changed:
        changed = False
        for eclass, nodes in view.classes.items():
            for node in nodes:
                if (
                    node.id not in folded
                    and node.kind in LAYOUT_KINDS
                    and all(c in constant_classes for c in node.children)
                ):
                    folded.add(node.id)
                    constant_classes.add(eclass)
                    changed = True
    return folded
