"""f16 and bf16 through the flash-attention and column-reduction templates.

E2 (all four forms), E7 and E3 (both forms) are made in f16 and bf16,
optimised and lowered; every kernel compiles to a cubin for sm_90 and for
sm_80, and the launch plan run in the NumPy tt interpreter (f16 as NumPy's
float16, bf16 as float32 rounded to bf16 after every op) matches eager
PyTorch computed in float32 from the same rounded inputs and weights.

How each low-precision module is made:

- E2 written out (`softmax(q kᵀ · s) v`): the fp32 import is retyped, every
  f32 becoming f16/bf16, and then optimised, so the attention is computed in
  the narrow type throughout.  torch-mlir's own f16/bf16 imports (softmax
  widened to f32 between narrow matmuls) are the other form; they are
  optimised, lowered and run in tests/passes/test_low_precision_attention.py.
- SDPA: torch-mlir imports it in f16 and bf16 as attention on inputs widened
  to f32 and a result narrowed back, and the template reads through that.
- E7 and E3: torch-mlir imports f16 models; bf16 models with weights need
  the `ml_dtypes` package, which is not installed, so the f16 import is
  retyped to bf16 (the reference then rounds the weights through f16 too).

Tolerances (max abs error over max(1, max |expected|)): 4 units of roundoff,
2e-3 for f16 (u = 2^-11 ≈ 4.9e-4) and 1.6e-2 for bf16 (u = 2^-8 ≈ 3.9e-3),
tighter than the customary 1e-2 and 5e-2.  Every result is rounded once
when stored; the modules also round the tensors they store between kernels
(q, k, v, norm outputs, projections) and the kernels round P before P·V.
The errors measured are at most about one unit (f16 4.9e-4 on E3's running
variance, bf16 4.6e-3), so 4 units leave room for other inputs while a wrong
scale, mask, head or statistic (errors of order 1e-1 to 1) fails at once.
"""

from __future__ import annotations

import functools

import numpy as np
import pytest

from mirage_mlir.lowering.program import lower_module, run_plan_interpreted

NARROW = ("float16", "bfloat16")
TOLERANCES = {"float16": 2e-3, "bfloat16": 1.6e-2}
SHORT = {"float16": "f16", "bfloat16": "bf16"}

ATTENTION_EXAMPLES = (
    "e2_attention", "e2_attention_heads", "e2_attention_causal", "e2_sdpa", "e7_llama_attention"
)

# Seconds per case: run by `make test`, left out of `make test-fast`.
pytestmark = pytest.mark.slow
COLUMN_EXAMPLES = ("e3_batchnorm_relu", "e3_batchnorm_module")
RETYPED_FROM_F32 = ("e2_attention", "e2_attention_heads", "e2_attention_causal")
"""Examples whose low-precision module is the retyped fp32 import (see the module doc)."""


# -- making low-precision modules ------------------------------------------------


def _round(values, dtype_name: str) -> list[float]:
    import torch

    target = getattr(torch, dtype_name)
    return torch.tensor(list(values), dtype=torch.float64).to(target).double().tolist()


