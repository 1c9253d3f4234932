"""Tests of the `mirage` dialect from Python: builders, inferred types, verifiers.

Round trips of the textual forms are in tests/filecheck/dialects/mirage/.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from xdsl.context import Context
from xdsl.dialects import arith, builtin, func, linalg, math, tensor
from xdsl.dialects.builtin import (
    BFloat16Type,
    Float16Type,
    ModuleOp,
    TensorType,
    f32,
    f64,
    i32,
)
from xdsl.ir import Block, Region
from xdsl.parser import Parser
from xdsl.printer import Printer
from xdsl.utils.exceptions import VerifyException
from xdsl.utils.test_value import create_ssa_value

from mirage_mlir.dialects.mirage import (
    AttentionOp,
    BatchNormOp,
    ConcatOp,
    KernelOp,
    LayerNormOp,
    MatmulOp,
    Mirage,
    RmsNormOp,
    SliceOp,
    SoftmaxOp,
)
from mirage_mlir.dialects.mirage_shapes import DYNAMIC, broadcast_shapes, matmul_shape


def value(*shape: int, element=f32):
    """A free SSA value of a tensor type, for building ops in isolation."""
    return create_ssa_value(TensorType(element, shape))


def shape(op) -> tuple[int, ...]:
    return tuple(op.results[0].type.get_shape())


def verify_error(op) -> str:
    with pytest.raises(VerifyException) as info:
        op.verify()
    return str(info.value)


def context() -> Context:
    ctx = Context()
    for dialect in (builtin.Builtin, func.Func, arith.Arith, linalg.Linalg,
                    tensor.Tensor, math.Math, Mirage):
        ctx.load_dialect(dialect)
    return ctx


def test_dialect_registers_every_op():
    names = {op.name for op in Mirage.operations}
    assert names == {
        "mirage.matmul", "mirage.softmax", "mirage.attention", "mirage.rms_norm",
        "mirage.layer_norm", "mirage.batch_norm", "mirage.concat",
        "mirage.slice", "mirage.kernel", "mirage.yield",
    }


def test_universe_exposes_the_dialect():
    from mirage_mlir.universe import MIRAGE_UNIVERSE

    assert MIRAGE_UNIVERSE.all_dialects["mirage"]() is Mirage


@pytest.mark.parametrize(
    "lhs, rhs, flags, expected",
    [
        ((3, 4), (4, 5), {}, (3, 5)),
        ((8, 3, 4), (4, 5), {}, (8, 3, 5)),
        ((2, 1, 3, 4), (7, 4, 5), {}, (2, 7, 3, 5)),
        ((4, 3), (4, 5), {"transpose_lhs": True}, (3, 5)),
        ((2, 3, 4), (2, 5, 4), {"transpose_rhs": True}, (2, 3, 5)),
        ((DYNAMIC, 3, 4), (4, 5), {}, (DYNAMIC, 3, 5)),
    ],
)
def test_matmul_infers_numpy_matmul_shapes(lhs, rhs, flags, expected):
    op = MatmulOp(value(*lhs), value(*rhs), **flags)
    op.verify()
    assert shape(op) == expected
    assert (op.transpose_lhs is not None) == flags.get("transpose_lhs", False)


dims = st.integers(1, 4)


@settings(max_examples=200, deadline=None)
@given(
    st.lists(dims, max_size=3), st.lists(dims, max_size=3),
    dims, dims, dims, dims, st.booleans(), st.booleans(),
)
def test_matmul_shape_agrees_with_numpy(
    batch_a, batch_b, m, k_a, k_b, n, transpose_a, transpose_b
):
    """Shape inference accepts exactly what numpy.matmul accepts, with its shape."""
    a = (*batch_a, k_a, m) if transpose_a else (*batch_a, m, k_a)
    b = (*batch_b, n, k_b) if transpose_b else (*batch_b, k_b, n)
    lhs, rhs = np.zeros(a), np.zeros(b)  # only the shapes matter; zeros cannot overflow
    if transpose_a:
        lhs = np.swapaxes(lhs, -1, -2)
    if transpose_b:
        rhs = np.swapaxes(rhs, -1, -2)
    try:
        expected = np.matmul(lhs, rhs).shape
    except ValueError:
        with pytest.raises(VerifyException):
            matmul_shape(a, b, transpose_a, transpose_b)
    else:
        assert matmul_shape(a, b, transpose_a, transpose_b) == expected


def test_matmul_rejects_mismatched_contraction():
    with pytest.raises(VerifyException, match="contraction dimensions differ"):
        MatmulOp(value(3, 4), value(5, 6))


def test_matmul_rejects_wrong_result_type():
    op = MatmulOp(value(3, 4), value(4, 5), result_type=TensorType(f32, [3, 6]))
    assert "result shape 3x6 does not match the expected shape 3x5" in verify_error(op)


def test_matmul_rejects_mixed_element_types():
    op = MatmulOp(value(3, 4), value(4, 5, element=f64),
                  result_type=TensorType(f32, [3, 5]))
    assert "rhs element type f64 does not match lhs element type f32" in verify_error(op)


def test_matmul_rejects_non_float_elements():
    op = MatmulOp(value(3, 4, element=i32), value(4, 5, element=i32),
                  result_type=TensorType(i32, [3, 5]))
    with pytest.raises(VerifyException):
        op.verify()


def test_batch_dims_that_do_not_broadcast():
    with pytest.raises(VerifyException, match="do not broadcast"):
        broadcast_shapes((2, 3), (4, 3), "batch dimensions")


def test_softmax_axis_range():
    SoftmaxOp(value(2, 3), axis=-2).verify()
    assert SoftmaxOp(value(2, 3), axis=-1).normalized_axis == 1
    message = verify_error(SoftmaxOp(value(2, 3), axis=2))
    assert "axis 2 is out of range for rank 2" in message


@pytest.mark.parametrize("element", [f32, f64, Float16Type(), BFloat16Type()])
def test_attention_gqa_shape_and_default_scale(element):
    q = value(2, 8, 16, 64, element=element)
    kv = value(2, 2, 32, 64, element=element)
    op = AttentionOp(q, kv, kv, causal=True)
    op.verify()
    assert shape(op) == (2, 8, 16, 64)
    assert op.scale.value.data == pytest.approx(0.125)
    assert op.causal is not None and op.mask is None
    assert op.kv_group_size == 4


def test_attention_rank3_with_mask_and_value_dim():
    q, k, v = value(2, 16, 32), value(2, 24, 32), value(2, 24, 48)
    op = AttentionOp(q, k, v, scale=0.5, mask=value(16, 24))
    op.verify()
    assert shape(op) == (2, 16, 48)
    assert op.mask is not None and op.kv_group_size == 1


def test_attention_rejects_heads_that_do_not_group():
    with pytest.raises(VerifyException, match=r"query heads \(6\) must be a multiple"):
        AttentionOp(value(1, 6, 4, 8), value(1, 4, 4, 8), value(1, 4, 4, 8))


def test_attention_rejects_mask_that_does_not_broadcast():
    q, kv = value(1, 2, 4, 8), value(1, 2, 6, 8)
    op = AttentionOp(q, kv, kv, mask=value(4, 5))
    assert "mask shape 4x5 does not broadcast to 1x2x4x6" in verify_error(op)


def test_attention_rejects_infinite_scale():
    q = value(1, 4, 8)
    assert "scale must be finite" in verify_error(AttentionOp(q, q, q, scale=float("inf")))


def test_norm_builders_and_eps():
    x, w = value(4, 16, 32), value(32)
    RmsNormOp(x, w, 1e-6).verify()
    LayerNormOp(x, w, w, 1e-5).verify()
    assert shape(RmsNormOp(x, w, 1e-6)) == (4, 16, 32)
    assert "eps must be finite and > 0, got 0.0" in verify_error(RmsNormOp(x, w, 0.0))
    message = verify_error(LayerNormOp(x, value(16), value(16), 1e-5))
    assert "weight must be a 1-D tensor of 32 elements (one per feature)" in message


def test_batch_norm_results_and_ranges():
    x, c = value(64, 8, 4, 4), value(8)
    op = BatchNormOp(x, c, c, c, c, eps=1e-5, momentum=0.1)
    op.verify()
    assert [tuple(r.type.get_shape()) for r in op.results] == [(64, 8, 4, 4), (8,), (8,)]
    bad_momentum = BatchNormOp(x, c, c, c, c, eps=1e-5, momentum=1.5)
    assert "momentum must be in [0, 1], got 1.5" in verify_error(bad_momentum)
    one_sample = BatchNormOp(value(1, 8), c, c, c, c, eps=1e-5, momentum=0.1)
    assert "expected more than 1 value per channel" in verify_error(one_sample)
    wrong_channels = BatchNormOp(value(4, 6), c, c, c, c, eps=1e-5, momentum=0.1)
    assert "one per channel" in verify_error(wrong_channels)


def test_concat_and_slice_builders():
    a, b = value(16, 512), value(16, 128)
    cat = ConcatOp([a, b, b], axis=-1)
    cat.verify()
    assert shape(cat) == (16, 768) and cat.normalized_axis == 1
    part = SliceOp(cat.result, [0, 512], [16, 128])
    part.verify()
    assert shape(part) == (16, 128) and part.strides == (1, 1)
    with pytest.raises(VerifyException, match="dimension 0 is 8, expected 16"):
        ConcatOp([a, value(8, 512)], axis=1)


def test_slice_rejects_reads_past_the_end():
    op = SliceOp(value(16, 8), [0, 4], [16, 3], [1, 2])
    assert "dimension 1: the slice reads index 8, past the source extent 8" in verify_error(op)
    assert "stride must be >= 1" in verify_error(SliceOp(value(4), [0], [2], [0]))


def kernel_module() -> tuple[ModuleOp, KernelOp]:
    """A function whose body is one kernel: rms_norm then softmax, two results."""
    x_type, w_type = TensorType(f32, [4, 8]), TensorType(f32, [8])
    block = Block(arg_types=[x_type, w_type])
    kernel = KernelOp.from_body(
        block.args,
        lambda x, w: (
            norm := RmsNormOp(x, w, 1e-6),
            SoftmaxOp(norm.result, axis=-1),
        ),
    )
    block.add_ops([kernel, func.ReturnOp(*kernel.results)])
    function = func.FuncOp(
        "main", ([x_type, w_type], [x_type, x_type]), Region(block)
    )
    return ModuleOp([function]), kernel


def test_kernel_from_body_builds_a_verified_region():
    module, kernel = kernel_module()
    module.verify()
    assert [op.name for op in kernel.body.block.ops] == [
        "mirage.rms_norm", "mirage.softmax", "mirage.yield"]
    assert [r.type for r in kernel.results] == [TensorType(f32, [4, 8])] * 2
    assert len(kernel.block_args) == 2


def test_kernel_text_round_trip():
    module, _ = kernel_module()
    text = str(module)
    assert "mirage.kernel (%" in text
    reparsed = Parser(context(), text).parse_module()
    reparsed.verify()
    assert reparsed.is_structurally_equivalent(module)


def parse(text: str) -> ModuleOp:
    return Parser(context(), text).parse_module()


def test_kernel_rejects_values_from_above():
    module = parse("""
    func.func @f(%x: tensor<4xf32>, %y: tensor<4xf32>) -> tensor<4xf32> {
      %r = mirage.kernel (%x) : (tensor<4xf32>) -> tensor<4xf32> {
      ^bb0(%a: tensor<4xf32>):
        %s = mirage.softmax %y axis = 0 : tensor<4xf32>
        mirage.yield %s : tensor<4xf32>
      }
      func.return %r : tensor<4xf32>
    }""")
    with pytest.raises(VerifyException, match="IsolatedFromAbove"):
        module.verify()


def test_kernel_rejects_foreign_ops_and_nesting():
    module = parse("""
    func.func @f(%x: tensor<4xf32>) -> tensor<4xf32> {
      %r = mirage.kernel (%x) : (tensor<4xf32>) -> tensor<4xf32> {
      ^bb0(%a: tensor<4xf32>):
        %c = func.call @f(%a) : (tensor<4xf32>) -> tensor<4xf32>
        mirage.yield %c : tensor<4xf32>
      }
      func.return %r : tensor<4xf32>
    }""")
    with pytest.raises(VerifyException, match="'func.call' may not appear in a kernel body"):
        module.verify()


def test_yield_outside_kernel_is_rejected():
    module = parse("""
    func.func @f(%x: tensor<4xf32>) -> tensor<4xf32> {
      mirage.yield %x : tensor<4xf32>
    }""")
    with pytest.raises(VerifyException, match="mirage.kernel"):
        module.verify()


def test_generic_form_prints_properties():
    module, _ = kernel_module()
    from io import StringIO

    stream = StringIO()
    Printer(stream=stream, print_generic_format=True).print_op(module)
    assert '"mirage.rms_norm"' in stream.getvalue()
    assert "eps = 1.000000e-06 : f64" in stream.getvalue()
