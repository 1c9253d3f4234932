"""GPU benchmark: each example's mirage launch plan against torch eager and torch.compile.

    python -m mirage_mlir.benchmarks.gpu_examples [--plans build/gpu_plans]
        [--out benchmarks/results] [--repeats 100] [--examples e1_matrix_chain ...]

Runs on a CUDA machine with torch and triton only: the plans are exported
beforehand by `tests/driver/export_gpu_plans.py` (which needs the compiler
stack) and the torch models are rebuilt from `mirage_mlir.examples`, whose
modules import nothing but torch.  For every example, on the same inputs and
in the same process: the plan (`GpuPlan`, one Python-side launch per kernel),
the same plan replayed from a CUDA graph (`GpuPlan.capture`), the model in eager mode, the model
under `torch.compile` (default mode) and, for the attention examples,
`F.scaled_dot_product_attention` on the same Q, K, V.  The plan is autotuned
(each launch's tile variants timed on its first call, see
`driver.autotune`) unless `--no-autotune`; the untuned plan (every launch's
default variant) is timed too, as `mirage_default` and `mirage_default_graph`.  Each is warmed up, then
timed call by call with CUDA events; the median is reported.  Writes
`gpu_examples_<device>.json` (times, ratios, errors against eager, the device,
torch and triton versions, the command) and a `.png` of the ratios.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import time
from pathlib import Path
from typing import Any, Callable

DEFAULT_PLANS = Path(__file__).resolve().parents[1] / "build" / "gpu_plans"
DEFAULT_OUT = Path(__file__).resolve().parent / "results"

#: Attention examples, and whether their mask is causal, for the SDPA baseline.
ATTENTION = {"e2_attention": False, "e2_attention_heads": False,
             "e2_attention_causal": True, "e2_sdpa": False}


def median_ms(function: Callable[[], Any], warmup: int, repeats: int) -> float:
    """Median wall time of one call on the GPU, in milliseconds (CUDA events)."""
    import torch

    for _ in range(warmup):
        function()
    torch.cuda.synchronize()
    times = []
    for _ in range(repeats):
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        function()
        end.record()
        end.synchronize()
        times.append(start.elapsed_time(end))
    return statistics.median(times)


def _first(result: Any) -> Any:
    return result[0] if isinstance(result, (tuple, list)) else result


def _relative_error(actual: Any, expected: Any) -> float:
    actual, expected = actual.double(), expected.double()
    return float((actual - expected).abs().max() / max(1.0, float(expected.abs().max())))


def _variant_choices(plan: Any) -> dict[str, Any]:
    """The variant each tuned launch runs: kernel name -> {kernel, grid, options}."""
    steps = plan.artifact.steps
    return {steps[i]["kernel"]: steps[i]["variants"][c] for i, c in plan.choices.items()}


def bench_example(name: str, plans: Path, warmup: int, repeats: int,
                  autotune: bool = True) -> dict[str, Any]:
    """Time one example every way; its entry in the results."""
    import torch
    import torch.nn.functional as F

    from mirage_mlir.driver.gpu_runtime import GpuPlan
    from mirage_mlir.examples import load_example

    example = load_example(name)
    model = example.make_model().cuda()
    inputs = [t.cuda() for t in example.make_inputs(0)]
    # Training-mode modules (BatchNorm) update their buffers on every call; timing
    # them that way is what each implementation does on each call.
    entry: dict[str, Any] = {"example": name, "title": example.title,
                             "inputs": [list(t.shape) for t in inputs]}
    started = time.perf_counter()
    plan = GpuPlan.load(plans / name, autotune=autotune)
    entry["plan_load_s"] = time.perf_counter() - started
    default = GpuPlan.load(plans / name, autotune=False)
    entry["kernels"] = len(plan.kernels)
    entry["launches"] = sum(1 for s in plan.artifact.steps if s["op"] == "launch")
    with torch.no_grad():
        eager_out = model(*inputs)
        n_user = len(eager_out) if isinstance(eager_out, tuple) else 1
        started = time.perf_counter()
        mirage_out = plan(*inputs)[-n_user]
        torch.cuda.synchronize()
        entry["first_call_s"] = time.perf_counter() - started  # includes any tuning
        entry["autotuned"] = autotune
        entry["timed_launches"] = plan.timed_launches
        entry["variant_choices"] = _variant_choices(plan)
        entry["max_rel_error_vs_eager"] = _relative_error(mirage_out, _first(eager_out))
        times = {"mirage": median_ms(lambda: plan(*inputs), warmup, repeats),
                 "eager": median_ms(lambda: model(*inputs), warmup, repeats)}
        # The same plan replayed from a CUDA graph: one launch per call.
        graphed = plan.capture(*inputs)
        entry["graph_rel_error_vs_eager"] = _relative_error(graphed(*inputs)[-n_user],
                                                            _first(eager_out))
        times["mirage_graph"] = median_ms(lambda: graphed(*inputs), warmup, repeats)
        times["mirage_default"] = median_ms(lambda: default(*inputs), warmup, repeats)
        default_graph = default.capture(*inputs)
        times["mirage_default_graph"] = median_ms(lambda: default_graph(*inputs), warmup, repeats)
        started = time.perf_counter()
        try:
            compiled = torch.compile(model)
            compiled(*inputs)
            entry["torch_compile_s"] = time.perf_counter() - started
            times["torch_compile"] = median_ms(lambda: compiled(*inputs), warmup, repeats)
        except Exception as error:  # a backend failure is a result too
            entry["torch_compile_error"] = f"{type(error).__name__}: {str(error)[:300]}"
        if name in ATTENTION:
            q, k, v = inputs
            causal = ATTENTION[name]
            sdpa_out = F.scaled_dot_product_attention(q, k, v, is_causal=causal)
            entry["sdpa_rel_error_vs_eager"] = _relative_error(sdpa_out, _first(eager_out))
            times["sdpa"] = median_ms(
                lambda: F.scaled_dot_product_attention(q, k, v, is_causal=causal),
                warmup, repeats)
    entry["median_ms"] = times
    entry["speedup_of_mirage"] = {other: times[other] / times["mirage"]
                                  for other in times if not other.startswith("mirage")}
    entry["speedup_of_mirage_graph"] = {other: times[other] / times["mirage_graph"]
                                        for other in times if not other.startswith("mirage")}
    return entry


def plot(results: list[dict[str, Any]], path: Path, device: str) -> None:
    """Bar charts: each baseline's time over mirage's (above 1: mirage is faster).

    Left, the plan launched kernel by kernel from Python; right, replayed as a CUDA graph.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    baselines = ["eager", "torch_compile", "sdpa"]
    names = [r["example"] for r in results]
    figure, panels = plt.subplots(1, 2, figsize=(16, 5.5), sharey=True)
    width = 0.27
    for axes, key, label in ((panels[0], "speedup_of_mirage", "mirage launches"),
                             (panels[1], "speedup_of_mirage_graph", "mirage CUDA graph")):
        for index, baseline in enumerate(baselines):
            values = [r[key].get(baseline, float("nan")) for r in results]
            axes.bar([i + (index - 1) * width for i in range(len(names))], values, width,
                     label=f"{baseline} time / {label} time")
        axes.axhline(1.0, color="black", linewidth=0.8)
        axes.set_yscale("log")
        axes.set_xticks(range(len(names)))
        axes.set_xticklabels(names, rotation=35, ha="right")
        axes.set_title(label)
        axes.legend(fontsize=8)
    panels[0].set_ylabel("time ratio (log scale; >1 = mirage faster)")
    figure.suptitle(f"mirage launch plans vs PyTorch on {device} (median per call)")
    figure.tight_layout()
    figure.savefig(path, dpi=110)


