"""The demo (`make demo`): compile every example, check it, time it, and print one table.

    python -m mirage_mlir.examples.demo                       # every example
    python -m mirage_mlir.examples.demo e1_matrix_chain e8_tensor_network
    python -m mirage_mlir.examples.demo --examples e1_matrix_chain --budget 0.1
    python -m mirage_mlir.examples.demo --ops                 # op counts of the imports

For each example, `mirage_mlir.compile(target="cpu")` imports and optimises
the model; the compiled module and torch eager then run on fresh random inputs
(a seed the compile never saw) and must agree: fp32 within 1e-4, measured
relative to the largest output magnitude for E8, whose entries are sums of
12^6 products.  A wrong result is marked in the table and the demo exits 1.

The table shows, from the optimiser's report for the CPU target: FLOPs, bytes
and kernels before -> after; from a second optimisation for the H100 cost
model: its roofline time before -> after; and measured on this machine, side
by side in one run (interleaved calls, median, `examples.side_by_side`): the
compiled module and torch eager, and for the einsum examples (E4, E8) also
`numpy.einsum` without optimisation and `opt_einsum.contract` (on the torch
tensors, so its pairwise contractions run in torch).  `numpy.einsum`
on E8 (12^8 index combinations, seconds per call) is timed once.  The compiled
module runs on the CPU runtime (torch ops); no GPU timings are taken.  torch
uses as many threads as there are idle CPUs (`--threads` to choose): a thread
without a core of its own stalls every op.

Progress goes to stderr, the table to stdout, and a chart of it to
benchmarks/results/demo.png (its path is printed).
"""

from __future__ import annotations

import argparse
import importlib
import pathlib
import sys
from dataclasses import dataclass, field
from typing import Any

from mirage_mlir.driver.errors import MirageError
from mirage_mlir.examples import EXAMPLE_NAMES, load_example
from mirage_mlir.examples.import_ops import count_ops, format_ops_table, summarise
from mirage_mlir.examples.side_by_side import Timing, idle_cpus, time_once, time_side_by_side

__all__ = ["DemoRow", "MirageError", "count_ops", "format_table", "main", "run_example"]

CHART = pathlib.Path(__file__).resolve().parents[1] / "benchmarks" / "results" / "demo.png"
#: Largest accepted error of the compiled module against torch eager (fp32).
TOLERANCE = 1e-4
#: Examples whose error is measured relative to the output's largest magnitude.
RELATIVE_CHECK = frozenset({"e8_tensor_network"})
#: Examples that are one einsum: also timed with numpy.einsum and opt_einsum.
EINSUM_EXAMPLES = frozenset({"e4_einsum_chain", "e8_tensor_network"})
#: numpy.einsum calls slower than this are timed once instead of side by side.
SLOW_CALL_S = 0.5
#: Timing columns, in the table's order.
IMPLEMENTATIONS = ("compiled", "eager", "numpy.einsum", "opt_einsum")


@dataclass
class DemoRow:
    """One example's figures: the optimiser's report, the check and the timings."""

    name: str
    title: str
    cpu: dict[str, Any]
    h100: dict[str, Any]
    error: float
    ok: bool
    times: dict[str, Timing] = field(default_factory=dict)

    @property
    def speedup(self) -> float | None:
        """Torch eager time over compiled time (above 1: the compiled module is faster)."""
        if "compiled" not in self.times or "eager" not in self.times:
            return None
        return self.times["eager"].median_s / self.times["compiled"].median_s


def _as_tuple(value: Any) -> tuple:
    return value if isinstance(value, tuple) else (value,)


def result_error(name: str, outputs: Any, expected: Any) -> float:
    """Largest difference between the outputs and torch eager's (relative for E8)."""
    outputs, expected = _as_tuple(outputs), _as_tuple(expected)
    if len(outputs) != len(expected):
        return float("inf")
    worst = 0.0
    for got, want in zip(outputs, expected):
        got, want = got.detach().float(), want.detach().float()
        if got.shape != want.shape:
            return float("inf")
        # NaN anywhere (in either) must count as wrong: max() would skip it.
        difference = (got - want).abs()
        error = float("inf") if difference.isnan().any() else float(difference.max())
        if name in RELATIVE_CHECK:
            error /= max(float(want.abs().max()), 1e-30)
        worst = max(worst, error)
    return worst


def _report_figures(report: dict) -> dict[str, Any]:
    """The figures of @main (the examples have one function) from an optimiser report."""
    (entry,) = [f for f in report["functions"] if f.get("name") == "main"] or \
        report["functions"][:1]
    return entry


