"""The demo: it compiles, checks and times the examples it is given, and fails on wrong results."""

from __future__ import annotations

import pytest
import torch

from mirage_mlir.driver.compile import CompiledModule
from mirage_mlir.examples import demo

SMALL = ["e1_matrix_chain", "e4_einsum_chain"]


def _rows(out: str) -> dict[str, str]:
    return {line.split()[0]: line for line in out.splitlines() if line.strip()}


@pytest.mark.slow
def test_demo_prints_one_row_per_example_with_the_figures(tmp_path, capsys):
    chart = tmp_path / "demo.png"
    assert demo.main(["--examples", *SMALL, "--budget", "0.05", "--chart", str(chart)]) == 0
    captured = capsys.readouterr()
    rows = _rows(captured.out)
    header = rows["example"]
    for column in ("FLOPs", "bytes", "kernels", "H100 model us", "compiled ms", "eager ms",
                   "speedup", "numpy.einsum ms", "opt_einsum ms", "check"):
        assert column in header
    # E1's report: 120,000 -> 41,600 FLOPs; E4: 160k -> 112k.
    assert "120k -> 41.6k" in rows["e1_matrix_chain"]
    assert "160k -> 112k" in rows["e4_einsum_chain"]
    assert rows["e1_matrix_chain"].rstrip().split()[-2] == "ok"
    # Only the einsum example has numpy.einsum and opt_einsum times.
    assert rows["e1_matrix_chain"].split()[-4:-2] == ["-", "-"]
    assert all(cell != "-" for cell in rows["e4_einsum_chain"].split()[-4:-2])
    assert "[2/2] e4_einsum_chain: ok" in captured.err
    assert chart.stat().st_size > 10_000 and f"chart: {chart}" in captured.out


def test_demo_exits_1_when_a_compiled_result_is_wrong(monkeypatch, capsys):
    right = CompiledModule.__call__

    def off_by_one(self, *inputs):
        return right(self, *inputs) + 1.0

    monkeypatch.setattr(CompiledModule, "__call__", off_by_one)
    assert demo.main(["e1_matrix_chain", "--no-chart"]) == 1
    captured = capsys.readouterr()
    assert "WRONG" in _rows(captured.out)["e1_matrix_chain"]
    assert "e1_matrix_chain: the compiled module's result differs from torch eager" \
        in captured.err


def test_result_error_counts_nan_as_wrong_and_e8_relative():
    good = torch.ones(3)
    assert demo.result_error("e1_matrix_chain", good, good) == 0.0
    assert demo.result_error("e1_matrix_chain", torch.tensor([1.0, float("nan"), 1.0]),
                             good) == float("inf")
    assert demo.result_error("e8_tensor_network", good * 1000 + 1, good * 1000) == \
        pytest.approx(1e-3)
    assert demo.result_error("e1_matrix_chain", (good,), (good, good)) == float("inf")


def test_demo_ops_flag_keeps_the_import_op_counts(capsys):
    assert demo.main(["--ops", "e1_matrix_chain"]) == 0
    rows = _rows(capsys.readouterr().out)
    e1 = dict(zip(rows["example"].split(), rows["e1_matrix_chain"].split()))
    assert (e1["matmul"], e1["fill"], e1["compute"]) == ("3", "2", "3")


def test_demo_refuses_unknown_examples(capsys):
    assert demo.main(["e9_nothing"]) == 1
    assert "unknown example(s) e9_nothing" in capsys.readouterr().err
