"""torch-mlir's `tm_tensor` and `ml_program` ops: imported, parsed, optimised around, printed back.

Models using torch.sort, topk, kthvalue, scatter_add, index_put, cumsum and rand_like import
(through `mm.import_torch`) to linalg-on-tensors text holding `tm_tensor` ops with regions or
`ml_program` globals.  `mirage-mlir-opt -p eqsat-optimize` reads that text without flags,
keeps those ops (the tensor algebra does not model them), and prints text that MLIR's own
parser reads back.
"""

from __future__ import annotations

import functools
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
import torch

import mirage_mlir as mm
from mirage_mlir.dialects.context import mirage_context, parse_mlir, print_mlir
from mirage_mlir.dialects.ml_program import (
    GlobalLoadConstOp,
    GlobalLoadOp,
    GlobalOp,
    GlobalStoreOp,
)
from mirage_mlir.dialects.tm_tensor import (
    AttentionOp,
    ScanOp,
    ScatterOp,
    SortOp,
    TopkOp,
    YieldOp,
)
from mirage_mlir.passes.recognize.effects import has_side_effects

# Seconds per case: run by `make test`, left out of `make test-fast`.
pytestmark = pytest.mark.slow

TOOL = Path(sys.executable).with_name("mirage-mlir-opt")


class Sort(torch.nn.Module):
    """Values and indices of a sort along the last dimension."""

    def forward(self, x):
        return torch.sort(x, dim=-1)


class TopK(torch.nn.Module):
    """The three largest values per row."""

    def forward(self, x):
        return torch.topk(x, 3, dim=-1).values


class KthValue(torch.nn.Module):
    """The second smallest value per row."""

    def forward(self, x):
        return torch.kthvalue(x, 2, dim=-1).values


class ScatterAdd(torch.nn.Module):
    """Updates added into x at per-row column indices."""

    def forward(self, x, index, updates):
        return x.scatter_add(1, index, updates)


class IndexPut(torch.nn.Module):
    """Rows of x replaced by new values."""

    def forward(self, x, rows, values):
        return x.index_put((rows,), values)


class Cumsum(torch.nn.Module):
    """Running sum along rows, scaled."""

    def forward(self, x):
        return torch.cumsum(x, dim=1) * 2.0


class RandLike(torch.nn.Module):
    """x plus uniform noise: torch-mlir keeps the random seed in an ml_program global."""

    def forward(self, x):
        return x + torch.rand_like(x)


class SortedProduct(torch.nn.Module):
    """A sort between a matrix chain the optimiser reorders and a scan."""

    def forward(self, a, b, c):
        s = torch.sort(a @ b @ c, dim=-1).values
        return torch.cumsum(s, dim=1)


def _x() -> torch.Tensor:
    return torch.randn(4, 8, generator=torch.Generator().manual_seed(0))


#: name -> (model, inputs, the op its import must hold)
MODELS: dict[str, tuple[Callable[[], torch.nn.Module], Callable[[], tuple], str]] = {
    "sort": (Sort, lambda: (_x(),), "tm_tensor.sort"),
    "topk": (TopK, lambda: (_x(),), "tm_tensor.sort"),
    "kthvalue": (KthValue, lambda: (_x(),), "tm_tensor.topk"),
    "scatter_add": (
        ScatterAdd,
        lambda: (_x(), torch.tensor([[0, 3], [1, 1], [7, 2], [5, 5]]), torch.ones(4, 2)),
        "tm_tensor.scatter",
    ),
    "index_put": (
        IndexPut,
        lambda: (_x(), torch.tensor([0, 2]), torch.ones(2, 8)),
        "tm_tensor.scatter",
    ),
    "cumsum": (Cumsum, lambda: (_x(),), "tm_tensor.scan"),
    "rand_like": (RandLike, lambda: (_x(),), "ml_program.global_store"),
}


@functools.cache
def imported(name: str) -> str:
    """The linalg-on-tensors text of one model, imported once per session."""
    make_model, make_inputs, _ = MODELS[name]
    return mm.import_torch(make_model(), *make_inputs())


@functools.cache
def torch_mlir_context():
    """An MLIR context with torch-mlir's dialects, `tm_tensor` among them, loaded.

    torch-mlir's Python package has no registration function for `tm_tensor`; running the
    pass that creates its ops (on an empty module) loads it into the context.
    """
    from torch_mlir import ir, passmanager
    from torch_mlir.dialects import torch as torch_dialect

    context = ir.Context()
    torch_dialect.register_dialect(context)
    with context:
        manager = passmanager.PassManager.parse(
            "builtin.module(func.func(convert-torch-to-tmtensor))"
        )
        manager.run(ir.Module.parse("module {}").operation)
    return context


def mlir_reparses(text: str) -> None:
    """Parse and verify `text` with MLIR's own parser (raises MLIRError otherwise)."""
    from torch_mlir import ir

    module = ir.Module.parse(text, torch_mlir_context())
    assert module.operation.verify()


def run_tool(path: Path, *args: str) -> subprocess.CompletedProcess:
    command = [str(TOOL)] if TOOL.exists() else [
        sys.executable, "-m", "mirage_mlir.tools.mirage_mlir_opt"
    ]
    return subprocess.run(
        [*command, str(path), *args], capture_output=True, text=True, timeout=300
    )


