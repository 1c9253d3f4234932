"""Emission of softmax, attention and the norms as mirage ops."""

from __future__ import annotations

from mirage_mlir.passes.eqsat.graph import (
    Constant,
    Graph,
    Input,
    attention,
    batch_norm,
    elementwise,
    layer_norm,
    rms_norm,
    softmax,
)


def test_softmax_is_mirage_softmax(emit_and_run):
    x = Input("x", (4, 16))
    text = emit_and_run(Graph.of(softmax(x, -1)))
    assert "mirage.softmax" in text and "axis = -1" in text


def test_single_head_attention(emit_and_run):
    q, k, v = Input("q", (2, 8, 4)), Input("k", (2, 6, 4)), Input("v", (2, 6, 3))
    text = emit_and_run(Graph.of(attention(q, k, v, 0.5)))
    assert "mirage.attention" in text and "scale 5.000000e-01" in text


def test_grouped_causal_attention(emit_and_run):
    q = Input("q", (1, 4, 8, 4))
    k, v = Input("k", (1, 2, 8, 4)), Input("v", (1, 2, 8, 4))
    text = emit_and_run(Graph.of(attention(q, k, v, 0.5, causal=True)))
    assert "causal" in text


def test_attention_with_a_mask(emit_and_run):
    q, k, v = Input("q", (2, 8, 4)), Input("k", (2, 6, 4)), Input("v", (2, 6, 4))
    mask = Input("mask", (8, 6))
    text = emit_and_run(Graph.of(attention(q, k, v, 0.25, mask=mask)))
    assert "mask %" in text


def test_norms(emit_and_run):
    x = Input("x", (6, 8))
    w, b = Constant("w", (8,)), Constant("b", (8,))
    text = emit_and_run(Graph.of(rms_norm(x, w, 1e-6), layer_norm(x, w, b, 1e-5)))
    assert "mirage.rms_norm" in text and "mirage.layer_norm" in text


def test_batch_norm_followed_by_relu(emit_and_run):
    x = Input("x", (16, 8))
    gamma, beta = Constant("gamma", (8,)), Constant("beta", (8,))
    text = emit_and_run(Graph.of(elementwise("relu", batch_norm(x, gamma, beta, 1e-5))))
    assert "mirage.batch_norm" in text
