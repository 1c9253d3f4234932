"""The compile cache: a second compile of the same model is a cache hit, 10x faster."""

from __future__ import annotations

import time

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("torch_mlir")

import mirage_mlir as mm  # noqa: E402
from mirage_mlir.examples import load_example  # noqa: E402


def test_second_compile_is_ten_times_faster(tmp_path):
    example = load_example("e7_llama_attention")
    inputs = example.make_inputs(0)
    started = time.perf_counter()
    first = mm.compile(example.make_model(), *inputs, target="h100", cache_dir=tmp_path)
    first_seconds = time.perf_counter() - started
    started = time.perf_counter()
    second = mm.compile(example.make_model(), *inputs, target="h100", cache_dir=tmp_path)
    second_seconds = time.perf_counter() - started
    assert first.report["cache"] == "miss" and second.report["cache"] == "hit"
    assert second_seconds * 10 <= first_seconds, (first_seconds, second_seconds)
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
