"""CPU speed of compiled modules against torch eager, numpy.einsum and opt_einsum.

Measured side by side in one run on the CPU (warm-up, interleaved calls,
median; `mirage_mlir.examples.side_by_side`), with torch and numpy's BLAS
using the idle CPUs (`--threads` to choose).  Each case has a target ratio:

- E1 scaled up (A 2000x20, B 20x2000, C 2000x20, D 20x2000): compiled vs
  torch eager's left-to-right order, at least 2x.
- E4 scaled by 20 (i=2000 k=200 j=400 l=100 m=2000): compiled vs torch eager
  with `torch.backends.opt_einsum` disabled, at least 1.3x (the FLOP ratio is
  1.43); opt_einsum.contract and numpy.einsum(optimize="optimal") are timed beside it.
- E8 (all dims 12): compiled vs `numpy.einsum` without optimisation, at least
  100x (numpy is timed on `--numpy-calls` single calls, seconds each); and vs
  `torch.einsum` with its default opt_einsum path, no slower than 1.2x (a ratio
  of at least 1/1.2); opt_einsum.contract is timed beside it.

    python benchmarks/cpu_speed.py
    python benchmarks/cpu_speed.py --budget 1 --threads 1

Writes benchmarks/results/cpu_speed.json and .png.
"""

from __future__ import annotations

import argparse
import json
import pathlib
import statistics
import sys
import time

RESULTS = pathlib.Path(__file__).resolve().parent / "results"

E1_SHAPES = ((2000, 20), (20, 2000), (2000, 20), (20, 2000))
E4_SHAPES = ((2000, 200), (200, 400), (400, 100), (100, 2000))


def _inputs(shapes: tuple, seed: int, scale: float = 1.0) -> tuple:
    import torch

    generator = torch.Generator().manual_seed(seed)
    return tuple(torch.randn(shape, generator=generator) * scale for shape in shapes)


def _compile(model, inputs: tuple):
    """Compile for the CPU target; return the module and the optimiser's FLOPs before/after."""
    import mirage_mlir

    compiled = mirage_mlir.compile(model, *inputs, target="cpu")
    (entry,) = compiled.report["optimizer"]["functions"][:1]
    return compiled, entry["flops_before"], entry["flops_after"]


def _check(name: str, got, want, relative: float = 1e-4) -> float:
    """Largest difference relative to the output's magnitude; raise when above `relative`."""
    error = float((got - want).abs().max()) / max(float(want.abs().max()), 1e-30)
    if not error <= relative:
        raise SystemExit(f"cpu_speed: {name}: the compiled result is wrong "
                         f"(relative error {error:.3g})")
    return error


def case(name: str, model, inputs: tuple, baselines: dict, target: float, baseline: str,
         budget_s: float, slow: dict | None = None) -> dict:
    """Compile `model`, check it against `baselines[baseline]`, time all side by side."""
    import torch

    from mirage_mlir.examples.side_by_side import time_side_by_side

    compiled, flops_before, flops_after = _compile(model, inputs)
    with torch.no_grad():
        error = _check(name, compiled(*inputs), baselines[baseline]())
    functions = {"compiled": lambda: compiled(*inputs), **baselines}
    with torch.no_grad():
        timings = time_side_by_side(functions, budget_s=budget_s)
    seconds = {k: t.median_s for k, t in timings.items()}
    repeats = {k: t.repeats for k, t in timings.items()}
    for key, values in (slow or {}).items():
        seconds[key] = statistics.median(values)
        repeats[key] = len(values)
    ratios = {k: seconds[k] / seconds["compiled"] for k in seconds if k != "compiled"}
    row = {
        "case": name, "flops_before": flops_before, "flops_after": flops_after,
        "flop_ratio": flops_before / flops_after, "seconds": seconds, "repeats": repeats,
        "speedup": ratios, "target": {"baseline": baseline, "ratio": target},
        "met": ratios[baseline] >= target, "relative_error": error,
    }
    print(f"{name}: " + ", ".join(f"{k} {seconds[k] * 1e3:.3g} ms" for k in seconds)
          + f"; compiled vs {baseline} {ratios[baseline]:.2f}x (target {target:.3g}x) "
          + ("met" if row["met"] else "MISSED"), file=sys.stderr, flush=True)
    return row


