"""Ops with side effects inside an optimised function: calls, memref and bufferization ops, a
`linalg.generic` whose body calls a function, ops of an unknown dialect.

Each such op must come out exactly once, in the same order relative to the other such ops,
reading the same values; the pure program around it may still be optimised (a matrix chain
after the op is reordered here), and where the program can run its results must not change.
"""

from __future__ import annotations

import json

import pytest

import mirage_mlir
from mirage_mlir.dialects.diagnostics import MlirSyntaxError
from mirage_mlir.tools.mirage_mlir_opt import main

ID2 = "affine_map<(d0, d1) -> (d0, d1)>"

#: @sink is defined (so the program runs) but a call is a side effect all the same. %p is a
#: chain whose left-to-right order costs 8*8*8 + 8*8*1 MACs, against 8*8*1 + 8*8*1 reordered.
CALL_BETWEEN_MATMULS = f"""
func.func @sink(%x: tensor<8x8xf32>) -> tensor<8x8xf32> {{
  %e = tensor.empty() : tensor<8x8xf32>
  %r = linalg.generic {{indexing_maps = [{ID2}, {ID2}], iterator_types = ["parallel", "parallel"]}} ins(%x : tensor<8x8xf32>) outs(%e : tensor<8x8xf32>) {{
  ^bb0(%i: f32, %o: f32):
    %one = arith.constant 1.0 : f32
    %s = arith.mulf %i, %i : f32
    %t = arith.addf %s, %one : f32
    linalg.yield %t : f32
  }} -> tensor<8x8xf32>
  func.return %r : tensor<8x8xf32>
}}
func.func @main(%a: tensor<8x2xf32>, %b: tensor<2x8xf32>, %x: tensor<8x8xf32>, %y: tensor<8x1xf32>) -> (tensor<8x1xf32>, tensor<8x8xf32>) {{
  %cst = arith.constant 0.0 : f32
  %e = tensor.empty() : tensor<8x8xf32>
  %f = linalg.fill ins(%cst : f32) outs(%e : tensor<8x8xf32>) -> tensor<8x8xf32>
  %m1 = linalg.matmul ins(%a, %b : tensor<8x2xf32>, tensor<2x8xf32>) outs(%f : tensor<8x8xf32>) -> tensor<8x8xf32>
  %s = func.call @sink(%m1) : (tensor<8x8xf32>) -> tensor<8x8xf32>
  %unused = func.call @sink(%s) : (tensor<8x8xf32>) -> tensor<8x8xf32>
  %sx = linalg.matmul ins(%s, %x : tensor<8x8xf32>, tensor<8x8xf32>) outs(%f : tensor<8x8xf32>) -> tensor<8x8xf32>
  %e1 = tensor.empty() : tensor<8x1xf32>
  %f1 = linalg.fill ins(%cst : f32) outs(%e1 : tensor<8x1xf32>) -> tensor<8x1xf32>
  %p = linalg.matmul ins(%sx, %y : tensor<8x8xf32>, tensor<8x1xf32>) outs(%f1 : tensor<8x1xf32>) -> tensor<8x1xf32>
  func.return %p, %m1 : tensor<8x1xf32>, tensor<8x8xf32>
}}
"""

#: External functions, a buffer written, read as a tensor, and written again.
MEMORY = """
func.func private @load_weights() -> tensor<8x8xf32>
func.func private @log(tensor<8x8xf32>)
func.func @main(%a: tensor<8x8xf32>, %x: tensor<8x8xf32>, %y: tensor<8x1xf32>, %v: f32) -> tensor<8x1xf32> {
  %cst = arith.constant 0.0 : f32
  %i = arith.constant 1 : index
  %w = func.call @load_weights() : () -> tensor<8x8xf32>
  %e = tensor.empty() : tensor<8x8xf32>
  %f = linalg.fill ins(%cst : f32) outs(%e : tensor<8x8xf32>) -> tensor<8x8xf32>
  %m = linalg.matmul ins(%a, %w : tensor<8x8xf32>, tensor<8x8xf32>) outs(%f : tensor<8x8xf32>) -> tensor<8x8xf32>
  func.call @log(%m) : (tensor<8x8xf32>) -> ()
  %buf = memref.alloc() : memref<8x8xf32>
  memref.store %v, %buf[%i, %i] : memref<8x8xf32>
  %t = bufferization.to_tensor %buf restrict : memref<8x8xf32> to tensor<8x8xf32>
  %tm = linalg.matmul ins(%t, %m : tensor<8x8xf32>, tensor<8x8xf32>) outs(%f : tensor<8x8xf32>) -> tensor<8x8xf32>
  %tmx = linalg.matmul ins(%tm, %x : tensor<8x8xf32>, tensor<8x8xf32>) outs(%f : tensor<8x8xf32>) -> tensor<8x8xf32>
  %e1 = tensor.empty() : tensor<8x1xf32>
  %f1 = linalg.fill ins(%cst : f32) outs(%e1 : tensor<8x1xf32>) -> tensor<8x1xf32>
  %p = linalg.matmul ins(%tmx, %y : tensor<8x8xf32>, tensor<8x1xf32>) outs(%f1 : tensor<8x1xf32>) -> tensor<8x1xf32>
  %r = memref.load %buf[%i, %i] : memref<8x8xf32>
  memref.store %r, %buf[%i, %i] : memref<8x8xf32>
  func.return %p : tensor<8x1xf32>
}
"""


