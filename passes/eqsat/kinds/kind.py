"""What the optimiser knows about one kind of term-graph node, in one record.

A `Kind` gathers every fact about a node kind that more than one stage reads: its attributes,
its type rule, its reference semantics (the only NumPy oracle: rule-soundness examples,
`verify` and the extraction checks all evaluate through it), its work for the cost model
(FLOPs and the engine that runs it; bytes follow from the types), its egglog encoding and the
readers that decode its e-nodes, and the function that emits it as MLIR. It also says which
families the kind belongs to where stages treat families alike: where its value comes from
(`origin`), whether it only moves data (`layout`, `view`), how kernel formation may fuse it
(`per_element`, `strided_load`, `reduces`, ...) and whether it is a product (`contraction`).

Stages look a kind up in `KINDS` (kinds/__init__.py), or read the families derived from it
there (`FREE_KINDS`, `LAYOUT_KINDS`, ...), instead of testing a kind's name, so adding a kind
is one new record plus its rules.

    softmax = Kind(
        name="softmax",
        attrs=("axis",),
        type_rule=softmax_type,
        semantics=lambda attrs, args: reference.softmax(args[0], attrs[0]),
        work=lambda attrs, operands, result: (5 * result.numel, "vector"),
        encode=lambda node, terms, context: Tensor.softmax(terms[0], ...),
        decoders={"softmax": lambda e: ("softmax", (e.int(1),), [e.eclass(0)])},
        emit="mirage_mlir.passes.emit.emit_nn:emit_softmax",
    )
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import Enum
from typing import Any, Protocol

import numpy as np

from mirage_mlir.passes.eqsat.type_rules import TensorType

#: The engine of a kind that launches no kernel of its own (a leaf, a reshape).
NO_ENGINE = "none"


class Origin(Enum):
    """Where the value of a node comes from."""

    #: Its semantics, from its operands' values.
    COMPUTED = "computed"
    #: A function argument: given when the program runs.
    ARGUMENT = "argument"
    #: A named tensor the program holds (a weight): known by its name.
    CONSTANT = "constant"
    #: One scalar filling its shape: known when the program is built.
    SPLAT = "splat"
    #: The original op's own implementation: an op the algebra does not model.
    OPAQUE = "opaque"


#: What `Kind.reduces` says of a node: it reduces over the last axis, or over all others.
ROW, COLUMN = "row", "column"


class EncodeContext(Protocol):
    """What encoding a node into egglog may record besides its term."""

    def record_leaf(self, kind: str, name: str, ty: TensorType) -> None:
        """The type of a named leaf (the e-graph holds only its name)."""

    def add_fact(self, fact: Any) -> None:
        """An egglog fact to register with the term (a layout's letter mask, say)."""


class ENodeChildren(Protocol):
    """The children of one exported e-node, as a decoder reads them."""

    def literal(self, index: int) -> Any:
        """Child `index` as the string or number it holds."""

    def eclass(self, index: int) -> str:
        """The e-class of child `index`, a tensor."""

    def tensors(self, index: int) -> list[str]:
        """The e-classes of the tensor list (`Args`) at child `index`."""

    def tensors_with_layouts(self, index: int) -> tuple[list[str], list[str]]:
        """The e-classes and layouts of the einsum network (`Net`) at child `index`."""

    def layout(self, index: int) -> str:
        """The index letters of the layout (`Idx`) at child `index`."""

    def leaf_type(self, kind: str, name: str) -> TensorType:
        """The type recorded for a named leaf at encoding."""

    def __len__(self) -> int: ...


#: A decoder: an e-node's children to (kind, attrs, operand e-classes).
Decoder = Callable[[ENodeChildren], tuple[str, tuple, list[str]]]


@dataclass(frozen=True)
class Kind:
    """Everything about one node kind. See the module docstring.

    `semantics` is None for leaves (their values are given). `work` returns (FLOPs, engine)
    with engine one of "matrix", "vector", "loop_nest" or NO_ENGINE; a multiply-add counts 2.
    `emit` names the emitter as "module:function" (imported when first used, so the term graph
    does not import the MLIR builders); None for kinds emitted by the function emitter itself
    (leaves and opaque ops stay the values they were).

    The families (all optional; a kind computed by its semantics belongs to none):

    - `origin`: where a node's value comes from (`Origin`).
    - `layout`: it only moves or retypes data, no arithmetic; of compile-time constants it is
      computed once when the program is built (folding).
    - `view`: it reads its operand's data as it lies (a row-major reshape): no kernel.
    - `per_element`: each result element comes from the operand elements at its index (after
      broadcasting): it fuses into an elementwise kernel.
    - `strided_load` / `permuted_store`: an index remapping that a tiled (matmul, attention)
      kernel applies while loading an operand tile / storing its result tile.
    - `broadcasts`: it repeats its operand along axes (a reduction kernel reads it as a
      statistic expanded to the full shape).
    - `reduces(attrs, rank)`: for a node whose first operand has rank `rank`, ROW when it
      reduces over the last axis, COLUMN over every other axis, else None.
    - `fusion_core`: the kernel template (fusion_templates.TEMPLATES) it is the core op of.
    - `contraction`: a product that sums over axes its operands share (matmul, einsum).
    - `matrix_chain`: a binary matrix product; chains of them are re-associated.
    - `network` names, as "module:function" (see `emit`), the function that gives the view of
      a node of this kind in an einsum network (networks.py) from its operands' views; None
      for kinds a network does not go through.
    """

    name: str
    attrs: tuple[str, ...]
    type_rule: Callable[[tuple, Sequence[TensorType]], TensorType]
    semantics: Callable[[tuple, list[np.ndarray]], np.ndarray] | None
    work: Callable[[tuple, Sequence[TensorType], TensorType], tuple[int, str]]
    encode: Callable[[Any, list[Any], EncodeContext], Any]
    decoders: Mapping[str, Decoder] = field(default_factory=dict)
    emit: str | None = None
    origin: Origin = Origin.COMPUTED
    layout: bool = False
    view: bool = False
    per_element: bool = False
    strided_load: bool = False
    permuted_store: bool = False
    broadcasts: bool = False
    reduces: Callable[[tuple, int], str | None] | None = None
    fusion_core: str | None = None
    contraction: bool = False
    matrix_chain: bool = False
    network: str | None = None

    def emitter(self) -> Callable[..., Any] | None:
        """The function that emits a node of this kind as MLIR (see `emit`)."""
        return _imported(self.emit)

    def network_view(self) -> Callable[..., Any] | None:
        """The function that gives a node's view in an einsum network (see `network`)."""
        return _imported(self.network)


def _imported(path: str | None) -> Callable[..., Any] | None:
    """The function named "module:function", imported now; None for None."""
    if path is None:
        return None
    module, _, function = path.partition(":")
    return getattr(importlib.import_module(module), function)
