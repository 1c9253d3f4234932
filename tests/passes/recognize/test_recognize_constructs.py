"""Recognition of each construct torch-mlir writes, on small hand-written functions.

Each case checks the term the construct becomes and, where MLIR can run it, that the term
computes what the MLIR JIT reference executor computes on random inputs.
"""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest

from mirage_mlir.passes.eqsat.evaluate import NUMPY_DTYPES, evaluate


def recognise(text: str):
    from mirage_mlir.dialects.context import parse_mlir
    from mirage_mlir.passes.recognize import recognize_function

    module = parse_mlir(text, "test.mlir")
    func = next(op for op in module.body.block.ops if op.name == "func.func")
    return recognize_function(func)


def random_inputs(recognized, seed: int = 0) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    arrays = []
    for node in recognized.graph.inputs:
        if node.dtype == "i1":
            arrays.append(rng.random(node.shape) < 0.5)
        else:
            arrays.append(rng.uniform(-2, 2, node.shape).astype(NUMPY_DTYPES[node.dtype]))
    return arrays


def matches_reference(text: str, recognized, opaque=None) -> list[np.ndarray]:
    """Evaluate the graph and the MLIR on the same random inputs; assert they agree."""
    from mirage_mlir import execute_mlir

    inputs = random_inputs(recognized)
    expected = execute_mlir(text, *inputs, function="f")
    values = {n.name: a for n, a in zip(recognized.graph.inputs, inputs)}
    values.update(recognized.constant_values)
    got = evaluate(recognized.graph, values, opaque=opaque)
    assert len(got) == len(expected)
    for g, e in zip(got, expected):
        assert g.shape == e.shape
        np.testing.assert_allclose(g, e, rtol=1e-5, atol=1e-5)
    return got


def kinds(recognized) -> Counter:
    return Counter(n.kind for n in recognized.graph.nodes())


BROADCAST_MAPS = """
#id = affine_map<(d0, d1, d2) -> (d0, d1, d2)>
#row = affine_map<(d0, d1, d2) -> (d0, d1, 0)>
#bias = affine_map<(d0, d1, d2) -> (d2)>
#swap = affine_map<(d0, d1, d2) -> (d0, d2, d1)>
func.func @f(%x: tensor<2x3x4xf32>, %m: tensor<2x3x1xf32>, %b: tensor<4xf32>, %t: tensor<2x4x3xf32>) -> tensor<2x3x4xf32> {
  %e = tensor.empty() : tensor<2x3x4xf32>
  %r = linalg.generic {indexing_maps = [#id, #row, #bias, #swap, #id], iterator_types = ["parallel", "parallel", "parallel"]}
      ins(%x, %m, %b, %t : tensor<2x3x4xf32>, tensor<2x3x1xf32>, tensor<4xf32>, tensor<2x4x3xf32>) outs(%e : tensor<2x3x4xf32>) {
  ^bb0(%in: f32, %in_m: f32, %in_b: f32, %in_t: f32, %out: f32):
    %0 = arith.subf %in, %in_m : f32
    %1 = arith.mulf %0, %in_b : f32
    %2 = arith.addf %1, %in_t : f32
    linalg.yield %2 : f32
  } -> tensor<2x3x4xf32>
  return %r : tensor<2x3x4xf32>
}
"""


def test_broadcast_constant_zero_and_permuted_maps():
    recognized = recognise(BROADCAST_MAPS)
    assert kinds(recognized) == Counter({"input": 4, "elementwise": 3, "transpose": 1})
    (out,) = recognized.graph.outputs
    transposed = out.operands[1]
    assert transposed.kind == "transpose" and transposed.attrs == ((0, 2, 1),)
    matches_reference(BROADCAST_MAPS, recognized)


