"""The `mirage` torch.compile backend: correct results, and eager fallback for what it cannot take."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("torch_mlir")

from mirage_mlir.examples import load_example  # noqa: E402


@pytest.fixture(autouse=True)
def _mirage_backend(tmp_path, monkeypatch):
    """Make backend="mirage" resolvable even before the entry point is reinstalled."""
    import torch._dynamo
    from torch._dynamo.backends.registry import list_backends

    from mirage_mlir.driver.backend import mirage_backend

    monkeypatch.setenv("MIRAGE_CACHE_DIR", str(tmp_path))
    if "mirage" not in list_backends(exclude_tags=()):
        torch._dynamo.register_backend(name="mirage")(mirage_backend)
    torch._dynamo.reset()
    yield
    torch._dynamo.reset()


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


def test_small_mlp_through_torch_compile():
    torch.manual_seed(0)
    model = torch.nn.Sequential(
        torch.nn.Linear(32, 64), torch.nn.ReLU(), torch.nn.Linear(64, 8)
    ).eval()
    x = torch.randn(16, 32)
    with torch.no_grad():
        got = torch.compile(model, backend="mirage")(x)
        expected = model(x)
    torch.testing.assert_close(got, expected, rtol=1e-4, atol=1e-4)


def test_unsupported_op_runs_eagerly():
    class Spectral(torch.nn.Module):
        def forward(self, x):
            return torch.linalg.svdvals(x @ x.T).sum() + x.relu().sum()

    model = Spectral()
    x = torch.randn(6, 6)
    with torch.no_grad():
        got = torch.compile(model, backend="mirage")(x)
    torch.testing.assert_close(got, model(x), rtol=1e-4, atol=1e-4)
