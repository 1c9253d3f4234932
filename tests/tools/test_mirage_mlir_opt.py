"""Tests of `mirage-mlir-opt` run as a user runs it: a subprocess on bad input.

Every malformed input must give exit status 1, one diagnostic naming
`file:line:col` (where the problem has a place in the text) and no Python
traceback.  The lit tests in tests/filecheck/tools/mirage-mlir-opt/ check the
exact messages; these check the contract across many kinds of bad input.
"""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from mirage_mlir.tools.mirage_mlir_opt import main

# Seconds per case: run by `make test`, left out of `make test-fast`.
pytestmark = pytest.mark.slow

TOOL = Path(sys.executable).with_name("mirage-mlir-opt")


def run_tool(*args: str, stdin: str | None = None, env: dict[str, str] | None = None):
    """Run the installed console script (or `python -m`) and capture its output."""
    command = (
        [str(TOOL)]
        if TOOL.exists()
        else [sys.executable, "-m", "mirage_mlir.tools.mirage_mlir_opt"]
    )
    return subprocess.run(
        [*command, *args],
        input=stdin,
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
        timeout=120,
    )


MALFORMED = {
    "syntax": ("func.func @f() {\n  %0 = arith.constant 1 : i32 )\n}\n", 2, 31),
    "undefined-type": (
        "func.func @f(%x: i32) {\n  %0 = arith.addi %x, %x : i3 2\n}\n",
        2,
        19,
    ),
    "unknown-op": (
        'func.func @f() {\n  "nosuch.op"() : () -> ()\n  func.return\n}\n',
        2,
        4,
    ),
    "unknown-custom-op": ("func.func @f() {\n  nosuch.op\n  func.return\n}\n", 2, 3),
    "type-mismatch": (
        "func.func @f(%x: i32) -> i32 {\n  %0 = arith.addi %x, %x : i64\n  func.return %0 : i32\n}\n",
        2,
        19,
    ),
    "op-type-constraint": (
        "func.func @f(%x: i32) -> f32 {\n  %0 = arith.addi %x, %x : f32\n  func.return %0 : f32\n}\n",
        2,
        3,
    ),
    "verifier": (
        "func.func @f(%a: tensor<2x4xf32>) -> tensor<2x4xf32> {\n"
        "  %0 = linalg.matmul ins(%a, %a : tensor<2x4xf32>, tensor<2x4xf32>) outs(%a : tensor<2x4xf32>) -> tensor<2x4xf32>\n"
        "  func.return %0 : tensor<2x4xf32>\n}\n",
        2,
        3,
    ),
    "missing-terminator": (
        "func.func @f() {\n  %x = arith.constant 1 : f32\n}\n",
        2,
        3,
    ),
    "batch-matmul-arity": (
        "func.func @f(%a: tensor<1x2x2xf32>) {\n"
        "  %0 = linalg.batch_matmul ins(%a : tensor<1x2x2xf32>) outs(%a : tensor<1x2x2xf32>) -> tensor<1x2x2xf32>\n"
        "  func.return\n}\n",
        2,
        28,
    ),
    "generic-no-maps": (
        "func.func @f(%x: tensor<4xf32>) {\n"
        '  %0 = linalg.generic {iterator_types = ["parallel"]} ins(%x : tensor<4xf32>) outs(%x : tensor<4xf32>) {\n'
        "  ^bb0(%in: f32, %out: f32):\n    linalg.yield %in : f32\n  } -> tensor<4xf32>\n  func.return\n}\n",
        2,
        23,
    ),
    "bad-hex-float": (
        "%0 = arith.constant dense<0x1FF800000> : tensor<2xf32>\n",
        1,
        27,
    ),
    "undefined-value": (
        "func.func @f() -> i32 {\n  func.return %nope : i32\n}\n",
        None,
        None,
    ),
    "unterminated": ("func.func @f() {\n  func.return\n", None, None),
}


@pytest.mark.parametrize("case", sorted(MALFORMED))
def test_malformed_input_gives_located_error(case, tmp_path):
    text, line, column = MALFORMED[case]
    path = tmp_path / f"{case}.mlir"
    path.write_text(text)
    result = run_tool(str(path))
    assert result.returncode == 1, result.stdout + result.stderr
    assert "Traceback" not in result.stdout + result.stderr
    first_line = result.stderr.splitlines()[0]
    if line is None:
        assert first_line.startswith(f"{path}:"), first_line
    else:
        assert first_line.startswith(f"{path}:{line}:{column}: error: "), first_line
    assert result.stdout == ""


def test_stdin_errors_name_stdin():
    result = run_tool("-", stdin="%0 = arith.constant 1 : i32 )\n")
    assert result.returncode == 1
    assert result.stderr.startswith("<stdin>:1:29: error: ")
    assert "Traceback" not in result.stderr