EXPAND_BROADCAST = """
#in = affine_map<(d0, d1, d2, d3) -> (d0, d2, d3)>
#out = affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>
func.func @f(%kv: tensor<2x5x3xf32>) -> tensor<2x4x5x3xf32> {
  %e = tensor.empty() : tensor<2x4x5x3xf32>
  %r = linalg.generic {indexing_maps = [#in, #out], iterator_types = ["parallel", "parallel", "parallel", "parallel"]}
      ins(%kv : tensor<2x5x3xf32>) outs(%e : tensor<2x4x5x3xf32>) {
  ^bb0(%in: f32, %out: f32):
    linalg.yield %in : f32
  } -> tensor<2x4x5x3xf32>
  return %r : tensor<2x4x5x3xf32>
}
"""


def test_a_copy_generic_with_a_missing_loop_is_a_broadcast():
    recognized = recognise(EXPAND_BROADCAST)
    (out,) = recognized.graph.outputs
    assert out.kind == "broadcast" and out.attrs == ((2, 4, 5, 3),)
    assert out.operands[0].kind == "reshape" and out.operands[0].shape == (2, 1, 5, 3)
    matches_reference(EXPAND_BROADCAST, recognized)


REDUCTIONS = """
#id = affine_map<(d0, d1) -> (d0, d1)>
#keep = affine_map<(d0, d1) -> (d0, 0)>
#drop = affine_map<(d0, d1) -> (d0)>
#col = affine_map<(d0, d1) -> (0, d1)>
func.func @f(%x: tensor<3x5xf32>, %init: tensor<3xf32>) -> (tensor<3x1xf32>, tensor<3xf32>, tensor<1x5xf32>, tensor<3xf32>) {
  %zero = arith.constant 0.000000e+00 : f32
  %ninf = arith.constant 0xFF800000 : f32
  %half = arith.constant 5.000000e-01 : f32
  %e1 = tensor.empty() : tensor<3x1xf32>
  %z1 = linalg.fill ins(%zero : f32) outs(%e1 : tensor<3x1xf32>) -> tensor<3x1xf32>
  %sum = linalg.generic {indexing_maps = [#id, #keep], iterator_types = ["parallel", "reduction"]}
      ins(%x : tensor<3x5xf32>) outs(%z1 : tensor<3x1xf32>) {
  ^bb0(%in: f32, %out: f32):
    %0 = math.exp %in : f32
    %1 = arith.addf %0, %out : f32
    linalg.yield %1 : f32
  } -> tensor<3x1xf32>
  %e2 = tensor.empty() : tensor<3xf32>
  %n2 = linalg.fill ins(%ninf : f32) outs(%e2 : tensor<3xf32>) -> tensor<3xf32>
  %max = linalg.generic {indexing_maps = [#id, #drop], iterator_types = ["parallel", "reduction"]}
      ins(%x : tensor<3x5xf32>) outs(%n2 : tensor<3xf32>) {
  ^bb0(%in: f32, %out: f32):
    %0 = arith.maximumf %in, %out : f32
    linalg.yield %0 : f32
  } -> tensor<3xf32>
  %e3 = tensor.empty() : tensor<1x5xf32>
  %z3 = linalg.fill ins(%zero : f32) outs(%e3 : tensor<1x5xf32>) -> tensor<1x5xf32>
  %colsum = linalg.generic {indexing_maps = [#id, #col], iterator_types = ["reduction", "parallel"]}
      ins(%x : tensor<3x5xf32>) outs(%z3 : tensor<1x5xf32>) {
  ^bb0(%in: f32, %out: f32):
    %0 = arith.addf %in, %out : f32
    linalg.yield %0 : f32
  } -> tensor<1x5xf32>
  %h = linalg.fill ins(%half : f32) outs(%e2 : tensor<3xf32>) -> tensor<3xf32>
  %min = linalg.generic {indexing_maps = [#id, #drop], iterator_types = ["parallel", "reduction"]}
      ins(%x : tensor<3x5xf32>) outs(%init : tensor<3xf32>) {
  ^bb0(%in: f32, %out: f32):
    %0 = arith.minimumf %out, %in : f32
    linalg.yield %0 : f32
  } -> tensor<3xf32>
  return %sum, %max, %colsum, %min : tensor<3x1xf32>, tensor<3xf32>, tensor<1x5xf32>, tensor<3xf32>
}
"""