def run_example(name: str, budget_s: float = 1.0, seed: int = 1) -> DemoRow:
    """Compile, check and time one example (see the module docstring)."""
    import numpy as np
    import opt_einsum
    import torch

    import mirage_mlir

    example = load_example(name)
    compiled = mirage_mlir.compile(example.make_model(), *example.make_inputs(0), target="cpu")
    h100 = mirage_mlir.optimize(example.mlir_path.read_text(), target="h100").report
    model = example.make_model()
    inputs = example.make_inputs(seed)
    with torch.no_grad():
        expected = model(*inputs)
    error = result_error(name, compiled(*inputs), expected)
    row = DemoRow(name, example.title, _report_figures(compiled.report["optimizer"]),
                  _report_figures(h100), error, error <= TOLERANCE)
    if not row.ok:
        return row

    def eager() -> Any:
        with torch.no_grad():
            return model(*inputs)

    functions = {"compiled": lambda: compiled(*inputs), "eager": eager}
    slow: dict[str, Any] = {}
    if name in EINSUM_EXAMPLES:
        equation = importlib.import_module(f"mirage_mlir.examples.{name}").EQUATION
        arrays = [t.numpy() for t in inputs]
        # One call decides whether numpy.einsum's unoptimised loop can join the rounds.
        first = time_once(lambda: np.einsum(equation, *arrays))
        if first.median_s > SLOW_CALL_S:
            slow["numpy.einsum"] = first
        else:
            functions["numpy.einsum"] = lambda: np.einsum(equation, *arrays)
        # opt_einsum on the torch tensors: its pairwise contractions then run in torch's
        # BLAS too, and numpy's BLAS threads never spin against torch's on a small machine.
        functions["opt_einsum"] = lambda: opt_einsum.contract(equation, *inputs)
    row.times = {**time_side_by_side(functions, budget_s=budget_s), **slow}
    return row


def _si(value: Any) -> str:
    """A count in three significant digits with a k/M/G suffix."""
    if value is None:
        return "-"
    value = float(value)
    for factor, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(value) >= factor:
            return f"{value / factor:.3g}{suffix}"
    return f"{value:.3g}"


def _arrow(before: Any, after: Any, render=_si) -> str:
    return f"{render(before)} -> {render(after)}"


def _micros(seconds: Any) -> str:
    return "-" if seconds is None else f"{float(seconds) * 1e6:.3g}"


def _millis(timing: Timing | None) -> str:
    if timing is None:
        return "-"
    mark = "*" if timing.repeats == 1 else ""
    return f"{timing.median_s * 1e3:.3g}{mark}"


def format_table(rows: list[DemoRow]) -> str:
    """The demo's table (see the module docstring), with a legend under it."""
    headers = ["example", "FLOPs", "bytes", "kernels", "H100 model us", "compiled ms",
               "eager ms", "speedup", "numpy.einsum ms", "opt_einsum ms", "check"]
    body = []
    for row in rows:
        speedup = row.speedup
        body.append([
            row.name,
            _arrow(row.cpu.get("flops_before"), row.cpu.get("flops_after")),
            _arrow(row.cpu.get("bytes_before"), row.cpu.get("bytes_after")),
            _arrow(row.cpu.get("kernels_before"), row.cpu.get("kernels_after"), str),
            _arrow(row.h100.get("cost_before_s"), row.h100.get("cost_after_s"), _micros),
            _millis(row.times.get("compiled")),
            _millis(row.times.get("eager")),
            "-" if speedup is None else f"{speedup:.2f}x",
            _millis(row.times.get("numpy.einsum")),
            _millis(row.times.get("opt_einsum")),
            f"ok {row.error:.1e}" if row.ok else f"WRONG {row.error:.1e}",
        ])
    widths = [max(len(line[i]) for line in [headers] + body) for i in range(len(headers))]

    def render(cells: list[str]) -> str:
        return "  ".join(cell.ljust(w) if i == 0 else cell.rjust(w)
                         for i, (cell, w) in enumerate(zip(cells, widths))).rstrip()

    lines = [render(headers), "  ".join("-" * w for w in widths)]
    lines += [render(cells) for cells in body]
    lines += [
        "",
        "FLOPs, bytes, kernels: the optimiser's report for the CPU target, before -> after.",
        "H100 model us: the roofline cost model's time for an H100, before -> after.",
        "ms: median wall-clock time per call on this CPU, measured side by side in one run;",
        "  * = a single call (too slow to repeat).  speedup = eager / compiled.",
        f"check: largest |compiled - eager| on fresh inputs (relative for E8), at most "
        f"{TOLERANCE:g}.",
        "GPU: the demo compiles with torch-mlir, which GPU machines here lack; GPU times",
        "  against eager and torch.compile come from benchmarks/gpu_examples.py (README).",
    ]
    return "\n".join(lines)


