"""Constant folding: what reads only compile-time values is computed when the program is built.

`worth_folding` is the one rule of how large a folded result may grow: the lowering folds
every op that reads only weights by it (passes/fold_compile_time.py), the traced CPU
runtime its graph's ops on constants (driver/torch_graph.py), and kernel formation counts
no kernel for such nodes (fusion_templates.FusionIndex), so the report's kernels are the
plan's launches.

In extraction (below), layout ops on constants cost nothing at run time.

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


#: A folded result may always be this large; beyond it, at most GROWTH times the bytes its op
#: reads (a broadcast that would make a small weight a large one stays an op).
SMALL_RESULT_BYTES = 64 * 1024
GROWTH = 2


def worth_folding(result_bytes: int, read_bytes: int) -> bool:
    """Whether an op reading only compile-time values is computed when the program is built."""
    return result_bytes <= max(SMALL_RESULT_BYTES, GROWTH * read_bytes)


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