def test_reductions_keep_or_drop_axes_as_the_output_map_says():
    recognized = recognise(REDUCTIONS)
    total, largest, columns, smallest = recognized.graph.outputs
    assert total.kind == "reduce" and total.attrs == ("sum", (1,), True)
    assert largest.kind == "reduce" and largest.attrs == ("max", (1,), False)
    assert columns.kind == "reduce" and columns.attrs == ("sum", (0,), True)
    # A non-identity init is combined with the reduction.
    assert smallest.kind == "elementwise" and smallest.attrs == ("min",)
    assert smallest.operands[0].kind == "reduce" and smallest.operands[1].kind == "input"
    assert recognized.compute_ops == 4  # the fills are into tensor.empty; one is unused
    matches_reference(REDUCTIONS, recognized)


CONTRACTIONS = """
#a = affine_map<(d0, d1, d2) -> (d0, d2)>
#b = affine_map<(d0, d1, d2) -> (d2, d1)>
#c = affine_map<(d0, d1, d2) -> (d0, d1)>
#ct = affine_map<(d0, d1, d2) -> (d1, d0)>
func.func @f(%x: tensor<4x6xf32>, %y: tensor<6x5xf32>) -> (tensor<4x5xf32>, tensor<5x4xf32>) {
  %zero = arith.constant 0.000000e+00 : f32
  %e = tensor.empty() : tensor<4x5xf32>
  %z = linalg.fill ins(%zero : f32) outs(%e : tensor<4x5xf32>) -> tensor<4x5xf32>
  %p = linalg.generic {indexing_maps = [#a, #b, #c], iterator_types = ["parallel", "parallel", "reduction"]}
      ins(%x, %y : tensor<4x6xf32>, tensor<6x5xf32>) outs(%z : tensor<4x5xf32>) {
  ^bb0(%in: f32, %in_0: f32, %out: f32):
    %0 = arith.mulf %in, %in_0 : f32
    %1 = arith.addf %out, %0 : f32
    linalg.yield %1 : f32
  } -> tensor<4x5xf32>
  %et = tensor.empty() : tensor<5x4xf32>
  %zt = linalg.fill ins(%zero : f32) outs(%et : tensor<5x4xf32>) -> tensor<5x4xf32>
  %q = linalg.generic {indexing_maps = [#a, #b, #ct], iterator_types = ["parallel", "parallel", "reduction"]}
      ins(%x, %y : tensor<4x6xf32>, tensor<6x5xf32>) outs(%zt : tensor<5x4xf32>) {
  ^bb0(%in: f32, %in_0: f32, %out: f32):
    %0 = arith.mulf %in, %in_0 : f32
    %1 = arith.addf %0, %out : f32
    linalg.yield %1 : f32
  } -> tensor<5x4xf32>
  return %p, %q : tensor<4x5xf32>, tensor<5x4xf32>
}
"""


def test_contraction_generics_are_einsums():
    recognized = recognise(CONTRACTIONS)
    product, transposed = recognized.graph.outputs
    assert product.kind == "matmul"
    assert transposed.kind == "contract" and transposed.attrs == ("ac,cb->ba",)
    matches_reference(CONTRACTIONS, recognized)