def plot(rows: list[DemoRow], path: pathlib.Path) -> None:
    """Two panels: measured CPU times per implementation, and the model's reductions."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = [row.name for row in rows]
    xs = list(range(len(rows)))
    fig, (left, right) = plt.subplots(1, 2, figsize=(14, 5))
    width = 0.8 / len(IMPLEMENTATIONS)
    for k, implementation in enumerate(IMPLEMENTATIONS):
        points = [(x, row.times[implementation].median_s * 1e3)
                  for x, row in zip(xs, rows) if implementation in row.times]
        if points:
            left.bar([x + (k - 1.5) * width for x, _ in points], [ms for _, ms in points],
                     width, label=implementation)
    left.set_xticks(xs, names, rotation=45, ha="right", fontsize=8)
    left.set(ylabel="ms per call (median, log scale)", yscale="log",
             title="CPU time, side by side in one run")
    left.legend(fontsize=8)

    def ratio(entry: dict, before: str, after: str) -> float:
        denominator = entry.get(after) or 0
        return (entry.get(before) or 0) / denominator if denominator else float("nan")

    series = (("FLOPs", [ratio(r.cpu, "flops_before", "flops_after") for r in rows]),
              ("bytes", [ratio(r.cpu, "bytes_before", "bytes_after") for r in rows]),
              ("H100 model time",
               [ratio(r.h100, "cost_before_s", "cost_after_s") for r in rows]))
    width = 0.8 / len(series)
    for k, (label, values) in enumerate(series):
        right.bar([x + (k - 1) * width for x in xs], values, width, label=label)
    right.axhline(1.0, color="grey", linestyle="--", linewidth=1)
    right.set_xticks(xs, names, rotation=45, ha="right", fontsize=8)
    right.set(ylabel="before / after (log scale)", yscale="log",
              title="what the optimiser removed (cost model)")
    right.legend(fontsize=8)
    fig.suptitle("mirage-mlir examples: compiled (target cpu) vs torch eager")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m mirage_mlir.examples.demo",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("names", nargs="*", help="examples to run (default: all)")
    parser.add_argument("--examples", nargs="+", default=[], metavar="NAME",
                        help="examples to run, as an option")
    parser.add_argument("--ops", action="store_true",
                        help="only import the examples and count the ops of the imports")
    parser.add_argument("--budget", type=float, default=1.0,
                        help="seconds of timing rounds per example (default 1.0)")
    parser.add_argument("--threads", type=int, default=None,
                        help="torch CPU threads for the timings (default: the idle CPUs)")
    parser.add_argument("--chart", type=pathlib.Path, default=CHART,
                        help=f"where to write the chart (default {CHART})")
    parser.add_argument("--no-chart", action="store_true", help="write no chart")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    """Entry point: run the named examples (default: all), print the table, write the chart."""
    args = _parse(list(sys.argv[1:] if argv is None else argv))
    names = [*args.names, *args.examples] or list(EXAMPLE_NAMES)
    unknown = [name for name in names if name not in EXAMPLE_NAMES]
    if unknown:
        print(f"demo: unknown example(s) {', '.join(unknown)}; "
              f"choose from {', '.join(EXAMPLE_NAMES)}", file=sys.stderr)
        return 1
    return _count_ops(names) if args.ops else _run(names, args)


def _count_ops(names: list[str]) -> int:
    rows = []
    for index, name in enumerate(names, start=1):
        print(f"[{index}/{len(names)}] importing {name} ...", file=sys.stderr, flush=True)
        try:
            row = summarise(name)
        except MirageError as error:
            print(f"demo: {name}: {error}", file=sys.stderr)
            return 1
        print(f"[{index}/{len(names)}] {name}: {row.compute_ops} compute ops, "
              f"{row.import_seconds:.2f} s", file=sys.stderr, flush=True)
        rows.append(row)
    print(format_ops_table(rows))
    return 0


def _run(names: list[str], args: argparse.Namespace) -> int:
    import torch

    threads = args.threads or idle_cpus()
    torch.set_num_threads(threads)
    print(f"demo: timing with {threads} torch thread(s)", file=sys.stderr)
    rows = []
    for index, name in enumerate(names, start=1):
        print(f"[{index}/{len(names)}] {name}: compiling and timing ...", file=sys.stderr,
              flush=True)
        try:
            row = run_example(name, budget_s=args.budget)
        except MirageError as error:
            print(f"demo: {name}: {error}", file=sys.stderr)
            return 1
        status = "ok" if row.ok else "WRONG RESULT"
        speedup = "" if row.speedup is None else f", {row.speedup:.2f}x eager"
        print(f"[{index}/{len(names)}] {name}: {status} (error {row.error:.1e}){speedup}",
              file=sys.stderr, flush=True)
        rows.append(row)
    print(format_table(rows))
    print(f"torch threads: {threads}")
    if not args.no_chart:
        plot(rows, args.chart)
        print(f"chart: {args.chart}")
    wrong = [row for row in rows if not row.ok]
    if wrong:
        for row in wrong:
            print(f"demo: {row.name}: the compiled module's result differs from torch eager "
                  f"by {row.error:.3g} (tolerance {TOLERANCE:g})", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