def retype_floats(text: str, old: str, new: str) -> str:
    """Module `text` with float type `old` made `new` everywhere, constants rounded.

    `old` and `new` are "f32", "f16" or "bf16".  Types of values, block
    arguments and functions change; scalar and dense constants and
    `dense_resource` weights are rounded to `new` (weights become new blobs).
    """
    import torch
    from xdsl.dialect_interfaces.op_asm import OpAsmDialectInterface
    from xdsl.dialects.builtin import (
        DenseIntOrFPElementsAttr,
        DenseResourceAttr,
        FloatAttr,
        FunctionType,
        TensorType,
        bf16,
        f16,
        f32,
    )
    from xdsl.pattern_rewriter import PatternRewriteWalker, TypeConversionPattern

    from mirage_mlir.dialects.context import mirage_context, parse_mlir, print_mlir

    names = {"f32": "float32", "f16": "float16", "bf16": "bfloat16"}
    types = {"f32": f32, "f16": f16, "bf16": bf16}
    old_type, new_type = types[old], types[new]
    builtin = mirage_context().get_dialect("builtin").get_interface(OpAsmDialectInterface)

    def tensor(t):
        return TensorType(new_type, t.get_shape())

    def blob(attr):
        raw = bytearray(bytes.fromhex(builtin.lookup(attr.resource_handle.data)[2:])[4:])
        if old == "bf16":
            values = torch.frombuffer(raw, dtype=torch.int16).view(torch.bfloat16)
        else:
            values = torch.frombuffer(raw, dtype=getattr(torch, names[old]))
        out = values.to(getattr(torch, names[new]))
        data = (out.view(torch.int16) if new == "bf16" else out).numpy().tobytes()
        key = builtin.declare_resource(f"{attr.resource_handle.data}_{new}")
        alignment = out.element_size().to_bytes(4, "little")
        builtin.parse_resource(key, "0x" + (alignment + data).hex().upper())
        return DenseResourceAttr.from_params(key, tensor(attr.type))

    class Retype(TypeConversionPattern):
        def convert_type(self, typ):
            if typ == old_type:
                return new_type
            if isinstance(typ, TensorType) and typ.get_element_type() == old_type:
                return tensor(typ)
            if isinstance(typ, FloatAttr) and typ.type == old_type:
                return FloatAttr(_round([typ.value.data], names[new])[0], new_type)
            if isinstance(typ, DenseIntOrFPElementsAttr) and typ.get_element_type() == old_type:
                return DenseIntOrFPElementsAttr.from_list(
                    tensor(typ.type), _round(typ.get_values(), names[new])
                )
            if isinstance(typ, DenseResourceAttr) and typ.type.get_element_type() == old_type:
                return blob(typ)
            if isinstance(typ, FunctionType):
                return FunctionType.from_lists(
                    [self.convert_type(t) or t for t in typ.inputs],
                    [self.convert_type(t) or t for t in typ.outputs],
                )
            return None

    module = parse_mlir(text)
    PatternRewriteWalker(Retype()).rewrite_module(module)
    module.verify()
    return print_mlir(module)


def _weight_roundings(name: str, dtype: str) -> tuple[str, ...]:
    """The dtypes an example's weights are rounded through in its low-precision module."""
    if dtype == "bfloat16" and name not in (*RETYPED_FROM_F32, "e2_sdpa"):
        return ("float16", "bfloat16")  # the f16 import, retyped
    return (dtype,)


def _imported(name: str, dtype: str) -> str:
    """Example `name` imported by torch-mlir with model and inputs in `dtype`."""
    import torch

    import mirage_mlir
    from mirage_mlir.examples import load_example

    example = load_example(name)
    model = example.make_model().to(getattr(torch, dtype))
    inputs = [x.to(getattr(torch, dtype)) for x in example.make_inputs(0)]
    return mirage_mlir.import_torch(model, *inputs)


@functools.cache
def narrow_module(name: str, dtype: str) -> str:
    """The optimised `dtype` version of example `name` (see the module doc)."""
    import mirage_mlir
    from mirage_mlir.examples import _HERE

    if name in RETYPED_FROM_F32:
        text = retype_floats((_HERE / f"{name}.mlir").read_text(), "f32", SHORT[dtype])
    elif dtype == "float16" or name == "e2_sdpa":
        text = _imported(name, dtype)
    else:
        text = retype_floats(_imported(name, "float16"), "f16", "bf16")
    return mirage_mlir.optimize(text).mlir


@functools.cache
def lowered(name: str, dtype: str, arch: int = 90):
    """`narrow_module(name, dtype)` lowered for `arch`."""
    return lower_module(narrow_module(name, dtype), arch=arch)


def _eager(name: str, dtype: str):
    """Plan inputs, and float32 eager results from the same rounded inputs and weights."""
    import torch

    from mirage_mlir.examples import load_example

    example = load_example(name)
    model = example.make_model()
    inputs = [x.to(getattr(torch, dtype)) for x in example.make_inputs(0)]
    with torch.no_grad():
        for tensor in [*model.parameters(), *model.buffers()]:
            if tensor.is_floating_point():
                for step in _weight_roundings(name, dtype):
                    tensor.copy_(tensor.to(getattr(torch, step)).float())
        out = model(*[x.float() for x in inputs])
    expected = [out.numpy()]
    if name == "e3_batchnorm_module":
        norm = model.norm
        expected = [norm.running_mean.numpy(), norm.running_var.numpy(),
                    norm.num_batches_tracked.numpy(), out.numpy()]
    # The plan interpreter holds bf16 as float32 (bf16 values), f16 as float16.
    arrays = [x.float().numpy() if dtype == "bfloat16" else x.numpy() for x in inputs]
    return arrays, expected


