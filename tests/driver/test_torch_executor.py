"""The CPU runtime on the examples' imported and optimised modules, against torch eager."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")

from mirage_mlir.driver.torch_executor import TorchExecutorError, TorchProgram  # noqa: E402
from mirage_mlir.examples import EXAMPLE_NAMES, load_example  # noqa: E402


def _check(program, example, seed):
    model = example.make_model()
    inputs = example.make_inputs(seed)
    with torch.no_grad():
        expected = model(*inputs)
    expected = expected if isinstance(expected, tuple) else (expected,)
    got = program(*inputs)[-len(expected):]
    for g, e in zip(got, expected):
        scale = 1.0 + float(e.abs().max())
        assert float((g.double() - e.double()).abs().max()) <= 1e-4 * scale


@pytest.mark.parametrize("name", EXAMPLE_NAMES)
def test_imported_module_matches_eager(name):
    example = load_example(name)
    _check(TorchProgram.from_text(example.mlir_path.read_text()), example, seed=5)


@pytest.mark.parametrize("name", ["e1_matrix_chain", "e3_batchnorm_relu", "e5_gated_layer",
                                  "e7_llama_attention", "e8_tensor_network"])
def test_optimised_module_matches_eager(name):
    import mirage_mlir as mm

    example = load_example(name)
    optimised = mm.optimize(example.mlir_path.read_text(), target="cpu").mlir
    program = TorchProgram.from_text(optimised)
    _check(program, example, seed=6)


def test_contraction_generic_becomes_einsum_and_weights_fold():
    import mirage_mlir as mm

    example = load_example("e8_tensor_network")
    program = TorchProgram.from_text(mm.optimize(example.mlir_path.read_text()).mlir)
    assert [s.name for s in program.block.steps] == ["linalg.generic"] * 3
    # Each contracts into zeros: it reads its two factors, not the init it would add.
    assert [len(s.operands) for s in program.block.steps] == [2, 2, 2]


def test_unknown_op_is_refused_with_its_name():
    text = """
    func.func @main(%a: tensor<4xf32>) -> tensor<4xf32> {
      %0 = "test.mystery"(%a) : (tensor<4xf32>) -> tensor<4xf32>
      func.return %0 : tensor<4xf32>
    }"""
    from mirage_mlir.dialects.context import mirage_context
    from xdsl.parser import Parser

    module = Parser(mirage_context(allow_unregistered=True), text).parse_module()
    with pytest.raises(TorchExecutorError, match="test.mystery"):
        TorchProgram(module)
