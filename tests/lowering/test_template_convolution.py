"""Convolutions, pooling and padding lowered to Triton and run against torch.

Each module (a `tensor.pad`, then a linalg convolution or pooling, as
torch-mlir writes them) is lowered by `convert-mirage-to-triton`, its launch
plan run in the tt interpreter, and the result compared with
`torch.nn.functional`.  Shapes are tiny: the interpreter is NumPy.  The slow
tests compile the kernels for sm_90 and check that the implicit GEMM's
`tt.dot` becomes a Hopper `warp_group_dot` (wgmma), as the matmul
template's does.
"""

from __future__ import annotations

import numpy as np
import pytest

from mirage_mlir.lowering.program import lower_module, run_plan_interpreted

torch = pytest.importorskip("torch")
F = torch.nn.functional


def _t(shape, dtype="f32") -> str:
    return f"tensor<{'x'.join(map(str, shape))}x{dtype}>"


def _pad(
    name: str, source: str, shape, pads, value: str, dtype="f32"
) -> tuple[str, list[int]]:
    """A `tensor.pad` of the two spatial dims by `pads` (low = high) with `value`."""
    padded = [*shape[:2], *(s + 2 * p for s, p in zip(shape[2:], pads))]
    if not any(pads):
        return "", list(shape)
    text = f"""
  %{name} = tensor.pad {source} low[0, 0, {pads[0]}, {pads[1]}] high[0, 0, {pads[0]}, {pads[1]}] {{
  ^bb0(%i0: index, %i1: index, %i2: index, %i3: index):
    tensor.yield {value} : {dtype}
  }} : {_t(shape, dtype)} to {_t(padded, dtype)}"""
    return text, padded


def _out_size(size, kernel, stride, dilation):
    return (size - dilation * (kernel - 1) - 1) // stride + 1


def _conv_module(
    x_shape,
    w_shape,
    stride=1,
    pad=0,
    dilation=1,
    dtype="f32",
    init=False,
    pad_value="0.0",
) -> str:
    """`@main(x, w[, init])`: a padded `linalg.conv_2d_nchw_fchw`."""
    pad_text, padded = _pad("xp", "%x", x_shape, [pad, pad], "%padv", dtype)
    source = "%xp" if pad else "%x"
    out = [x_shape[0], w_shape[0]] + [
        _out_size(s, k, stride, dilation) for s, k in zip(padded[2:], w_shape[2:])
    ]
    init_arg = f", %b: {_t(out, dtype)}" if init else ""
    init_value = "%b" if init else "%fill"
    return f"""
func.func @main(%x: {_t(x_shape, dtype)}, %w: {_t(w_shape, dtype)}{init_arg}) -> {_t(out, dtype)} {{
  %zero = arith.constant 0.0 : {dtype}
  %padv = arith.constant {pad_value} : {dtype}
  {pad_text}
  %e = tensor.empty() : {_t(out, dtype)}
  %fill = linalg.fill ins(%zero : {dtype}) outs(%e : {_t(out, dtype)}) -> {_t(out, dtype)}
  %y = linalg.conv_2d_nchw_fchw {{dilations = dense<{dilation}> : vector<2xi64>, strides = dense<{stride}> : vector<2xi64>}}
      ins({source}, %w : {_t(padded, dtype)}, {_t(w_shape, dtype)}) outs({init_value} : {_t(out, dtype)}) -> {_t(out, dtype)}
  func.return %y : {_t(out, dtype)}
}}
"""


def _random(shape, seed, dtype=np.float32):
    return np.random.default_rng(seed).standard_normal(shape).astype(dtype)


def _check(out, expected, tolerance=1e-5):
    expected = expected.detach().numpy() if hasattr(expected, "detach") else expected
    assert out.shape == expected.shape
    error = np.abs(out.astype(np.float64) - expected.astype(np.float64)).max()
    assert error <= tolerance * max(1.0, np.abs(expected).max()), error


