"""Emission of contractions and layout nodes: each graph is emitted, re-parsed, run, compared."""

from __future__ import annotations

import pytest

from mirage_mlir.passes.emit.emit_linear import reshape_groups
from mirage_mlir.passes.eqsat.graph import (
    Constant,
    Contract,
    Graph,
    Input,
    MatMul,
    Reshape,
    Transpose,
    broadcast,
    concat,
    strided_slice,
)


def test_2d_matmul_is_linalg_matmul_into_a_zero_fill(emit_and_run):
    a, b, c = Input("A", (100, 2)), Input("B", (2, 100)), Input("C", (100, 2))
    text = emit_and_run(Graph.of(a @ (b @ c)))
    assert text.count("linalg.matmul") == 2 and text.count("linalg.fill") == 2
    assert "tensor<2x2xf32>" in text
    # B@C comes first: the inner product feeds the outer one.
    assert text.index("ins(%1, %2") < text.index("ins(%0,")


def test_equal_batch_3d_matmul_is_linalg_batch_matmul(emit_and_run):
    a, b = Input("a", (3, 4, 5)), Input("b", (3, 5, 6))
    text = emit_and_run(Graph.of(a @ b))
    assert "linalg.batch_matmul" in text and "mirage.matmul" not in text


@pytest.mark.parametrize(
    "shape_a, shape_b",
    [((2, 3, 4, 5), (2, 3, 5, 6)), ((3, 4, 5), (5, 6)), ((1, 4, 5), (3, 5, 6))],
)
def test_other_matmuls_are_mirage_matmul(emit_and_run, shape_a, shape_b):
    a, b = Input("a", shape_a), Input("b", shape_b)
    text = emit_and_run(Graph.of(MatMul(a, b)))
    assert "mirage.matmul" in text and "linalg.batch_matmul" not in text


def test_transpose_is_linalg_transpose(emit_and_run):
    x = Input("x", (2, 3, 4))
    text = emit_and_run(Graph.of(Transpose(x, (2, 0, 1))))
    assert "linalg.transpose" in text and "permutation = [2, 0, 1]" in text


@pytest.mark.parametrize(
    "src, dst, ops",
    [
        ((4, 6), (24,), ["tensor.collapse_shape"]),
        ((24,), (2, 3, 4), ["tensor.expand_shape"]),
        ((100, 10), (1, 100, 10), ["tensor.expand_shape"]),
        ((1, 100, 10), (100, 10), ["tensor.collapse_shape"]),
        ((4, 6), (3, 8), ["tensor.collapse_shape", "tensor.expand_shape"]),
        ((2, 3, 4), (6, 2, 2), ["tensor.collapse_shape", "tensor.expand_shape"]),
        ((10, 20), (10, 20, 1, 1), ["tensor.expand_shape"]),
    ],
)
def test_reshape_is_collapse_and_or_expand(emit_and_run, src, dst, ops):
    x = Input("x", src)
    text = emit_and_run(Graph.of(Reshape(x, dst)))
    for name in ("tensor.collapse_shape", "tensor.expand_shape"):
        assert (name in text) == (name in ops), text


def test_reshape_groups_are_the_coarsest_common_blocks():
    assert reshape_groups((2, 3, 4), (6, 4)) == ([[0, 1], [2]], [[0], [1]])
    assert reshape_groups((4, 6), (3, 8)) == ([[0, 1]], [[0, 1]])
    assert reshape_groups((2, 1, 3), (2, 3)) == ([[0], [1, 2]], [[0], [1]])


def test_rank_0_reshape(emit_and_run):
    x = Input("x", (1, 1))
    emit_and_run(Graph.of(Reshape(x, ())))


def test_binary_contract_is_one_generic_with_the_einsum_maps(emit_and_run):
    a, b = Input("a", (3, 4, 5)), Input("b", (5, 4, 6))
    text = emit_and_run(Graph.of(Contract((a, b), "ijk,kjl->li")))
    assert text.count("linalg.generic") == 1
    assert 'iterator_types = ["parallel", "parallel", "reduction", "reduction"]' in text
    assert "arith.mulf" in text and "arith.addf" in text


def test_unary_and_ternary_contracts(emit_and_run):
    a, b, c = Input("a", (3, 4)), Input("b", (4, 5)), Input("c", (5, 2))
    emit_and_run(Graph.of(Contract((a,), "ij->j"), Contract((a, b, c), "ij,jk,kl->il")))


def test_broadcast_adding_leading_axes_is_linalg_broadcast(emit_and_run):
    x = Input("x", (4, 5))
    text = emit_and_run(Graph.of(broadcast(x, (3, 4, 5))))
    assert "linalg.broadcast" in text and "dimensions = [0]" in text


def test_broadcast_stretching_a_unit_axis_is_a_generic(emit_and_run):
    x = Input("x", (4, 1))
    text = emit_and_run(Graph.of(broadcast(x, (2, 4, 5))))
    assert "linalg.generic" in text and "linalg.broadcast" not in text


def test_slice_is_tensor_extract_slice(emit_and_run):
    x = Input("x", (8, 12))
    text = emit_and_run(Graph.of(strided_slice(x, (1, 2), (3, 4), (2, 2))))
    assert "tensor.extract_slice" in text and "[1, 2] [3, 4] [2, 2]" in text


def test_concat_is_mirage_concat(emit_and_run):
    x, w1, w2 = Input("x", (4, 8)), Constant("w1", (8, 3)), Constant("w2", (8, 5))
    text = emit_and_run(Graph.of(x @ concat((w1, w2), 1)))
    assert "mirage.concat" in text and "axis = 1" in text
