"""The compile cache: a second compile of the same model is a cache hit that redoes nothing."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("torch_mlir")

import mirage_mlir as mm  # noqa: E402
from mirage_mlir.examples import load_example  # noqa: E402


def test_second_compile_is_a_cache_hit_that_imports_and_optimises_nothing(tmp_path, monkeypatch):
    # How much faster a hit is, is measured in benchmarks/compile_cache.py, not here.
    import mirage_mlir.driver.compile as compile_module
    import mirage_mlir.driver.optimize as optimize_module

    example = load_example("e7_llama_attention")
    inputs = example.make_inputs(0)
    first = mm.compile(example.make_model(), *inputs, target="h100", cache_dir=tmp_path)

    def must_not_run(*args, **kwargs):
        raise AssertionError("a cache hit must not import or optimise again")

    monkeypatch.setattr(compile_module, "_import", must_not_run)
    monkeypatch.setattr(optimize_module, "optimize", must_not_run)
    second = mm.compile(example.make_model(), *inputs, target="h100", cache_dir=tmp_path)
    assert first.report["cache"] == "miss" and second.report["cache"] == "hit"
    assert set(second.report["stages"]) == {"load"}
    x = example.make_inputs(9)
    torch.testing.assert_close(second(*x), first(*x))


def test_changed_weights_miss_the_cache(tmp_path):
    example = load_example("e1_matrix_chain")
    inputs = example.make_inputs(0)
    mm.compile(example.make_model(), *inputs, cache_dir=tmp_path)

    class Scaled(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.w = torch.nn.Parameter(torch.ones(1))

        def forward(self, a, b, c, d):
            return a @ b @ c @ d * self.w

    model = Scaled()
    assert mm.compile(model, *inputs, cache_dir=tmp_path).report["cache"] == "miss"
    with torch.no_grad():
        model.w.fill_(2.0)
    again = mm.compile(model, *inputs, cache_dir=tmp_path)
    assert again.report["cache"] == "miss"
    expected = model(*inputs).detach()
    error = float((again(*inputs) - expected).abs().max())
    assert error <= 1e-4 * float(expected.abs().max())


def test_cache_dir_from_environment(tmp_path, monkeypatch):
    from mirage_mlir.driver.cache import default_cache_dir

    monkeypatch.setenv("MIRAGE_CACHE_DIR", str(tmp_path / "c"))
    assert default_cache_dir() == tmp_path / "c"
