"""The fusions Mirage finds, at its benchmark's shapes: what the optimiser makes of them for h100.

Six programs, each at b = 1 and 8 in f32 and f16, with every weight a function argument (so
the import stays small; the minimum below moves each once either way):

    gqa             softmax(Q·Kᵀ/8)·V         Q (2b, 256, 64), K and V (2b, 4096, 64)
    qknorm_gqa      the same on rms(Q)·wq, rms(K)·wk
    rmsnorm_linear  rms(X)·g @ W              X (2b, 4096), W (4096, 6144)
    lora            X@W + (X@A)@B             X (16, 256), W (256, 4096), A (256, 16), B (16, 4096)
    gated_mlp       silu(X@W1)·(X@W2)         X (8b, 4096), W1 and W2 (4096, 4096)
    ntrans          rms(H + α·(rms(X)·w1 - H))·w2   H, X, α (8b, 4096)

For each: kernels before -> after (`mirage_mlir.optimize`, target h100, `verify=True`: the
optimised program against the original and its float64 twin on random inputs), whether
every kernel lowers (`convert-mirage-to-triton`) and compiles to a cubin for sm_90, and the
cost model's time against the roofline minimum of the program: every input, weight and
output moved once at the H100's bandwidth, or its FLOPs at the matrix peak, whichever is
longer, plus one launch.

    python benchmarks/peer_cases.py
    python benchmarks/peer_cases.py --cases lora gated_mlp --batches 1

Writes benchmarks/results/peer_cases.json and .png.
"""

from __future__ import annotations

import argparse
import math
import pathlib
import sys
import time

RESULTS = pathlib.Path(__file__).resolve().parent / "results"
sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))

from environment import environment, write_results  # noqa: E402

CASES = ("gqa", "qknorm_gqa", "rmsnorm_linear", "lora", "gated_mlp", "ntrans")


def _rms(x, w):
    import torch

    return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + 1e-6) * w


def _program(name: str, b: int, dtype):
    """(module, inputs, FLOPs) of case `name` at batch factor b."""
    import torch
    import torch.nn.functional as F

    g = torch.Generator().manual_seed(0)

    def t(*shape, scale=1.0):
        return (torch.randn(*shape, generator=g) * scale).to(dtype)

    def w(n):
        return (torch.rand(n, generator=g) + 0.5).to(dtype)

    class Attention(torch.nn.Module):
        def forward(self, q, k, v):
            return torch.softmax(q @ k.transpose(-1, -2) * 0.125, dim=-1) @ v

    class QKNorm(torch.nn.Module):
        def forward(self, q, k, v, wq, wk):
            q, k = _rms(q, wq), _rms(k, wk)
            return torch.softmax(q @ k.transpose(-1, -2) * 0.125, dim=-1) @ v

    class RMSNormLinear(torch.nn.Module):
        def forward(self, x, g_, w_):
            return _rms(x, g_) @ w_

    class LoRA(torch.nn.Module):
        def forward(self, x, w_, a, b_):
            return x @ w_ + (x @ a) @ b_

    class GatedMLP(torch.nn.Module):
        def forward(self, x, w1, w2):
            return F.silu(x @ w1) * (x @ w2)

    class NTrans(torch.nn.Module):
        def forward(self, h, x, alpha, w1, w2):
            return _rms(h + alpha * (_rms(x, w1) - h), w2)

    if name in ("gqa", "qknorm_gqa"):
        q, k, v = t(2 * b, 256, 64), t(2 * b, 4096, 64), t(2 * b, 4096, 64)
        flops = 2 * 2 * (2 * b) * 256 * 4096 * 64
        if name == "gqa":
            return Attention(), (q, k, v), flops
        return QKNorm(), (q, k, v, w(64), w(64)), flops
    if name == "rmsnorm_linear":
        return RMSNormLinear(), (t(2 * b, 4096), w(4096), t(4096, 6144, scale=0.02)), (
            2 * (2 * b) * 4096 * 6144
        )
    if name == "lora":
        x, w_, a, b_ = t(16, 256), t(256, 4096, scale=0.05), t(256, 16, scale=0.05), t(16, 4096, scale=0.05)
        return LoRA(), (x, w_, a, b_), 2 * 16 * 256 * 4096 + 2 * 16 * 256 * 16 + 2 * 16 * 16 * 4096
    if name == "gated_mlp":
        return GatedMLP(), (t(8 * b, 4096), t(4096, 4096, scale=0.02), t(4096, 4096, scale=0.02)), (
            2 * 2 * (8 * b) * 4096 * 4096
        )
    if name == "ntrans":
        return NTrans(), (t(8 * b, 4096), t(8 * b, 4096), t(8 * b, 4096), w(4096), w(4096)), (
            10 * (8 * b) * 4096
        )
    raise KeyError(name)


