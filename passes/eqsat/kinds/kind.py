"""What the optimiser knows about one kind of term-graph node, in one record.

A `Kind` gathers every fact about a node kind that more than one stage reads: its attributes,
its type rule, its reference semantics (the only NumPy oracle: rule-soundness examples,
`verify` and the extraction checks all evaluate through it), its work for the cost model
(FLOPs and the engine that runs it; bytes follow from the types), its egglog encoding and the
readers that decode its e-nodes, and the function that emits it as MLIR.

Stages look a kind up in `KINDS` (kinds/registry.py) instead of testing `kind == "..."`, so
adding a kind is one new record plus its rules.

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
from typing import Any, Protocol

import numpy as np

from mirage_mlir.passes.eqsat.type_rules import TensorType

#: The engine of a kind that launches no kernel of its own (a leaf, a reshape).
NO_ENGINE = "none"


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
    """

    name: str
    attrs: tuple[str, ...]
    type_rule: Callable[[tuple, Sequence[TensorType]], TensorType]
    semantics: Callable[[tuple, list[np.ndarray]], np.ndarray] | None
    work: Callable[[tuple, Sequence[TensorType], TensorType], tuple[int, str]]
    encode: Callable[[Any, list[Any], EncodeContext], Any]
    decoders: Mapping[str, Decoder] = field(default_factory=dict)
    emit: str | None = None

    def emitter(self) -> Callable[..., Any] | None:
        """The function that emits a node of this kind as MLIR (see `emit`)."""
        if self.emit is None:
            return None
        module, _, function = self.emit.partition(":")
        return getattr(importlib.import_module(module), function)
