"""The model zoo end to end: compile time, kernels and modelled H100 time, CPU speed.

For each zoo model (mirage_mlir.zoo, f32, small configs):

- first compile (`mirage_mlir.compile`, target cpu, an empty cache) and the cache hit (the
  same model compiled again);
- kernels before -> after and the H100 cost model's time before -> after (`mirage_mlir.optimize`
  of the imported module for target h100);
- CPU milliseconds per call on 1 torch thread, measured side by side in one run (rounds of
  interleaved calls, median): eager, torch.compile (Inductor), mirage (the CPU runtime's aten
  graph) and mirage with `cpu_codegen="inductor"`;
- the largest error of each compiled form relative to eager's output.

    python benchmarks/zoo.py                 # every model
    python benchmarks/zoo.py --models llama resnet --rounds 30

Writes benchmarks/results/zoo.json and zoo.png.
"""

from __future__ import annotations

import argparse
import pathlib
import statistics
import sys
import tempfile
import time

RESULTS = pathlib.Path(__file__).resolve().parent / "results"
sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))

from environment import environment, write_results  # noqa: E402


def _error(got, want) -> float:
    return float((got - want).abs().max() / want.abs().max().clamp_min(1e-30))


def _side_by_side(functions: dict, inputs: tuple, rounds: int, calls: int) -> dict:
    """Median seconds per call of each function, calls interleaved round by round."""
    import torch

    samples: dict[str, list[float]] = {name: [] for name in functions}
    with torch.no_grad():
        for function in functions.values():
            for _ in range(3):
                function(*inputs)
        for _ in range(rounds):
            for name, function in functions.items():
                started = time.perf_counter()
                for _ in range(calls):
                    function(*inputs)
                samples[name].append((time.perf_counter() - started) / calls)
    return {name: statistics.median(values) for name, values in samples.items()}


def measure(name: str, rounds: int, calls: int) -> dict:
    import torch

    import mirage_mlir as mm
    from mirage_mlir.zoo import build

    model, inputs = build(name)
    _, fresh = build(name, seed=1)
    row: dict = {"model": name}
    with tempfile.TemporaryDirectory() as cache:
        started = time.perf_counter()
        compiled = mm.compile(model, *inputs, target="cpu", cache_dir=cache)
        row["first_compile_s"] = time.perf_counter() - started
        started = time.perf_counter()
        mm.compile(model, *inputs, target="cpu", cache_dir=cache)
        row["cache_hit_s"] = time.perf_counter() - started
        started = time.perf_counter()
        fused = mm.compile(
            model, *inputs, target="cpu", cache_dir=cache, cpu_codegen="inductor"
        )
        with torch.no_grad():
            for _ in range(2):  # the second call traces the steps and Inductor compiles
                fused(*inputs)
        row["inductor_codegen_compile_s"] = time.perf_counter() - started
    with torch.no_grad():
        text = mm.import_torch(model, *inputs)
    (entry,) = mm.optimize(text, target="h100").report["functions"]
    row["kernels_before"] = entry["kernels_before"]
    row["kernels_after"] = entry["kernels_after"]
    row["h100_model_s_before"] = entry["cost_before_s"]
    row["h100_model_s_after"] = entry["cost_after_s"]
    row["regions"] = entry.get("regions")
    torch._dynamo.reset()
    started = time.perf_counter()
    inductor = torch.compile(model, backend="inductor")
    with torch.no_grad():
        inductor(*fresh)
    row["torch_compile_s"] = time.perf_counter() - started
    functions = {
        "eager": model,
        "torch.compile": inductor,
        "mirage": compiled,
        "mirage+inductor": fused,
    }
    with torch.no_grad():
        want = model(*fresh)
        row["max_error"] = {
            k: _error(f(*fresh), want) for k, f in functions.items() if k != "eager"
        }
    row["cpu_s"] = _side_by_side(functions, fresh, rounds, calls)
    base = row["cpu_s"]["eager"]
    row["speedup_vs_eager"] = {k: base / v for k, v in row["cpu_s"].items()}
    return row


def plot(data: dict, path: pathlib.Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = data["rows"]
    forms = list(rows[0]["cpu_s"])
    fig, axis = plt.subplots(figsize=(1.6 * len(rows) + 3, 4.5))
    width = 0.8 / len(forms)
    colours = ["tab:grey", "tab:blue", "tab:green", "tab:olive"]
    for i, form in enumerate(forms):
        xs = [j + (i - (len(forms) - 1) / 2) * width for j in range(len(rows))]
        axis.bar(
            xs,
            [r["cpu_s"][form] * 1e3 for r in rows],
            width,
            label=form,
            color=colours[i % len(colours)],
        )
    axis.set_xticks(range(len(rows)))
    axis.set_xticklabels(
        [
            f"{r['model']}\n{r['kernels_before']}->{r['kernels_after']} kernels"
            for r in rows
        ],
        fontsize=8,
    )
    axis.set_yscale("log")
    axis.set_ylabel("ms per call (median, 1 thread, log scale)")
    axis.legend(fontsize=8)
    axis.set_title(
        "Model zoo on the CPU: " + data["environment"]["machine"]["processor"]
    )
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    import torch

    from mirage_mlir.zoo import ZOO_NAMES

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="*", default=list(ZOO_NAMES))
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--calls", type=int, default=5)
    parser.add_argument("--out", type=pathlib.Path, default=RESULTS)
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    rows = []
    for name in args.models:
        row = measure(name, args.rounds, args.calls)
        rows.append(row)
        ms = ", ".join(f"{k} {v * 1e3:.3f}" for k, v in row["cpu_s"].items())
        print(
            f"{name}: compile {row['first_compile_s']:.1f} s (hit {row['cache_hit_s']:.2f} s), "
            f"kernels {row['kernels_before']} -> {row['kernels_after']}, H100 model "
            f"{row['h100_model_s_before'] * 1e6:.1f} -> {row['h100_model_s_after'] * 1e6:.1f} us, "
            f"CPU ms {ms}",
            file=sys.stderr,
            flush=True,
        )
    data = {"environment": environment(), "threads": 1, "rows": rows}
    write_results(args.out, "zoo", data, plot)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
