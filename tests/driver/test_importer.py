"""`import_torch`: PyTorch models to linalg-on-tensors MLIR, and the errors users see.

Every example imports to MLIR that MLIR's own parser accepts, with static
shapes and a `@main` whose arguments are the example inputs.  Dynamic shapes,
models torch.export cannot trace and ops torch-mlir cannot lower are refused
with a `TorchImportError` whose message names the cause and where it is.
"""

from __future__ import annotations

import functools
import subprocess
import sys
import textwrap

import pytest
import torch
from torch.export import Dim

import mirage_mlir
from mirage_mlir.driver.errors import DynamicShapeError, TorchImportError
from mirage_mlir.driver.importer import import_torch
from mirage_mlir.examples import EXAMPLE_NAMES, load_example


@functools.cache
def imported(name: str) -> str:
    """The MLIR text of one example, imported once per test session."""
    example = load_example(name)
    return import_torch(example.make_model(), *example.make_inputs(0))


def parse_main(text: str):
    """Parse MLIR text with torch_mlir's bindings; return (context, module, @main op)."""
    from torch_mlir import ir

    context = ir.Context()
    module = ir.Module.parse(text, context)
    functions = [op.operation for op in module.body.operations]
    main = [
        f for f in functions if ir.StringAttr(f.attributes["sym_name"]).value == "main"
    ]
    assert len(main) == 1, "expected exactly one @main"
    return context, module, main[0]


def main_signature(text: str) -> tuple[list[tuple[list[int], str]], int]:
    """(argument shapes and element types, result count) of @main."""
    from torch_mlir import ir

    context, _module, main = parse_main(text)
    with context:
        function_type = ir.FunctionType(
            ir.TypeAttr(main.attributes["function_type"]).value
        )
        arguments = [(list(t.shape), str(t.element_type)) for t in function_type.inputs]
        return arguments, len(function_type.results)


class MatMulReLU(torch.nn.Module):
    """relu(x @ y): the smallest model with two inputs."""

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return torch.relu(x @ y)


class SingularValues(torch.nn.Module):
    """An op that torch exports but torch-mlir cannot lower to linalg."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.linalg.svdvals(x)


class DataDependentBranch(torch.nn.Module):
    """Python control flow on a tensor value, which torch.export cannot trace."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.sum() > 0:
            return x + 1
        return x - 1


@pytest.mark.slow
@pytest.mark.parametrize("name", EXAMPLE_NAMES)
def test_example_imports_with_static_shapes(name):
    text = imported(name)
    context, module, _main = parse_main(text)
    from torch_mlir import ir

    dynamic: list[str] = []

    def visit(operation):
        for value in list(operation.results) + list(operation.operands):
            if (
                isinstance(value.type, ir.RankedTensorType)
                and not value.type.has_static_shape
            ):
                dynamic.append(f"{operation.name}: {value.type}")
        return ir.WalkResult.ADVANCE

    module.operation.walk(visit)
    assert dynamic == []
    assert "?x" not in text and "x?" not in text


@pytest.mark.parametrize("name", EXAMPLE_NAMES)
def test_main_takes_the_example_inputs(name):
    inputs = load_example(name).make_inputs(0)
    arguments, _results = main_signature(imported(name))
    assert arguments == [(list(x.shape), "f32") for x in inputs]


def test_import_is_linalg_on_tensors():
    text = imported("e1_matrix_chain")
    assert text.count("linalg.matmul") == 3
    assert "torch." not in text.replace("torch_tensor", "")  # no torch dialect left


def test_training_mode_is_respected():
    """BatchNorm in training mode returns its updated buffers; in eval mode only the output."""
    example = load_example("e3_batchnorm_module")
    model = example.make_model()
    (x,) = example.make_inputs(0)
    state = {k: v.clone() for k, v in model.state_dict().items()}

    _args, train_results = main_signature(import_torch(model, x))
    assert model.training, "import_torch changed the model's mode"
    assert all(
        torch.equal(state[k], v) for k, v in model.state_dict().items()
    ), "import_torch changed the model's buffers"
    _args, eval_results = main_signature(import_torch(model.eval(), x))
    # running mean, running variance, batch counter, output
    assert (train_results, eval_results) == (4, 1)


def test_root_package_forwards_to_the_importer():
    x, y = torch.randn(4, 3), torch.randn(3, 2)
    assert mirage_mlir.import_torch(MatMulReLU(), x, y) == import_torch(
        MatMulReLU(), x, y
    )


def test_declared_dynamic_dimension_is_refused():
    x, y = torch.randn(8, 4), torch.randn(4, 3)
    with pytest.raises(DynamicShapeError) as caught:
        mirage_mlir.import_torch(
            MatMulReLU(), x, y, dynamic_shapes=({0: Dim("rows")}, None)
        )
    message = str(caught.value)
    assert "input 'x' (argument 0) has dynamic dimension 0" in message
    assert "Dim 'rows'" in message
    assert "static shapes only" in message


