"""Optimisation time and plan figures of every example, stage by stage.

For each example's imported MLIR (examples/*.mlir) it runs the `eqsat-optimize` pass
(`mirage_mlir.optimize`) on the `h100` and `flops` targets and records, from the pass's report:
the seconds per stage (recognize, saturate, extract, emit), the e-graph size (e-classes,
e-nodes, iterations, whether it saturated), and kernels, FLOPs and HBM bytes before and after.
It also times saturation plus extraction of a 16-matrix chain (random dims 1..256, seeded).
The acceptance bounds are checked and recorded: saturate + extract under 5 s for each example
and under 1 s for the chain.

    python benchmarks/examples_optimisation.py
    python benchmarks/examples_optimisation.py --examples e1_matrix_chain e6_naive_softmax --repeats 1

Writes benchmarks/results/examples_optimisation.json and .png.
"""

from __future__ import annotations

import argparse
import json
import pathlib
import statistics
import sys
import time

RESULTS = pathlib.Path(__file__).resolve().parent / "results"
TARGETS = ("h100", "flops")
STAGES = ("recognize", "saturate", "extract", "emit")
#: Acceptance bounds (seconds of saturation + extraction).
EXAMPLE_BOUND_S = 5.0
CHAIN_BOUND_S = 1.0
CHAIN_LENGTH = 16

FIGURES = (
    "cost_before_s",
    "cost_after_s",
    "flops_before",
    "flops_after",
    "bytes_before",
    "bytes_after",
    "kernels_before",
    "kernels_after",
    "eclasses",
    "enodes",
    "iterations",
    "saturated",
    "programs",
    "extraction",
    "kept_input",
)