def _minimum_seconds(inputs, output, flops: int, dtype_name: str) -> float:
    """The roofline minimum: everything moved once, or the FLOPs at the matrix peak."""
    from mirage_mlir.passes.eqsat.cost import get_target

    target = get_target("h100")
    moved = sum(x.numel() * x.element_size() for x in (*inputs, output))
    return max(moved / target.bandwidth, flops / target.peak("matrix", dtype_name)) + target.launch


def measure(name: str, b: int, dtype_name: str) -> dict:
    import torch

    import mirage_mlir as mm
    from mirage_mlir.driver.optimize import OptimizeError
    from mirage_mlir.lowering.program import lower_module
    from mirage_mlir.lowering.staging import TritonOptions, compile_ttir

    dtype = {"f32": torch.float32, "f16": torch.float16}[dtype_name]
    model, inputs, flops = _program(name, b, dtype)
    with torch.no_grad():
        output = model(*(x.float() for x in inputs)).to(dtype)
    text = mm.import_torch(model, *inputs)
    started = time.perf_counter()
    verify_error = None
    try:
        result = mm.optimize(text, target="h100", verify=True)
    except OptimizeError as error:
        # The optimised program is less accurate than the input: recorded, and the program
        # measured as the optimiser would have emitted it.
        verify_error = str(error).splitlines()[0][:300]
        result = mm.optimize(text, target="h100")
    seconds = time.perf_counter() - started
    (entry,) = result.report["functions"]
    row = {
        "case": name,
        "b": b,
        "dtype": dtype_name,
        "kernels_before": entry["kernels_before"],
        "kernels_after": entry["kernels_after"],
        "verified": verify_error is None and bool(entry.get("verified")),
        "verify_error": verify_error,
        "rewrite_reason": entry["rewrite_reason"],
        "modelled_us": entry["cost_after_s"] * 1e6,
        "modelled_before_us": entry["cost_before_s"] * 1e6,
        "minimum_us": _minimum_seconds(inputs, output, flops, dtype_name) * 1e6,
        "optimise_s": seconds,
    }
    row["over_minimum"] = row["modelled_us"] / row["minimum_us"]
    try:
        lowered = lower_module(result.mlir, arch=90)
        row["launches"] = len(lowered.launches())
        failures = []
        for kernel_name, ttir in lowered.kernels:
            try:
                compile_ttir(ttir, TritonOptions(arch=90))
            except Exception as error:  # noqa: BLE001 - recorded per kernel
                failures.append(f"{kernel_name}: {str(error).splitlines()[0][:200]}")
        row["cubin"] = "all" if not failures else failures
    except Exception as error:  # noqa: BLE001 - a lowering gap is a result here
        row["launches"] = None
        row["cubin"] = f"lowering failed: {str(error).splitlines()[0][:200]}"
    return row


def plot(data: dict, path: pathlib.Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = data["rows"]
    labels = [f"{r['case']}\nb={r['b']} {r['dtype']}" for r in rows]
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(max(8, len(rows) * 0.6), 7), sharex=True)
    top.bar(range(len(rows)), [r["kernels_after"] for r in rows], color="tab:blue")
    top.set_ylabel("kernels after")
    bottom.bar(range(len(rows)), [r["over_minimum"] for r in rows], color="tab:orange")
    bottom.axhline(1.5, color="grey", linestyle="--", linewidth=1)
    bottom.set_ylabel("modelled / roofline minimum")
    bottom.set_xticks(range(len(rows)), labels, rotation=90, fontsize=7)
    fig.suptitle("Mirage's benchmark programs, optimised for h100 (cost model)")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", nargs="*", default=list(CASES), choices=CASES)
    parser.add_argument("--batches", nargs="*", type=int, default=[1, 8])
    parser.add_argument("--dtypes", nargs="*", default=["f32", "f16"])
    parser.add_argument("--out", type=pathlib.Path, default=RESULTS)
    args = parser.parse_args(argv)
    rows = []
    for name in args.cases:
        for b in args.batches:
            if name == "lora" and b != args.batches[0]:
                continue  # LoRA's shapes do not depend on b
            for dtype_name in args.dtypes:
                row = measure(name, b, dtype_name)
                rows.append(row)
                print(
                    f"{name:15s} b={b} {dtype_name}: kernels {row['kernels_before']} -> "
                    f"{row['kernels_after']} (launches {row['launches']}), "
                    f"verified {row['verified']}, cubin {row['cubin'] if row['cubin'] == 'all' else 'FAILED'}, "
                    f"modelled {row['modelled_us']:.1f} us = {row['over_minimum']:.2f}x the minimum "
                    f"{row['minimum_us']:.1f} us",
                    flush=True,
                )
    data = {"benchmark": "peer_cases", "target": "h100", "rows": rows, **environment()}
    write_results(args.out, "peer_cases", data, plot)
    return 0


if __name__ == "__main__":
    sys.exit(main())