@pytest.mark.parametrize(
    "stride, pad, dilation",
    [(1, 1, 1), (2, 1, 1), (1, 0, 2), (2, 2, 2)],
    ids=["stride1_pad1", "stride2_pad1", "dilation2", "stride2_pad2_dilation2"],
)
def test_conv2d_matches_torch(stride, pad, dilation):
    x, w = _random((2, 3, 7, 6), 0), _random((5, 3, 3, 3), 1)
    lowered = lower_module(
        _conv_module(x.shape, w.shape, stride, pad, dilation), input_precision="ieee"
    )
    # The pad is read through by the convolution: one launch, no padded tensor.
    (launch,) = lowered.launches()
    assert launch.kernel_name == "main_convolution_0"
    (out,) = run_plan_interpreted(lowered, x, w)
    expected = F.conv2d(
        torch.from_numpy(x), torch.from_numpy(w), None, stride, pad, dilation
    )
    _check(out, expected)


def test_conv2d_1x1_with_init_matches_torch():
    x, w = _random((1, 6, 5, 5), 2), _random((4, 6, 1, 1), 3)
    bias = _random((1, 4, 5, 5), 4)
    lowered = lower_module(
        _conv_module(x.shape, w.shape, init=True), input_precision="ieee"
    )
    (out,) = run_plan_interpreted(lowered, x, w, bias)
    expected = F.conv2d(torch.from_numpy(x), torch.from_numpy(w)) + torch.from_numpy(
        bias
    )
    _check(out, expected)


def test_conv2d_f16_matches_torch():
    x, w = _random((1, 4, 6, 6), 5, np.float16), _random((8, 4, 3, 3), 6, np.float16)
    lowered = lower_module(_conv_module(x.shape, w.shape, pad=1, dtype="f16"))
    (out,) = run_plan_interpreted(lowered, x, w)
    assert out.dtype == np.float16
    # f16 products accumulated in f32 and rounded once, as cuDNN does.
    expected = F.conv2d(
        torch.from_numpy(x).float(), torch.from_numpy(w).float(), padding=1
    )
    _check(out, expected.half().float().numpy(), 1e-3)


@pytest.mark.parametrize("layout", ["gfchw", "fgchw"])
def test_grouped_conv2d_matches_torch(layout):
    groups, c, f = 2, 3, 4
    x = _random((1, groups, c, 6, 6), 7)
    w_torch = _random((groups * f, c, 3, 3), 8)
    w = w_torch.reshape(groups, f, c, 3, 3)
    if layout == "fgchw":
        w = np.ascontiguousarray(w.transpose(1, 0, 2, 3, 4))
    out_shape = (1, groups, f, 4, 4)
    module = f"""
func.func @main(%x: {_t(x.shape)}, %w: {_t(w.shape)}) -> {_t(out_shape)} {{
  %zero = arith.constant 0.0 : f32
  %e = tensor.empty() : {_t(out_shape)}
  %fill = linalg.fill ins(%zero : f32) outs(%e : {_t(out_shape)}) -> {_t(out_shape)}
  %y = linalg.conv_2d_ngchw_{layout} {{dilations = dense<1> : vector<2xi64>, strides = dense<1> : vector<2xi64>}}
      ins(%x, %w : {_t(x.shape)}, {_t(w.shape)}) outs(%fill : {_t(out_shape)}) -> {_t(out_shape)}
  func.return %y : {_t(out_shape)}
}}
"""
    lowered = lower_module(module, input_precision="ieee")
    (launch,) = lowered.launches()
    assert launch.grid_sizes[2] == groups
    (out,) = run_plan_interpreted(lowered, x, w)
    expected = F.conv2d(
        torch.from_numpy(x.reshape(1, groups * c, 6, 6)),
        torch.from_numpy(w_torch),
        groups=groups,
    )
    _check(out, expected.reshape(out_shape))