def _generic_calling(callee: str, source: str, name: str) -> str:
    return (
        f"  %{name} = linalg.generic {{indexing_maps = [{ID2}, {ID2}], iterator_types = "
        f'["parallel", "parallel"]}} ins(%{source} : tensor<8x8xf32>) outs(%e : tensor<8x8xf32>) {{\n'
        f"  ^bb0(%x_{name}: f32, %o_{name}: f32):\n"
        f"    %y_{name} = func.call @{callee}(%x_{name}) : (f32) -> f32\n"
        f"    linalg.yield %y_{name} : f32\n"
        f"  }} -> tensor<8x8xf32>\n"
    )


def generic_with_call(callee_definition: str, callee: str) -> str:
    """@main: a matmul, two generics whose bodies call @callee (one result unused), an add."""
    return (
        callee_definition
        + "func.func @main(%a: tensor<8x8xf32>, %b: tensor<8x8xf32>) -> (tensor<8x8xf32>, tensor<8x8xf32>) {\n"
        "  %cst = arith.constant 0.0 : f32\n"
        "  %e = tensor.empty() : tensor<8x8xf32>\n"
        "  %f = linalg.fill ins(%cst : f32) outs(%e : tensor<8x8xf32>) -> tensor<8x8xf32>\n"
        "  %m1 = linalg.matmul ins(%a, %b : tensor<8x8xf32>, tensor<8x8xf32>) outs(%f : tensor<8x8xf32>) -> tensor<8x8xf32>\n"
        + _generic_calling(callee, "m1", "g")
        + _generic_calling(callee, "m1", "g2")
        + f"  %h = linalg.generic {{indexing_maps = [{ID2}, {ID2}, {ID2}], iterator_types = "
        '["parallel", "parallel"]} ins(%g, %m1 : tensor<8x8xf32>, tensor<8x8xf32>) outs(%e : tensor<8x8xf32>) {\n'
        "  ^bb0(%p: f32, %q: f32, %o: f32):\n"
        "    %s = arith.addf %p, %q : f32\n"
        "    linalg.yield %s : f32\n"
        "  } -> tensor<8x8xf32>\n"
        "  func.return %h, %m1 : tensor<8x8xf32>, tensor<8x8xf32>\n}\n"
    )


TWICE = (
    "func.func @twice(%x: f32) -> f32 {\n"
    "  %y = arith.addf %x, %x : f32\n"
    "  func.return %y : f32\n}\n"
)

UNKNOWN_DIALECT = """
func.func @main(%a: tensor<4x4xf32>, %b: tensor<4x4xf32>, %x: tensor<4x4xf32>, %c: tensor<4x1xf32>) -> tensor<4x1xf32> {
  %cst = arith.constant 0.0 : f32
  %e = tensor.empty() : tensor<4x4xf32>
  %f = linalg.fill ins(%cst : f32) outs(%e : tensor<4x4xf32>) -> tensor<4x4xf32>
  %m1 = linalg.matmul ins(%a, %b : tensor<4x4xf32>, tensor<4x4xf32>) outs(%f : tensor<4x4xf32>) -> tensor<4x4xf32>
  %u = "foo.bar"(%m1) : (tensor<4x4xf32>) -> tensor<4x4xf32>
  "foo.log"(%u) : (tensor<4x4xf32>) -> ()
  %dead = "foo.bar"(%u) : (tensor<4x4xf32>) -> tensor<4x4xf32>
  %ux = linalg.matmul ins(%u, %x : tensor<4x4xf32>, tensor<4x4xf32>) outs(%f : tensor<4x4xf32>) -> tensor<4x4xf32>
  %e1 = tensor.empty() : tensor<4x1xf32>
  %f1 = linalg.fill ins(%cst : f32) outs(%e1 : tensor<4x1xf32>) -> tensor<4x1xf32>
  %p = linalg.matmul ins(%ux, %c : tensor<4x4xf32>, tensor<4x1xf32>) outs(%f1 : tensor<4x1xf32>) -> tensor<4x1xf32>
  func.return %p : tensor<4x1xf32>
}
"""


def _optimize_file(helpers, tmp_path, text: str, *flags: str, options: str = "target=flops"):
    """Run the tool on `text`; return (output text, report of @main)."""
    path = tmp_path / "in.mlir"
    path.write_text(text)
    report = tmp_path / "report.json"
    done = helpers.run_tool(path, *flags, "-p", f'eqsat-optimize{{{options} report="{report}"}}')
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr
    entries = json.loads(report.read_text())["functions"]
    return done.stdout, next(e for e in entries if e["name"] == "main")


