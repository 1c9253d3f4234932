"""`mirage_mlir.compile` on every example against torch eager; buffers; save and load."""

from __future__ import annotations

import subprocess
import sys

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("torch_mlir")

import mirage_mlir as mm  # noqa: E402
from mirage_mlir.driver.compile import CompileError  # noqa: E402
from mirage_mlir.examples import EXAMPLE_NAMES, load_example  # noqa: E402


def _close(got, expected, relative=False):
    if relative:
        scale = float(expected.abs().max())
        assert float((got - expected).abs().max()) <= 1e-4 * scale
    else:
        torch.testing.assert_close(got, expected, rtol=1e-4, atol=1e-4)


@pytest.mark.slow
@pytest.mark.parametrize("name", EXAMPLE_NAMES)
def test_example_matches_eager(name, tmp_path):
    example = load_example(name)
    model, reference = example.make_model(), example.make_model()
    compiled = mm.compile(model, *example.make_inputs(0), target="cpu", cache_dir=tmp_path)
    inputs = example.make_inputs(11)
    with torch.no_grad():
        expected = reference(*inputs)
    _close(compiled(*inputs), expected, relative=name == "e8_tensor_network")
    assert compiled.report["optimizer"]["functions"][0]["name"] == "main"
    assert set(compiled.report["stages"]) >= {"import", "optimize"}


@pytest.mark.slow
def test_batchnorm_running_statistics_written_back(tmp_path):
    example = load_example("e3_batchnorm_module")
    model, reference = example.make_model(), example.make_model()
    compiled = mm.compile(model, *example.make_inputs(0), cache_dir=tmp_path, target="cpu")
    for seed in (1, 2, 3):
        (x,) = example.make_inputs(seed)
        _close(compiled(x), reference(x))
        _close(model.norm.running_mean, reference.norm.running_mean)
        _close(model.norm.running_var, reference.norm.running_var)
        assert int(model.norm.num_batches_tracked) == int(reference.norm.num_batches_tracked)
    assert int(model.norm.num_batches_tracked) == 3


def test_wrong_input_shape_is_a_clear_error(tmp_path):
    example = load_example("e1_matrix_chain")
    compiled = mm.compile(example.make_model(), *example.make_inputs(0), cache_dir=tmp_path)
    inputs = list(example.make_inputs(1))
    inputs[0] = torch.randn(3, 3)
    with pytest.raises(CompileError, match=r"input 0 has shape \[3, 3\]"):
        compiled(*inputs)


def test_report_table_and_kernels_for_gpu_target(tmp_path):
    example = load_example("e6_naive_softmax")
    compiled = mm.compile(example.make_model(), *example.make_inputs(0), target="h100",
                          cache_dir=tmp_path)
    table = str(compiled.report)
    assert "FLOPs before" in table and "import" in table
    assert "lower" in compiled.report["stages"]
    for kernel in compiled.kernels:
        assert kernel["status"] in ("compiled", "failed", "lowered")
        if kernel["status"] == "compiled":
            assert "tt.func" in kernel["ttir"] and ".version" in kernel["ptx"]
    _close(compiled(*example.make_inputs(3)), example.make_model()(*example.make_inputs(3)))


@pytest.mark.slow
def test_save_and_load_without_torch_mlir(tmp_path):
    example = load_example("e7_llama_attention")
    compiled = mm.compile(example.make_model(), *example.make_inputs(0), cache_dir=tmp_path)
    compiled.save(tmp_path / "artifact")
    script = f"""
import sys, torch
sys.modules['torch_mlir'] = None   # any import of torch_mlir now fails
import mirage_mlir as mm
from mirage_mlir.examples import load_example
example = load_example('e7_llama_attention')
inputs = example.make_inputs(4)
got = mm.load({str(tmp_path / 'artifact')!r})(*inputs)
expected = example.make_model()(*inputs)
assert 'torch_mlir.ir' not in sys.modules
torch.testing.assert_close(got, expected, rtol=1e-4, atol=1e-4)
print('ok')
"""
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "ok"


def test_import_torch_program_returns_the_mlir_and_the_exported_program():
    from torch.export import ExportedProgram

    from mirage_mlir.driver.importer import import_torch_program

    example = load_example("e3_batchnorm_module")
    model, inputs = example.make_model(), example.make_inputs(0)
    imported = import_torch_program(model, *inputs)
    assert imported.mlir == mm.import_torch(model, *inputs)
    assert isinstance(imported.exported_program, ExportedProgram)
    assert [s.arg.name for s in imported.exported_program.graph_signature.input_specs][-1] == "x"


def test_artifact_weights_are_raw_bytes_and_text_only_artifacts_still_load(tmp_path):
    import json

    example = load_example("e5_gated_layer")
    compiled = mm.compile(example.make_model(), *example.make_inputs(0), target="cpu",
                          cache_dir=tmp_path)
    folder = compiled.save(tmp_path / "artifact")
    metadata = json.loads((folder / "metadata.json").read_text())
    # Two 512x512 f32 weights and a 512 bias, each at a 64-byte boundary.
    assert (folder / "weights.bin").stat().st_size == 2 * 512 * 512 * 4 + 512 * 4
    assert (folder / "optimized.mlir").read_text() == compiled.mlir
    x = example.make_inputs(5)
    expected = example.make_model()(*x)
    _close(mm.load(folder)(*x), expected)
    # An artifact written before weights.bin existed: its MLIR text carries the weights.
    del metadata["weights"]
    (folder / "metadata.json").write_text(json.dumps(metadata))
    (folder / "weights.bin").unlink()
    _close(mm.load(folder)(*x), expected)