def test_grouped_conv2d_reads_through_a_channel_split_pad():
    """torch-mlir's grouped convolution: pad NCHW, split C into G x C/G, convolve."""
    x, w = _random((1, 4, 5, 5), 15), _random((6, 2, 3, 3), 16)
    module = f"""
func.func @main(%x: tensor<1x4x5x5xf32>, %w: tensor<6x2x3x3xf32>) -> tensor<1x6x5x5xf32> {{
  %zero = arith.constant 0.0 : f32
  %xp = tensor.pad %x low[0, 0, 1, 1] high[0, 0, 1, 1] {{
  ^bb0(%i0: index, %i1: index, %i2: index, %i3: index):
    tensor.yield %zero : f32
  }} : tensor<1x4x5x5xf32> to tensor<1x4x7x7xf32>
  %xg = tensor.expand_shape %xp [[0], [1, 2], [3], [4]] output_shape [1, 2, 2, 7, 7] : tensor<1x4x7x7xf32> into tensor<1x2x2x7x7xf32>
  %wg = tensor.expand_shape %w [[0, 1], [2], [3], [4]] output_shape [2, 3, 2, 3, 3] : tensor<6x2x3x3xf32> into tensor<2x3x2x3x3xf32>
  %init = arith.constant dense<0.0> : tensor<1x2x3x5x5xf32>
  %y = linalg.conv_2d_ngchw_gfchw {{dilations = dense<1> : vector<2xi64>, strides = dense<1> : vector<2xi64>}}
      ins(%xg, %wg : tensor<1x2x2x7x7xf32>, tensor<2x3x2x3x3xf32>) outs(%init : tensor<1x2x3x5x5xf32>) -> tensor<1x2x3x5x5xf32>
  %out = tensor.collapse_shape %y [[0], [1, 2], [3], [4]] : tensor<1x2x3x5x5xf32> into tensor<1x6x5x5xf32>
  func.return %out : tensor<1x6x5x5xf32>
}}
"""
    lowered = lower_module(module, input_precision="ieee")
    (launch,) = lowered.launches()
    assert launch.kernel_name == "main_convolution_0"
    (out,) = run_plan_interpreted(lowered, x, w)
    _check(out, F.conv2d(torch.from_numpy(x), torch.from_numpy(w), padding=1, groups=2))


@pytest.mark.parametrize("stride", [1, 2])
def test_depthwise_conv2d_matches_torch(stride):
    x, w = _random((2, 4, 7, 7), 9), _random((4, 3, 3), 10)
    pad_text, padded = _pad("xp", "%x", x.shape, [1, 1], "%zero")
    out_shape = (2, 4) + tuple(_out_size(s, 3, stride, 1) for s in padded[2:])
    module = f"""
func.func @main(%x: {_t(x.shape)}, %w: {_t(w.shape)}) -> {_t(out_shape)} {{
  %zero = arith.constant 0.0 : f32
  {pad_text}
  %init = arith.constant dense<0.25> : {_t(out_shape)}
  %y = linalg.depthwise_conv_2d_nchw_chw {{dilations = dense<1> : vector<2xi64>, strides = dense<{stride}> : vector<2xi64>}}
      ins(%xp, %w : {_t(padded)}, {_t(w.shape)}) outs(%init : {_t(out_shape)}) -> {_t(out_shape)}
  func.return %y : {_t(out_shape)}
}}
"""
    lowered = lower_module(module)
    (launch,) = lowered.launches()
    (out,) = run_plan_interpreted(lowered, x, w)
    expected = F.conv2d(
        torch.from_numpy(x), torch.from_numpy(w)[:, None], None, stride, 1, groups=4
    )
    _check(out, expected + 0.25)


def _pooling_module(kind: str, x_shape, window, stride, pad, pad_value: str) -> str:
    pad_text, padded = _pad("xp", "%x", x_shape, [pad, pad], "%padv")
    out = list(x_shape[:2]) + [_out_size(s, window, stride, 1) for s in padded[2:]]
    init = "0xFF800000" if kind == "max" else "0.0"
    return f"""
func.func @main(%x: {_t(x_shape)}) -> {_t(out)} {{
  %padv = arith.constant {pad_value} : f32
  {pad_text}
  %win = tensor.empty() : tensor<{window}x{window}xf32>
  %init = arith.constant dense<{init}> : {_t(out)}
  %y = linalg.pooling_nchw_{kind} {{dilations = dense<1> : vector<2xi64>, strides = dense<{stride}> : vector<2xi64>}}
      ins({'%xp' if pad else '%x'}, %win : {_t(padded)}, tensor<{window}x{window}xf32>) outs(%init : {_t(out)}) -> {_t(out)}
  func.return %y : {_t(out)}
}}
"""


