"""Checks and reproducers shared by the differential fuzzers and the regression replays.

A fuzz test runs one generated program through the optimiser and compares the optimised
program's numbers with an independent reference: torch eager (in float64) for programs
imported from PyTorch, the NumPy graph semantics (in float64) for term graphs. When a check
fails inside `reproducer_on_failure`, the case is remembered; hypothesis replays its shrunk,
minimal failing example last, so what is remembered when the test ends is the minimal case.
`tests/fuzz/conftest.py` writes it under tests/regressions/ when `MIRAGE_FUZZ_SAVE=1`.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
from pathlib import Path
from typing import Callable, Iterator, Sequence

import numpy as np

REGRESSIONS = Path(__file__).resolve().parents[1] / "regressions"

#: The targets of the cost model; every graph case is optimised for each.
TARGETS = ("h100", "a100", "cpu", "flops")

#: float32 programs against a float64 reference (atol 1e-4 + rtol 1e-4).
F32_ATOL = 1e-4
F32_RTOL = 1e-4
#: float64 evaluation of two term graphs: only reassociation separates them.
F64_ATOL = 1e-9
F64_RTOL = 1e-7

#: The reproducer writer of the latest failing example of each test, by test name.
PENDING: dict[str, Callable[[Path], Path]] = {}


def examples(ci: int) -> int:
    """`ci` examples under the ci profile; the profile's own count (MIRAGE_FUZZ_EXAMPLES) otherwise."""
    from hypothesis import settings

    if os.environ.get("HYPOTHESIS_PROFILE", "ci") == "ci":
        return ci
    return settings.default.max_examples


@contextlib.contextmanager
def reproducer_on_failure(test: str, writer: Callable[[Path], Path]) -> Iterator[None]:
    """Remember `writer` as the reproducer of `test` if the block raises."""
    try:
        yield
    except BaseException:
        PENDING[test] = writer
        raise


def assert_close(
    actual: Sequence[np.ndarray],
    expected: Sequence[np.ndarray],
    atol: float,
    rtol: float,
    what: str,
) -> None:
    """Raise AssertionError naming the output, the worst element and its error."""
    if len(actual) != len(expected):
        raise AssertionError(f"{what}: {len(actual)} results, expected {len(expected)}")
    for index, (got, want) in enumerate(zip(actual, expected)):
        got, want = np.asarray(got), np.asarray(want)
        if got.shape != want.shape:
            raise AssertionError(
                f"{what}: result {index} has shape {got.shape}, expected {want.shape}"
            )
        got64, want64 = got.astype(np.float64), want.astype(np.float64)
        # NaN where the reference has NaN is agreement; anything else non-finite is not.
        same_nan = np.isnan(got64) & np.isnan(want64)
        bad = ~(np.isclose(got64, want64, atol=atol, rtol=rtol) | same_nan)
        if bad.any():
            where = tuple(int(i) for i in np.argwhere(bad)[0])
            error = np.abs(got64 - want64)[bad].max() if np.isfinite(got64[bad]).all() else np.inf
            raise AssertionError(
                f"{what}: result {index} differs at {where}: got {got64[where]!r}, "
                f"expected {want64[where]!r} (max abs error {error:.3g}, "
                f"{int(bad.sum())} of {bad.size} elements)"
            )


# ------------------------------------------------------------------------------------------
# Programs imported from PyTorch: optimise the MLIR, run it, compare with torch eager.


def optimize_and_run(mlir_text: str, target: str, arrays: Sequence[np.ndarray]) -> list[np.ndarray]:
    """Optimise `mlir_text` for `target` (no built-in verify) and run @main on `arrays`.

    Under the ci profile saturation is limited to 2 s and 20,000 e-nodes (as `fuzz_limits`).
    """
    import mirage_mlir
    from mirage_mlir.dialects.context import parse_mlir
    from mirage_mlir.interpreters.mirage import run_function

    limits = {}
    if os.environ.get("HYPOTHESIS_PROFILE", "ci") == "ci":
        limits = {"timeout": 2.0, "max_enodes": 20_000}
    result = mirage_mlir.optimize(mlir_text, target=target, verify=False, **limits)
    return run_function(parse_mlir(result.mlir), "main", *arrays)


def mlir_reproducer(
    test: str, mlir_text: str, target: str, arrays: Sequence[np.ndarray],
    expected: Sequence[np.ndarray], description: str,
) -> Callable[[Path], Path]:
    """A writer of `<test>_<hash>.mlir` (with a header of comments) and its `.npz`."""

    def write(directory: Path) -> Path:
        digest = hashlib.sha1((target + mlir_text).encode()).hexdigest()[:10]
        stem = directory / f"{test}_{digest}"
        header = [
            f"// Found by {test}: {description}",
            f"// target: {target}",
            "// xfail: found by fuzzing, not yet diagnosed (delete this line once fixed)",
        ]
        stem.with_suffix(".mlir").write_text("\n".join(header) + "\n" + mlir_text)
        named = {f"input{i}": a for i, a in enumerate(arrays)}
        named.update({f"expected{i}": e for i, e in enumerate(expected)})
        np.savez(stem.with_suffix(".npz"), **named)
        return stem.with_suffix(".mlir")

    return write


