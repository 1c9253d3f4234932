"""The example registry, the committed example MLIR, and the demo and regenerate scripts.

Every example file is registered and loads; its committed `.mlir` is exactly
what a fresh import gives (so the files cannot drift from the models); each
model runs eagerly on its inputs with finite results; and the scripts built on
the registry print what they promise and fail cleanly on bad arguments.
"""

from __future__ import annotations

import functools
import pathlib

import pytest
import torch

from mirage_mlir.examples import EXAMPLE_NAMES, all_examples, load_example
from mirage_mlir.examples import demo, regenerate

EXAMPLES_DIR = pathlib.Path(__file__).resolve().parents[2] / "examples"


@functools.cache
def fresh_mlir(name: str) -> str:
    """The text regenerate would write for one example now."""
    return regenerate.render_example_mlir(load_example(name))


def test_registry_lists_every_example_file():
    files = {path.stem for path in EXAMPLES_DIR.glob("e[0-9]_*.py")}
    assert files == set(EXAMPLE_NAMES)
    assert [example.name for example in all_examples()] == list(EXAMPLE_NAMES)
    numbers = {name.split("_")[0] for name in EXAMPLE_NAMES}
    assert numbers == {f"e{n}" for n in range(1, 9)}


def test_unknown_example_is_a_clear_key_error():
    with pytest.raises(KeyError, match="unknown example 'e9_nothing'"):
        load_example("e9_nothing")


@pytest.mark.parametrize("name", EXAMPLE_NAMES)
def test_example_is_documented(name):
    example = load_example(name)
    module = __import__(f"mirage_mlir.examples.{name}", fromlist=["EXAMPLE"])
    assert example.title and "\n" not in example.title
    assert "Shapes" in module.__doc__ and "Expected optimisation" in module.__doc__
    assert example.mlir_path == EXAMPLES_DIR / f"{name}.mlir"


@pytest.mark.parametrize("name", EXAMPLE_NAMES)
def test_committed_mlir_equals_a_fresh_import(name):
    path = load_example(name).mlir_path
    assert path.exists(), f"{path} is missing: run python -m mirage_mlir.examples.regenerate"
    assert path.stat().st_size < regenerate.MAX_MLIR_BYTES
    assert path.read_text() == fresh_mlir(
        name
    ), f"{path} is stale: run python -m mirage_mlir.examples.regenerate {name}"


@pytest.mark.parametrize("name", EXAMPLE_NAMES)
def test_model_runs_eagerly_with_finite_outputs(name):
    example = load_example(name)
    inputs = example.make_inputs(0)
    assert all(x.dtype == torch.float32 for x in inputs)
    with torch.no_grad():
        outputs = example.make_model()(*inputs)
    outputs = outputs if isinstance(outputs, tuple) else (outputs,)
    assert all(torch.isfinite(out).all() for out in outputs)
    assert any(out.abs().max() > 0 for out in outputs)


@pytest.mark.parametrize("name", EXAMPLE_NAMES)
def test_models_and_inputs_are_deterministic(name):
    example = load_example(name)
    first, second = example.make_model().state_dict(), example.make_model().state_dict()
    assert first.keys() == second.keys()
    assert all(torch.equal(first[key], second[key]) for key in first)
    same = zip(example.make_inputs(3), example.make_inputs(3))
    assert all(torch.equal(a, b) for a, b in same)
    assert not torch.equal(example.make_inputs(3)[0], example.make_inputs(4)[0])


def test_model_construction_leaves_the_global_random_state_alone():
    state = torch.random.get_rng_state()
    for example in all_examples():
        example.make_model()
        example.make_inputs(0)
    assert torch.equal(state, torch.random.get_rng_state())


def test_naive_softmax_overflows_where_the_stable_form_does_not():
    """E6's point: exp overflows past 88.7 in fp32, so the naive form gives NaN."""
    example = load_example("e6_naive_softmax")
    (x,) = example.make_inputs(0)
    shifted = x + 1000.0
    assert torch.isnan(example.make_model()(shifted)).all()
    torch.testing.assert_close(torch.softmax(shifted, -1), torch.softmax(x, -1))


def test_batchnorm_module_updates_running_statistics_in_training_mode():
    example = load_example("e3_batchnorm_module")
    model = example.make_model()
    assert model.training
    before = model.norm.running_mean.clone()
    (x,) = example.make_inputs(0)
    model(x)
    torch.testing.assert_close(model.norm.running_mean, 0.9 * before + 0.1 * x.mean(0))


def test_hand_written_batchnorm_matches_the_module():
    hand = load_example("e3_batchnorm_relu").make_model()
    module = load_example("e3_batchnorm_module").make_model()
    with torch.no_grad():
        module.norm.weight.copy_(hand.gamma)
        module.norm.bias.copy_(hand.beta)
    (x,) = load_example("e3_batchnorm_relu").make_inputs(0)
    torch.testing.assert_close(hand(x), module(x), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize(
    ("name", "left_to_right"),
    [
        ("e4_einsum_chain", ["1x100x20", "1x100x5", "1x100x100"]),
        ("e8_tensor_network", ["12x144x144", "12x144x12", "1x12x12"]),
    ],
)
def test_einsum_is_imported_left_to_right(name, left_to_right):
    """torch.einsum would pick opt_einsum's order while tracing; the examples keep theirs."""
    from torch_mlir import ir

    text = load_example(name).mlir_path.read_text()
    shapes = []
    with ir.Context():
        module = ir.Module.parse(text)
        for function in module.body.operations:
            for op in function.operation.regions[0].blocks[0].operations:
                if op.operation.name == "linalg.batch_matmul":
                    shapes.append("x".join(map(str, op.operation.results[0].type.shape)))
    assert shapes == left_to_right


def test_count_ops_counts_the_top_level_ops_of_main():
    counts = demo.count_ops(load_example("e1_matrix_chain").mlir_path.read_text())
    assert counts == {
        "arith.constant": 1,  # the 0.0 both fills share
        "linalg.matmul": 3,
        "linalg.fill": 2,
        "tensor.empty": 2,
    }


def test_count_ops_reports_unparsable_text():
    with pytest.raises(demo.MirageError, match="does not parse"):
        demo.count_ops("func.func @main( {")


def test_demo_prints_a_table_row_per_example(capsys):
    assert demo.main(["--ops", "e1_matrix_chain", "e5_gated_layer"]) == 0
    captured = capsys.readouterr()
    rows = {line.split()[0]: line.split() for line in captured.out.splitlines() if line}
    header = rows["example"]
    e1 = dict(zip(header, rows["e1_matrix_chain"]))
    e5 = dict(zip(header, rows["e5_gated_layer"]))
    assert (e1["matmul"], e1["fill"], e1["compute"]) == ("3", "2", "3")
    assert (e5["matmul"], e5["generic"], e5["compute"]) == ("2", "3", "5")
    assert "[2/2] e5_gated_layer" in captured.err


@pytest.mark.parametrize("script", [demo, regenerate])
def test_scripts_refuse_unknown_examples(script, capsys):
    assert script.main(["e9_nothing"]) == 1
    assert "unknown example(s) e9_nothing" in capsys.readouterr().err