def test_split_input_file_reports_every_failing_chunk(tmp_path):
    path = tmp_path / "cases.mlir"
    path.write_text(
        "func.func @ok() {\n  func.return\n}\n"
        "// -----\n"
        "%0 = arith.constant 1 : i32 )\n"
        "// -----\n"
        "func.func @f(%x: i32) -> i32 {\n  %0 = arith.addi %x, %x : i64\n  func.return %0 : i32\n}\n"
    )
    result = run_tool(str(path), "--split-input-file")
    assert result.returncode == 1
    errors = [l for l in result.stderr.splitlines() if ": error: " in l]
    assert [e.split(": error:")[0] for e in errors] == [f"{path}:5:29", f"{path}:8:19"]
    assert "func.func @ok()" in result.stdout


@pytest.mark.parametrize(
    ("pipeline", "message"),
    [
        ("no-such-pass", "unknown pass 'no-such-pass'"),
        ("canonicalize{bogus=1}", "bad options for pass 'canonicalize'"),
        ("canonicalize{", "malformed -p pipeline at pass-pipeline:1:14"),
        ("dce,,cse", "malformed -p pipeline at pass-pipeline:1:5"),
    ],
)
def test_bad_pipeline_is_one_error(pipeline, message, tmp_path):
    path = tmp_path / "ok.mlir"
    path.write_text("func.func @f() {\n  func.return\n}\n")
    result = run_tool(str(path), "-p", pipeline)
    assert result.returncode == 1
    assert result.stderr.startswith(f"mirage-mlir-opt: error: {message}"), result.stderr
    assert "Traceback" not in result.stderr


def test_missing_input_file(tmp_path):
    result = run_tool(str(tmp_path / "absent.mlir"))
    assert result.returncode == 1
    assert result.stderr.strip() == (
        f"mirage-mlir-opt: error: could not open input file '{tmp_path / 'absent.mlir'}': "
        "No such file or directory"
    )


def test_verify_diagnostics_prints_and_exits_zero(tmp_path):
    text, line, column = MALFORMED["verifier"]
    path = tmp_path / "invalid.mlir"
    path.write_text(text)
    result = run_tool(str(path), "--verify-diagnostics")
    assert result.returncode == 0
    assert result.stdout.startswith(
        f"{path}:{line}:{column}: error: 'linalg.matmul' op"
    )


def test_pass_failure_saves_a_reproducer(tmp_path):
    path = tmp_path / "fill.mlir"
    text = (
        "func.func @fill(%x: f32) -> tensor<4xf32> {\n"
        "  %0 = tensor.empty() : tensor<4xf32>\n"
        "  %1 = linalg.fill ins(%x : f32) outs(%0 : tensor<4xf32>) -> tensor<4xf32>\n"
        "  func.return %1 : tensor<4xf32>\n}\n"
    )
    path.write_text(text)
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    env = {"TMPDIR": str(scratch)}
    # xDSL's convert-linalg-to-loops raises on linalg with tensor results.
    result = run_tool(str(path), "-p", "convert-linalg-to-loops", env=env)
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    lines = result.stderr.splitlines()
    assert lines[0].startswith(
        "mirage-mlir-opt: error: pass 'convert-linalg-to-loops' failed: NotImplementedError"
    )
    (command_line,) = [l for l in lines if l.startswith("note: reproduce with: ")]
    command = shlex.split(command_line.removeprefix("note: reproduce with: "))
    assert command[0] == "mirage-mlir-opt"
    assert command[2:] == ["-p", "convert-linalg-to-loops"]
    reproducer = Path(command[1])
    assert reproducer.parent.parent == scratch
    assert reproducer.read_text() == text
    assert "NotImplementedError" in (reproducer.parent / "traceback.txt").read_text()
    # The printed command reproduces the same failure.
    again = run_tool(*command[1:], env=env)
    assert again.returncode == 1
    assert again.stderr.splitlines()[0] == lines[0]


def test_main_in_process_returns_status(tmp_path, capsys):
    good = tmp_path / "good.mlir"
    good.write_text("func.func @f() {\n  func.return\n}\n")
    assert main([str(good)]) == 0
    assert "func.func @f()" in capsys.readouterr().out
    bad = tmp_path / "bad.mlir"
    bad.write_text("%0 = arith.constant 1 : i32 )\n")
    assert main([str(bad)]) == 1
    assert capsys.readouterr().err.startswith(f"{bad}:1:29: error: ")


def test_output_file_and_version(tmp_path):
    source = tmp_path / "in.mlir"
    source.write_text("func.func @f() {\n  func.return\n}\n")
    target = tmp_path / "out.mlir"
    result = run_tool(str(source), "-o", str(target))
    assert result.returncode == 0 and result.stdout == ""
    assert "func.func @f()" in target.read_text()
    version = run_tool("--version")
    assert version.returncode == 0
    assert version.stdout.startswith("mirage-mlir-opt ")
    assert "mirage-mlir" in version.stdout and "xDSL" in version.stdout