def _error(actual: np.ndarray, expected: np.ndarray) -> float:
    assert actual.shape == expected.shape
    diff = np.abs(actual.astype(np.float64) - expected.astype(np.float64)).max()
    return float(diff / max(1.0, np.abs(expected).max()))


def _templates(program) -> set[str]:
    return {launch.kernel_name.split("_", 1)[1].rsplit("_", 1)[0] for launch in program.launches()}


# -- the examples ------------------------------------------------------------------


@pytest.mark.parametrize("dtype", NARROW)
@pytest.mark.parametrize("name", ATTENTION_EXAMPLES + COLUMN_EXAMPLES)
def test_example_plan_matches_torch(name, dtype):
    program = lowered(name, dtype)
    template = "attention" if name in ATTENTION_EXAMPLES else "column_reduction"
    assert template in _templates(program)
    inputs, expected = _eager(name, dtype)
    outputs = run_plan_interpreted(program, *inputs)
    assert len(outputs) == len(expected)
    storage = np.float16 if dtype == "float16" else np.float32
    for out, ref in zip(outputs, expected):
        if ref.dtype.kind == "i":  # BatchNorm's batch counter
            np.testing.assert_array_equal(out, ref)
            continue
        assert out.dtype == storage
        assert _error(out, ref) <= TOLERANCES[dtype], (name, dtype, _error(out, ref))


def _dots(ttir: str) -> list[tuple[str, str, str]]:
    """(a, b, accumulator) types of each tt.dot in generic-form TTIR."""
    found = []
    for line in ttir.splitlines():
        if '"tt.dot"' in line:
            operands = line.rsplit(" : (", 1)[1].split(") -> ")[0]
            found.append(tuple(operands.split(", ")))
    return found


@pytest.mark.parametrize("dtype", NARROW)
@pytest.mark.parametrize("name", ATTENTION_EXAMPLES)
def test_attention_dots_take_narrow_tiles_and_accumulate_in_f32(name, dtype):
    short = SHORT[dtype]
    (ttir,) = [t for n, t in lowered(name, dtype).kernels if "attention" in n]
    dots = _dots(ttir)
    assert len(dots) == 2
    for a, b, acc in dots:
        assert a.endswith(f"x{short}>") and b.endswith(f"x{short}>"), (a, b)
        assert acc.endswith("xf32>"), acc
    assert ttir.count('"tt.store"') == 1 and f"!tt.ptr<{short}>" in ttir


@pytest.mark.parametrize("dtype", NARROW)
@pytest.mark.parametrize("name", COLUMN_EXAMPLES)
def test_column_kernel_widens_loads_and_reduces_in_f32(name, dtype):
    short = SHORT[dtype]
    (ttir,) = [t for n, t in lowered(name, dtype).kernels if "column_reduction" in n]
    reduces = [line for line in ttir.splitlines() if '"tt.reduce"' in line]
    assert reduces and all(f"x{short}>" not in line for line in reduces), reduces
    assert '"arith.extf"' in ttir and '"arith.truncf"' in ttir
    loads = [line for line in ttir.splitlines() if '"tt.load"' in line]
    assert any(f"!tt.ptr<{short}>" in line for line in loads)


@pytest.mark.parametrize("arch", (90, 80))
@pytest.mark.parametrize("dtype", NARROW)
@pytest.mark.parametrize("name", ATTENTION_EXAMPLES + COLUMN_EXAMPLES)
def test_example_kernels_compile(name, dtype, arch, triton_cache):
    pytest.importorskip("triton")
    from mirage_mlir.lowering.staging import TritonOptions, compile_ttir

    for kernel_name, ttir in lowered(name, dtype, arch).kernels:
        kernel = compile_ttir(ttir, TritonOptions(arch=arch))
        assert kernel.name == kernel_name
        assert kernel.cubin and f".target sm_{arch}" in kernel.ptx
        if "attention" in kernel_name:
            assert "mma" in kernel.ptx  # tensor cores: mma.sync or wgmma


# -- hand-written kernels ------------------------------------------------------------


