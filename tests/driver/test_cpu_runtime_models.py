"""Whole CNN and embedding models through `mirage_mlir.compile` on the CPU runtime.

torch-mlir lowers these to `tensor.pad`, named convolutions and poolings,
`linalg.broadcast`, gathers (`tensor.extract` inside a generic) and
`cf.assert` bounds checks; each model's compiled output must match eager
PyTorch on fresh inputs, and a failing bounds check must be a clear error.
"""

from __future__ import annotations

import pytest
import torch
from torch import nn

import mirage_mlir as mm
from mirage_mlir.dialects.context import parse_mlir, print_mlir
from mirage_mlir.driver.torch_convolution import RuntimeAssertionError
from mirage_mlir.driver.torch_generic import TorchExecutorError


class BasicBlock(nn.Module):
    """A ResNet basic block with a strided, projected shortcut."""

    def __init__(self, inputs: int, outputs: int, stride: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(inputs, outputs, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(outputs)
        self.conv2 = nn.Conv2d(outputs, outputs, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(outputs)
        self.shortcut = nn.Sequential(
            nn.Conv2d(inputs, outputs, 1, stride, bias=False), nn.BatchNorm2d(outputs)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = torch.relu(self.bn1(self.conv1(x)))
        return torch.relu(self.bn2(self.conv2(y)) + self.shortcut(x))


class SmallResNet(nn.Module):
    """Stem (padded conv, batch norm, ReLU, max pool), one block, global pool, classifier."""

    def __init__(self) -> None:
        super().__init__()
        self.stem = nn.Sequential(
            nn.Conv2d(3, 8, 3, 1, 1),
            nn.BatchNorm2d(8),
            nn.ReLU(),
            nn.MaxPool2d(3, 2, 1),
        )
        self.block = BasicBlock(8, 16, 2)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(16, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(torch.flatten(self.pool(self.block(self.stem(x))), 1))


class DepthwiseSeparable(nn.Module):
    """A depthwise 3x3 convolution (groups = channels) then a pointwise 1x1 one."""

    def __init__(self, channels: int = 8, outputs: int = 16) -> None:
        super().__init__()
        self.depthwise = nn.Conv2d(channels, channels, 3, padding=1, groups=channels)
        self.pointwise = nn.Conv2d(channels, outputs, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.relu(self.pointwise(self.depthwise(x)))


class EmbeddingClassifier(nn.Module):
    """Token embedding, layer norm and a linear head."""

    def __init__(self, vocabulary: int = 50, width: int = 16) -> None:
        super().__init__()
        self.embedding = nn.Embedding(vocabulary, width)
        self.norm = nn.LayerNorm(width)
        self.head = nn.Linear(width, 7)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        return self.head(self.norm(self.embedding(ids)))


class ConvolutionForms(nn.Module):
    """Grouped and dilated 2-D, 1-D and 3-D convolutions and average pools."""

    def __init__(self) -> None:
        super().__init__()
        self.grouped = nn.Conv2d(8, 12, 3, groups=2, dilation=2)
        self.multiplier = nn.Conv2d(12, 24, 3, padding=1, groups=12)
        self.pool = nn.AvgPool2d(3, 2, 1)
        self.conv1d = nn.Conv1d(24, 4, 3, padding=1, stride=2)
        self.conv3d = nn.Conv3d(1, 2, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.pool(self.multiplier(self.grouped(x)))
        y = self.conv1d(y.flatten(2))
        return self.conv3d(y[:, None, None]).sum(1)


class CeilModePool(nn.Module):
    """Max pool with ceil_mode (an asymmetric -inf pad) and a non-global adaptive pool."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pooled = nn.functional.max_pool2d(x, 3, 2, ceil_mode=True)
        return nn.functional.adaptive_avg_pool2d(pooled, (2, 3))


def _compile(model: nn.Module, inputs: tuple, tmp_path) -> mm.CompiledModule:
    with torch.no_grad():
        return mm.compile(model.eval(), *inputs, target="cpu", cache_dir=tmp_path)


def _check(model: nn.Module, make_inputs, tmp_path) -> float:
    """Compile on one set of inputs, run on another; the max error relative to the output."""
    torch.manual_seed(0)
    compiled = _compile(model, make_inputs(), tmp_path)
    fresh = make_inputs()
    with torch.no_grad():
        expected = model(*fresh)
    got = compiled(*fresh)
    got = got[0] if isinstance(got, (list, tuple)) else got
    assert got.shape == expected.shape
    error = float((got - expected).abs().max() / expected.abs().max())
    assert error <= 1e-4, error
    return error


@pytest.mark.slow
def test_resnet_style_cnn(tmp_path) -> None:
    model = SmallResNet()
    # Non-trivial running statistics, so eval-mode batch norm is not an identity.
    for module in model.modules():
        if isinstance(module, nn.BatchNorm2d):
            module.running_mean.uniform_(-0.5, 0.5)
            module.running_var.uniform_(0.5, 2.0)
    _check(model, lambda: (torch.randn(2, 3, 16, 16),), tmp_path)


def test_depthwise_separable_block(tmp_path) -> None:
    _check(DepthwiseSeparable(), lambda: (torch.randn(2, 8, 12, 12),), tmp_path)


def test_embedding_layer_norm_linear(tmp_path) -> None:
    _check(EmbeddingClassifier(), lambda: (torch.randint(0, 50, (2, 5)),), tmp_path)


def test_unpadded_convolution(tmp_path) -> None:
    _check(nn.Conv2d(3, 4, 3), lambda: (torch.randn(1, 3, 8, 8),), tmp_path)


def test_grouped_dilated_1d_3d_convolutions_and_average_pool(tmp_path) -> None:
    _check(ConvolutionForms(), lambda: (torch.randn(2, 8, 12, 12),), tmp_path)


def test_ceil_mode_max_pool_and_adaptive_pool(tmp_path) -> None:
    _check(CeilModePool(), lambda: (torch.randn(2, 4, 10, 10),), tmp_path)


def test_failed_bounds_check_names_the_assert(tmp_path) -> None:
    model = EmbeddingClassifier()
    compiled = _compile(model, (torch.randint(0, 50, (2, 5)),), tmp_path)
    ids = torch.randint(0, 50, (2, 5))
    ids[1, 3] = 50
    with pytest.raises(
        RuntimeAssertionError, match="index must be smaller than dim size"
    ):
        compiled(ids)
    ids[1, 3] = -1
    with pytest.raises(TorchExecutorError, match="index must be larger or equal to 0"):
        compiled(ids)
    # A failed check leaves the module usable.
    ids[1, 3] = 0
    compiled(ids)


def test_bounds_checks_hold_in_the_traced_graph(tmp_path) -> None:
    """After two good calls the steps run as one traced aten graph; its checks still fail
    on bad indices (negative ones included, which indexing alone would wrap around)."""
    model = EmbeddingClassifier()
    compiled = _compile(model, (torch.randint(0, 50, (2, 5)),), tmp_path)
    ids = torch.randint(0, 50, (2, 5))
    with torch.no_grad():
        expected = model(ids)
    torch.testing.assert_close(compiled(ids), expected)
    torch.testing.assert_close(compiled(ids), expected)  # traces the steps
    assert compiled.program.graph is not None
    torch.testing.assert_close(compiled(ids), expected)
    ids[0, 0] = -1
    with pytest.raises(TorchExecutorError, match="index must be larger or equal to 0"):
        compiled(ids)
    ids[0, 0] = 50
    with pytest.raises(
        RuntimeAssertionError, match="index must be smaller than dim size"
    ):
        compiled(ids)


def test_new_convolution_ops_print_back_unchanged() -> None:
    text = """func.func @f(%x: tensor<1x4x12x12xf32>, %w: tensor<4x3x3xf32>,
    %b: tensor<1x4x10x10xf32>, %x1: tensor<1x4x10xf32>, %w1: tensor<2x4x3xf32>,
    %b1: tensor<1x2x8xf32>, %win: tensor<2x2xf32>, %s: tensor<1x4x5x5xf32>)
    -> (tensor<1x4x10x10xf32>, tensor<1x2x8xf32>, tensor<1x4x5x5xf32>) {
  %0 = linalg.depthwise_conv_2d_nchw_chw {dilations = dense<1> : vector<2xi64>, strides = dense<1> : vector<2xi64>} ins(%x, %w : tensor<1x4x12x12xf32>, tensor<4x3x3xf32>) outs(%b : tensor<1x4x10x10xf32>) -> tensor<1x4x10x10xf32>
  %1 = linalg.conv_1d_ncw_fcw {dilations = dense<1> : vector<1xi64>, strides = dense<1> : vector<1xi64>} ins(%x1, %w1 : tensor<1x4x10xf32>, tensor<2x4x3xf32>) outs(%b1 : tensor<1x2x8xf32>) -> tensor<1x2x8xf32>
  %2 = linalg.pooling_nchw_sum {dilations = dense<1> : vector<2xi64>, strides = dense<2> : vector<2xi64>} ins(%0, %win : tensor<1x4x10x10xf32>, tensor<2x2xf32>) outs(%s : tensor<1x4x5x5xf32>) -> tensor<1x4x5x5xf32>
  func.return %0, %1, %2 : tensor<1x4x10x10xf32>, tensor<1x2x8xf32>, tensor<1x4x5x5xf32>
}"""
    printed = print_mlir(parse_mlir(text))
    for line in text.splitlines()[3:6]:
        assert line.strip() in printed
    assert print_mlir(parse_mlir(printed)) == printed


# Forms the models above do not reach (an asymmetric pad with a non-zero value, inits that
# are neither neutral nor a bias, dilated sums, other layouts), against MLIR's own JIT.
_UNFUSED = """func.func @main(%x: tensor<1x4x9x9xf32>, %wg: tensor<6x2x2x3x3xf32>,
    %init: tensor<1x2x6x4x4xf32>, %m: tensor<1x4x3x3xf32>, %xh: tensor<1x9x9x4xf32>,
    %wh: tensor<3x3x4x5xf32>)
    -> (tensor<1x2x6x4x4xf32>, tensor<1x4x3x3xf32>, tensor<1x4x3x3xf32>, tensor<1x7x7x5xf32>) {
  %one = arith.constant 1.5 : f32
  %zero = arith.constant 0.0 : f32
  %p = tensor.pad %x low[0, 0, 0, 1] high[0, 0, 2, 0] {
  ^bb0(%a: index, %b: index, %c: index, %d: index):
    tensor.yield %one : f32
  } : tensor<1x4x9x9xf32> to tensor<1x4x11x10xf32>
  %g = tensor.expand_shape %p [[0], [1, 2], [3], [4]] output_shape [1, 2, 2, 11, 10] : tensor<1x4x11x10xf32> into tensor<1x2x2x11x10xf32>
  %0 = linalg.conv_2d_ngchw_fgchw {dilations = dense<[2, 1]> : vector<2xi64>, strides = dense<2> : vector<2xi64>} ins(%g, %wg : tensor<1x2x2x11x10xf32>, tensor<6x2x2x3x3xf32>) outs(%init : tensor<1x2x6x4x4xf32>) -> tensor<1x2x6x4x4xf32>
  %win = tensor.empty() : tensor<2x2xf32>
  %1 = linalg.pooling_nchw_sum {dilations = dense<2> : vector<2xi64>, strides = dense<3> : vector<2xi64>} ins(%x, %win : tensor<1x4x9x9xf32>, tensor<2x2xf32>) outs(%m : tensor<1x4x3x3xf32>) -> tensor<1x4x3x3xf32>
  %2 = linalg.pooling_nchw_max {dilations = dense<1> : vector<2xi64>, strides = dense<3> : vector<2xi64>} ins(%p, %win : tensor<1x4x11x10xf32>, tensor<2x2xf32>) outs(%m : tensor<1x4x3x3xf32>) -> tensor<1x4x3x3xf32>
  %e = tensor.empty() : tensor<1x7x7x5xf32>
  %f = linalg.fill ins(%zero : f32) outs(%e : tensor<1x7x7x5xf32>) -> tensor<1x7x7x5xf32>
  %3 = linalg.conv_2d_nhwc_hwcf {dilations = dense<1> : vector<2xi64>, strides = dense<1> : vector<2xi64>} ins(%xh, %wh : tensor<1x9x9x4xf32>, tensor<3x3x4x5xf32>) outs(%f : tensor<1x7x7x5xf32>) -> tensor<1x7x7x5xf32>
  func.return %0, %1, %2, %3 : tensor<1x2x6x4x4xf32>, tensor<1x4x3x3xf32>, tensor<1x4x3x3xf32>, tensor<1x7x7x5xf32>
}"""


def test_unfused_forms_match_the_mlir_jit() -> None:
    from mirage_mlir.driver.executor import execute_mlir
    from mirage_mlir.driver.torch_executor import TorchProgram

    torch.manual_seed(0)
    shapes = [
        (1, 4, 9, 9),
        (6, 2, 2, 3, 3),
        (1, 2, 6, 4, 4),
        (1, 4, 3, 3),
        (1, 9, 9, 4),
        (3, 3, 4, 5),
    ]
    inputs = [torch.randn(*s) for s in shapes]
    expected = execute_mlir(_UNFUSED, *[t.numpy() for t in inputs])
    got = TorchProgram.from_text(_UNFUSED)(*inputs)
    for e, g in zip(expected, got):
        assert torch.allclose(g, torch.from_numpy(e), rtol=1e-5, atol=1e-5)