# ------------------------------------------------------------------------------------------
# Term graphs: optimise, evaluate both in float64, compare.


def fuzz_limits():
    """The default limits, with a shorter ILP time limit under the ci profile.

    The exact extractor's time limit bounds a case at twice its value; the greedy result it
    falls back to must be just as correct, so the checks lose nothing but optimality.
    """
    from mirage_mlir.passes.eqsat.saturate import Limits

    if os.environ.get("HYPOTHESIS_PROFILE", "ci") == "ci":
        return Limits(seconds=2.0, enodes=20_000, ilp_seconds=0.2)
    return Limits()


def time_bound(limits) -> float:
    """The wall time a case may take: the time limit plus the stated overshoot, doubled.

    `Limits.seconds` bounds the whole optimisation (passes/eqsat/budget.py); the README states
    an overshoot under 1 s (encoding cannot be interrupted). Fuzzing runs on busy machines,
    so a case fails only past twice that.
    """
    return limits.seconds + 2.0


def check_graph(graph, target: str, seed: int = 0, limits=None) -> None:
    """Optimise `graph` for `target` under `limits` (default `fuzz_limits()`).

    Raise AssertionError if the result computes otherwise, costs more than the input, or the
    optimisation ran past `time_bound(limits)`.
    """
    from mirage_mlir.passes.eqsat.evaluate import evaluate, random_values
    from mirage_mlir.passes.eqsat.optimize import optimize_graph
    import time

    limits = limits or fuzz_limits()
    start = time.perf_counter()
    result = optimize_graph(graph, target, limits)
    elapsed = time.perf_counter() - start
    if elapsed > time_bound(limits):
        raise AssertionError(
            f"target {target}: optimisation took {elapsed:.1f} s, over {time_bound(limits):.1f} s "
            f"for timeout {limits.seconds} s ({result.enodes} e-nodes, stop reason "
            f"{result.stop_reason}, stages {', '.join(f'{k} {v:.1f} s' for k, v in result.seconds.items())})"
        )
    if result.cost_after > result.cost_before * (1 + 1e-9) + 1e-12:
        raise AssertionError(
            f"target {target}: optimised cost {result.cost_after} exceeds the input's "
            f"{result.cost_before}"
        )
    values = random_values(graph, seed=seed)
    expected = evaluate(graph, values, precision="f64")
    actual = evaluate(result.graph, values, precision="f64")
    assert_close(actual, expected, F64_ATOL, F64_RTOL, f"target {target}")


def graph_source(graph) -> str:
    """Python statements that rebuild `graph` with `Input` and `make_node` (no other import)."""
    names: dict[int, str] = {}
    lines = []
    for node in graph.nodes():
        name = f"n{len(names)}"
        names[id(node)] = name
        if node.kind == "input":
            lines.append(f"    {name} = Input{tuple(node.attrs)!r}")
        else:
            operands = ", ".join(names[id(o)] for o in node.operands)
            operands = f"({operands},)" if operands else "()"
            lines.append(f"    {name} = make_node({node.kind!r}, {tuple(node.attrs)!r}, {operands})")
    inputs = ", ".join(names[id(i)] for i in graph.inputs if id(i) in names)
    outputs = ", ".join(names[id(o)] for o in graph.outputs)
    lines.append(f"    return Graph(({inputs},), ({outputs},))")
    return "\n".join(lines)


def graph_reproducer(test: str, graph, target: str, description: str) -> Callable[[Path], Path]:
    """A writer of `<test>_<hash>.py`, a graph case that tests/regressions replays."""

    def write(directory: Path) -> Path:
        body = graph_source(graph)
        digest = hashlib.sha1((target + body).encode()).hexdigest()[:10]
        path = directory / f"{test}_{digest}.py"
        path.write_text(
            f'"""Found by {test}: {description}"""\n\n'
            "from mirage_mlir.passes.eqsat.graph import Graph, Input, make_node\n\n"
            f"TARGET = {target!r}\n"
            "# Set to None once fixed (the replay is xfail(strict=True) while this is set).\n"
            'XFAIL = "found by fuzzing, not yet diagnosed"\n\n\n'
            "def build() -> Graph:\n"
            '    """The minimal failing graph."""\n'
            f"{body}\n"
        )
        return path

    return write