def _attention_reference(q, k, v, scale, causal):
    """softmax(scale q kᵀ) v in f64, KV heads repeated for the groups."""
    q, k, v = (x.astype(np.float64) for x in (q, k, v))
    group = q.shape[1] // k.shape[1]
    k, v = np.repeat(k, group, axis=1), np.repeat(v, group, axis=1)
    scores = scale * q @ np.swapaxes(k, -1, -2)
    if causal:
        sq, skv = scores.shape[-2:]
        scores = np.where(np.tril(np.ones((sq, skv), bool)), scores, -np.inf)
    weights = np.exp(scores - scores.max(-1, keepdims=True))
    return (weights / weights.sum(-1, keepdims=True)) @ v


def _narrow_array(array: np.ndarray, dtype: str) -> np.ndarray:
    """`array` rounded to `dtype`, as the plan interpreter holds it."""
    import torch

    rounded = torch.from_numpy(np.asarray(array, np.float32)).to(getattr(torch, dtype))
    return rounded.numpy() if dtype == "float16" else rounded.float().numpy()


_GQA_QKV = """
func.func @main(%qkv: tensor<40x192xELT>) -> tensor<1x40x8x16xELT> {
  %0 = mirage.kernel (%qkv) : (tensor<40x192xELT>) -> tensor<1x40x8x16xELT> attributes {template = "attention"} {
  ^bb0(%a: tensor<40x192xELT>):
    %q = tensor.extract_slice %a[0, 32] [40, 128] [1, 1] : tensor<40x192xELT> to tensor<40x128xELT>
    %q4 = tensor.expand_shape %q [[0, 1], [2, 3]] output_shape [1, 40, 8, 16] : tensor<40x128xELT> into tensor<1x40x8x16xELT>
    %eq = tensor.empty() : tensor<1x8x40x16xELT>
    %qt = linalg.transpose ins(%q4 : tensor<1x40x8x16xELT>) outs(%eq : tensor<1x8x40x16xELT>) permutation = [0, 2, 1, 3]
    %k = tensor.extract_slice %a[0, 0] [40, 32] [1, 1] : tensor<40x192xELT> to tensor<40x32xELT>
    %k4 = tensor.expand_shape %k [[0, 1], [2, 3]] output_shape [1, 40, 2, 16] : tensor<40x32xELT> into tensor<1x40x2x16xELT>
    %ek = tensor.empty() : tensor<1x2x40x16xELT>
    %kt = linalg.transpose ins(%k4 : tensor<1x40x2x16xELT>) outs(%ek : tensor<1x2x40x16xELT>) permutation = [0, 2, 1, 3]
    %v = tensor.extract_slice %a[0, 160] [40, 32] [1, 1] : tensor<40x192xELT> to tensor<40x32xELT>
    %v4 = tensor.expand_shape %v [[0, 1], [2, 3]] output_shape [1, 40, 2, 16] : tensor<40x32xELT> into tensor<1x40x2x16xELT>
    %ev = tensor.empty() : tensor<1x2x40x16xELT>
    %vt = linalg.transpose ins(%v4 : tensor<1x40x2x16xELT>) outs(%ev : tensor<1x2x40x16xELT>) permutation = [0, 2, 1, 3]
    %o = mirage.attention %qt, %kt, %vt scale 3.000000e-01 causal : tensor<1x8x40x16xELT>, tensor<1x2x40x16xELT>, tensor<1x2x40x16xELT> -> tensor<1x8x40x16xELT>
    %eo = tensor.empty() : tensor<1x40x8x16xELT>
    %ot = linalg.transpose ins(%o : tensor<1x8x40x16xELT>) outs(%eo : tensor<1x40x8x16xELT>) permutation = [0, 2, 1, 3]
    mirage.yield %ot : tensor<1x40x8x16xELT>
  }
  func.return %0 : tensor<1x40x8x16xELT>
}
"""
"""E7's fp32 form, by hand: q, k, v sliced out of one QKV buffer, 8 query heads
on 2 KV heads, causal, a sequence of 40 (masked rows and keys); ELT is the
element type."""


def _split_heads(columns: np.ndarray, heads: int) -> np.ndarray:
    return columns.reshape(1, 40, heads, 16).transpose(0, 2, 1, 3)


