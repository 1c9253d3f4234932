"""The limits as `eqsat-optimize` options: `timeout` (whole seconds accepted), `max_memory_mb`,
and what the JSON report says about them."""

from __future__ import annotations

import json

import pytest
from xdsl.utils.exceptions import DiagnosticException

from mirage_mlir.dialects.context import parse_mlir
from mirage_mlir.examples import load_example
from mirage_mlir.passes.eqsat_optimize import EqsatOptimize, optimize_module
from mirage_mlir.tools.mirage_mlir_opt import main


def e1() -> str:
    return load_example("e1_matrix_chain").mlir_path.read_text()


def test_a_memory_limit_of_zero_stops_saturation_and_is_reported(tmp_path):
    path = tmp_path / "report.json"
    module = parse_mlir(e1())
    optimize_module(module, EqsatOptimize(target="flops", max_memory_mb=0, report=str(path)))
    (entry,) = json.loads(path.read_text())["functions"]
    assert (entry["stop_reason"], entry["iterations"], entry["saturated"]) == ("memory", 0, False)
    assert entry["memory_mb"] is not None and entry["memory_mb"] >= 0
    assert entry["flops_after"] <= entry["flops_before"] and entry["skipped"] == []


def test_the_default_limits_report_the_peak_memory_and_no_skipped_stage(tmp_path):
    path = tmp_path / "report.json"
    optimize_module(parse_mlir(e1()), EqsatOptimize(target="flops", report=str(path)))
    (entry,) = json.loads(path.read_text())["functions"]
    assert entry["saturated"] and entry["stop_reason"] == "saturated"
    assert entry["skipped"] == [] and entry["memory_mb"] >= 0
    assert entry["flops_after"] == 41_600


def test_a_whole_number_timeout_and_memory_limit_are_accepted_on_the_command_line(
    tmp_path, capsys
):
    source, report = tmp_path / "e1.mlir", tmp_path / "r.json"
    source.write_text(e1())
    status = main(
        [str(source), "-p", f'eqsat-optimize{{timeout=0 max_memory_mb=512 report="{report}"}}']
    )
    assert status == 0, capsys.readouterr().err
    (entry,) = json.loads(report.read_text())["functions"]
    # A time limit of zero returns the input untouched.
    assert (entry["stop_reason"], entry["extraction"], entry["kept_input"]) == (
        "seconds",
        "none",
        True,
    )
    assert entry["skipped"][0] == "export and extraction"


def test_a_negative_memory_limit_is_a_clear_error():
    with pytest.raises(DiagnosticException, match="Limits.memory_mb must not be negative"):
        optimize_module(parse_mlir(e1()), EqsatOptimize(max_memory_mb=-1))