MATMUL_INITS = """
func.func @f(%a: tensor<2x3x4xf32>, %b: tensor<2x4x5xf32>, %c: tensor<2x3x5xf32>, %x: tensor<3x4xf32>, %y: tensor<4x5xf32>) -> (tensor<2x3x5xf32>, tensor<3x5xf32>) {
  %one = arith.constant 1.000000e+00 : f32
  %0 = linalg.batch_matmul ins(%a, %b : tensor<2x3x4xf32>, tensor<2x4x5xf32>) outs(%c : tensor<2x3x5xf32>) -> tensor<2x3x5xf32>
  %e = tensor.empty() : tensor<3x5xf32>
  %f = linalg.fill ins(%one : f32) outs(%e : tensor<3x5xf32>) -> tensor<3x5xf32>
  %1 = linalg.matmul ins(%x, %y : tensor<3x4xf32>, tensor<4x5xf32>) outs(%f : tensor<3x5xf32>) -> tensor<3x5xf32>
  return %0, %1 : tensor<2x3x5xf32>, tensor<3x5xf32>
}
"""


def test_a_matmul_into_anything_but_zero_adds_its_init():
    recognized = recognise(MATMUL_INITS)
    batched, filled = recognized.graph.outputs
    assert batched.kind == "elementwise" and batched.attrs == ("add",)
    assert batched.operands[0].kind == "matmul" and batched.operands[1].name == "arg2"
    assert filled.kind == "elementwise" and filled.operands[1].kind == "full"
    assert filled.operands[1].attrs[0] == 1.0
    matches_reference(MATMUL_INITS, recognized)


LAYOUT_OPS = """
func.func @f(%x: tensor<4x6xf32>, %y: tensor<2x6xf32>, %v: tensor<6xf32>) -> (tensor<6x4xf32>, tensor<6xf32>, tensor<6x6xf32>, tensor<3x6xf32>, tensor<2x2x6xf32>, tensor<4x6xf32>) {
  %e = tensor.empty() : tensor<6x4xf32>
  %t = linalg.transpose ins(%x : tensor<4x6xf32>) outs(%e : tensor<6x4xf32>) permutation = [1, 0]
  %s = tensor.extract_slice %x[1, 0] [1, 6] [1, 1] : tensor<4x6xf32> to tensor<6xf32>
  %c = tensor.concat dim(0) %x, %y : (tensor<4x6xf32>, tensor<2x6xf32>) -> tensor<6x6xf32>
  %s2 = tensor.extract_slice %c[0, 0] [3, 6] [2, 1] : tensor<6x6xf32> to tensor<3x6xf32>
  %r = tensor.expand_shape %y [[0, 1], [2]] output_shape [2, 1, 6] : tensor<2x6xf32> into tensor<2x1x6xf32>
  %eb = tensor.empty() : tensor<2x2x6xf32>
  %b = linalg.broadcast ins(%v : tensor<6xf32>) outs(%eb : tensor<2x2x6xf32>) dimensions = [0, 1]
  %cl = tensor.collapse_shape %r [[0, 1], [2]] : tensor<2x1x6xf32> into tensor<2x6xf32>
  %c2 = tensor.concat dim(0) %cl, %cl : (tensor<2x6xf32>, tensor<2x6xf32>) -> tensor<4x6xf32>
  return %t, %s, %c, %s2, %b, %c2 : tensor<6x4xf32>, tensor<6xf32>, tensor<6x6xf32>, tensor<3x6xf32>, tensor<2x2x6xf32>, tensor<4x6xf32>
}
"""


def test_layout_ops_are_transpose_slice_concat_reshape_and_broadcast():
    recognized = recognise(LAYOUT_OPS)
    t, s, c, s2, b, c2 = recognized.graph.outputs
    assert t.kind == "transpose"
    assert s.kind == "reshape" and s.operands[0].kind == "slice"
    assert s.operands[0].attrs == ((1, 0), (1, 6), (1, 1))
    assert c.kind == "concat" and s2.attrs == ((0, 0), (3, 6), (2, 1))
    assert b.kind == "broadcast" and b.operands[0].shape == (1, 1, 6)
    # expand then collapse back is the argument itself.
    assert c2.operands[0].kind == "reshape"
    assert recognized.compute_ops == 2  # transpose and broadcast; tensor ops are views
    matches_reference(LAYOUT_OPS, recognized)