@pytest.mark.parametrize("dtype", NARROW)
def test_gqa_from_joined_qkv_buffer(dtype):
    qkv = _narrow_array(np.random.default_rng(7).standard_normal((40, 192)) * 2.0, dtype)
    program = lower_module(_GQA_QKV.replace("ELT", SHORT[dtype]))
    (launch,) = program.launches()
    assert launch.grid_sizes == (1, 8, 1)
    (out,) = run_plan_interpreted(program, qkv)
    q, k, v = (_split_heads(qkv[:, 32:160], 8), _split_heads(qkv[:, :32], 2),
               _split_heads(qkv[:, 160:], 2))
    expected = _attention_reference(q, k, v, 0.3, causal=True).transpose(0, 2, 1, 3)
    assert _error(out, expected) <= TOLERANCES[dtype]
    for _, ttir in program.kernels:
        assert [acc for *_, acc in _dots(ttir)] == ["tensor<64x64xf32>", "tensor<64x16xf32>"]


def test_gqa_through_a_repeated_kv_view_reads_each_kv_head():
    """torch-mlir's GQA form: K and V repeated by a broadcast copy and a collapse."""
    text = """
#rep = affine_map<(d0, d1, d2, d3, d4) -> (d1, 0, d3, d4)>
#id5 = affine_map<(d0, d1, d2, d3, d4) -> (d0, d1, d2, d3, d4)>
#id4 = affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>
func.func @main(%q: tensor<1x4x24x16xf16>, %k: tensor<2x1x24x16xf16>, %v: tensor<2x1x24x16xf16>) -> tensor<1x4x24x16xf16> {
  %0 = mirage.kernel (%q, %k, %v) : (tensor<1x4x24x16xf16>, tensor<2x1x24x16xf16>, tensor<2x1x24x16xf16>) -> tensor<1x4x24x16xf16> attributes {template = "attention"} {
  ^bb0(%a: tensor<1x4x24x16xf16>, %b: tensor<2x1x24x16xf16>, %c: tensor<2x1x24x16xf16>):
    %e5 = tensor.empty() : tensor<1x2x2x24x16xf16>
    %kr = linalg.generic {indexing_maps = [#rep, #id5], iterator_types = ["parallel", "parallel", "parallel", "parallel", "parallel"]} ins(%b : tensor<2x1x24x16xf16>) outs(%e5 : tensor<1x2x2x24x16xf16>) {
    ^bb0(%x: f16, %y: f16):
      linalg.yield %x : f16
    } -> tensor<1x2x2x24x16xf16>
    %k4 = tensor.collapse_shape %kr [[0], [1, 2], [3], [4]] : tensor<1x2x2x24x16xf16> into tensor<1x4x24x16xf16>
    %vr = linalg.generic {indexing_maps = [#rep, #id5], iterator_types = ["parallel", "parallel", "parallel", "parallel", "parallel"]} ins(%c : tensor<2x1x24x16xf16>) outs(%e5 : tensor<1x2x2x24x16xf16>) {
    ^bb0(%x: f16, %y: f16):
      linalg.yield %x : f16
    } -> tensor<1x2x2x24x16xf16>
    %v4 = tensor.collapse_shape %vr [[0], [1, 2], [3], [4]] : tensor<1x2x2x24x16xf16> into tensor<1x4x24x16xf16>
    %e32 = tensor.empty() : tensor<1x4x24x16xf32>
    %qw = linalg.generic {indexing_maps = [#id4, #id4], iterator_types = ["parallel", "parallel", "parallel", "parallel"]} ins(%a : tensor<1x4x24x16xf16>) outs(%e32 : tensor<1x4x24x16xf32>) {
    ^bb0(%x: f16, %y: f32):
      %w = arith.extf %x : f16 to f32
      linalg.yield %w : f32
    } -> tensor<1x4x24x16xf32>
    %kw = linalg.generic {indexing_maps = [#id4, #id4], iterator_types = ["parallel", "parallel", "parallel", "parallel"]} ins(%k4 : tensor<1x4x24x16xf16>) outs(%e32 : tensor<1x4x24x16xf32>) {
    ^bb0(%x: f16, %y: f32):
      %w = arith.extf %x : f16 to f32
      linalg.yield %w : f32
    } -> tensor<1x4x24x16xf32>
    %vw = linalg.generic {indexing_maps = [#id4, #id4], iterator_types = ["parallel", "parallel", "parallel", "parallel"]} ins(%v4 : tensor<1x4x24x16xf16>) outs(%e32 : tensor<1x4x24x16xf32>) {
    ^bb0(%x: f16, %y: f32):
      %w = arith.extf %x : f16 to f32
      linalg.yield %w : f32
    } -> tensor<1x4x24x16xf32>
    %o = mirage.attention %qw, %kw, %vw scale 2.500000e-01 : tensor<1x4x24x16xf32>, tensor<1x4x24x16xf32>, tensor<1x4x24x16xf32> -> tensor<1x4x24x16xf32>
    %e16 = tensor.empty() : tensor<1x4x24x16xf16>
    %on = linalg.generic {indexing_maps = [#id4, #id4], iterator_types = ["parallel", "parallel", "parallel", "parallel"]} ins(%o : tensor<1x4x24x16xf32>) outs(%e16 : tensor<1x4x24x16xf16>) {
    ^bb0(%x: f32, %y: f16):
      %n = arith.truncf %x : f32 to f16
      linalg.yield %n : f16
    } -> tensor<1x4x24x16xf16>
    mirage.yield %on : tensor<1x4x24x16xf16>
  }
  func.return %0 : tensor<1x4x24x16xf16>
}
"""
    rng = np.random.default_rng(5)
    q = rng.standard_normal((1, 4, 24, 16)).astype(np.float16)
    k, v = (rng.standard_normal((2, 1, 24, 16)).astype(np.float16) for _ in range(2))
    program = lower_module(text)
    (ttir,) = [t for _, t in program.kernels]
    assert ttir.count('"tt.load"') == 3  # q, then one K and one V tile per step: no copies
    assert [(a[-5:], b[-5:]) for a, b, _ in _dots(ttir)] == [("xf16>", "xf16>")] * 2
    (out,) = run_plan_interpreted(program, q, k, v)
    # Query head h reads KV head h // 2: the repeat of K and V over the group.
    k4, v4 = k.reshape(1, 2, 24, 16), v.reshape(1, 2, 24, 16)
    expected = _attention_reference(q, k4, v4, 0.25, causal=False)
    assert out.dtype == np.float16
    assert _error(out, expected) <= TOLERANCES["float16"]


