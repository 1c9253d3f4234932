"""Tests of mirage-mlir's linalg dialect: batch_matmul, multi-result generics, matmul maps.

Each repair of xDSL 0.74's linalg has a lit regression test in
tests/filecheck/dialects/linalg/; these check the same from Python, and that
MLIR's own parser accepts what is printed.
"""

from __future__ import annotations

import pytest
from xdsl.dialects import arith
from xdsl.dialects.builtin import AffineMapAttr, ArrayAttr, TensorType, f32, i8, i32
from xdsl.ir.affine import AffineMap
from xdsl.utils.test_value import create_ssa_value

from mirage_mlir.dialects.context import mirage_context, parse_mlir, print_mlir
from mirage_mlir.dialects.linalg import (
    BatchMatmulOp,
    GenericOp,
    IteratorTypeAttr,
    Linalg,
    MatmulOp,
    YieldOp,
)

SOFTMAX_MAX = """
#id = affine_map<(d0, d1) -> (d0, d1)>
#row = affine_map<(d0, d1) -> (d0)>
func.func @max_argmax(%x: tensor<4x16xf32>, %m: tensor<4xf32>, %i: tensor<4xi64>) -> (tensor<4xf32>, tensor<4xi64>) {
  %r:2 = linalg.generic {indexing_maps = [#id, #row, #row], iterator_types = ["parallel", "reduction"]} ins(%x : tensor<4x16xf32>) outs(%m, %i : tensor<4xf32>, tensor<4xi64>) {
  ^bb0(%in: f32, %out: f32, %out_1: i64):
    %0 = linalg.index 1 : index
    %1 = arith.index_cast %0 : index to i64
    %2 = arith.maximumf %in, %out : f32
    %3 = arith.cmpf ogt, %in, %out : f32
    %4 = arith.select %3, %1, %out_1 : i64
    linalg.yield %2, %4 : f32, i64
  } -> (tensor<4xf32>, tensor<4xi64>)
  func.return %r#0, %r#1 : tensor<4xf32>, tensor<4xi64>
}
"""

BATCH_MATMUL = """
func.func @bmm(%a: tensor<2x8x4xf32>, %b: tensor<2x4x8xf32>, %c: tensor<2x8x8xf32>) -> tensor<2x8x8xf32> {
  %0 = linalg.batch_matmul ins(%a, %b : tensor<2x8x4xf32>, tensor<2x4x8xf32>) outs(%c : tensor<2x8x8xf32>) -> tensor<2x8x8xf32>
  func.return %0 : tensor<2x8x8xf32>
}
"""

TRANSPOSED_MATMUL = """
func.func @mm_t(%a: tensor<4x8xf32>, %bt: tensor<16x8xf32>, %c: tensor<4x16xf32>) -> tensor<4x16xf32> {
  %0 = linalg.matmul indexing_maps = [affine_map<(i, j, k) -> (i, k)>, affine_map<(i, j, k) -> (j, k)>, affine_map<(i, j, k) -> (i, j)>] ins(%a, %bt : tensor<4x8xf32>, tensor<16x8xf32>) outs(%c : tensor<4x16xf32>) -> tensor<4x16xf32>
  func.return %0 : tensor<4x16xf32>
}
"""


def only_op(module, op_type):
    """The single op of `op_type` in `module`."""
    ops = [op for op in module.walk() if isinstance(op, op_type)]
    assert len(ops) == 1, ops
    return ops[0]


def mlir_reprint(text: str) -> str:
    """MLIR's own parse-and-print of `text` (skips without torch-mlir)."""
    ir = pytest.importorskip("torch_mlir.ir")
    with ir.Context():
        return str(ir.Module.parse(text))


def test_dialect_has_every_xdsl_op_and_batch_matmul():
    from xdsl.dialects.linalg import Linalg as XdslLinalg

    names = {op.name for op in Linalg.operations}
    assert {op.name for op in XdslLinalg.operations} <= names
    assert "linalg.batch_matmul" in names
    assert mirage_context().get_op("linalg.generic") is GenericOp
    assert mirage_context().get_op("linalg.matmul") is MatmulOp


def test_fixed_ops_stay_xdsl_ops():
    # xDSL's own transforms match on xDSL's classes.
    from xdsl.dialects.linalg import ops as xdsl_ops

    assert issubclass(GenericOp, xdsl_ops.GenericOp)
    assert issubclass(MatmulOp, xdsl_ops.MatmulOp)


def test_multi_result_generic_parses():
    module = parse_mlir(SOFTMAX_MAX)
    generic = only_op(module, GenericOp)
    assert [str(t) for t in generic.result_types] == [
        "tensor<4xf32>",
        "tensor<4xi64>",
    ]
    assert [it.data.value for it in generic.iterator_types] == ["parallel", "reduction"]
    assert "} -> (tensor<4xf32>, tensor<4xi64>)" in print_mlir(module)


def test_multi_result_generic_accepted_by_mlir():
    printed = print_mlir(parse_mlir(SOFTMAX_MAX))
    assert mlir_reprint(printed) == mlir_reprint(SOFTMAX_MAX)


