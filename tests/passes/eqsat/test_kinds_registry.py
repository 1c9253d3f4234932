"""The op registry (passes/eqsat/kinds/): every kind is declared once and completely.

Each kind's record is what type inference, evaluation, the cost model, egglog encoding and
decoding and MLIR emission read; these tests check that every record is whole and that its
encoder and decoders are inverse (a node survives the trip into the e-graph and back).
"""

from __future__ import annotations

import numpy as np
import pytest

from mirage_mlir.passes.eqsat import graph as g
from mirage_mlir.passes.eqsat.cost import node_work
from mirage_mlir.passes.eqsat.evaluate import evaluate, random_values
from mirage_mlir.passes.eqsat import kinds as registry
from mirage_mlir.passes.eqsat.fusion_templates import TEMPLATES
from mirage_mlir.passes.eqsat.kinds import (
    COLUMN,
    DECODERS,
    KINDS,
    ROW,
    STRUCTURED_KINDS,
    Origin,
    kind_named,
)
from mirage_mlir.passes.eqsat.language import encode
from mirage_mlir.passes.eqsat.language_nn import causal_mask_leaf
from mirage_mlir.passes.eqsat.serialized import (
    ENODE_FORMS,
    export_json,
    infer_types,
    read_egraph,
)
from mirage_mlir.passes.eqsat.type_rules import GraphError

x = g.Input("x", (2, 4, 8), "f32")
y = g.Input("y", (2, 8, 4), "f32")
w = g.Constant("w", (8,), "f32")
b = g.Constant("b", (8,), "f32")
q = g.Input("q", (1, 4, 6, 8), "f32")
k = g.Input("k", (1, 2, 6, 8), "f32")
m2 = g.Input("m2", (16, 8), "f32")

#: One node of every kind that a program computes (leaves appear as their operands).
SAMPLES: dict[str, g.Node] = {
    "full": g.Full(0.5, (4, 8), "f32"),
    "matmul": x @ y,
    "transpose": g.Transpose(x, (2, 0, 1)),
    "reshape": g.Reshape(x, (8, 8)),
    "scale": x * 0.25,
    "contract": g.Contract((x, y), "bij,bjk->bik"),
    "elementwise": g.tanh(x),
    "opaque": g.Opaque("custom", (x,), (2, 4, 8), "f32"),
    "reduce": g.reduce(x, "sum", (-1,), True),
    "broadcast": g.broadcast(w, (4, 8)),
    "concat": g.concat([x, x], -2),  # the e-graph counts axes from the end
    "slice": g.strided_slice(x, (0, 1, 0), (2, 2, 4), (1, 1, 2)),
    "cast": g.cast(x, "f16"),
    "softmax": g.softmax(x, -1),
    "attention": g.attention(q, k, k, 0.25, True),
    "rms_norm": g.rms_norm(x, w, 1e-6),
    "layer_norm": g.layer_norm(x, w, b, 1e-5),
    "batch_norm": g.batch_norm(m2, w, b, 1e-5),
    "causal_mask": causal_mask_leaf("causal_additive", 6, 8, "f32"),
}
LEAVES = ("input", "constant")


def test_every_kind_has_a_sample_and_a_record() -> None:
    assert set(SAMPLES) | set(LEAVES) == set(KINDS)
    assert set(STRUCTURED_KINDS) <= set(KINDS)


def test_an_unknown_kind_is_named_in_the_error() -> None:
    with pytest.raises(GraphError, match="unknown node kind 'frobnicate'"):
        kind_named("frobnicate")
    with pytest.raises(GraphError, match="unknown node kind 'frobnicate'"):
        g.result_type("frobnicate", (), [])


@pytest.mark.parametrize("name", sorted(SAMPLES))
def test_the_record_types_evaluates_and_costs_its_node(name: str) -> None:
    node = SAMPLES[name]
    kind = KINDS[name]
    assert kind.type_rule(node.attrs, [o.type for o in node.operands]) == node.type
    work = node_work(name, node.attrs, [o.type for o in node.operands], node.type)
    assert work.flops >= 0
    if name == "opaque":
        return
    graph = g.Graph.of(node)
    (value,) = evaluate(graph, random_values(graph))
    assert value.shape == node.shape
    # A causal mask is -inf above the diagonal by design.
    assert np.all(np.isfinite(value)) or name == "causal_mask"


@pytest.mark.parametrize("name", sorted(SAMPLES))
def test_every_computing_kind_but_opaque_has_an_emitter(name: str) -> None:
    emitter = KINDS[name].emitter()
    assert (emitter is None) == (name == "opaque")


@pytest.mark.parametrize("name", sorted(SAMPLES))
def test_encoding_and_decoding_are_inverse(name: str) -> None:
    node = SAMPLES[name]
    encoding = encode(g.Graph.of(node), seed_contractions=False)
    view = read_egraph(export_json(encoding.egraph), encoding.leaves)
    infer_types(view)
    (root,) = view.roots
    signatures = [view.signature(e) for e in view.classes[root]]
    assert (node.kind, node.attrs) in signatures
    assert view.types[root] == node.type


def test_every_decoder_belongs_to_one_kind() -> None:
    owners = [c for kind in KINDS.values() for c in kind.decoders]
    assert sorted(owners) == sorted(DECODERS)


def test_the_families_are_those_the_records_declare() -> None:
    # The families the stages read, derived from the records' fields in one place.
    assert registry.FREE_KINDS == {"input", "constant", "full"}
    assert registry.COMPILE_TIME_KINDS == {"constant", "full"}
    assert registry.LAYOUT_KINDS == {
        "concat",
        "transpose",
        "reshape",
        "slice",
        "broadcast",
        "cast",
    }
    assert registry.VIEW_KINDS == {"reshape"}
    assert registry.PER_ELEMENT_KINDS == {"elementwise", "scale", "cast", "broadcast"}
    assert registry.STRIDED_LOAD_KINDS == {"transpose", "slice", "reshape"}
    origins = {name: kind.origin for name, kind in KINDS.items()}
    assert origins.pop("input") is Origin.ARGUMENT
    assert origins.pop("constant") is Origin.CONSTANT
    assert origins.pop("full") is Origin.SPLAT
    assert origins.pop("opaque") is Origin.OPAQUE
    assert set(origins.values()) == {Origin.COMPUTED}
    assert {k.name for k in KINDS.values() if k.contraction} == {"matmul", "contract"}
    assert {k.name for k in KINDS.values() if k.matrix_chain} == {"matmul"}


@pytest.mark.parametrize("name", sorted(KINDS))
def test_the_family_fields_are_consistent(name: str) -> None:
    kind = KINDS[name]
    # A view moves no data; a computed kind has semantics, a given one none.
    assert not kind.view or kind.layout
    assert (kind.semantics is None) == (
        kind.origin in (Origin.ARGUMENT, Origin.CONSTANT, Origin.OPAQUE)
    )
    assert kind.fusion_core is None or kind.fusion_core in TEMPLATES
    assert not kind.matrix_chain or kind.contraction
    if kind.network is not None:
        assert callable(kind.network_view())
    if kind.reduces is not None and name in SAMPLES:
        node = SAMPLES[name]
        rank = len(node.operands[0].shape)
        assert kind.reduces(node.attrs, rank) in (ROW, COLUMN, None)


def test_every_enode_form_stands_for_a_kind() -> None:
    assert {form.kind for form in ENODE_FORMS.values()} <= set(KINDS)
    assert not set(ENODE_FORMS) & set(KINDS)