CONSTANTS = """
module {
  func.func @f(%x: tensor<2x3xf32>) -> (tensor<2x3xf32>, tensor<2x3xf32>, tensor<2x3xf32>) {
    %w = arith.constant dense_resource<test_weight> : tensor<2x3xf32>
    %d = arith.constant dense<[[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]]> : tensor<2x3xf32>
    %n = arith.constant dense<0xFF800000> : tensor<2x3xf32>
    %e = tensor.empty() : tensor<2x3xf32>
    %a = linalg.add ins(%x, %w : tensor<2x3xf32>, tensor<2x3xf32>) outs(%e : tensor<2x3xf32>) -> tensor<2x3xf32>
    %m = linalg.max ins(%x, %n : tensor<2x3xf32>, tensor<2x3xf32>) outs(%e : tensor<2x3xf32>) -> tensor<2x3xf32>
    return %a, %d, %m : tensor<2x3xf32>, tensor<2x3xf32>, tensor<2x3xf32>
  }
}
{-#
  dialect_resources: {
    builtin: {
      test_weight: "0x040000000000803F000000400000404000008040000000C00000A0C0"
    }
  }
#-}
"""


def test_constants_are_full_or_named_with_their_decoded_values():
    recognized = recognise(CONSTANTS)
    added, dense, maxed = recognized.graph.outputs
    weight = added.operands[1]
    assert weight.kind == "constant"
    np.testing.assert_array_equal(
        recognized.constant_values[weight.name], [[1, 2, 3], [4, -2, -5]]
    )
    assert dense.kind == "constant"
    np.testing.assert_array_equal(recognized.constant_values[dense.name], [[1, 2, 3], [4, 5, 6]])
    # The hex splat is -inf (not the integer 0xFF800000).
    assert maxed.operands[1].kind == "full" and maxed.operands[1].attrs[0] == -np.inf
    assert recognized.leaves[weight.name].type == recognized.leaves["arg0"].type
    matches_reference(CONSTANTS, recognized)


GUARD = """
#id = affine_map<(d0, d1) -> (d0, d1)>
#row = affine_map<(d0, d1) -> (d0, 0)>
func.func @f(%s: tensor<3x4xf32>, %p: tensor<3x4xf32>) -> tensor<3x4xf32> {
  %true = arith.constant true
  %ninf = arith.constant 0xFFF0000000000000 : f64
  %zeros = arith.constant dense<0.000000e+00> : tensor<3x4xf32>
  %c2 = arith.constant 2 : i64
  %e = tensor.empty() : tensor<3x4xi1>
  %isinf = linalg.generic {indexing_maps = [#id, #id], iterator_types = ["parallel", "parallel"]}
      ins(%s : tensor<3x4xf32>) outs(%e : tensor<3x4xi1>) {
  ^bb0(%in: f32, %out: i1):
    %0 = arith.extf %in : f32 to f64
    %1 = arith.cmpf oeq, %0, %ninf : f64
    linalg.yield %1 : i1
  } -> tensor<3x4xi1>
  %e1 = tensor.empty() : tensor<3x1xi1>
  %t = linalg.fill ins(%true : i1) outs(%e1 : tensor<3x1xi1>) -> tensor<3x1xi1>
  %all = linalg.generic {indexing_maps = [#id, #row], iterator_types = ["parallel", "reduction"]}
      ins(%isinf : tensor<3x4xi1>) outs(%t : tensor<3x1xi1>) {
  ^bb0(%in: i1, %out: i1):
    %0 = arith.andi %in, %out : i1
    linalg.yield %0 : i1
  } -> tensor<3x1xi1>
  %ef = tensor.empty() : tensor<3x4xf32>
  %r = linalg.generic {indexing_maps = [#row, #id, #id, #id], iterator_types = ["parallel", "parallel"]}
      ins(%all, %zeros, %p : tensor<3x1xi1>, tensor<3x4xf32>, tensor<3x4xf32>) outs(%ef : tensor<3x4xf32>) {
  ^bb0(%in: i1, %z: f32, %in_p: f32, %out: f32):
    %0 = math.fpowi %in_p, %c2 : f32, i64
    %1 = arith.select %in, %z, %0 : f32
    linalg.yield %1 : f32
  } -> tensor<3x4xf32>
  return %r : tensor<3x4xf32>
}
"""