def run(budget_s: float, numpy_calls: int, seed: int) -> list[dict]:
    """The three cases of the module docstring."""
    import numpy as np
    import torch

    from mirage_mlir.examples.e1_matrix_chain import MatrixChain
    from mirage_mlir.examples.e4_einsum_chain import EinsumChain
    from mirage_mlir.examples.e8_tensor_network import DIM, EQUATION, TensorNetwork

    rows = []
    e1 = MatrixChain()
    x1 = _inputs(E1_SHAPES, seed)
    rows.append(case("e1_matrix_chain x20", e1, x1, {"eager": lambda: e1(*x1)}, 2.0, "eager",
                     budget_s))
    import opt_einsum

    from mirage_mlir.examples.e4_einsum_chain import EQUATION as E4_EQUATION

    e4 = EinsumChain()
    x4 = _inputs(E4_SHAPES, seed)
    a4 = [t.numpy() for t in x4]
    # The planners a user could call instead: opt_einsum (its 'auto' path, numpy's BLAS) and
    # numpy.einsum asked to optimise; both should find the same order as the compiled module.
    planners4 = {
        "opt_einsum": lambda: opt_einsum.contract(E4_EQUATION, *a4),
        "numpy.einsum optimize": lambda: np.einsum(E4_EQUATION, *a4, optimize="optimal"),
    }
    rows.append(case("e4_einsum_chain x20", e4, x4, {"eager": lambda: e4(*x4), **planners4},
                     1.3, "eager", budget_s))
    e8 = TensorNetwork()
    x8 = _inputs(((DIM,) * 4,) * 4, seed, 1.0 / DIM)
    arrays = [t.numpy() for t in x8]
    numpy_seconds = []
    for _ in range(numpy_calls):
        begin = time.perf_counter()
        np.einsum(EQUATION, *arrays)
        numpy_seconds.append(time.perf_counter() - begin)
    default_einsum = {
        "torch.einsum": lambda: torch.einsum(EQUATION, *x8),
        "opt_einsum": lambda: opt_einsum.contract(EQUATION, *arrays),
    }
    row = case("e8_tensor_network", e8, x8, default_einsum, 1 / 1.2, "torch.einsum", budget_s,
               slow={"numpy.einsum": numpy_seconds})
    row["speedup_numpy"] = row["speedup"]["numpy.einsum"]
    row["met_numpy"] = row["speedup_numpy"] >= 100
    print(f"e8_tensor_network: compiled vs numpy.einsum {row['speedup_numpy']:.0f}x "
          f"(target 100x) " + ("met" if row["met_numpy"] else "MISSED"), file=sys.stderr)
    rows.append(row)
    return rows


def plot(data: dict, path: pathlib.Path) -> None:
    """One panel per case: ms per call of each implementation, with the target noted."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = data["rows"]
    fig, axes = plt.subplots(1, len(rows), figsize=(4.5 * len(rows), 4.2))
    for axis, row in zip(axes, rows):
        names = list(row["seconds"])
        values = [row["seconds"][n] * 1e3 for n in names]
        colours = ["tab:green" if n == "compiled" else "tab:grey" for n in names]
        axis.bar(names, values, color=colours)
        axis.set_yscale("log")
        axis.set_ylabel("ms per call (median, log scale)")
        target = row["target"]
        measured = row["speedup"][target["baseline"]]
        axis.set_title(f"{row['case']}\nvs {target['baseline']}: {measured:.2f}x "
                       f"(target {target['ratio']:.3g}x)", fontsize=9)
        axis.tick_params(axis="x", labelsize=8)
        plt.setp(axis.get_xticklabels(), rotation=20, ha="right")
    fig.suptitle(f"CPU speed, {data['threads']} torch thread(s), "
                 + data["environment"]["machine"]["processor"])
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    """Run the cases, write JSON and PNG, print the ratios."""
    import os

    from mirage_mlir.examples.side_by_side import idle_cpus

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--budget", type=float, default=3.0,
                        help="seconds of interleaved timing rounds per case (default 3)")
    parser.add_argument("--numpy-calls", type=int, default=2,
                        help="single calls of numpy.einsum on E8 (default 2)")
    parser.add_argument("--threads", type=int, default=None,
                        help="torch CPU threads (default: the idle CPUs)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=pathlib.Path, default=RESULTS)
    args = parser.parse_args(argv)
    if args.numpy_calls < 1:
        parser.error("--numpy-calls must be at least 1")

    sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
    from environment import environment

    threads = args.threads or idle_cpus()
    # numpy's BLAS (under opt_einsum and numpy.einsum) gets the same threads as torch, or the
    # baselines would be timed on more cores than the compiled module; it reads this when
    # numpy is first imported, which is below.
    for variable in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[variable] = str(threads)
    import torch

    torch.set_num_threads(threads)
    print(f"cpu_speed: {threads} torch thread(s)", file=sys.stderr)
    rows = run(args.budget, args.numpy_calls, args.seed)
    data = {
        "benchmark": "cpu_speed",
        "threads": threads,
        "budget_s": args.budget,
        "seed": args.seed,
        "rows": rows,
        "all_met": all(r["met"] and r.get("met_numpy", True) for r in rows),
        "command": " ".join(["python", "benchmarks/cpu_speed.py", *(argv or sys.argv[1:])]),
        "environment": environment(),
    }
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "cpu_speed.json").write_text(json.dumps(data, indent=2) + "\n")
    plot(data, args.out / "cpu_speed.png")
    for row in rows:
        ratios = ", ".join(f"vs {k} {v:.2f}x" for k, v in row["speedup"].items())
        print(f"{row['case']:22s} {ratios}")
    print(f"wrote {args.out / 'cpu_speed.json'} and .png", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
