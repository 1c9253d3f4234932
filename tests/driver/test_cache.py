"""The compile cache: a second compile of the same model is a cache hit that redoes nothing,
and anything that changes the compiled program is a miss."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("torch_mlir")

import mirage_mlir as mm  # noqa: E402
from mirage_mlir.examples import load_example  # noqa: E402

# Seconds per case: run by `make test`, left out of `make test-fast`.
pytestmark = pytest.mark.slow


class Projection(torch.nn.Module):
    """relu(x @ w) * scale: a weight, and a plain attribute that shapes the program."""

    def __init__(self, scale: float = 1.0, features: int = 4) -> None:
        super().__init__()
        generator = torch.Generator().manual_seed(0)
        self.w = torch.nn.Parameter(torch.randn(8, features, generator=generator))
        self.scale = scale

    def forward(self, x):
        return torch.relu(x @ self.w) * self.scale


class TupleProjection(Projection):
    """The same program, returned as a 1-tuple: the same MLIR, another call signature."""

    def forward(self, x):
        return (torch.relu(x @ self.w) * self.scale,)


def _x(rows: int = 3, dtype=torch.float32):
    return torch.randn(rows, 8, generator=torch.Generator().manual_seed(1)).to(dtype)


def _compile(model, x, cache, **options):
    return mm.compile(model, x, cache_dir=cache, **{"target": "cpu", **options})


def _check(compiled, model, x):
    with torch.no_grad():
        expected = model(x)
    got = compiled(x)
    if isinstance(expected, tuple):
        assert isinstance(got, tuple) and len(got) == len(expected)
        got, expected = got[0], expected[0]
    torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-5)


def test_second_compile_is_a_cache_hit_that_imports_and_optimises_nothing(
    tmp_path, monkeypatch
):
    # How much faster a hit is, is measured in benchmarks/compile_cache.py, not here.
    import mirage_mlir.dialects.context as context_module
    import mirage_mlir.driver.compile as compile_module
    import mirage_mlir.driver.optimize as optimize_module

    example = load_example("e7_llama_attention")
    inputs = example.make_inputs(0)
    first = mm.compile(example.make_model(), *inputs, target="h100", cache_dir=tmp_path)

    def must_not_run(*args, **kwargs):
        raise AssertionError("a cache hit must not import, optimise or parse")

    monkeypatch.setattr(compile_module, "_import", must_not_run)
    monkeypatch.setattr(optimize_module, "optimize", must_not_run)
    # The weights come from weights.bin and the module from its snapshot.
    monkeypatch.setattr(context_module, "parse_mlir", must_not_run)
    second = mm.compile(
        example.make_model(), *inputs, target="h100", cache_dir=tmp_path
    )
    assert first.report["cache"] == "miss" and second.report["cache"] == "hit"
    assert set(second.report["stages"]) == {"load"}
    assert second.mlir == first.mlir
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


@pytest.mark.parametrize(
    "change", ["shape", "dtype", "target", "options", "attribute", "version"]
)
def test_what_changes_the_program_misses_the_cache(change, tmp_path, monkeypatch):
    model, x = Projection(), _x()
    first = _compile(model, x, tmp_path)
    assert first.report["cache"] == "miss"
    assert _compile(Projection(), x, tmp_path).report["cache"] == "hit"
    options: dict = {}
    if change == "shape":
        x = _x(rows=5)
    elif change == "dtype":
        model, x = Projection().double(), _x(dtype=torch.float64)
    elif change == "target":
        options = {"target": "h100"}
    elif change == "options":
        options = {"max_iterations": 3}
    elif change == "attribute":
        model = Projection(scale=2.0)
    elif change == "version":
        import mirage_mlir.driver.cache as cache_module

        monkeypatch.setattr(cache_module, "code_version", lambda: "0.0.0+other")
    again = _compile(model, x, tmp_path, **options)
    assert again.report["cache"] == "miss", change
    _check(again, model, x)


def test_training_mode_is_part_of_the_fingerprint(tmp_path):
    # This model computes the same in both modes: the import runs again, and then
    # finds the artifact by its MLIR.
    x = _x()
    _compile(Projection(), x, tmp_path)
    again = _compile(Projection().eval(), x, tmp_path)
    assert again.report["cache"] == "hit" and "import" in again.report["stages"]


def test_graph_modules_with_the_same_inputs_but_other_code_miss_the_cache(tmp_path):
    # dynamo hands the backend GraphModules whose classes have no source: their code
    # is what tells them apart.
    x = _x()
    relu = torch.fx.symbolic_trace(lambda t: torch.relu(t) * 2)
    sine = torch.fx.symbolic_trace(lambda t: torch.sin(t) + 1)
    assert _compile(relu, x, tmp_path).report["cache"] == "miss"
    second = _compile(sine, x, tmp_path)
    assert second.report["cache"] == "miss"
    _check(second, sine, x)
    assert (
        _compile(
            torch.fx.symbolic_trace(lambda t: torch.sin(t) + 1), x, tmp_path
        ).report["cache"]
        == "hit"
    )


def test_a_model_without_fingerprint_hits_by_its_mlir(tmp_path):
    from types import SimpleNamespace

    from mirage_mlir.driver.cache import model_fingerprint

    model, x = Projection(), _x()
    model.config = SimpleNamespace(note="an object the fingerprint cannot read")
    assert model_fingerprint(model, (x,), "cpu", {}) is None
    assert _compile(model, x, tmp_path).report["cache"] == "miss"
    again = _compile(model, x, tmp_path)
    assert again.report["cache"] == "hit"
    assert set(again.report["stages"]) == {"import", "load"}
    _check(again, model, x)


class _Config:
    """A plain configuration object, as Hugging Face models keep one."""

    def __init__(self, eps: float):
        self.eps = eps
        self.names = {"activation": "gelu"}


def test_a_plain_config_object_is_part_of_the_fingerprint():
    from mirage_mlir.driver.cache import model_fingerprint

    model, x = Projection(), _x()
    model.config = _Config(1e-5)
    first = model_fingerprint(model, (x,), "cpu", {})
    assert first is not None
    assert model_fingerprint(model, (x,), "cpu", {}) == first
    model.config.eps = 1e-6
    assert model_fingerprint(model, (x,), "cpu", {}) not in (None, first)
    model.config.names["activation"] = "relu"
    assert model_fingerprint(model, (x,), "cpu", {}) not in (None, first)


def test_a_module_held_in_a_plain_attribute_is_part_of_the_fingerprint():
    from mirage_mlir.driver.cache import model_fingerprint

    model, x = Projection(), _x()
    helper = torch.nn.Linear(2, 2)
    model.helpers = {"rotary": helper}
    first = model_fingerprint(model, (x,), "cpu", {})
    assert first is not None
    with torch.no_grad():
        helper.weight.add_(1.0)
    assert model_fingerprint(model, (x,), "cpu", {}) not in (None, first)


def test_a_forward_hook_makes_a_model_unfingerprintable():
    from mirage_mlir.driver.cache import model_fingerprint

    model, x = Projection(), _x()
    assert model_fingerprint(model, (x,), "cpu", {}) is not None
    model.register_forward_hook(lambda module, args, out: out * 3)
    assert model_fingerprint(model, (x,), "cpu", {}) is None


def test_models_sharing_an_artifact_keep_their_own_call_signature(tmp_path):
    x = _x()
    tensor_model, tuple_model = Projection(), TupleProjection()
    _compile(tensor_model, x, tmp_path)
    shared = _compile(tuple_model, x, tmp_path)
    assert shared.report["cache"] == "hit" and "import" in shared.report["stages"]
    _check(shared, tuple_model, x)
    # Both now hit by fingerprint, each with its own signature.
    _check(_compile(TupleProjection(), x, tmp_path), tuple_model, x)
    _check(_compile(Projection(), x, tmp_path), tensor_model, x)


def test_an_unreadable_artifact_is_compiled_again(tmp_path):
    model, x = Projection(), _x()
    _compile(model, x, tmp_path)
    (weights,) = (tmp_path / "artifacts").glob("*/weights.bin")
    weights.write_bytes(b"")
    again = _compile(Projection(), x, tmp_path)
    assert again.report["cache"] == "miss"
    _check(again, model, x)
    assert _compile(Projection(), x, tmp_path).report["cache"] == "hit"


def test_a_damaged_snapshot_falls_back_to_parsing(tmp_path):
    model, x = Projection(), _x()
    _compile(model, x, tmp_path)
    (snapshot,) = (tmp_path / "artifacts").glob("*/module.snapshot")
    snapshot.write_bytes(snapshot.read_bytes()[:50])
    again = _compile(Projection(), x, tmp_path)
    assert again.report["cache"] == "hit"
    _check(again, model, x)


def test_a_snapshot_may_name_only_xdsl_and_mirage_classes():
    import os
    import pickle

    from mirage_mlir.driver.ir_snapshot import SnapshotError, load_snapshot

    class Payload:
        def __reduce__(self):
            return (os.system, ("echo unsafe",))

    with pytest.raises(SnapshotError, match="may not name"):
        load_snapshot(pickle.dumps((1, Payload())))


def test_cache_dir_from_environment(tmp_path, monkeypatch):
    from mirage_mlir.driver.cache import default_cache_dir

    monkeypatch.setenv("MIRAGE_CACHE_DIR", str(tmp_path / "c"))
    assert default_cache_dir() == tmp_path / "c"