def test_context_registers_the_ops():
    ctx = mirage_context()
    for op in (SortOp, TopkOp, ScanOp, ScatterOp, AttentionOp, YieldOp):
        assert ctx.get_op(op.name) is op
    for op in (GlobalOp, GlobalLoadOp, GlobalLoadConstOp, GlobalStoreOp):
        assert ctx.get_op(op.name) is op


@pytest.mark.parametrize("name", sorted(MODELS))
def test_eqsat_optimize_keeps_the_op(name, tmp_path):
    text = imported(name)
    op_name = MODELS[name][2]
    assert op_name in text
    mlir_reparses(text)
    path = tmp_path / f"{name}.mlir"
    path.write_text(text)

    done = run_tool(path, "-p", "eqsat-optimize")

    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr
    assert done.stdout.count(op_name + " ") == text.count(op_name + " ")
    module = parse_mlir(done.stdout, f"{name}.opt.mlir")
    assert print_mlir(module)
    if "mirage." not in done.stdout:
        mlir_reparses(done.stdout)


def test_sort_keeps_its_region_and_reads_the_optimised_product():
    inputs = (torch.randn(32, 2), torch.randn(2, 32), torch.randn(32, 8))
    text = mm.import_torch(SortedProduct(), *inputs)

    result = mm.optimize(text, target="flops")

    report = result.report["functions"][0]
    assert report["flops_after"] < report["flops_before"]
    module = parse_mlir(result.mlir)
    (sort,) = [op for op in module.walk() if isinstance(op, SortOp)]
    (scan,) = [op for op in module.walk() if isinstance(op, ScanOp)]
    compare = [op.name for op in sort.region.block.ops]
    assert compare == ["arith.cmpf", "tm_tensor.yield"]
    # The product the sort reads is a @ (b @ c), the cheaper order.
    product = sort.outputs[0].owner
    assert product.name == "linalg.matmul"
    assert product.operands[1].type.get_shape() == (2, 8)
    assert scan.inputs[0] is sort.results[0]
    if "mirage." not in result.mlir:
        mlir_reparses(result.mlir)


def test_generic_form_round_trips_through_mlir():
    module = parse_mlir(imported("scatter_add"))

    generic = print_mlir(module, generic=True)

    assert '"tm_tensor.scatter"' in generic
    assert "operandSegmentSizes = array<i32: 2, 1>" in generic
    mlir_reparses(generic)
    assert print_mlir(parse_mlir(generic)) == print_mlir(module)


def test_scatter_without_unique_indices_defaults_to_true():
    text = """
    func.func @f(%u: tensor<2x1x8xf32>, %i: tensor<2x1xi64>, %o: tensor<4x8xf32>)
        -> tensor<4x8xf32> {
      %0 = "tm_tensor.scatter"(%u, %i, %o) <{dimension_map = array<i64: 0>,
          operandSegmentSizes = array<i32: 2, 1>}> ({
      ^bb0(%a: f32, %b: f32):
        "tm_tensor.yield"(%a) : (f32) -> ()
      }) : (tensor<2x1x8xf32>, tensor<2x1xi64>, tensor<4x8xf32>) -> tensor<4x8xf32>
      func.return %0 : tensor<4x8xf32>
    }
    """
    printed = print_mlir(parse_mlir(text))

    assert "unique_indices(true)" in printed
    mlir_reparses(printed)


def test_effects_follow_torch_mlir():
    text = """
    ml_program.global private mutable @seed(dense<0> : tensor<i64>) : tensor<i64>
    ml_program.global private @table(dense<1.0> : tensor<4xf32>) : tensor<4xf32>
    func.func @f(%x: tensor<4xf32>, %m: memref<4xf32>) -> tensor<4xf32> {
      %s = tm_tensor.sort dimension(0) outs(%x : tensor<4xf32>) {
      ^bb0(%a: f32, %b: f32):
        %lt = arith.cmpf olt, %a, %b : f32
        tm_tensor.yield %lt : i1
      } -> tensor<4xf32>
      tm_tensor.sort dimension(0) outs(%m : memref<4xf32>) {
      ^bb0(%a: f32, %b: f32):
        %lt = arith.cmpf olt, %a, %b : f32
        tm_tensor.yield %lt : i1
      }
      %seed = ml_program.global_load @seed : tensor<i64>
      ml_program.global_store @seed = %seed : tensor<i64>
      %t = ml_program.global_load_const @table : tensor<4xf32>
      func.return %s : tensor<4xf32>
    }
    """
    module = parse_mlir(text)
    effects = {
        (op.name, type(op.operands[0].type).__name__ if op.operands else ""): has_side_effects(op)
        for op in module.walk()
        if op.dialect_name() in ("tm_tensor", "ml_program")
        and op.name not in ("tm_tensor.yield", "ml_program.global")
    }

    assert effects == {
        ("tm_tensor.sort", "TensorType"): False,
        ("tm_tensor.sort", "MemRefType"): True,
        ("ml_program.global_load", ""): True,
        ("ml_program.global_store", "TensorType"): True,
        ("ml_program.global_load_const", ""): False,
    }
