"""Module snapshots: a rebuilt module prints and runs as the parsed one; what cannot be
rebuilt exactly has no snapshot; a damaged snapshot is an error, not a wrong module."""

from __future__ import annotations

import pickle

import pytest

torch = pytest.importorskip("torch")

from mirage_mlir.dialects.context import mirage_context, parse_mlir  # noqa: E402
from mirage_mlir.driver.ir_snapshot import (  # noqa: E402
    SnapshotError,
    dump_snapshot,
    load_snapshot,
)
from mirage_mlir.examples import load_example  # noqa: E402


def _printed(module) -> str:
    from io import StringIO

    from xdsl.printer import Printer

    out = StringIO()
    Printer(stream=out, print_debuginfo=True).print_op(module)
    return out.getvalue()


@pytest.mark.parametrize("name", ["e3_batchnorm_module", "e7_llama_attention",
                                  "e8_tensor_network"])
def test_rebuilt_module_prints_and_runs_as_the_parsed_one(name):
    from mirage_mlir.driver.torch_executor import TorchProgram

    example = load_example(name)
    module = parse_mlir(example.mlir_path.read_text())
    data = dump_snapshot(module)
    assert data is not None
    rebuilt = load_snapshot(data)
    assert rebuilt is not module and _printed(rebuilt) == _printed(module)
    rebuilt.verify()
    inputs = example.make_inputs(2)
    for got, expected in zip(TorchProgram(rebuilt)(*inputs), TorchProgram(module)(*inputs)):
        torch.testing.assert_close(got, expected, rtol=0, atol=0)


@pytest.mark.slow
def test_long_dependency_chains_snapshot():
    # Pickling the IR objects themselves recurses once per op of such a chain.
    lines = ["func.func @main(%a: tensor<4xf32>) -> tensor<4xf32> {"]
    previous = "%a"
    for index in range(3000):
        lines.append(f"  %v{index} = arith.addf {previous}, %a : tensor<4xf32>")
        previous = f"%v{index}"
    lines += [f"  func.return {previous} : tensor<4xf32>", "}"]
    module = parse_mlir("\n".join(lines))
    rebuilt = load_snapshot(dump_snapshot(module))
    assert _printed(rebuilt) == _printed(module)


def test_what_a_snapshot_cannot_rebuild_exactly_has_none():
    from xdsl.parser import Parser

    unregistered = """
    func.func @main(%a: tensor<4xf32>) -> tensor<4xf32> {
      %0 = "test.mystery"(%a) : (tensor<4xf32>) -> tensor<4xf32>
      func.return %0 : tensor<4xf32>
    }"""
    module = Parser(mirage_context(allow_unregistered=True), unregistered).parse_module()
    assert dump_snapshot(module) is None
    branches = """
    func.func @main(%a: i32) -> i32 {
      cf.br ^bb1(%a : i32)
    ^bb1(%b: i32):
      func.return %b : i32
    }"""
    assert dump_snapshot(parse_mlir(branches)) is None


def test_damaged_or_foreign_snapshots_are_errors():
    module = parse_mlir(load_example("e1_matrix_chain").mlir_path.read_text())
    data = dump_snapshot(module)
    with pytest.raises(SnapshotError, match="unreadable"):
        load_snapshot(data[: len(data) // 2])
    with pytest.raises(SnapshotError, match="format"):
        load_snapshot(pickle.dumps((99, None)))
    with pytest.raises(SnapshotError, match="may not name"):
        load_snapshot(pickle.dumps((1, print)))