def test_dynamic_dimension_of_a_later_input_is_named():
    x, y = torch.randn(8, 4), torch.randn(4, 3)
    with pytest.raises(DynamicShapeError) as caught:
        import_torch(
            MatMulReLU(), x, y, dynamic_shapes={"x": None, "y": (Dim.STATIC, Dim.AUTO)}
        )
    message = str(caught.value)
    assert "input 'y' (argument 1) has dynamic dimension 1" in message
    assert "Dim.AUTO" in message
    assert "symbol s" in message


@pytest.mark.slow
def test_data_dependent_size_is_refused_before_lowering(tmp_path):
    """Boolean indexing has a data-dependent size; torch-mlir would exhaust memory on it.

    The import runs in a child process with a 6 GiB address-space limit, so
    that a regression fails this test instead of the machine.
    """
    script = tmp_path / "boolean_index.py"
    script.write_text(textwrap.dedent("""
            import resource
            resource.setrlimit(resource.RLIMIT_AS, (6 << 30, 6 << 30))
            import torch
            from mirage_mlir.driver.errors import DynamicShapeError
            from mirage_mlir.driver.importer import import_torch

            class Positive(torch.nn.Module):
                def forward(self, x):
                    return x[x > 0]

            try:
                import_torch(Positive(), torch.randn(8, 8))
            except DynamicShapeError as error:
                print("REFUSED:", error)
            """))
    child = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, timeout=120
    )
    assert child.returncode == 0, child.stderr[-2000:]
    message = child.stdout
    assert message.startswith("REFUSED:")
    assert f"{script}:10: the result of aten.index.Tensor" in message
    assert "data-dependent dimension 0 (symbol u0)" in message


def test_non_module_is_refused():
    with pytest.raises(
        TorchImportError, match=r"expects a torch\.nn\.Module, got function"
    ):
        import_torch(lambda x: x, torch.randn(2))


def test_non_tensor_input_is_refused():
    with pytest.raises(
        TorchImportError, match=r"example input 1 of MatMulReLU is a int"
    ):
        import_torch(MatMulReLU(), torch.randn(2, 2), 3)


def test_untraceable_model_names_the_reason_and_line():
    with pytest.raises(TorchImportError) as caught:
        import_torch(DataDependentBranch(), torch.randn(4, 4))
    message = str(caught.value)
    assert message.startswith("torch.export could not trace DataDependentBranch at ")
    assert f"{__file__}:" in message
    assert "data-dependent expression" in message
    assert caught.value.__cause__ is not None


def test_unlowerable_op_is_named_with_its_location():
    with pytest.raises(TorchImportError) as caught:
        import_torch(SingularValues(), torch.randn(4, 4))
    message = str(caught.value)
    assert message.startswith(
        "torch-mlir could not lower SingularValues to linalg on tensors"
    )
    assert "no lowering for torch.aten._linalg_svd" in message
    assert f"{__file__}:" in message
    assert type(caught.value.__cause__).__name__ == "TorchMlirCompilerError"


def test_import_mirage_mlir_loads_no_heavy_dependency():
    probe = (
        "import sys, mirage_mlir, mirage_mlir.examples, mirage_mlir.driver.importer; "
        "heavy = sorted({m.split('.')[0] for m in sys.modules} & {'torch', 'torch_mlir', 'triton'}); "
        "print(','.join(heavy))"
    )
    child = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=120
    )
    assert child.returncode == 0, child.stderr
    assert child.stdout.strip() == ""


def test_unlowerable_op_error_says_how_to_reproduce():
    with pytest.raises(TorchImportError) as caught:
        import_torch(SingularValues(), torch.randn(4, 4))
    replay = str(caught.value).splitlines()[-1]
    assert replay.startswith("reproduce with: torch-mlir-opt -pass-pipeline=")
    assert replay.endswith(".mlir")


def test_dynamic_type_left_by_the_lowering_is_refused():
    """The last guard: a `?` anywhere in the lowered module, with the op's location."""
    from torch_mlir import ir

    from mirage_mlir.driver.importer import _refuse_dynamic_mlir

    text = """
    func.func @main(%x: tensor<4x8xf32>) -> tensor<?x8xf32> {
      %c = tensor.cast %x : tensor<4x8xf32> to tensor<?x8xf32> loc("model.py":12:4)
      return %c : tensor<?x8xf32>
    }
    """
    with ir.Context():
        module = ir.Module.parse(text)
        with pytest.raises(DynamicShapeError) as caught:
            _refuse_dynamic_mlir(module)
    assert str(caught.value).startswith(
        "model.py:12:4: 'tensor.cast' has a value of type tensor<?x8xf32> whose dimension 0"
    )
