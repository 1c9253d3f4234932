"""How much faster a second `mirage_mlir.compile` of the same model is (a compile-cache hit).

For each example: the first compile (import, optimise, lower where the target has kernels,
store) and the second (a hit: load the stored artifact), in a fresh cache directory, on the
`cpu` and `h100` targets.  Only `compile` is timed: each model is built before its clock
starts, and every second compile gets a fresh instance of the model (the cache recognises it
by content, not by identity).  The second compile is repeated (`--repeats`) and its median
reported, since one load takes milliseconds and the machine's other work shows in it.

    python benchmarks/compile_cache.py [--examples e1_matrix_chain ...] [--repeats 5]

Writes benchmarks/results/compile_cache.json and .png.
"""

from __future__ import annotations

import argparse
import json
import pathlib
import sys
import tempfile
import time

RESULTS = pathlib.Path(__file__).resolve().parent / "results"


def measure(names: list[str], targets: list[str], repeats: int) -> list[dict]:
    """First and (median) second compile time of every example on every target."""
    import statistics

    import mirage_mlir as mm
    from mirage_mlir.examples import EXAMPLE_NAMES, load_example

    rows = []
    for name in names or list(EXAMPLE_NAMES):
        example = load_example(name)
        inputs = example.make_inputs(0)
        for target in targets:
            with tempfile.TemporaryDirectory() as cache:
                model = example.make_model()
                started = time.perf_counter()
                first_module = mm.compile(model, *inputs, target=target, cache_dir=cache)
                first = time.perf_counter() - started
                seconds, hits = [], []
                for _ in range(repeats):
                    model = example.make_model()
                    started = time.perf_counter()
                    hits.append(mm.compile(model, *inputs, target=target, cache_dir=cache))
                    seconds.append(time.perf_counter() - started)
            second = statistics.median(seconds)
            rows.append({"example": name, "target": target, "first_s": first,
                         "second_s": second, "second_runs_s": seconds,
                         "speedup": first / second,
                         "cache": sorted({h.report["cache"] for h in hits}),
                         "first_stages_s": dict(first_module.report["stages"])})
            print(f"{name:22s} {target:5s} first {first:6.2f} s  second {second:6.3f} s  "
                  f"{first / second:6.1f}x", file=sys.stderr)
    return rows


def plot(rows: list[dict], path: pathlib.Path) -> None:
    """Speed-up of the second compile per example and target."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = sorted({r["example"] for r in rows}, key=[r["example"] for r in rows].index)
    targets = sorted({r["target"] for r in rows})
    fig, ax = plt.subplots(figsize=(11, 4))
    width = 0.8 / len(targets)
    for i, target in enumerate(targets):
        values = [next(r["speedup"] for r in rows if r["example"] == n and r["target"] == target)
                  for n in names]
        ax.bar([x + i * width for x in range(len(names))], values, width, label=target)
    ax.axhline(10, color="grey", linestyle="--", linewidth=1)
    ax.set_xticks([x + width * (len(targets) - 1) / 2 for x in range(len(names))], names,
                  rotation=40, ha="right", fontsize=8)
    ax.set(ylabel="first compile / second compile", yscale="log",
           title="compile cache: second compile of the same model")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)


def main(argv: list[str] | None = None) -> int:
    """Run, write JSON and PNG, print where."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--examples", nargs="*", default=[])
    parser.add_argument("--targets", nargs="+", default=["cpu", "h100"])
    parser.add_argument("--repeats", type=int, default=5, help="second compiles per row")
    parser.add_argument("--out", type=pathlib.Path, default=RESULTS)
    args = parser.parse_args(argv)
    sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
    from environment import environment

    rows = measure(args.examples, args.targets, args.repeats)
    args.out.mkdir(parents=True, exist_ok=True)
    data = {"benchmark": "compile_cache", "rows": rows, "environment": environment()}
    (args.out / "compile_cache.json").write_text(json.dumps(data, indent=2) + "\n")
    plot(rows, args.out / "compile_cache.png")
    print(f"wrote {args.out / 'compile_cache.json'} and .png", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
