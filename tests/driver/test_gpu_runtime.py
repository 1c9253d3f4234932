"""The launch-plan artifact (CPU) and the CUDA runtime that runs it (`-m cuda`, on a GPU).

CPU tests export plans with the compiler stack and check the files.  CUDA
tests run every example's plan on the GPU and compare with torch eager on the
same inputs.  A GPU machine may lack xDSL, torch-mlir and egglog: the CUDA
tests then read plans exported beforehand by `export_gpu_plans.py`
(build/gpu_plans/, or `$MIRAGE_GPU_PLANS`), and this module imports none of
those libraries at collection.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from mirage_mlir.examples import EXAMPLE_NAMES

HAS_COMPILER = all(importlib.util.find_spec(m) is not None for m in ("xdsl", "egglog"))
needs_compiler = pytest.mark.skipif(not HAS_COMPILER, reason="needs xDSL and egglog")
cuda = pytest.mark.cuda
PLANS = Path(os.environ.get("MIRAGE_GPU_PLANS",
                            Path(__file__).resolve().parents[2] / "build" / "gpu_plans"))


def _export(name: str, directory: Path) -> Path:
    sys.path.insert(0, str(Path(__file__).parent))
    try:
        from export_gpu_plans import export_example
    finally:
        sys.path.pop(0)
    return export_example(name, directory)


def _plan_dir(name: str, tmp_path: Path) -> Path:
    """A pre-exported plan if one is there, else one exported now."""
    if (PLANS / name / "plan.json").exists():
        return PLANS / name
    if not HAS_COMPILER:
        pytest.fail(f"no exported plan at {PLANS / name} and no compiler to export one")
    return _export(name, tmp_path)


# --- the artifact, on the CPU --------------------------------------------------------


@needs_compiler
def test_export_writes_the_launch_sequence(tmp_path):
    """E1's plan: four inputs, three matmul launches into slots, one returned value."""
    from mirage_mlir.lowering.artifact import read_plan

    folder = _export("e1_matrix_chain", tmp_path)
    document = json.loads((folder / "plan.json").read_text())
    assert document["format"] == 1
    kinds = [s["op"] for s in document["steps"]]
    assert kinds[:4] == ["input"] * 4 and kinds[-1] == "return"
    launches = [s for s in document["steps"] if s["op"] == "launch"]
    assert len(launches) == 3
    variants = {v["kernel"] for s in launches for v in s["variants"]}
    assert sorted(document["kernels"]) == sorted(variants | {s["kernel"] for s in launches})
    for step in launches:
        assert len(step["grid"]) == 3 and all(g >= 1 for g in step["grid"])
        assert (folder / document["kernels"][step["kernel"]]["file"]).read_text().count(
            "tt.func") >= 1
    # The chain is reassociated: the 2x2 product comes first, into slot 0.
    first_alloc = next(s for s in document["steps"] if s["op"] == "alloc")
    assert first_alloc["shape"] == [2, 2] and first_alloc["dtype"] == "float32"
    assert read_plan(folder).inputs[0]["shape"] == [100, 2]


@needs_compiler
def test_constants_round_trip_exactly(tmp_path):
    """E5's weights come back from .npy bit for bit as the plan's dense_resource blobs."""
    from mirage_mlir.lowering.artifact import read_plan
    from mirage_mlir.lowering.program import lower_module, run_plan_interpreted

    folder = _export("e5_gated_layer", tmp_path)
    artifact = read_plan(folder)
    assert artifact.constants, "E5 has weights"
    for step in artifact.steps:
        if step["op"] == "const":
            array = artifact.constants[step["value"]]
            assert list(array.shape) == step["shape"]
    # Running the same plan with the stored weights reproduces the interpreter.
    import mirage_mlir
    from mirage_mlir.examples import load_example

    example = load_example("e5_gated_layer")
    lowered = lower_module(mirage_mlir.optimize(example.mlir_path.read_text()).mlir)
    inputs = [t.numpy() for t in example.make_inputs(0)]
    (expected,) = run_plan_interpreted(lowered, *inputs)
    with torch.no_grad():
        eager = example.make_model()(*example.make_inputs(0)).numpy()
    np.testing.assert_allclose(expected, eager, rtol=1e-3, atol=1e-3)
    total = sum(a.size for a in artifact.constants.values())
    weights = sum(p.numel() for p in example.make_model().parameters())
    assert total == weights