_COLUMN_SUM = """
#id = affine_map<(d0, d1) -> (d0, d1)>
#col = affine_map<(d0, d1) -> (0, d1)>
func.func @main(%x: tensor<4096x24xELT>) -> tensor<1x24xELT> {
  %0 = mirage.kernel (%x) : (tensor<4096x24xELT>) -> tensor<1x24xELT> attributes {template = "column_reduction"} {
  ^bb0(%a: tensor<4096x24xELT>):
    %zero = arith.constant 0.000000e+00 : ELT
    %e = tensor.empty() : tensor<1x24xELT>
    %init = linalg.fill ins(%zero : ELT) outs(%e : tensor<1x24xELT>) -> tensor<1x24xELT>
    %sum = linalg.generic {indexing_maps = [#id, #col], iterator_types = ["reduction", "parallel"]} ins(%a : tensor<4096x24xELT>) outs(%init : tensor<1x24xELT>) {
    ^bb0(%in: ELT, %acc: ELT):
      %s = arith.addf %in, %acc : ELT
      linalg.yield %s : ELT
    } -> tensor<1x24xELT>
    mirage.yield %sum : tensor<1x24xELT>
  }
  func.return %0 : tensor<1x24xELT>
}
"""
"""A column sum over 4096 rows: in an f16/bf16 accumulator the running sum
reaches ~2000, where one f16 step is 2 and one bf16 step 16."""


@pytest.mark.parametrize("dtype", NARROW)
def test_column_sum_accumulates_in_f32_and_rounds_once(dtype):
    import torch

    x = _narrow_array(np.random.default_rng(11).random((4096, 24)), dtype)
    program = lower_module(_COLUMN_SUM.replace("ELT", SHORT[dtype]))
    (out,) = run_plan_interpreted(program, x)
    exact = x.astype(np.float64).sum(0, keepdims=True)
    # The f32 sum is within 1e-5 of the exact one; rounding it once to the
    # storage type is then the only visible error (half a step, ties aside).
    once = torch.from_numpy(exact).to(getattr(torch, dtype)).double().numpy()
    step = np.abs(once) * {"float16": 2.0**-10, "bfloat16": 2.0**-7}[dtype]
    assert (np.abs(out.astype(np.float64) - once) <= step).all()
