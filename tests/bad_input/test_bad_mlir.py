"""Malformed MLIR through `mirage-mlir-opt -p eqsat-optimize`: exit 1, a located message, no
traceback.

Each case is run in process through the tool's `main` (so an escaping exception fails the test
outright), and two of them through the installed console script as a user would.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from mirage_mlir.tools.mirage_mlir_opt import main

TOOL = Path(sys.executable).with_name("mirage-mlir-opt")

MATMUL = (
    "func.func @main(%a: tensor<2x3xf32>, %b: tensor<3x4xf32>) -> tensor<2x4xf32> {{\n"
    "  %e = tensor.empty() : tensor<2x4xf32>\n"
    "  %m = linalg.matmul ins(%a, %b : tensor<2x3xf32>, tensor<3x4xf32>) outs(%e : tensor<2x4xf32>) -> tensor<2x4xf32>\n"
    "  {body}\n"
    "}}\n"
)

#: name -> (text, line of the error)
MALFORMED = {
    "unclosed-region": ("func.func @main(%a: tensor<2xf32>) -> tensor<2xf32> {\n  func.return %a : tensor<2xf32>\n", 3),
    "undefined-value": (MATMUL.format(body="func.return %nothere : tensor<2x4xf32>"), 4),
    "wrong-return-type": (MATMUL.format(body="func.return %m : tensor<4x2xf32>"), 4),
    "bad-element-type": ("func.func @main(%a: tensor<2xq32>) {\n  func.return\n}\n", 1),
    "bad-shape": ("func.func @main(%a: tensor<2x-3xf32>) {\n  func.return\n}\n", 1),
    "unknown-type-dialect": ("func.func @main(%a: !nosuch.thing) {\n  func.return\n}\n", 1),
    "dense-wrong-count": (
        "func.func @main() -> tensor<3xf32> {\n"
        "  %c = arith.constant dense<[1.0, 2.0]> : tensor<3xf32>\n"
        "  func.return %c : tensor<3xf32>\n}\n",
        2,
    ),
    "operand-type-mismatch": (
        "func.func @main(%a: tensor<2xf32>, %b: tensor<2xf64>) -> tensor<2xf32> {\n"
        "  %c = arith.addf %a, %b : tensor<2xf32>\n"
        "  func.return %c : tensor<2xf32>\n}\n",
        2,
    ),
    "redefined-value": (
        "func.func @main(%a: tensor<2xf32>) -> tensor<2xf32> {\n"
        "  %c = arith.addf %a, %a : tensor<2xf32>\n"
        "  %c = arith.mulf %a, %a : tensor<2xf32>\n"
        "  func.return %c : tensor<2xf32>\n}\n",
        3,
    ),
    "generic-bad-maps": (
        "#m = affine_map<(d0) -> (d0)>\n"
        "func.func @main(%a: tensor<4xf32>) -> tensor<4xf32> {\n"
        "  %e = tensor.empty() : tensor<4xf32>\n"
        '  %r = linalg.generic {indexing_maps = [#m], iterator_types = ["parallel"]} '
        "ins(%a : tensor<4xf32>) outs(%e : tensor<4xf32>) {\n"
        "  ^bb0(%x: f32, %y: f32):\n    linalg.yield %x : f32\n  } -> tensor<4xf32>\n"
        "  func.return %r : tensor<4xf32>\n}\n",
        4,
    ),
    "missing-terminator-type": ("func.func @main(%a: tensor<2xf32>) -> tensor<2xf32> {\n  func.return %a :\n}\n", 3),
    "undefined-value-in-region": (
        "#m = affine_map<(d0) -> (d0)>\n"
        "func.func @main(%a: tensor<4xf32>) -> tensor<4xf32> {\n"
        "  %e = tensor.empty() : tensor<4xf32>\n"
        '  %r = linalg.generic {indexing_maps = [#m, #m], iterator_types = ["parallel"]} '
        "ins(%a : tensor<4xf32>) outs(%e : tensor<4xf32>) {\n"
        "  ^bb0(%x: f32, %y: f32):\n    %s = arith.addf %x, %ghost : f32\n"
        "    linalg.yield %s : f32\n  } -> tensor<4xf32>\n"
        "  func.return %r : tensor<4xf32>\n}\n"
        "func.func @other(%a: tensor<4xf32>) -> tensor<4xf32> {\n  func.return %a : tensor<4xf32>\n}\n",
        6,
    ),
    "dense-empty-literal": (
        "func.func @main() -> tensor<2xf32> {\n"
        "  %c = arith.constant dense<> : tensor<2xf32>\n"
        "  func.return %c : tensor<2xf32>\n}\n",
        2,
    ),
    "not-mlir": ("def forward(self, x):\n    return x @ x\n", 1),
    "stray-bytes": ("func.func @main() {\n  func.return\n}\n}\n", 4),
}

#: name -> column of the error, where the column is part of what is tested.
COLUMNS = {"dense-wrong-count": 29, "undefined-value": 15, "undefined-value-in-region": 25}


@pytest.mark.parametrize("name", sorted(MALFORMED))
def test_malformed_input_is_one_located_error(name, tmp_path, capsys):
    text, line = MALFORMED[name]
    path = tmp_path / f"{name}.mlir"
    path.write_text(text)
    status = main([str(path), "-p", "eqsat-optimize"])
    captured = capsys.readouterr()
    assert status == 1, captured.out
    assert "Traceback" not in captured.err + captured.out
    located = re.findall(rf"{re.escape(str(path))}:(\d+):(\d+)", captured.err)
    assert located, captured.err
    assert int(located[0][0]) == line, captured.err
    if name in COLUMNS:
        assert int(located[0][1]) == COLUMNS[name], captured.err


def test_undefined_value_is_located_in_its_chunk_of_a_split_input(tmp_path, capsys):
    path = tmp_path / "split.mlir"
    path.write_text(
        "func.func @first() {\n  func.return\n}\n// -----\n"
        + MALFORMED["undefined-value"][0]
    )
    status = main([str(path), "--split-input-file", "-p", "eqsat-optimize"])
    captured = capsys.readouterr()
    assert status == 1
    assert f"{path}:8:15: error: use of undefined value %nothere" in captured.err


@pytest.mark.parametrize("use", ["func.return %later : f32", "isolated"])
def test_a_value_used_in_a_later_block_before_its_definition_still_parses(tmp_path, capsys, use):
    """Forward references are legal across blocks: only names never defined are errors, also
    when the use is an operand of an op isolated from above (checked at that op's end)."""
    if use == "isolated":
        use = (
            '%k = "mirage.kernel"(%later) ({\n'
            "  ^bb0(%x: f32):\n"
            '    "mirage.yield"(%x) : (f32) -> ()\n'
            "  }) : (f32) -> f32\n"
            "  func.return %k : f32"
        )
    path = tmp_path / "forward.mlir"
    path.write_text(
        "func.func @main(%a: f32) -> f32 {\n"
        "  cf.br ^bb2\n"
        "^bb1:\n"
        f"  {use}\n"
        "^bb2:\n"
        "  %later = arith.addf %a, %a : f32\n"
        "  cf.br ^bb1\n"
        "}\n"
    )
    status = main([str(path), "--disable-verify"])
    captured = capsys.readouterr()
    assert status == 0, captured.err
    assert "%later" in captured.out


def test_invalid_utf8_is_refused_cleanly(tmp_path, capsys):
    path = tmp_path / "binary.mlir"
    path.write_bytes(b"func.func @main() {\n  \xff\xfe func.return\n}\n")
    status = main([str(path), "-p", "eqsat-optimize"])
    captured = capsys.readouterr()
    assert status == 1
    assert "Traceback" not in captured.err and str(path) in captured.err


@pytest.mark.parametrize("name", ["bad-element-type", "operand-type-mismatch"])
def test_console_script_prints_no_traceback(name, tmp_path):
    text, line = MALFORMED[name]
    path = tmp_path / f"{name}.mlir"
    path.write_text(text)
    command = [str(TOOL)] if TOOL.exists() else [sys.executable, "-m", "mirage_mlir.tools.mirage_mlir_opt"]
    done = subprocess.run(
        [*command, str(path), "-p", "eqsat-optimize"],
        capture_output=True, text=True, timeout=120, env=dict(os.environ),
    )
    assert done.returncode == 1
    assert "Traceback" not in done.stderr
    assert f"{path}:{line}:" in done.stderr