def test_the_sdpa_guard_is_compare_all_and_where():
    recognized = recognise(GUARD)
    (out,) = recognized.graph.outputs
    assert out.kind == "elementwise" and out.attrs == ("where",)
    condition, zeros, squared = out.operands
    assert condition.kind == "reduce" and condition.attrs == ("min", (1,), True)
    assert condition.operands[0].attrs == ("eq",)
    assert condition.operands[0].operands[0].kind == "cast"
    assert zeros.kind == "full" and squared.attrs == ("mul",)
    from mirage_mlir import execute_mlir

    s = np.array([[-np.inf] * 4, [1, -np.inf, 2, 3], [-np.inf] * 4], dtype=np.float32)
    p = np.arange(12, dtype=np.float32).reshape(3, 4)
    (expected,) = execute_mlir(GUARD, s, p, function="f")
    (got,) = evaluate(recognized.graph, {"arg0": s, "arg1": p})
    np.testing.assert_array_equal(got, expected)
    assert got[0].tolist() == [0, 0, 0, 0] and got[1].tolist() == [16, 25, 36, 49]


PARALLEL_READS_OUT = """
#id = affine_map<(d0, d1) -> (d0, d1)>
func.func @f(%x: tensor<3x4xf32>, %acc: tensor<3x4xf32>) -> tensor<3x4xf32> {
  %s = arith.constant 2.500000e-01 : f64
  %r = linalg.generic {indexing_maps = [#id, #id], iterator_types = ["parallel", "parallel"]}
      ins(%x : tensor<3x4xf32>) outs(%acc : tensor<3x4xf32>) {
  ^bb0(%in: f32, %out: f32):
    %c = arith.truncf %s : f64 to f32
    %0 = arith.mulf %in, %c : f32
    %1 = arith.addf %0, %out : f32
    linalg.yield %1 : f32
  } -> tensor<3x4xf32>
  return %r : tensor<3x4xf32>
}
"""


def test_a_parallel_body_reading_its_output_uses_the_output_tensor():
    recognized = recognise(PARALLEL_READS_OUT)
    (out,) = recognized.graph.outputs
    assert out.attrs == ("add",)
    scaled, acc = out.operands
    assert scaled.kind == "scale" and scaled.attrs == (0.25,)
    assert acc.kind == "input" and acc.name == "arg1"
    assert recognized.compute_ops == 1
    matches_reference(PARALLEL_READS_OUT, recognized)


UNKNOWN_OP = """
func.func @f(%x: tensor<4x4xf32>) -> tensor<4x4xf32> {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %v = arith.constant 7.000000e+00 : f32
  %e = tensor.empty() : tensor<4x4xf32>
  %t = linalg.transpose ins(%x : tensor<4x4xf32>) outs(%e : tensor<4x4xf32>) permutation = [1, 0]
  %i = tensor.insert %v into %t[%c0, %c1] : tensor<4x4xf32>
  %r = linalg.add ins(%i, %x : tensor<4x4xf32>, tensor<4x4xf32>) outs(%e : tensor<4x4xf32>) -> tensor<4x4xf32>
  return %r : tensor<4x4xf32>
}
"""


