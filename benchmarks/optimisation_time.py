"""Optimisation time and e-graph size as a matrix chain grows, plus plan quality.

For chains of n random matrices (dims 1..256, seeded) it times equality saturation plus
extraction (`optimize_graph`) on the `flops` and `h100` targets, records the e-graph sizes,
whether saturation finished or which limit stopped it, and checks the extracted FLOPs against
the dynamic-programming optimum. The default lengths go past the point where the limits stop
saturation (about 50 matrices); chains of 48 or more are timed once.

    python benchmarks/optimisation_time.py
    python benchmarks/optimisation_time.py --lengths 2 4 8 16 --repeats 3

Writes benchmarks/results/optimisation_time.json and .png.
"""

from __future__ import annotations

import argparse
import json
import pathlib
import statistics
import sys
import time

import numpy as np

RESULTS = pathlib.Path(__file__).resolve().parent / "results"


def chain_dims(n: int, rng: np.random.Generator) -> list[int]:
    """n + 1 dimensions of a chain of n matrices."""
    return [int(d) for d in rng.integers(1, 257, size=n + 1)]


def dp_optimum(dims: list[int]) -> int:
    """The least FLOPs (multiply-add = 2) over all parenthesisations."""
    n = len(dims) - 1
    best = [[0] * n for _ in range(n)]
    for length in range(2, n + 1):
        for i in range(n - length + 1):
            j = i + length - 1
            best[i][j] = min(
                best[i][k] + best[k + 1][j] + 2 * dims[i] * dims[k + 1] * dims[j + 1]
                for k in range(i, j)
            )
    return best[0][n - 1]


def run(lengths: list[int], repeats: int, seed: int) -> dict:
    """Measure every chain length on both targets."""
    from mirage_mlir.passes.eqsat.graph import Graph, Input
    from mirage_mlir.passes.eqsat.optimize import optimize_graph

    rng = np.random.default_rng(seed)
    rows = []
    for n in lengths:
        dims = chain_dims(n, rng)
        mats = [Input(f"m{i}", (dims[i], dims[i + 1])) for i in range(n)]
        expr = mats[0]
        for m in mats[1:]:
            expr = expr @ m
        graph = Graph.of(expr)
        for target in ("flops", "h100"):
            times = []
            for _ in range(repeats if n < 48 else 1):
                start = time.perf_counter()
                result = optimize_graph(graph, target=target)
                times.append(time.perf_counter() - start)
            rows.append(
                {
                    "matrices": n,
                    "target": target,
                    "seconds_median": statistics.median(times),
                    "seconds_min": min(times),
                    "stage_seconds": result.seconds,
                    "eclasses": result.eclasses,
                    "enodes": result.enodes,
                    "iterations": result.iterations,
                    "saturated": result.saturated,
                    "stop_reason": getattr(result, "stop_reason", None),
                    "extraction": result.extraction,
                    "flops_before": result.flops_before,
                    "flops_after": result.flops_after,
                    "flops_dp_optimum": dp_optimum(dims),
                }
            )
            print(
                f"n={n:3d} {target:5s} {rows[-1]['seconds_median'] * 1e3:8.1f} ms  "
                f"{result.enodes:6d} e-nodes  flops {result.flops_after:,} (DP {rows[-1]['flops_dp_optimum']:,})",
                file=sys.stderr,
            )
    return {"benchmark": "optimisation_time", "seed": seed, "repeats": repeats, "rows": rows}


def plot(data: dict, path: pathlib.Path) -> None:
    """Time and e-graph size against chain length."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 4))
    for target in ("flops", "h100"):
        rows = [r for r in data["rows"] if r["target"] == target]
        xs = [r["matrices"] for r in rows]
        left.plot(xs, [r["seconds_median"] * 1e3 for r in rows], marker="o", label=target)
        right.plot(xs, [r["enodes"] for r in rows], marker="o", label=target)
    left.set(xlabel="matrices in the chain", ylabel="saturation + extraction (ms)", yscale="log")
    right.set(xlabel="matrices in the chain", ylabel="e-nodes", yscale="log")
    left.legend()
    right.legend()
    fig.suptitle("eqsat-optimize on matrix chains (" + data["environment"]["machine"]["processor"] + ")")
    fig.tight_layout()
    fig.savefig(path, dpi=120)


def main(argv: list[str] | None = None) -> int:
    """Run, write JSON and PNG, print where."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lengths", type=int, nargs="+", default=[2, 4, 8, 16, 24, 32, 48, 64, 96, 128])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=pathlib.Path, default=RESULTS)
    args = parser.parse_args(argv)

    sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
    from environment import environment

    data = run(args.lengths, args.repeats, args.seed)
    data["environment"] = environment()
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "optimisation_time.json").write_text(json.dumps(data, indent=2) + "\n")
    plot(data, args.out / "optimisation_time.png")
    print(f"wrote {args.out / 'optimisation_time.json'} and .png", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
