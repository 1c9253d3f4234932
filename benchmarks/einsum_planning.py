"""Einsum planning: plan quality against opt_einsum, and optimisation time as networks grow.

For random connected einsum networks of n operands (every index shared by exactly two tensors
or by one tensor and the output, where opt_einsum's exact searches are exact; sizes 2..8,
seeded), it records the FLOPs of the contraction order `optimize_graph` extracts (`flops`
target) next to opt_einsum's 'optimal' (exhaustive, up to --optimal-max operands), 'dp' and
'greedy' paths, the time each planner took, and the e-graph's size and why saturation
stopped. FLOPs are counted as opt_einsum counts them (`PathInfo.opt_cost`). Past some size
the e-graph limits stop saturation; the plan is then the best found so far, and never worse
than the input's left-to-right order.

    python benchmarks/einsum_planning.py
    python benchmarks/einsum_planning.py --operands 3 4 6 8 --repeats 1

Writes benchmarks/results/einsum_planning.json and .png.
"""

from __future__ import annotations

import argparse
import json
import pathlib
import statistics
import string
import sys
import time

import numpy as np

RESULTS = pathlib.Path(__file__).resolve().parent / "results"


def random_network(n: int, rng: np.random.Generator) -> tuple[str, dict[str, int]]:
    """A connected einsum network of n operands: a random tree, extra edges, two open indices."""
    letters = iter(string.ascii_letters)
    layouts: list[list[str]] = [[] for _ in range(n)]
    sizes: dict[str, int] = {}

    def edge(a: int, b: int) -> None:
        letter = next(letters)
        layouts[a].append(letter)
        layouts[b].append(letter)
        sizes[letter] = int(rng.integers(2, 9))

    for k in range(1, n):
        edge(k, int(rng.integers(0, k)))
    for _ in range(n // 2):
        a, b = (int(x) for x in rng.choice(n, size=2, replace=False))
        edge(a, b)
    output = []
    for _ in range(2):
        letter = next(letters)
        layouts[int(rng.integers(0, n))].append(letter)
        sizes[letter] = int(rng.integers(2, 9))
        output.append(letter)
    for layout in layouts:
        rng.shuffle(layout)
    return ",".join("".join(l) for l in layouts) + "->" + "".join(output), sizes


def opt_einsum_plan(spec: str, sizes: dict[str, int], how: str) -> tuple[int, float]:
    """FLOPs of opt_einsum's path and the seconds it took to find it."""
    import opt_einsum

    shapes = [tuple(sizes[c] for c in layout) for layout in spec.split("->")[0].split(",")]
    start = time.perf_counter()
    _, info = opt_einsum.contract_path(spec, *shapes, shapes=True, optimize=how)
    return int(info.opt_cost), time.perf_counter() - start


def mirage_plan(spec: str, sizes: dict[str, int], repeats: int) -> dict:
    """Optimise the network as one einsum term; FLOPs before and after, time, e-graph size."""
    from mirage_mlir.passes.eqsat.graph import Contract, Graph, Input
    from mirage_mlir.passes.eqsat.optimize import optimize_graph

    layouts = spec.split("->")[0].split(",")
    tensors = tuple(
        Input(f"T{k}", tuple(sizes[c] for c in layout)) for k, layout in enumerate(layouts)
    )
    graph = Graph.of(Contract(tensors, spec))
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        result = optimize_graph(graph, target="flops")
        times.append(time.perf_counter() - start)
    return {
        "flops_before": result.flops_before,
        "flops": result.flops_after,
        "seconds": statistics.median(times),
        "enodes": result.enodes,
        "iterations": result.iterations,
        "saturated": result.saturated,
        "stop_reason": getattr(result, "stop_reason", None),
        "extraction": result.extraction,
    }


def run(operands: list[int], networks: int, repeats: int, optimal_max: int, seed: int) -> dict:
    """Plan `networks` random networks of every size with every planner."""
    rng = np.random.default_rng(seed)
    rows = []
    for n in operands:
        for trial in range(networks):
            spec, sizes = random_network(n, rng)
            row = {"operands": n, "trial": trial, "spec": spec, "sizes": sizes}
            row["mirage"] = mirage_plan(spec, sizes, repeats)
            for how in ("greedy", "dp") + (("optimal",) if n <= optimal_max else ()):
                flops, seconds = opt_einsum_plan(spec, sizes, how)
                row[f"opt_einsum_{how}"] = {"flops": flops, "seconds": seconds}
            exact = row.get("opt_einsum_optimal", row["opt_einsum_dp"])["flops"]
            row["mirage_over_exact"] = row["mirage"]["flops"] / exact
            row["greedy_over_exact"] = row["opt_einsum_greedy"]["flops"] / exact
            rows.append(row)
            m = row["mirage"]
            print(
                f"n={n:2d} #{trial} mirage {m['flops']:>12,} ({m['seconds'] * 1e3:7.1f} ms, "
                f"{m['enodes']:6d} e-nodes, {'saturated' if m['saturated'] else m['stop_reason']})"
                f"  exact {exact:>12,}  greedy {row['opt_einsum_greedy']['flops']:>12,}",
                file=sys.stderr,
            )
    return {
        "benchmark": "einsum_planning",
        "seed": seed,
        "networks_per_size": networks,
        "repeats": repeats,
        "exact_reference": f"opt_einsum 'optimal' up to {optimal_max} operands, 'dp' above",
        "rows": rows,
    }


def summary(data: dict) -> list[dict]:
    """Per size: worst and geometric-mean FLOP ratios to the exact plan, median times."""
    out = []
    for n in sorted({r["operands"] for r in data["rows"]}):
        rows = [r for r in data["rows"] if r["operands"] == n]
        geo = lambda xs: float(np.exp(np.mean(np.log(xs))))  # noqa: E731
        out.append(
            {
                "operands": n,
                "mirage_over_exact_worst": max(r["mirage_over_exact"] for r in rows),
                "mirage_over_exact_geomean": geo([r["mirage_over_exact"] for r in rows]),
                "greedy_over_exact_worst": max(r["greedy_over_exact"] for r in rows),
                "greedy_over_exact_geomean": geo([r["greedy_over_exact"] for r in rows]),
                "mirage_seconds_median": statistics.median(r["mirage"]["seconds"] for r in rows),
                "dp_seconds_median": statistics.median(
                    r["opt_einsum_dp"]["seconds"] for r in rows
                ),
                "optimal_seconds_median": (
                    statistics.median(r["opt_einsum_optimal"]["seconds"] for r in rows)
                    if all("opt_einsum_optimal" in r for r in rows)
                    else None
                ),
                "mirage_enodes_max": max(r["mirage"]["enodes"] for r in rows),
                "mirage_saturated": sum(r["mirage"]["saturated"] for r in rows),
                "networks": len(rows),
            }
        )
    return out


def plot(data: dict, path: pathlib.Path) -> None:
    """FLOPs over the exact plan's, and planning time, against the number of operands."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = data["summary"]
    xs = [r["operands"] for r in rows]
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 4))
    left.plot(xs, [r["mirage_over_exact_worst"] for r in rows], marker="o", label="mirage (worst)")
    left.plot(xs, [r["greedy_over_exact_worst"] for r in rows], marker="s", label="opt_einsum greedy (worst)")
    left.plot(xs, [r["greedy_over_exact_geomean"] for r in rows], marker="s", linestyle=":", label="opt_einsum greedy (geomean)")
    left.axhline(1.0, color="grey", linewidth=0.8)
    left.set(xlabel="operands", ylabel="FLOPs / exact plan's FLOPs", yscale="log")
    left.legend(fontsize=8)
    right.plot(xs, [r["mirage_seconds_median"] * 1e3 for r in rows], marker="o", label="mirage (saturation + extraction)")
    right.plot(xs, [r["dp_seconds_median"] * 1e3 for r in rows], marker="s", label="opt_einsum dp")
    opt = [(x, r["optimal_seconds_median"]) for x, r in zip(xs, rows) if r["optimal_seconds_median"]]
    if opt:
        right.plot([x for x, _ in opt], [s * 1e3 for _, s in opt], marker="^", label="opt_einsum optimal")
    right.set(xlabel="operands", ylabel="planning time (ms)", yscale="log")
    right.legend(fontsize=8)
    fig.suptitle("Einsum planning (" + data["environment"]["machine"]["processor"] + ")")
    fig.tight_layout()
    fig.savefig(path, dpi=120)


def main(argv: list[str] | None = None) -> int:
    """Run, write JSON and PNG, print a table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--operands", type=int, nargs="+", default=[3, 4, 5, 6, 8, 10, 12, 16])
    parser.add_argument("--networks", type=int, default=5, help="random networks per size")
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--optimal-max", type=int, default=8)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=pathlib.Path, default=RESULTS)
    args = parser.parse_args(argv)

    sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
    from environment import environment

    data = run(args.operands, args.networks, args.repeats, args.optimal_max, args.seed)
    data["summary"] = summary(data)
    data["command"] = "python benchmarks/einsum_planning.py " + " ".join(argv or sys.argv[1:])
    data["environment"] = environment()
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "einsum_planning.json").write_text(json.dumps(data, indent=2) + "\n")
    plot(data, args.out / "einsum_planning.png")
    print("operands  mirage/exact (worst)  greedy/exact (worst)  mirage ms  dp ms  saturated")
    for r in data["summary"]:
        print(
            f"{r['operands']:8d}  {r['mirage_over_exact_worst']:20.3f}  "
            f"{r['greedy_over_exact_worst']:20.3f}  {r['mirage_seconds_median'] * 1e3:9.1f}  "
            f"{r['dp_seconds_median'] * 1e3:5.1f}  {r['mirage_saturated']}/{r['networks']}"
        )
    print(f"wrote {args.out / 'einsum_planning.json'} and .png", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