def main(argv: list[str]) -> int:
    """Benchmark the examples; write the JSON (after every example) and the PNG."""
    import torch
    import triton

    from mirage_mlir.examples import EXAMPLE_NAMES

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--plans", type=Path, default=DEFAULT_PLANS)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--warmup", type=int, default=10)
    parser.add_argument("--repeats", type=int, default=100)
    parser.add_argument("--tag", default="h100", help="suffix of the result files")
    parser.add_argument("--examples", nargs="*", default=list(EXAMPLE_NAMES))
    parser.add_argument("--no-autotune", dest="autotune", action="store_false",
                        help="run every launch's default variant")
    options = parser.parse_args(argv)
    if not torch.cuda.is_available():
        print("gpu_examples: CUDA is not available", file=sys.stderr)
        return 1
    device = torch.cuda.get_device_name()
    document: dict[str, Any] = {
        "device": device, "torch": torch.__version__, "triton": triton.__version__,
        "python": platform.python_version(),
        "command": "python -m mirage_mlir.benchmarks.gpu_examples " + " ".join(argv),
        "timing": f"median of {options.repeats} calls after {options.warmup} warm-up calls, "
                  "CUDA events around each call (host launch overhead included)",
        "autotuned": options.autotune,
        "autotune": "each launch's tile variants timed on the first call (do_bench, "
                    "median), the fastest kept and cached; mirage_default* run every "
                    "launch's default variant" if options.autotune else "off",
        "results": [], "failures": {},
    }
    options.out.mkdir(parents=True, exist_ok=True)
    path = options.out / f"gpu_examples_{options.tag}.json"
    for name in options.examples:
        try:
            entry = bench_example(name, options.plans, options.warmup, options.repeats,
                                  options.autotune)
        except Exception as error:  # record and go on to the next example
            document["failures"][name] = f"{type(error).__name__}: {str(error)[:500]}"
            print(f"{name}: FAILED {document['failures'][name]}", flush=True)
        else:
            document["results"].append(entry)
            ratios = ", ".join(f"{k} {v:.2f}x/{entry['speedup_of_mirage_graph'][k]:.2f}x"
                               for k, v in entry["speedup_of_mirage"].items())
            print(f"{name}: " + ", ".join(f"{k} {v:.4f} ms" for k, v in entry["median_ms"].items())
                  + f" | {ratios} | err {entry['max_rel_error_vs_eager']:.1e}", flush=True)
        path.write_text(json.dumps(document, indent=1))
    if document["results"]:
        plot(document["results"], path.with_suffix(".png"), device)
    return 0 if not document["failures"] else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