def test_an_unknown_op_is_opaque_and_keeps_its_other_operands():
    recognized = recognise(UNKNOWN_OP)
    (out,) = recognized.graph.outputs
    assert out.attrs == ("add",)
    opaque = out.operands[0]
    assert opaque.kind == "opaque" and opaque.shape == (4, 4)
    # Its operand is the term of the transposed tensor; the scalar and indices stay in the op.
    assert [o.kind for o in opaque.operands] == ["transpose"]
    op, index = recognized.opaque_ops[opaque.name]
    assert op.name == "tensor.insert" and index == 0
    assert len(op.operands) == 4
    assert recognized.compute_ops == 3  # transpose, add and the opaque insert

    def insert(t):
        t = t.copy()
        t[0, 1] = 7.0
        return t

    matches_reference(UNKNOWN_OP, recognized, opaque={opaque.name: insert})


ARGMAX = """
#id = affine_map<(d0, d1) -> (d0, d1)>
#row = affine_map<(d0, d1) -> (d0)>
func.func @f(%x: tensor<3x5xf32>) -> (tensor<3xf32>, tensor<3xi64>) {
  %c0 = arith.constant 0 : i64
  %ninf = arith.constant 0xFF800000 : f32
  %ei = tensor.empty() : tensor<3xi64>
  %zi = linalg.fill ins(%c0 : i64) outs(%ei : tensor<3xi64>) -> tensor<3xi64>
  %ef = tensor.empty() : tensor<3xf32>
  %nf = linalg.fill ins(%ninf : f32) outs(%ef : tensor<3xf32>) -> tensor<3xf32>
  %r:2 = linalg.generic {indexing_maps = [#id, #row, #row], iterator_types = ["parallel", "reduction"]}
      ins(%x : tensor<3x5xf32>) outs(%nf, %zi : tensor<3xf32>, tensor<3xi64>) {
  ^bb0(%in: f32, %out: f32, %out_1: i64):
    %0 = linalg.index 1 : index
    %1 = arith.index_cast %0 : index to i64
    %2 = arith.maximumf %in, %out : f32
    %3 = arith.cmpf ogt, %in, %out : f32
    %4 = arith.select %3, %1, %out_1 : i64
    linalg.yield %2, %4 : f32, i64
  } -> (tensor<3xf32>, tensor<3xi64>)
  return %r#0, %r#1 : tensor<3xf32>, tensor<3xi64>
}
"""


def test_a_multi_result_generic_is_opaque_only_where_it_must_be():
    from mirage_mlir.passes.recognize import opaque_evaluators

    recognized = recognise(ARGMAX)
    largest, position = recognized.graph.outputs
    assert largest.kind == "reduce" and largest.attrs == ("max", (1,), False)
    assert position.kind == "opaque" and position.dtype == "i64"
    op, index = recognized.opaque_ops[position.name]
    assert op.name == "linalg.generic" and index == 1
    # The opaque result reads every tensor operand: the input and both inits.
    assert [o.kind for o in position.operands] == ["input", "full", "full"]
    assert recognized.compute_ops == 1
    got = matches_reference(ARGMAX, recognized, opaque=opaque_evaluators(recognized))
    assert got[1].dtype == np.int64


TWO_OPAQUE_RESULTS = """
#id = affine_map<(d0) -> (d0)>
func.func @f(%x: tensor<6xf32>) -> (tensor<6xi64>, tensor<6xf32>) {
  %ei = tensor.empty() : tensor<6xi64>
  %ef = tensor.empty() : tensor<6xf32>
  %r:2 = linalg.generic {indexing_maps = [#id, #id, #id], iterator_types = ["parallel"]}
      ins(%x : tensor<6xf32>) outs(%ei, %ef : tensor<6xi64>, tensor<6xf32>) {
  ^bb0(%in: f32, %o1: i64, %o2: f32):
    %0 = linalg.index 0 : index
    %1 = arith.index_cast %0 : index to i64
    %2 = arith.sitofp %1 : i64 to f32
    %3 = arith.mulf %in, %2 : f32
    linalg.yield %1, %3 : i64, f32
  } -> (tensor<6xi64>, tensor<6xf32>)
  return %r#0, %r#1 : tensor<6xi64>, tensor<6xf32>
}
"""