@needs_compiler
def test_write_plan_round_trips(tmp_path):
    """read_plan(write_plan(read_plan(d))) has the same steps, kernels and constants."""
    from mirage_mlir.lowering.artifact import read_plan, write_plan

    first = read_plan(_export("e7_llama_attention", tmp_path / "a"))
    second = read_plan(write_plan(first, tmp_path / "b"))
    assert second.steps == first.steps and second.kernels == first.kernels
    for name, array in first.constants.items():
        assert np.array_equal(second.constants[name], array)


def test_read_plan_rejects_bad_directories(tmp_path):
    """Missing files, another format, a changed kernel, or a use before definition."""
    from mirage_mlir.lowering.artifact import PlanFormatError, read_plan

    with pytest.raises(PlanFormatError, match="not a launch-plan artifact"):
        read_plan(tmp_path)
    (tmp_path / "k.ttir").write_text("module {}\n")
    import hashlib

    digest = hashlib.sha256(b"module {}\n").hexdigest()
    document = {"format": 1, "function": "main",
                "kernels": {"k": {"file": "k.ttir", "sha256": digest}},
                "steps": [{"op": "launch", "kernel": "k", "grid": [1, 1, 1], "args": ["v0"]}]}
    (tmp_path / "plan.json").write_text(json.dumps({**document, "format": 7}))
    with pytest.raises(PlanFormatError, match="format 7"):
        read_plan(tmp_path)
    (tmp_path / "plan.json").write_text(json.dumps(document))
    with pytest.raises(PlanFormatError, match="step 0 .launch.: value 'v0' is used before"):
        read_plan(tmp_path)
    (tmp_path / "k.ttir").write_text("module { changed }\n")
    with pytest.raises(PlanFormatError, match="do not match"):
        read_plan(tmp_path)