def test_max_pooling_with_padding_matches_torch():
    x = _random((2, 3, 8, 8), 11)
    lowered = lower_module(_pooling_module("max", x.shape, 3, 2, 1, "0xFF800000"))
    (launch,) = lowered.launches()
    assert launch.kernel_name == "main_pooling_0"
    (out,) = run_plan_interpreted(lowered, x)
    _check(out, F.max_pool2d(torch.from_numpy(x), 3, 2, 1))


def test_sum_pooling_matches_torch():
    x = _random((1, 3, 6, 6), 12)
    (out,) = run_plan_interpreted(
        lower_module(_pooling_module("sum", x.shape, 2, 2, 0, "0.0")), x
    )
    _check(out, F.avg_pool2d(torch.from_numpy(x), 2, 2) * 4)


def test_pad_read_elsewhere_is_its_own_kernel():
    """A pad returned as well as convolved is built once; the convolution still reads through it."""
    x, w = _random((1, 2, 4, 5), 13), _random((3, 2, 3, 3), 14)
    module = _conv_module(x.shape, w.shape, pad=1, pad_value="0.5")
    module = module.replace(
        "-> tensor<1x3x4x5xf32> {", "-> (tensor<1x3x4x5xf32>, tensor<1x2x6x7xf32>) {"
    )
    module = module.replace(
        "func.return %y : tensor<1x3x4x5xf32>",
        "func.return %y, %xp : tensor<1x3x4x5xf32>, tensor<1x2x6x7xf32>",
    )
    lowered = lower_module(module, input_precision="ieee")
    assert [l.kernel_name for l in lowered.launches()] == [
        "main_elementwise_0",
        "main_convolution_1",
    ]
    out, padded = run_plan_interpreted(lowered, x, w)
    expected_pad = F.pad(torch.from_numpy(x), (1, 1, 1, 1), value=0.5)
    _check(padded, expected_pad)
    _check(out, F.conv2d(expected_pad, torch.from_numpy(w)))


@pytest.mark.slow
def test_convolution_kernels_compile_for_sm90(tmp_path, monkeypatch):
    pytest.importorskip("triton")
    from mirage_mlir.lowering.staging import TritonOptions, compile_ttir

    monkeypatch.setenv("MIRAGE_CACHE_DIR", str(tmp_path))
    modules = {
        # 128 output pixels x 16 channels: tiles wide enough for wgmma.
        "conv": _conv_module((2, 8, 8, 8), (16, 8, 3, 3), pad=1),
        "conv_f16": _conv_module((2, 8, 8, 8), (16, 8, 3, 3), pad=1, dtype="f16"),
        "max_pool": _pooling_module("max", (1, 4, 8, 8), 3, 2, 1, "0xFF800000"),
    }
    for label, module in modules.items():
        for name, ttir in lower_module(module).kernels:
            kernel = compile_ttir(ttir, TritonOptions(arch=90))
            assert kernel.name == name and ".target sm_90" in kernel.ptx
            if label.startswith("conv"):
                assert "warp_group_dot" in kernel.ttgir and "wgmma" in kernel.ptx, label


def test_pad_with_a_runtime_value_is_a_located_error():
    from mirage_mlir.dialects.diagnostics import MlirVerifyError

    module = """
func.func @main(%x: tensor<1x2x4x4xf32>, %v: f32) -> tensor<1x2x6x6xf32> {
  %xp = tensor.pad %x low[0, 0, 1, 1] high[0, 0, 1, 1] {
  ^bb0(%i0: index, %i1: index, %i2: index, %i3: index):
    tensor.yield %v : f32
  } : tensor<1x2x4x4xf32> to tensor<1x2x6x6xf32>
  func.return %xp : tensor<1x2x6x6xf32>
}
"""
    with pytest.raises(MlirVerifyError, match="constant padding value"):
        lower_module(module)
