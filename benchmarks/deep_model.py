"""Optimisation time against depth: a Llama-style decoder at 2, 8 and 24 layers.

The zoo's Llama configuration (width 64, 4 heads, 2 KV heads) with more layers, imported once
each and optimised for h100 by `mirage_mlir.optimize` (default limits). Identical layers are
one region search (passes/eqsat/regions.py), so the time should grow with what is linear in
the model (recognition, re-emission), not with its search. Recorded per depth: compute ops,
regions, distinct regions, kernels before -> after, and the seconds of each stage of the pass
(the median of `--repeats` runs); parsing and printing the module are outside the pass.

    python benchmarks/deep_model.py
    python benchmarks/deep_model.py --layers 2 24 --repeats 3

Writes benchmarks/results/deep_model.json and .png.
"""

from __future__ import annotations

import argparse
import pathlib
import statistics
import sys

RESULTS = pathlib.Path(__file__).resolve().parent / "results"
sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))

from environment import environment, write_results  # noqa: E402


def llama_text(layers: int) -> str:
    import torch

    import mirage_mlir as mm
    from mirage_mlir.zoo import hf

    saved = hf._DECODER
    hf._DECODER = dict(saved, num_hidden_layers=layers)
    try:
        torch.manual_seed(0)
        model, inputs = hf.llama(torch.Generator().manual_seed(0))
    finally:
        hf._DECODER = saved
    with torch.no_grad():
        return mm.import_torch(model.eval(), *inputs)


def measure(layers: int, repeats: int) -> dict:
    import mirage_mlir as mm

    text = llama_text(layers)
    runs = []
    for _ in range(repeats):
        (entry,) = mm.optimize(text, target="h100").report["functions"]
        runs.append(entry)
    entry = runs[0]
    pass_seconds = [sum(r["seconds"].values()) for r in runs]
    return {
        "layers": layers,
        "kernels_before": entry["kernels_before"],
        "kernels_after": entry["kernels_after"],
        "regions": entry["regions"],
        "pass_s": statistics.median(pass_seconds),
        "stages_s": {
            stage: statistics.median(r["seconds"][stage] for r in runs)
            for stage in entry["seconds"]
        },
        "h100_model_s_before": entry["cost_before_s"],
        "h100_model_s_after": entry["cost_after_s"],
    }


def plot(data: dict, path: pathlib.Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = data["rows"]
    stages = list(rows[0]["stages_s"])
    fig, axis = plt.subplots(figsize=(6, 4))
    bottom = [0.0] * len(rows)
    labels = [f"{r['layers']} layers\n{r['regions']['distinct']}/{r['regions']['regions']} "
              f"regions" for r in rows]
    for stage in stages:
        values = [r["stages_s"][stage] for r in rows]
        axis.bar(labels, values, bottom=bottom, label=stage)
        bottom = [b + v for b, v in zip(bottom, values)]
    axis.set_ylabel("seconds in eqsat-optimize (median)")
    axis.set_title("Optimisation time against depth (Llama-style, h100 target)", fontsize=9)
    axis.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--layers", nargs="*", type=int, default=[2, 8, 24])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--out", type=pathlib.Path, default=RESULTS)
    args = parser.parse_args(argv)
    rows = []
    for layers in args.layers:
        row = measure(layers, args.repeats)
        rows.append(row)
        print(f"{layers} layers: {row['pass_s']:.2f} s in the pass, regions "
              f"{row['regions']}, kernels {row['kernels_before']} -> {row['kernels_after']}",
              file=sys.stderr, flush=True)
    base = rows[0]["pass_s"]
    for row in rows:
        row["time_vs_first"] = row["pass_s"] / base
    data = {"environment": environment(), "rows": rows}
    write_results(args.out, "deep_model", data, plot)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