@pytest.mark.slow
def test_a_call_between_matmuls_stays_once_in_place_and_the_rest_is_optimised(helpers, tmp_path):
    out, entry = _optimize_file(helpers, tmp_path, CALL_BETWEEN_MATMULS)
    assert helpers.effect_ops(out) == helpers.effect_ops(CALL_BETWEEN_MATMULS) == ["func.call"] * 2
    # The value the call reads (and @main returns) is computed once, by the original op.
    assert out.count("linalg.matmul ins(%a, %b") == 1
    assert entry["flops_after"] < entry["flops_before"]
    helpers.same_results(CALL_BETWEEN_MATMULS, out)


def test_the_pass_verify_option_accepts_a_program_with_calls():
    result = mirage_mlir.optimize(CALL_BETWEEN_MATMULS, verify=True, target="flops")
    (entry,) = [e for e in result.report["functions"] if e["name"] == "main"]
    assert entry["verified"] and not entry["kept_input"]
    assert result.mlir.count("func.call @sink") == 2


def test_external_calls_and_memory_ops_keep_their_order(helpers, tmp_path):
    out, entry = _optimize_file(helpers, tmp_path, MEMORY)
    expected = [
        "func.call", "func.call", "memref.alloc", "memref.store",
        "bufferization.to_tensor", "memref.load", "memref.store",
    ]
    assert helpers.effect_ops(MEMORY) == expected
    assert helpers.effect_ops(out) == expected
    assert entry["flops_after"] < entry["flops_before"]
    main_fn = helpers.function(helpers.parse(out))
    (log,) = [op for op in main_fn.body.block.ops if op.name == "func.call" and not op.results]
    # @log still reads the product of %a and the loaded weights, computed before it.
    (read,) = log.operands
    assert read.op.name == "linalg.matmul" and read.op.inputs[0] is main_fn.args[0]
    assert read.op.inputs[1].op.name == "func.call"


@pytest.mark.slow
@pytest.mark.parametrize("callee", ["noise", "twice"])
def test_a_generic_whose_body_calls_a_function_is_neither_cloned_nor_dropped(helpers, tmp_path, callee):
    definition = "func.func private @noise(f32) -> f32\n" if callee == "noise" else TWICE
    text = generic_with_call(definition, callee)
    out, _ = _optimize_file(helpers, tmp_path, text, options="target=h100")
    assert helpers.effect_ops(out) == helpers.effect_ops(text) == ["linalg.generic"] * 2
    assert out.count(f"func.call @{callee}") == 2
    assert out.count("linalg.matmul") == 1
    if callee == "twice":
        helpers.same_results(text, out)


@pytest.mark.slow
def test_a_function_returning_no_tensor_is_left_alone_and_listed(helpers, tmp_path):
    text = generic_with_call(TWICE, "twice")
    path = tmp_path / "in.mlir"
    path.write_text(text)
    report = tmp_path / "report.json"
    done = helpers.run_tool(path, "-p", f'eqsat-optimize{{verify=true report="{report}"}}')
    assert done.returncode == 0, done.stderr
    listed = json.loads(report.read_text())
    assert listed["skipped_functions"] == [{"name": "twice", "reason": "returns no tensor"}]
    assert [e["name"] for e in listed["functions"]] == ["main"]
    assert (
        "func.func @twice(%x: f32) -> f32 {\n    %y = arith.addf %x, %x : f32\n"
        "    func.return %y : f32\n  }"
    ) in done.stdout


def test_ops_of_an_unknown_dialect_stay_once_and_in_order(helpers, tmp_path):
    out, entry = _optimize_file(helpers, tmp_path, UNKNOWN_DIALECT, "--allow-unregistered-dialect")
    expected = ["foo.bar", "foo.log", "foo.bar"]
    assert helpers.effect_ops(UNKNOWN_DIALECT, unregistered=True) == expected
    assert helpers.effect_ops(out, unregistered=True) == expected
    assert entry["flops_after"] < entry["flops_before"]


def test_an_unknown_dialect_without_the_flag_is_a_located_error(helpers, tmp_path, capsys):
    path = tmp_path / "unknown.mlir"
    path.write_text(UNKNOWN_DIALECT)
    status = main([str(path), "-p", "eqsat-optimize"])
    captured = capsys.readouterr()
    assert status == 1
    assert "Traceback" not in captured.err
    assert f"{path}:7:9: error: unregistered operation 'foo.bar'" in captured.err


def test_an_unknown_dialect_through_the_api_is_a_located_error():
    with pytest.raises(MlirSyntaxError, match="unregistered operation 'foo.bar'") as raised:
        mirage_mlir.optimize(UNKNOWN_DIALECT)
    assert (raised.value.line, raised.value.column) == (7, 9)
