"""The `mirage` torch.compile backend: correct results, a record of which subgraphs mirage
compiled and which fell back to eager (and why), and a strict mode that refuses fallbacks."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("torch_mlir")

from mirage_mlir.driver.backend import (  # noqa: E402
    BackendFallbackError,
    BackendOptionsError,
    MirageBackend,
    mirage_backend,
)
from mirage_mlir.examples import load_example  # noqa: E402


@pytest.fixture(autouse=True)
def _mirage_backend(tmp_path, monkeypatch):
    """Make backend="mirage" resolvable even before the entry point is reinstalled."""
    import torch._dynamo
    from torch._dynamo.backends.registry import list_backends

    monkeypatch.setenv("MIRAGE_CACHE_DIR", str(tmp_path))
    monkeypatch.delenv("MIRAGE_VERBOSE", raising=False)
    if "mirage" not in list_backends(exclude_tags=()):
        torch._dynamo.register_backend(name="mirage")(mirage_backend)
    torch._dynamo.reset()
    yield
    torch._dynamo.reset()


class Spectral(torch.nn.Module):
    """torch-mlir has no lowering for the SVD behind svdvals."""

    def forward(self, x):
        return torch.linalg.svdvals(x @ x.T).sum() + x.relu().sum()


def _small_mlp():
    torch.manual_seed(0)
    return torch.nn.Sequential(
        torch.nn.Linear(32, 64), torch.nn.ReLU(), torch.nn.Linear(64, 8)
    ).eval()


def _assert_all_compiled_by_mirage():
    records = mirage_backend.records
    assert records, "dynamo handed the backend no subgraph"
    assert mirage_backend.fallbacks == [], mirage_backend.summary()
    assert all(r.status == "mirage" and r.report["runtime"] for r in records)


@pytest.mark.slow
@pytest.mark.parametrize("name", ["e2_attention", "e5_gated_layer"])
def test_examples_through_torch_compile(name):
    example = load_example(name)
    model = example.make_model()
    inputs = example.make_inputs(21)
    compiled = torch.compile(model, backend="mirage")
    with torch.no_grad():
        got = compiled(*inputs)
        expected = model(*inputs)
    torch.testing.assert_close(got, expected, rtol=1e-4, atol=1e-4)
    _assert_all_compiled_by_mirage()


def test_small_mlp_through_torch_compile():
    model = _small_mlp()
    x = torch.randn(16, 32)
    with torch.no_grad():
        got = torch.compile(model, backend="mirage")(x)
        expected = model(x)
    torch.testing.assert_close(got, expected, rtol=1e-4, atol=1e-4)
    _assert_all_compiled_by_mirage()
    (record,) = mirage_backend.records
    assert "[16, 32] float32" in record.inputs
    assert record.report["cache"] == "miss"


def test_unsupported_op_runs_eagerly_with_its_reason(capfd, monkeypatch):
    monkeypatch.setenv("MIRAGE_VERBOSE", "1")
    model = Spectral()
    x = torch.randn(6, 6)
    with torch.no_grad():
        got = torch.compile(model, backend="mirage")(x)
    torch.testing.assert_close(got, model(x), rtol=1e-4, atol=1e-4)
    (record,) = mirage_backend.fallbacks
    assert mirage_backend.compiled == []
    assert record.status == "eager" and record.report is None
    assert "TorchImportError" in record.reason and "linalg_svd" in record.reason
    assert any("svdvals" in op for op in record.ops)
    printed = capfd.readouterr().err
    assert "[mirage] subgraph 0" in printed and "runs eagerly" in printed


def test_strict_mode_raises_instead_of_falling_back():
    import torch._dynamo.exc

    compiled = torch.compile(Spectral(), backend="mirage", options={"fallback": "error"})
    with torch.no_grad(), pytest.raises(torch._dynamo.exc.BackendCompilerFailed) as caught:
        compiled(torch.randn(6, 6))
    error = caught.value.inner_exception
    assert isinstance(error, BackendFallbackError)
    assert "mirage could not compile subgraph 0" in str(error)
    assert "linalg_svd" in str(error) and "'fallback': 'eager'" in str(error)
    assert len(mirage_backend.fallbacks) == 1


def test_strict_mode_still_compiles_what_mirage_handles():
    model = _small_mlp()
    x = torch.randn(4, 32)
    compiled = torch.compile(model, backend="mirage", options={"fallback": "error"})
    with torch.no_grad():
        torch.testing.assert_close(compiled(x), model(x), rtol=1e-4, atol=1e-4)
    _assert_all_compiled_by_mirage()


def test_inputs_that_need_gradients_fall_back_with_the_reason():
    model = _small_mlp()
    x = torch.randn(4, 32)
    got = torch.compile(model, backend="mirage")(x)
    torch.testing.assert_close(got, model(x), rtol=1e-4, atol=1e-4)
    assert [r.reason for r in mirage_backend.records] == [
        "inputs need gradients (mirage compiles inference only)"]


def test_options_reach_mirage_compile_and_unknown_ones_are_refused():
    import torch._dynamo.exc

    model = _small_mlp()
    x = torch.randn(4, 32)
    with torch.no_grad():
        torch.compile(model, backend="mirage", options={"target": "flops"})(x)
    assert [r.report["target"] for r in mirage_backend.records] == ["flops"]
    torch._dynamo.reset()
    with torch.no_grad(), pytest.raises(torch._dynamo.exc.BackendCompilerFailed) as caught:
        torch.compile(model, backend="mirage", options={"fallbak": "error"})(x)
    assert isinstance(caught.value.inner_exception, BackendOptionsError)
    assert "'fallbak'" in str(caught.value.inner_exception)
    with pytest.raises(BackendOptionsError, match="fallback='never'"):
        MirageBackend(fallback="never")


def test_a_backend_instance_keeps_its_own_record_and_reset_clears_the_default():
    model = _small_mlp()
    x = torch.randn(4, 32)
    backend = MirageBackend(target="cpu")
    with torch.no_grad():
        torch.compile(model, backend=backend)(x)
        torch.compile(Spectral(), backend="mirage")(torch.randn(5, 5))
    assert [r.status for r in backend.records] == ["mirage"]
    assert [r.status for r in mirage_backend.records] == ["eager"]
    assert "subgraph 0" in backend.summary() and "compiled by mirage" in backend.summary()
    torch._dynamo.reset()
    assert mirage_backend.records == []
