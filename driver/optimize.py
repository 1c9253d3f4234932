"""`mirage_mlir.optimize`: the `eqsat-optimize` pass as a function on MLIR text.

    import mirage_mlir as mm
    result = mm.optimize(mlir_text, target="flops", verify=True, timeout=5.0)
    result.mlir                 # the optimised module (weights preserved)
    result.report["functions"]  # one entry per function

Each report entry has: name, target, cost_unit ("s", or "flops" for target=flops),
cost_before_s, cost_after_s, flops_before, flops_after, bytes_before, bytes_after,
kernels_before (compute ops of the input), kernels_after, eclasses, enodes, iterations,
saturated, stop_reason, programs (the number of equivalent programs the e-graph holds, None
when it is cyclic), extraction ("greedy" or "ilp"), extraction_optimal, ilp_status,
kept_input (nothing cheaper was found: the function is unchanged), opaque_ops, regions
(regions, distinct, searched, cache_hits: see passes/eqsat/regions.py), and seconds
per stage (recognize, saturate, extract, emit); with verify, also verified,
max_abs_error per output (against the original evaluated in float64), verify_reference,
original_overflowed, verify_outputs and verify_note (passes/emit/verify.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from mirage_mlir.driver.errors import MirageError

#: The limits `optimize` accepts as keyword arguments (the pass's options of the same names).
LIMIT_OPTIONS = ("max_iterations", "max_enodes", "timeout", "max_memory_mb", "ilp")


class OptimizeError(MirageError):
    """eqsat-optimize failed on a function (the message names it)."""


@dataclass(frozen=True)
class OptimizeResult:
    """The optimised module as MLIR text, and the report of every function."""

    mlir: str
    report: dict[str, Any]


def optimize(
    mlir_text: str,
    target: str = "h100",
    verify: bool = False,
    source_name: str = "<string>",
    region_cache: str | None = None,
    **limits: Any,
) -> OptimizeResult:
    """Run `eqsat-optimize` on a module given as text.

    `limits` may set max_iterations, max_enodes, timeout (seconds), max_memory_mb and ilp
    (the pass's options of the same names). Each function's report gives, besides costs,
    FLOPs, bytes and kernels, the e-graph's size, `stop_reason`, the peak memory growth
    `memory_mb`, the optional stages the time limit left out (`skipped`) and why a function was
    rewritten (`rewrite_reason`) or skipped (`skipped_functions`), and how a large function
    was cut into regions (`regions`: regions, distinct, searched, cache_hits).
    `region_cache` is a directory keeping region results between runs
    (passes/eqsat/regions.py). Raises
    MlirError (located) for text that does not parse and OptimizeError naming the function
    for a failure inside the pass (including a failed `verify`).
    """
    from xdsl.utils.exceptions import DiagnosticException

    from mirage_mlir.dialects.context import parse_mlir, print_mlir
    from mirage_mlir.passes.eqsat_optimize import EqsatOptimize, optimize_module

    unknown = sorted(set(limits) - set(LIMIT_OPTIONS))
    if unknown:
        raise TypeError(
            f"optimize() got unknown limits {', '.join(unknown)}; known: {', '.join(LIMIT_OPTIONS)}"
        )
    options = EqsatOptimize(
        target=target, verify=verify, region_cache=region_cache or "", **limits
    )
    module = parse_mlir(mlir_text, source_name)
    try:
        report = optimize_module(module, options)
    except DiagnosticException as error:
        raise OptimizeError(str(error)) from None
    return OptimizeResult(print_mlir(module), report)