def test_generic_keeps_unknown_leading_attributes():
    text = """
    func.func @f(%x: tensor<4xf32>) -> tensor<4xf32> {
      %0 = linalg.generic {indexing_maps = [affine_map<(d0) -> (d0)>, affine_map<(d0) -> (d0)>], iterator_types = ["parallel"], mirage.tag = 3 : i64} ins(%x : tensor<4xf32>) outs(%x : tensor<4xf32>) {
      ^bb0(%in: f32, %out: f32):
        linalg.yield %in : f32
      } -> tensor<4xf32>
      func.return %0 : tensor<4xf32>
    }
    """
    generic = only_op(parse_mlir(text), GenericOp)
    assert str(generic.attributes["mirage.tag"]) == "3 : i64"


def test_batch_matmul_parses_with_default_maps_and_iterators():
    op = only_op(parse_mlir(BATCH_MATMUL), BatchMatmulOp)
    assert op.indexing_maps == BatchMatmulOp.default_indexing_maps()
    maps = [m.data for m in op.get_indexing_maps()]
    assert maps[0] == AffineMap.from_callable(lambda b, i, j, k: (b, i, k))
    assert maps[1] == AffineMap.from_callable(lambda b, i, j, k: (b, k, j))
    assert maps[2] == AffineMap.from_callable(lambda b, i, j, k: (b, i, j))
    assert list(op.get_iterator_types()) == [IteratorTypeAttr.parallel()] * 3 + [
        IteratorTypeAttr.reduction()
    ]
    assert op.get_static_loop_ranges() == (2, 8, 8, 4)


def test_batch_matmul_prints_as_mlir_does():
    printed = print_mlir(parse_mlir(BATCH_MATMUL))
    assert (
        "linalg.batch_matmul ins(%a, %b : tensor<2x8x4xf32>, tensor<2x4x8xf32>) "
        "outs(%c : tensor<2x8x8xf32>) -> tensor<2x8x8xf32>"
    ) in printed
    assert mlir_reprint(printed) == mlir_reprint(BATCH_MATMUL)


def test_batch_matmul_built_from_python():
    a = create_ssa_value(TensorType(f32, [2, 8, 4]))
    b = create_ssa_value(TensorType(f32, [2, 4, 8]))
    c = create_ssa_value(TensorType(f32, [2, 8, 8]))
    op = BatchMatmulOp([a, b], [c])
    op.verify()
    assert op.result_types == (TensorType(f32, [2, 8, 8]),)
    body = list(op.body.block.ops)
    assert [type(o) for o in body] == [arith.MulfOp, arith.AddfOp, YieldOp]
    # MLIR's order: the accumulator is the first operand of the add.
    assert body[1].operands[0] is op.body.block.args[2]


def test_batch_matmul_casts_inputs_to_the_accumulator_type():
    a = create_ssa_value(TensorType(i8, [2, 8, 4]))
    b = create_ssa_value(TensorType(i8, [2, 4, 8]))
    c = create_ssa_value(TensorType(i32, [2, 8, 8]))
    op = BatchMatmulOp([a, b], [c])
    body = [type(o) for o in op.body.block.ops]
    assert body == [arith.ExtSIOp, arith.ExtSIOp, arith.MuliOp, arith.AddiOp, YieldOp]


def test_batch_matmul_rejects_mismatched_shapes():
    text = BATCH_MATMUL.replace("tensor<2x4x8xf32>", "tensor<2x5x8xf32>")
    from mirage_mlir.dialects.context import MlirVerifyError

    with pytest.raises(MlirVerifyError, match="linalg.batch_matmul"):
        parse_mlir(text)


def test_transposed_matmul_keeps_its_maps():
    module = parse_mlir(TRANSPOSED_MATMUL)
    op = only_op(module, MatmulOp)
    rhs_map = op.indexing_maps.data[1].data
    assert rhs_map == AffineMap.from_callable(lambda i, j, k: (j, k))
    printed = print_mlir(module)
    assert "linalg.matmul indexing_maps = [" in printed
    reparsed = only_op(parse_mlir(printed), MatmulOp)
    assert reparsed.indexing_maps == op.indexing_maps
    assert mlir_reprint(printed) == mlir_reprint(TRANSPOSED_MATMUL)


def test_default_matmul_prints_no_maps():
    text = TRANSPOSED_MATMUL.replace(
        "affine_map<(i, j, k) -> (j, k)>", "affine_map<(i, j, k) -> (k, j)>"
    ).replace("tensor<16x8xf32>", "tensor<8x16xf32>")
    printed = print_mlir(parse_mlir(text))
    assert "indexing_maps" not in printed
    assert "linalg.matmul ins(" in printed


def test_batch_matmul_with_explicit_maps_builds():
    maps = ArrayAttr(
        [
            AffineMapAttr(AffineMap.from_callable(lambda b, i, j, k: (b, i, k))),
            AffineMapAttr(AffineMap.from_callable(lambda b, i, j, k: (b, j, k))),
            AffineMapAttr(AffineMap.from_callable(lambda b, i, j, k: (b, i, j))),
        ]
    )
    a = create_ssa_value(TensorType(f32, [2, 8, 4]))
    bt = create_ssa_value(TensorType(f32, [2, 8, 4]))
    c = create_ssa_value(TensorType(f32, [2, 8, 8]))
    op = BatchMatmulOp([a, bt], [c], indexing_maps=maps)
    op.verify()
    assert op.indexing_maps == maps