def measure_example(name: str, target: str, repeats: int) -> dict:
    """Optimise one example `repeats` times; the row of the run with the median total time."""
    import mirage_mlir
    from mirage_mlir.examples import load_example

    text = load_example(name).mlir_path.read_text()
    runs = []
    for _ in range(repeats):
        start = time.perf_counter()
        report = mirage_mlir.optimize(text, target=target).report
        wall = time.perf_counter() - start
        runs.append((wall, report))
    runs.sort(key=lambda run: run[0])
    wall, report = runs[len(runs) // 2]
    functions = report["functions"]
    # Every example has one function; sum over functions all the same, should one have more.
    seconds = {s: sum(f["seconds"][s] for f in functions) for s in STAGES}
    row = {"example": name, "target": target, "functions": len(functions)}
    for key in FIGURES:
        values = [f[key] for f in functions]
        row[key] = values[0] if len(values) == 1 else values
    row["stage_seconds"] = seconds
    row["saturate_extract_s"] = seconds["saturate"] + seconds["extract"]
    row["wall_s"] = wall
    row["within_bound"] = row["saturate_extract_s"] < EXAMPLE_BOUND_S
    return row


def measure_chain(target: str, repeats: int, seed: int) -> dict:
    """Saturation + extraction of a 16-matrix chain (the graph, without MLIR around it)."""
    import numpy as np

    from mirage_mlir.passes.eqsat.graph import Graph, Input
    from mirage_mlir.passes.eqsat.optimize import optimize_graph

    dims = [int(d) for d in np.random.default_rng(seed).integers(1, 257, size=CHAIN_LENGTH + 1)]
    expr = Input("m0", (dims[0], dims[1]))
    for i in range(1, CHAIN_LENGTH):
        expr = expr @ Input(f"m{i}", (dims[i], dims[i + 1]))
    graph = Graph.of(expr)
    totals, result = [], None
    for _ in range(repeats):
        start = time.perf_counter()
        result = optimize_graph(graph, target=target)
        totals.append(time.perf_counter() - start)
    seconds = statistics.median(totals)
    return {
        "example": f"chain{CHAIN_LENGTH}",
        "target": target,
        "dims": dims,
        "saturate_extract_s": seconds,
        "stage_seconds": result.seconds,
        "eclasses": result.eclasses,
        "enodes": result.enodes,
        "iterations": result.iterations,
        "saturated": result.saturated,
        "flops_before": result.flops_before,
        "flops_after": result.flops_after,
        "within_bound": seconds < CHAIN_BOUND_S,
    }


def run(names: list[str], repeats: int, seed: int) -> dict:
    """Measure every example on both targets, and the 16-matrix chain."""
    rows = []
    for name in names:
        for target in TARGETS:
            row = measure_example(name, target, repeats)
            rows.append(row)
            print(
                f"{name:22s} {target:5s} sat+ext {row['saturate_extract_s']:6.2f} s  "
                f"{row['enodes']!s:>6} e-nodes  kernels {row['kernels_before']}->{row['kernels_after']}  "
                f"FLOPs {row['flops_before']:,}->{row['flops_after']:,}  "
                f"bytes {row['bytes_before']:,}->{row['bytes_after']:,}",
                file=sys.stderr,
            )
    chain = [measure_chain(target, repeats, seed) for target in TARGETS]
    for row in chain:
        print(
            f"{row['example']:22s} {row['target']:5s} sat+ext {row['saturate_extract_s']:6.3f} s  "
            f"{row['enodes']} e-nodes",
            file=sys.stderr,
        )
    return {
        "benchmark": "examples_optimisation",
        "repeats": repeats,
        "seed": seed,
        "bounds_s": {"example": EXAMPLE_BOUND_S, f"chain{CHAIN_LENGTH}": CHAIN_BOUND_S},
        "rows": rows,
        "chain": chain,
        "all_within_bounds": all(r["within_bound"] for r in rows + chain),
    }


def plot(data: dict, path: pathlib.Path) -> None:
    """Per example: stacked stage times (h100), and HBM bytes before and after (h100)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = [r for r in data["rows"] if r["target"] == "h100"]
    names = [r["example"] for r in rows]
    xs = range(len(rows))
    fig, (left, right) = plt.subplots(1, 2, figsize=(13, 4.5))
    bottom = [0.0] * len(rows)
    for stage in STAGES:
        heights = [r["stage_seconds"][stage] for r in rows]
        left.bar(xs, heights, bottom=bottom, label=stage)
        bottom = [b + h for b, h in zip(bottom, heights)]
    left.axhline(EXAMPLE_BOUND_S, color="grey", linestyle="--", linewidth=1)
    left.set_xticks(list(xs), names, rotation=45, ha="right", fontsize=8)
    left.set(ylabel="seconds (target h100)", title="optimisation time per stage")
    left.legend(fontsize=8)
    width = 0.4
    right.bar([x - width / 2 for x in xs], [r["bytes_before"] for r in rows], width, label="before")
    right.bar([x + width / 2 for x in xs], [r["bytes_after"] for r in rows], width, label="after")
    right.set_xticks(list(xs), names, rotation=45, ha="right", fontsize=8)
    right.set(ylabel="HBM bytes (model)", yscale="log", title="memory traffic (h100 cost model)")
    right.legend(fontsize=8)
    fig.suptitle(
        "eqsat-optimize on the examples (" + data["environment"]["machine"]["processor"] + ")"
    )
    fig.tight_layout()
    fig.savefig(path, dpi=120)


def main(argv: list[str] | None = None) -> int:
    """Run, write JSON and PNG, print where."""
    from mirage_mlir.examples import EXAMPLE_NAMES

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--examples", nargs="+", default=list(EXAMPLE_NAMES), choices=EXAMPLE_NAMES)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=pathlib.Path, default=RESULTS)
    args = parser.parse_args(argv)
    if args.repeats < 1:
        parser.error("--repeats must be at least 1")

    sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
    from environment import environment

    data = run(args.examples, args.repeats, args.seed)
    data["command"] = " ".join(["python", "benchmarks/examples_optimisation.py", *(argv or sys.argv[1:])])
    data["environment"] = environment()
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "examples_optimisation.json").write_text(json.dumps(data, indent=2) + "\n")
    plot(data, args.out / "examples_optimisation.png")
    print(f"wrote {args.out / 'examples_optimisation.json'} and .png", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
