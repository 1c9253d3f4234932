"""The structured node kinds: types, and NumPy semantics against torch."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from mirage_mlir.passes.eqsat.cost import node_work
from mirage_mlir.passes.eqsat.evaluate import evaluate, random_values
from mirage_mlir.passes.eqsat.graph import (
    Graph,
    GraphError,
    Input,
    attention,
    batch_norm,
    broadcast,
    cast,
    concat,
    layer_norm,
    reduce,
    rms_norm,
    softmax,
    strided_slice,
)


def run(node, seed=0):
    graph = Graph.of(node)
    values = random_values(graph, seed)
    (out,) = evaluate(graph, values)
    return out, {k: torch.tensor(v) for k, v in values.items()}


@pytest.mark.parametrize("causal", [False, True])
@pytest.mark.parametrize("heads", [(4, 4), (8, 2), (None, None)])
def test_attention_matches_torch(causal, heads):
    hq, hkv = heads
    lead_q = (2, hq) if hq else (2,)
    lead_kv = (2, hkv) if hkv else (2,)
    q, k, v = Input("q", lead_q + (12, 8)), Input("k", lead_kv + (12, 8)), Input("v", lead_kv + (12, 5))
    out, t = run(attention(q, k, v, 0.3, causal))
    ref = F.scaled_dot_product_attention(t["q"], t["k"], t["v"], is_causal=causal, scale=0.3, enable_gqa=True)
    assert out.shape == tuple(ref.shape)
    assert np.abs(out - ref.numpy()).max() < 1e-5


def test_attention_with_additive_mask():
    q, k, v, m = Input("q", (1, 2, 6, 4)), Input("k", (1, 2, 6, 4)), Input("v", (1, 2, 6, 4)), Input("m", (6, 6))
    out, t = run(attention(q, k, v, 0.5, False, m))
    ref = F.scaled_dot_product_attention(t["q"], t["k"], t["v"], attn_mask=t["m"], scale=0.5)
    assert np.abs(out - ref.numpy()).max() < 1e-5


def test_softmax_and_norms_match_torch():
    x, w, b = Input("x", (5, 16)), Input("w", (16,)), Input("b", (16,))
    out, t = run(softmax(x, -1))
    assert np.abs(out - torch.softmax(t["x"], -1).numpy()).max() < 1e-6
    out, t = run(rms_norm(x, w, 1e-6))
    assert np.abs(out - F.rms_norm(t["x"], (16,), t["w"], 1e-6).numpy()).max() < 1e-5
    out, t = run(layer_norm(x, w, b, 1e-5))
    assert np.abs(out - F.layer_norm(t["x"], (16,), t["w"], t["b"], 1e-5).numpy()).max() < 1e-5
    out, t = run(batch_norm(x, w, b, 1e-5))
    ref = F.batch_norm(t["x"], None, None, t["w"], t["b"], training=True, eps=1e-5)
    assert np.abs(out - ref.numpy()).max() < 1e-5


def test_layout_kinds():
    x = Input("x", (4, 6))
    assert reduce(x, "max", (1,), True).type.shape == (4, 1)
    assert reduce(x, "sum", (0, 1)).type.shape == ()
    assert broadcast(reduce(x, "max", (1,), True), (4, 6)).type.shape == (4, 6)
    assert strided_slice(x, (0, 1), (2, 3), (2, 2)).type.shape == (2, 3)
    assert concat([x, x], 1).type.shape == (4, 12)
    assert cast(x, "f64").type.dtype == "f64"
    out, t = run(strided_slice(x, (1, 1), (2, 3), (2, 2)))
    assert np.array_equal(out, t["x"].numpy()[1:4:2, 1:6:2])


@pytest.mark.parametrize(
    "build, message",
    [
        (lambda x: reduce(x, "prod", (0,)), "unknown reduction"),
        (lambda x: broadcast(x, (3, 6)), "not broadcast"),
        (lambda x: strided_slice(x, (0, 5), (4, 2)), "exceeds dimension"),
        (lambda x: rms_norm(x, Input("w", (4,)), 1e-6), "last axis"),
        (lambda x: attention(x, x, x, 1.0), "rank >= 3"),
    ],
)
def test_ill_typed_nodes_are_refused(build, message):
    with pytest.raises(GraphError, match=message):
        build(Input("x", (4, 6)))


def test_causal_attention_costs_half_the_flops():
    q = Input("q", (1, 4, 64, 16))
    full, causal = attention(q, q, q, 0.25), attention(q, q, q, 0.25, True)
    work = [node_work(n.kind, n.attrs, [o.type for o in n.operands], n.type) for n in (full, causal)]
    assert work[1].flops * 2 == work[0].flops