def test_each_result_of_an_opaque_op_is_its_own_node():
    from mirage_mlir.passes.recognize import opaque_evaluators

    recognized = recognise(TWO_OPAQUE_RESULTS)
    first, second = recognized.graph.outputs
    assert first.kind == second.kind == "opaque" and first is not second
    assert recognized.opaque_ops[first.name][1] == 0 and recognized.opaque_ops[second.name][1] == 1
    assert recognized.opaque_ops[first.name][0] is recognized.opaque_ops[second.name][0]
    assert recognized.compute_ops == 1
    matches_reference(TWO_OPAQUE_RESULTS, recognized, opaque=opaque_evaluators(recognized))


def test_a_value_returned_twice_is_one_node():
    text = """
func.func @f(%x: tensor<2x2xf32>) -> (tensor<2x2xf32>, tensor<2x2xf32>) {
  %e = tensor.empty() : tensor<2x2xf32>
  %t = linalg.transpose ins(%x : tensor<2x2xf32>) outs(%e : tensor<2x2xf32>) permutation = [1, 0]
  return %t, %t : tensor<2x2xf32>, tensor<2x2xf32>
}
"""
    recognized = recognise(text)
    first, second = recognized.graph.outputs
    assert first is second


def test_dynamic_shapes_are_a_located_error():
    from mirage_mlir.passes.recognize import RecognitionError

    text = """func.func @f(%x: tensor<?x4xf32>) -> tensor<?x4xf32> {
  return %x : tensor<?x4xf32>
}
"""
    with pytest.raises(RecognitionError, match=r"test\.mlir:1:1: argument 0 of @f has type"):
        recognise(text)


TRANSPOSED_OUTPUT = """
#id = affine_map<(d0, d1, d2) -> (d0, d1, d2)>
#out = affine_map<(d0, d1, d2) -> (d2, d0, d1)>
#red = affine_map<(d0, d1, d2) -> (d2, d0)>
func.func @f(%x: tensor<2x3x4xf32>) -> (tensor<4x2x3xf32>, tensor<4x2xf32>) {
  %zero = arith.constant 0.000000e+00 : f32
  %e = tensor.empty() : tensor<4x2x3xf32>
  %r = linalg.generic {indexing_maps = [#id, #out], iterator_types = ["parallel", "parallel", "parallel"]}
      ins(%x : tensor<2x3x4xf32>) outs(%e : tensor<4x2x3xf32>) {
  ^bb0(%in: f32, %out: f32):
    %0 = math.tanh %in : f32
    linalg.yield %0 : f32
  } -> tensor<4x2x3xf32>
  %e2 = tensor.empty() : tensor<4x2xf32>
  %z = linalg.fill ins(%zero : f32) outs(%e2 : tensor<4x2xf32>) -> tensor<4x2xf32>
  %s = linalg.generic {indexing_maps = [#id, #red], iterator_types = ["parallel", "reduction", "parallel"]}
      ins(%x : tensor<2x3x4xf32>) outs(%z : tensor<4x2xf32>) {
  ^bb0(%in: f32, %out: f32):
    %0 = arith.addf %in, %out : f32
    linalg.yield %0 : f32
  } -> tensor<4x2xf32>
  return %r, %s : tensor<4x2x3xf32>, tensor<4x2xf32>
}
"""


def test_output_maps_that_permute_loops_transpose_the_result():
    recognized = recognise(TRANSPOSED_OUTPUT)
    permuted, reduced = recognized.graph.outputs
    assert permuted.kind == "transpose" and permuted.attrs == ((2, 0, 1),)
    assert reduced.kind == "transpose" and reduced.operands[0].attrs == ("sum", (1,), False)
    matches_reference(TRANSPOSED_OUTPUT, recognized)
