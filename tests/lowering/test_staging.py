"""Triton staging: hand-built kernels and Triton's own TTIR through triton.compile for sm_90/sm_80."""

from __future__ import annotations

import subprocess
import sys

import pytest

pytest.importorskip("triton")

from mirage_mlir.dialects import tt  # noqa: E402
from mirage_mlir.dialects.context import print_mlir  # noqa: E402
from mirage_mlir.lowering import reference_kernels, staging  # noqa: E402
from mirage_mlir.lowering.staging import (  # noqa: E402
    TritonCompileError,
    TritonOptions,
    compile_ttir,
)
from mirage_mlir.lowering.ttir import parse_ttir, print_ttir  # noqa: E402

KERNELS = {
    "masked_add": reference_kernels.masked_add_kernel,
    "row_softmax": reference_kernels.row_softmax_kernel,
    "matmul": reference_kernels.matmul_kernel,
}


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    """A fresh cache for this module (Triton's own cache lives inside it)."""
    path = tmp_path_factory.mktemp("mirage-cache")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("MIRAGE_CACHE_DIR", str(path))
        yield path


@pytest.fixture(scope="module")
def compiled(cache):
    """Each reference kernel compiled once for sm_90."""
    return {name: compile_ttir(print_ttir(build())) for name, build in KERNELS.items()}


@pytest.mark.parametrize("name", sorted(KERNELS))
def test_reference_kernel_compiles_to_cubin_for_sm90(compiled, name):
    kernel = compiled[name]
    assert kernel.name == name
    assert f".entry {name}(" in kernel.ptx
    assert ".target sm_90a" in kernel.ptx
    assert kernel.cubin[:4] == b"\x7fELF"
    assert f"tt.func public @{name}" in kernel.ttir
    assert "ttg.num-warps" in kernel.ttgir
    assert kernel.metadata["num_warps"] == 4


def test_matmul_uses_tensor_cores_on_sm90(compiled):
    kernel = compiled["matmul"]
    assert "wgmma" in kernel.ptx
    assert "warp_group_dot" in kernel.ttgir


def test_cache_hit_does_not_run_triton(compiled, cache, monkeypatch):
    text = print_ttir(reference_kernels.masked_add_kernel())
    assert (cache / staging.cache_key(text, TritonOptions())).is_dir()

    def fail(*args):
        raise AssertionError("triton ran on a cache hit")

    monkeypatch.setattr(staging, "_run_triton", fail)
    again = compile_ttir(text)
    assert again == compiled["masked_add"]
    assert again.metadata["name"] == "masked_add"


def test_options_are_part_of_the_key_and_reach_triton(cache):
    text = print_ttir(reference_kernels.masked_add_kernel())
    options = TritonOptions(num_warps=2, num_stages=2, arch=80)
    assert staging.cache_key(text, options) != staging.cache_key(text, TritonOptions())
    kernel = compile_ttir(text, options)
    assert ".target sm_80" in kernel.ptx
    assert kernel.metadata["num_warps"] == 2
    assert kernel.metadata["num_stages"] == 2


def test_invalid_options_are_rejected():
    with pytest.raises(ValueError, match="unsupported arch sm_70"):
        TritonOptions(arch=70)
    with pytest.raises(ValueError, match="power of two"):
        TritonOptions(num_warps=3)


def test_ttir_triton_cannot_parse_names_the_stage(cache):
    text = (
        "module {\n  tt.func public @k(%x: !tt.ptr<f32>) {\n"
        "    %v = tt.load %x : tensor<4x!tt.ptr<f32>>\n    tt.return\n  }\n}\n"
    )
    with pytest.raises(TritonCompileError) as info:
        compile_ttir(text)
    assert info.value.stage == "parse"
    assert "expects different type than prior uses" in info.value.message
    assert "triton failed at stage 'parse'" in str(info.value)


def test_triton_verifier_errors_are_reported(cache):
    # Triton's verifier wants power-of-two blocks; the message names the op.
    text = (
        "module {\n  tt.func public @k(%x: !tt.ptr<f32>) {\n"
        "    %r = tt.make_range {end = 100 : i32, start = 0 : i32} : tensor<100xi32>\n"
        "    tt.return\n  }\n}\n"
    )
    with pytest.raises(TritonCompileError) as info:
        compile_ttir(text)
    assert "Number of elements must be power-of-two" in info.value.message
    assert info.value.ttir_path.endswith("kernel.ttir")


JIT_SOURCE = '''
import triton
import triton.language as tl


@triton.jit
def scaled_rows(x, out, n_cols, scale, BLOCK: tl.constexpr):
    row = tl.program_id(0)
    cols = tl.arange(0, BLOCK)
    mask = cols < n_cols
    v = tl.load(x + row * n_cols + cols, mask=mask, other=0.0)
    t = tl.reshape(tl.trans(tl.reshape(v, (BLOCK // 8, 8))), (BLOCK,))
    total = tl.sum(v, axis=0)
    tl.store(out + row * n_cols + cols, t * scale / total, mask=mask)
'''


@pytest.fixture(scope="module")
def triton_ttir(tmp_path_factory, cache):
    """TTIR that triton 3.9 prints for a @triton.jit kernel, with its locations."""
    folder = tmp_path_factory.mktemp("jit")
    (folder / "jit_kernel.py").write_text(JIT_SOURCE)
    script = (
        "import sys; sys.path.insert(0, sys.argv[1])\n"
        "import triton, jit_kernel\n"
        "from triton.compiler import ASTSource\n"
        "from triton.backends.compiler import GPUTarget\n"
        "src = ASTSource(jit_kernel.scaled_rows, {'x': '*fp32', 'out': '*fp32', "
        "'n_cols': 'i32', 'scale': 'fp32', 'BLOCK': 'constexpr'}, {'BLOCK': 64})\n"
        "k = triton.compile(src, target=GPUTarget('cuda', 90, 32))\n"
        "sys.stdout.write(k.asm['ttir'])\n"
    )
    env = {"TRITON_CACHE_DIR": str(folder / "triton-cache"), "PATH": "/usr/bin:/bin"}
    done = subprocess.run(
        [sys.executable, "-c", script, str(folder)],
        capture_output=True, text=True, env=env, check=True,
    )
    return done.stdout


def test_triton_printed_ttir_parses_and_recompiles(triton_ttir, cache):
    assert "loc(" in triton_ttir
    module = parse_ttir(triton_ttir, "scaled_rows.ttir")
    names = {op.name for op in module.walk()}
    assert {"tt.trans", "tt.reshape", "tt.reduce", "tt.load", "tt.store"} <= names
    (func,) = [op for op in module.walk() if isinstance(op, tt.FuncOp)]
    assert func.sym_name.data == "scaled_rows"
    text = print_mlir(module)
    assert print_mlir(parse_ttir(text)) == text
    kernel = compile_ttir(print_ttir(module))
    assert ".entry scaled_rows(" in kernel.ptx


def test_mirage_mlir_opt_reads_triton_ttir(triton_ttir, tmp_path):
    from mirage_mlir.lowering.ttir import strip_locations

    path = tmp_path / "scaled_rows.ttir"
    path.write_text(strip_locations(triton_ttir))
    done = subprocess.run(
        [sys.executable, "-m", "mirage_mlir.tools.mirage_mlir_opt", str(path)],
        capture_output=True, text=True,
    )
    assert done.returncode == 0, done.stderr
    assert "tt.func public @scaled_rows(" in done.stdout
    assert "tt.trans %" in done.stdout and "tt.reshape %" in done.stdout