def test_runtime_imports_without_the_compiler_stack():
    """gpu_runtime and artifact import with xDSL, torch-mlir and egglog blocked."""
    script = (
        "import sys\n"
        "for m in ('xdsl', 'torch_mlir', 'egglog'): sys.modules[m] = None\n"
        "import mirage_mlir.driver.gpu_runtime as g, mirage_mlir.lowering.artifact as a\n"
        "assert g.GpuPlan and a.read_plan\n"
        "print('ok')\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "ok"


def test_gpu_plan_refuses_without_cuda(tmp_path, monkeypatch):
    """Without CUDA, a GpuPlan says so instead of failing inside Triton."""
    from mirage_mlir.driver.gpu_runtime import GpuPlan, GpuRuntimeError
    from mirage_mlir.lowering.artifact import PlanArtifact

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(GpuRuntimeError, match="CUDA is not available"):
        GpuPlan(PlanArtifact(tmp_path, "main", {}, [], {}))


# --- the plans on a GPU -------------------------------------------------------------


def _relative_error(actual: torch.Tensor, expected: torch.Tensor) -> float:
    actual, expected = actual.detach().double().cpu(), expected.detach().double().cpu()
    return float((actual - expected).abs().max() / max(1.0, float(expected.abs().max())))


@cuda
@pytest.mark.parametrize("name", EXAMPLE_NAMES)
def test_example_plan_matches_eager_on_gpu(name, tmp_path):
    """Every example's launch plan on the GPU matches torch eager on the same inputs."""
    from mirage_mlir.driver.gpu_runtime import GpuPlan
    from mirage_mlir.examples import load_example

    folder = _plan_dir(name, tmp_path)
    example = load_example(name)
    model, inputs = example.make_model().cuda(), example.make_inputs(0)
    recorded = json.loads((folder / "example.json").read_text())
    sys.path.insert(0, str(Path(__file__).parent))
    from export_gpu_plans import tensor_checksums

    sys.path.pop(0)
    here = tensor_checksums(model.cpu(), inputs)
    # The plan baked the weights drawn where it was exported; same seed, same numbers?
    assert here["weights"] == pytest.approx(recorded["weights"], rel=1e-9, abs=1e-9)
    assert here["inputs"] == pytest.approx(recorded["inputs"], rel=1e-9, abs=1e-9)
    model.cuda()
    inputs = [t.cuda() for t in inputs]
    plan = GpuPlan.load(folder)
    outputs = plan(*inputs)
    with torch.no_grad():
        eager = model(*inputs)
    eager = list(eager) if isinstance(eager, tuple) else [eager]
    extra = len(outputs) - len(eager)
    buffers = list(model.buffers())
    assert extra in (0, len(buffers))
    # Training-mode buffers (running statistics) come first, in registration order.
    for produced, expected in zip(outputs[:extra] + outputs[extra:], buffers[:extra] + eager):
        assert produced.is_cuda and produced.shape == expected.shape
        assert _relative_error(produced, expected) <= 1e-2
    # A second call reuses the slots and leaves the first call's results alone.
    first = [o.clone() for o in outputs]
    again = plan(*[t + 1 for t in inputs])
    for kept, copy in zip(outputs, first):
        assert torch.equal(kept, copy)
    assert len(again) == len(outputs)


@cuda
def test_gpu_plan_checks_its_inputs(tmp_path):
    """Wrong count, shape, dtype or device is a GpuRuntimeError naming the input."""
    from mirage_mlir.driver.gpu_runtime import GpuPlan, GpuRuntimeError

    plan = GpuPlan.load(_plan_dir("e6_naive_softmax", tmp_path))
    (spec,) = plan.artifact.inputs
    good = torch.randn(spec["shape"], device="cuda")
    with pytest.raises(GpuRuntimeError, match="takes 1 inputs, got 2"):
        plan(good, good)
    with pytest.raises(GpuRuntimeError, match="input 0 has shape"):
        plan(good.double())
    with pytest.raises(GpuRuntimeError, match="input 0 is on cpu"):
        plan(good.cpu())
    # A non-contiguous input is copied, not misread.
    wide = torch.randn(spec["shape"][:-1] + [spec["shape"][-1] * 2], device="cuda")
    strided = wide[..., ::2]
    (result,) = plan(strided)
    (reference,) = plan(strided.contiguous())
    assert torch.equal(result, reference)


needs_xdsl = pytest.mark.skipif(importlib.util.find_spec("xdsl") is None,
                                reason="mirage_mlir.load needs xDSL")


def _saved_module(name: str, tmp_path: Path) -> Path:
    """A module saved by `export_gpu_plans.py` if there, else one compiled now."""
    folder = PLANS / "modules" / name
    if (folder / "metadata.json").exists():
        return folder
    if not HAS_COMPILER or importlib.util.find_spec("torch_mlir") is None:
        pytest.fail(f"no saved module at {folder} and no compiler to make one")
    sys.path.insert(0, str(Path(__file__).parent))
    try:
        from export_gpu_plans import save_module
    finally:
        sys.path.pop(0)
    return save_module(name, tmp_path)


@cuda
@needs_xdsl
@pytest.mark.parametrize("name", ["e2_attention_heads", "e7_llama_attention"])
def test_loaded_module_runs_its_launch_plan_on_cuda_inputs(name, tmp_path):
    """`mirage_mlir.load` + CUDA inputs runs the Triton plan; CPU inputs stay on the CPU."""
    import mirage_mlir
    from mirage_mlir.examples import load_example

    compiled = mirage_mlir.load(_saved_module(name, tmp_path))
    assert compiled.launch_plan is not None
    example = load_example(name)
    model, inputs = example.make_model(), example.make_inputs(0)
    with torch.no_grad():
        expected = model(*inputs)
    on_gpu = compiled(*[t.cuda() for t in inputs])
    assert on_gpu.is_cuda and compiled.report["runtime"] == "triton-gpu"
    assert _relative_error(on_gpu, expected) <= 1e-2
    on_cpu = compiled(*inputs)
    assert not on_cpu.is_cuda
    assert _relative_error(on_cpu, expected) <= 1e-4


@cuda
@needs_xdsl
def test_changed_buffers_leave_the_launch_plan(tmp_path):
    """BatchNorm in training mode: the plan runs while the baked statistics still hold."""
    import mirage_mlir
    from mirage_mlir.examples import load_example

    example = load_example("e3_batchnorm_module")
    model, reference = example.make_model(), example.make_model()
    compiled = mirage_mlir.load(_saved_module("e3_batchnorm_module", tmp_path), model=model)
    for seed in (0, 1):
        inputs = example.make_inputs(seed)
        with torch.no_grad():
            expected = reference(*inputs)
        # The second call's buffers differ from the baked ones: the CPU runtime takes it.
        assert compiled._runs_on_gpu(tuple(t.cuda() for t in inputs)) == (seed == 0)
        out = compiled(*[t.cuda() for t in inputs])
        assert out.is_cuda and _relative_error(out, expected) <= 1e-2
        for mine, theirs in zip(model.buffers(), reference.buffers()):
            assert _relative_error(mine.detach(), theirs) <= 1e-2


@cuda
def test_captured_graph_replays_the_plan(tmp_path):
    """A CUDA-graph replay gives the plain call's numbers, for new inputs too."""
    from mirage_mlir.driver.gpu_runtime import GpuPlan, GpuRuntimeError
    from mirage_mlir.examples import load_example

    plan = GpuPlan.load(_plan_dir("e7_llama_attention", tmp_path))
    (x,) = [t.cuda() for t in load_example("e7_llama_attention").make_inputs(0)]
    replay = plan.capture(x)
    for value in (x, x * 0.5 + 1):
        (expected,) = plan(value)
        (replayed,) = replay(value)
        assert torch.allclose(replayed, expected, rtol=1e-5, atol=1e-5)
    with pytest.raises(GpuRuntimeError, match="recorded for"):
        replay(x[:, :64])


# --- tile variants and their autotuning ---------------------------------------------


@needs_compiler
def test_variants_round_trip_with_the_default_first(tmp_path):
    """E1's launches list distinct variants, default first; write_plan keeps them all."""
    from mirage_mlir.lowering.artifact import read_plan, write_plan

    artifact = read_plan(_export("e1_matrix_chain", tmp_path / "a"))
    launches = [s for s in artifact.steps if s["op"] == "launch"]
    for step in launches:
        first, *others = step["variants"]
        assert first == {"kernel": step["kernel"], "grid": step["grid"],
                         "options": {"num_warps": 4}}
        pairs = [(artifact.kernels[v["kernel"]], v["options"]["num_warps"])
                 for v in step["variants"]]
        assert len(set(pairs)) == len(pairs), "a variant is listed twice"
        assert {w for _, w in pairs} == {4, 8}
    # The 100x100 output of the last product has room for several matmul tiles.
    last = launches[-1]["variants"]
    assert len({v["kernel"] for v in last}) >= 3
    assert len({tuple(v["grid"]) for v in last}) >= 2
    again = read_plan(write_plan(artifact, tmp_path / "b"))
    assert again.steps == artifact.steps and again.kernels == artifact.kernels


@pytest.mark.slow
@needs_compiler
def test_every_variant_compiles_for_sm90(tmp_path, monkeypatch):
    """Each variant of E1 and E2 goes through Triton to a cubin for the H100."""
    from mirage_mlir.lowering.artifact import read_plan
    from mirage_mlir.lowering.staging import TritonOptions, compile_ttir

    monkeypatch.setenv("MIRAGE_CACHE_DIR", str(tmp_path / "cache"))
    for name in ("e1_matrix_chain", "e2_attention"):
        artifact = read_plan(_export(name, tmp_path / name))
        variants = [v for s in artifact.steps if s["op"] == "launch" for v in s["variants"]]
        assert len(variants) >= 4
        for variant in variants:
            compiled = compile_ttir(artifact.kernels[variant["kernel"]],
                                    TritonOptions(num_warps=variant["options"]["num_warps"]))
            assert compiled.cubin[:4] == b"\x7fELF"
            assert f".reqntid {32 * variant['options']['num_warps']}" in compiled.ptx


def test_choice_key_covers_kernels_shapes_device_and_triton():
    """Changing any part of a launch's tuning problem changes its cache key."""
    from mirage_mlir.driver.autotune import choice_key

    variants = [("module { a }", {"num_warps": 4}, [1, 1, 1]),
                ("module { b }", {"num_warps": 8}, [2, 1, 1])]
    arguments = [([64, 64], "float32"), ([64, 64], "float32")]
    key = choice_key(variants, arguments, "NVIDIA H100", "3.6.0")
    assert len(key) == 64 and key == choice_key(variants, arguments, "NVIDIA H100", "3.6.0")
    changed = [
        choice_key(variants[:1], arguments, "NVIDIA H100", "3.6.0"),
        choice_key([variants[0], ("module { c }", {"num_warps": 8}, [2, 1, 1])], arguments,
                   "NVIDIA H100", "3.6.0"),
        choice_key([variants[0], ("module { b }", {"num_warps": 4}, [2, 1, 1])], arguments,
                   "NVIDIA H100", "3.6.0"),
        choice_key(variants, [([64, 32], "float32")] * 2, "NVIDIA H100", "3.6.0"),
        choice_key(variants, [([64, 64], "bfloat16")] * 2, "NVIDIA H100", "3.6.0"),
        choice_key(variants, arguments, "NVIDIA A100", "3.6.0"),
        choice_key(variants, arguments, "NVIDIA H100", "3.5.0"),
    ]
    assert len({key, *changed}) == len(changed) + 1


def test_choice_cache_reads_what_it_wrote(tmp_path, monkeypatch):
    """A written choice reads back; a missing, stale or out-of-range one reads as None."""
    from mirage_mlir.driver.autotune import autotune_enabled, read_choice, write_choice

    path = write_choice(tmp_path, "k1", 2, [0.5, 0.4, 0.1], {"kernel": "main_matmul_0"})
    assert path == tmp_path / "autotune" / "k1.json"
    document = json.loads(path.read_text())
    assert document == {"format": 1, "choice": 2, "times_ms": [0.5, 0.4, 0.1],
                        "kernel": "main_matmul_0"}
    assert read_choice(tmp_path, "k1", 3) == 2
    assert read_choice(tmp_path, "k1", 2) is None  # the plan has fewer variants now
    assert read_choice(tmp_path, "k2", 3) is None
    path.write_text(json.dumps({**document, "format": 0}))
    assert read_choice(tmp_path, "k1", 3) is None
    path.write_text("{not json")
    assert read_choice(tmp_path, "k1", 3) is None
    monkeypatch.delenv("MIRAGE_AUTOTUNE", raising=False)
    assert autotune_enabled() is True
    monkeypatch.setenv("MIRAGE_AUTOTUNE", "0")
    assert autotune_enabled() is False and autotune_enabled(True) is True


@cuda
@pytest.mark.parametrize("name", EXAMPLE_NAMES)
def test_autotuned_plan_matches_eager_and_caches_its_choice(name, tmp_path):
    """Autotuning times every multi-variant launch once; a second load only reads the cache."""
    from mirage_mlir.driver.gpu_runtime import GpuPlan
    from mirage_mlir.examples import load_example
    from mirage_mlir.lowering.artifact import read_plan

    artifact = read_plan(_plan_dir(name, tmp_path))
    tunable = [i for i, s in enumerate(artifact.steps)
               if s["op"] == "launch" and len(s.get("variants", [])) > 1]
    assert tunable, f"{name} has no launch with variants"
    example = load_example(name)
    model, inputs = example.make_model().cuda(), [t.cuda() for t in example.make_inputs(0)]
    with torch.no_grad():
        eager = model(*inputs)
    eager = list(eager) if isinstance(eager, tuple) else [eager]
    cache = tmp_path / "cache"
    first = GpuPlan(artifact, cache=cache, autotune=True)
    assert first.timed_launches == 0
    outputs = first(*inputs)
    assert first.timed_launches == len(tunable) and sorted(first.choices) == tunable
    assert len(list((cache / "autotune").glob("*.json"))) == len(tunable)
    for produced, expected in zip(outputs[len(outputs) - len(eager):], eager):
        assert _relative_error(produced, expected) <= 1e-2
    second = GpuPlan(artifact, cache=cache, autotune=True)
    assert second.choices == first.choices
    again = second(*inputs)
    assert second.timed_launches == 0
    for a, b in zip(again, outputs):
        assert torch.allclose(a, b, rtol=1e-5, atol=1e-5)
    untuned = GpuPlan(artifact, cache=tmp_path / "other", autotune=False)
    untuned(*inputs)
    assert untuned.timed_launches == 0 and untuned.choices == {}
