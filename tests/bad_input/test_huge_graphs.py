"""Huge graphs that hit the e-graph's limits: a 200-matrix chain and a 64-operand einsum, the
latter both as one `linalg.generic` with 64 inputs and as torch-mlir imports `torch.einsum`
(opt_einsum off). Under the default limits with a 2 s time limit each finishes within the time
limit plus the stated overshoot, exits 0, says which limit stopped it, computes what the input
computes (float64, NumPy semantics of both modules) and costs no more than the input, through
`mirage-mlir-opt` and through `mirage_mlir.optimize`.

The torch import of the 64-operand einsum takes 15-40 s, so its MLIR is kept in
data/einsum64_torch.mlir; `python tests/bad_input/test_huge_graphs.py` regenerates it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import mirage_mlir
from mirage_mlir.dialects.context import parse_mlir
from mirage_mlir.interpreters.mirage import run_function

# Seconds per case: run by `make test`, left out of `make test-fast`.
pytestmark = pytest.mark.slow

TOOL = Path(sys.executable).with_name("mirage-mlir-opt")
FIXTURE = Path(__file__).resolve().parent / "data" / "einsum64_torch.mlir"
LETTERS = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"

TIMEOUT_S = 2.0
#: The overshoot the optimisation of a function may take beyond `timeout` (README.md, options):
#: encoding is not interruptible, and predictions of the later stages can be short.
OVERSHOOT_S = 1.0
LIMIT_REASONS = {"iterations", "enodes", "seconds", "memory"}


def chain_mlir(n: int = 200, seed: int = 0) -> str:
    """`A0 @ A1 @ ... @ A(n-1)` left to right as torch-mlir writes it, f64, sizes 2 to 9."""
    rng = np.random.default_rng(seed)
    dims = [int(d) for d in rng.integers(2, 10, n + 1)]

    def ty(i: int, j: int) -> str:
        return f"tensor<{dims[i]}x{dims[j]}xf64>"

    args = ", ".join(f"%a{i}: {ty(i, i + 1)}" for i in range(n))
    lines = [
        f"func.func @main({args}) -> {ty(0, n)} {{",
        "  %zero = arith.constant 0.0 : f64",
    ]
    previous = "%a0"
    for i in range(1, n):
        out = ty(0, i + 1)
        lines += [
            f"  %e{i} = tensor.empty() : {out}",
            f"  %f{i} = linalg.fill ins(%zero : f64) outs(%e{i} : {out}) -> {out}",
            f"  %m{i} = linalg.matmul ins({previous}, %a{i} : {ty(0, i)}, {ty(i, i + 1)}) "
            f"outs(%f{i} : {out}) -> {out}",
        ]
        previous = f"%m{i}"
    lines += [f"  func.return {previous} : {ty(0, n)}", "}"]
    return "\n".join(lines) + "\n"


def einsum_generic_mlir(inputs: int = 64, loops: int = 12) -> str:
    """One linalg.generic multiplying `inputs` 2x2 f64 matrices and summing over all loops but
    two: input i is indexed by loops (i, i+1) mod `loops`, a ring walked several times."""
    dims = ", ".join(f"d{i}" for i in range(loops))
    ty = "tensor<2x2xf64>"
    maps = [
        f"affine_map<({dims}) -> (d{i % loops}, d{(i + 1) % loops})>" for i in range(inputs)
    ]
    maps.append(f"affine_map<({dims}) -> (d0, d{loops // 2})>")
    iterators = ", ".join(
        '"parallel"' if i in (0, loops // 2) else '"reduction"' for i in range(loops)
    )
    names = [f"%x{i}" for i in range(inputs)]
    body = [f"  ^bb0({', '.join(f'%b{i}: f64' for i in range(inputs))}, %acc: f64):"]
    for i in range(1, inputs):
        body.append(f"    %p{i} = arith.mulf {'%b0' if i == 1 else f'%p{i - 1}'}, %b{i} : f64")
    body += [f"    %s = arith.addf %acc, %p{inputs - 1} : f64", "    linalg.yield %s : f64"]
    lines = [
        f"func.func @main({', '.join(f'{n}: {ty}' for n in names)}) -> {ty} {{",
        "  %zero = arith.constant 0.0 : f64",
        f"  %e = tensor.empty() : {ty}",
        f"  %f = linalg.fill ins(%zero : f64) outs(%e : {ty}) -> {ty}",
        f"  %r = linalg.generic {{indexing_maps = [{', '.join(maps)}], iterator_types = "
        f"[{iterators}]}} ins({', '.join(names)} : {', '.join([ty] * inputs)}) "
        f"outs(%f : {ty}) {{",
        *body,
        f"  }} -> {ty}",
        f"  func.return %r : {ty}",
        "}",
    ]
    return "\n".join(lines) + "\n"


def torch_einsum_spec(operands: int = 64) -> str:
    """A ring of 2-D factors over all 52 letters, walked past its start (so the first letters
    are shared by three factors): the most letters torch.einsum accepts."""
    factors = [LETTERS[i % 52] + LETTERS[(i + 1) % 52] for i in range(operands)]
    return ",".join(factors) + "->" + LETTERS[0] + LETTERS[operands % 52]


def regenerate_torch_einsum() -> None:
    """Import `torch.einsum(torch_einsum_spec(), 64 x [2x2 f64])` into FIXTURE."""
    import torch

    spec = torch_einsum_spec()

    class Einsum64(torch.nn.Module):
        def forward(self, *factors):
            return torch.einsum(spec, *factors)

    factors = [torch.randn(2, 2, dtype=torch.float64) for _ in range(64)]
    with torch.backends.opt_einsum.flags(enabled=False):
        text = mirage_mlir.import_torch(Einsum64(), *factors)
    header = (
        f'// torch.einsum("{spec}") over 64 2x2 float64 tensors, opt_einsum off,\n'
        "// imported by `python tests/bad_input/test_huge_graphs.py`; do not edit.\n"
    )
    FIXTURE.write_text(header + text)


CASES = {
    "chain200": chain_mlir,
    "generic64": einsum_generic_mlir,
    "torch_einsum64": FIXTURE.read_text,
}


def random_arguments(text: str, seed: int = 0) -> list[np.ndarray]:
    """Uniform [-1, 1) float64 arrays for the arguments of @main."""
    from xdsl.dialects import func

    module = parse_mlir(text)
    main = next(op for op in module.walk() if isinstance(op, func.FuncOp))
    rng = np.random.default_rng(seed)
    return [
        rng.uniform(-1.0, 1.0, tuple(t.get_shape())) for t in main.function_type.inputs.data
    ]


def check(original: str, optimised: str, entry: dict, timeout: float = TIMEOUT_S) -> None:
    """What every huge graph must satisfy (see the module docstring)."""
    assert entry["stop_reason"] in LIMIT_REASONS and not entry["saturated"], entry
    budgeted = entry["seconds"]["saturate"] + entry["seconds"]["extract"]
    assert budgeted <= timeout + OVERSHOOT_S, entry["seconds"]
    assert entry["cost_after_s"] <= entry["cost_before_s"]
    arguments = random_arguments(original)
    (expected,) = run_function(parse_mlir(original), "main", *arguments)
    (got,) = run_function(parse_mlir(optimised), "main", *arguments)
    assert expected.dtype == got.dtype == np.float64
    scale = float(np.abs(expected).max())
    np.testing.assert_allclose(got, expected, rtol=1e-9, atol=1e-12 * scale)


def test_the_torch_fixture_is_the_einsum_it_names():
    text = FIXTURE.read_text()
    spec = text.split('"')[1]
    assert spec == torch_einsum_spec() and len(spec.split("->")[0].split(",")) == 64
    arguments = random_arguments(text)
    (got,) = run_function(parse_mlir(text), "main", *arguments)
    np.testing.assert_allclose(got, np.einsum(spec, *arguments, optimize="greedy"), rtol=1e-9)


def run_tool(tmp_path: Path, text: str, options: str) -> tuple[str, dict]:
    """`mirage-mlir-opt -p eqsat-optimize{options}` in a subprocess: (output, report entry)."""
    source, output, report = tmp_path / "in.mlir", tmp_path / "out.mlir", tmp_path / "r.json"
    source.write_text(text)
    pipeline = f'eqsat-optimize{{{options} report="{report}"}}'
    done = subprocess.run(
        [str(TOOL), str(source), "-p", pipeline, "-o", str(output)],
        capture_output=True,
        text=True,
        env=dict(os.environ),
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr
    (entry,) = json.loads(report.read_text())["functions"]
    return output.read_text(), entry


@pytest.mark.parametrize("name", CASES)
def test_through_mirage_mlir_opt(name, tmp_path):
    text = CASES[name]()
    optimised, entry = run_tool(tmp_path, text, f"timeout={TIMEOUT_S:g}")
    check(text, optimised, entry)


def test_a_memory_limit_stops_the_200_matrix_chain(tmp_path):
    """In a fresh process the resident set is the e-graph's: 40 MiB holds about 12k e-nodes
    of this chain and their export; the next iteration would take about 150 MiB."""
    text = chain_mlir()
    optimised, entry = run_tool(tmp_path, text, "max_memory_mb=40")
    assert entry["stop_reason"] == "memory" and entry["iterations"] >= 1
    assert 0 < entry["memory_mb"] <= 40
    check(text, optimised, entry, timeout=10.0)


@pytest.mark.parametrize("name", CASES)
def test_through_the_python_api(name):
    text = CASES[name]()
    result = mirage_mlir.optimize(text, timeout=TIMEOUT_S)
    (entry,) = result.report["functions"]
    check(text, result.mlir, entry)


def test_with_the_default_time_limit_the_64_input_generic_gets_a_contraction_order():
    """Seeding contraction orders is cubic in the factors (about 2 s for 64): skipped under
    2 s, done under the default 10 s, where it turns one 12-loop nest into pairwise products."""
    text = einsum_generic_mlir()
    result = mirage_mlir.optimize(text)
    (entry,) = result.report["functions"]
    assert "contraction seeding" not in entry["skipped"]
    assert entry["flops_after"] * 100 < entry["flops_before"]
    check(text, result.mlir, entry, timeout=10.0)


if __name__ == "__main__":
    regenerate_torch_einsum()
