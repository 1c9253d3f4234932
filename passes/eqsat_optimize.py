"""`eqsat-optimize`: replace each function by the cheapest equivalent program equality
saturation finds.

For every `func.func`: compute what reads only weights (passes/fold_compile_time.py), recognise
its ops as a term graph, saturate and extract under the
target's cost model (`mirage_mlir.passes.eqsat.optimize_graph`), and write the result back as
`mirage` + linalg ops (`mirage_mlir.passes.emit`). The function's text as it stands runs each
compute op as its own kernel; the optimised program, run as its kernels, replaces it only when
it costs less, when it costs the same in fewer kernels (the `flops` target does not price
kernels), or when it is numerically stable where the input is not (then even at a higher
cost; see `rewrite_reason`). Any other function is left exactly as it was, op for op
(`kept_input`). Functions the term graph cannot hold pass through unchanged as well: a
function with several blocks (branches between them) and one returning no tensor.

    mirage-mlir-opt e1_matrix_chain.mlir -p 'eqsat-optimize{target=flops report=r.json}'

Before (E1, A@B@C@D left to right, 120,000 FLOPs):

    %2 = linalg.matmul ins(%arg0, %arg1 : tensor<100x2xf32>, tensor<2x100xf32>) ...
    %5 = linalg.matmul ins(%2, %arg2 : tensor<100x100xf32>, tensor<100x2xf32>) ...
    %6 = linalg.matmul ins(%5, %arg3 : ...) -> tensor<100x100xf32>

After (41,600 FLOPs, a 2x2 intermediate):

    %m = linalg.matmul ins(%arg1, %arg2 : tensor<2x100xf32>, tensor<100x2xf32>) ... -> tensor<2x2xf32>
    ...

Options: target (h100, a100, cpu, flops), report (path of a JSON report, one entry per
function; the functions passed through without optimisation are listed under
`skipped_functions` with the reason), verify (run the original, its float64 twin and the
optimised function on random inputs, and fail where the optimised function is less accurate
than the original against float64; see `mirage_mlir.passes.emit.verify`), max_iterations, max_enodes, timeout (seconds for the whole optimisation
of each function: encoding, saturation, export, extraction and kernel formation; see
`mirage_mlir.passes.eqsat.budget`), max_memory_mb (growth of the resident set during
saturation, with the predicted memory of the export, in MiB), ilp (exact extraction where the
e-graph is small enough), region_cache (a directory keeping the results of regions between
runs). A large function is optimised by regions (passes/eqsat/regions.py): cut where little
crosses, each distinct region searched once; the report's `regions` says how many regions,
how many distinct, how many searched and how many found in the cache. The report says which limit stopped each function (`stop_reason`),
the peak memory growth (`memory_mb`) and the stages the time limit left out (`skipped`);
`rewrite_reason` is "lower cost", "fewer kernels at equal cost", "numerical stability" or
"fused input" (the input graph itself, emitted as its fused kernels, costs less) for a
rewritten function and null for one kept as it was (whose figures after equal its figures
before).
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, replace
from typing import Any

from xdsl.context import Context
from xdsl.dialects import builtin, func
from xdsl.passes import ModulePass
from xdsl.utils.exceptions import DiagnosticException


@dataclass(frozen=True)
class EqsatOptimize(ModulePass):
    """Equality-saturation superoptimisation of every function (see the module docstring)."""

    name = "eqsat-optimize"

    target: str = "h100"
    report: str = ""
    verify: bool = False
    max_iterations: int = 64
    max_enodes: int = 200_000
    # `float | int`, so that `timeout=2` is accepted as well as `timeout=2.0`.
    timeout: float | int = 10.0
    max_memory_mb: float | int = 2048.0
    ilp: bool = True
    region_cache: str = ""

    def apply(self, ctx: Context, op: builtin.ModuleOp) -> None:
        from mirage_mlir.passes.fold_compile_time import keep_blobs_printable

        keep_blobs_printable(ctx)
        optimize_module(op, self)


def optimize_module(module: builtin.ModuleOp, options: EqsatOptimize) -> dict[str, Any]:
    """Optimise every function of `module` in place; return the report (also written to
    `options.report` when set). Raises DiagnosticException naming the function at fault.
    """
    from mirage_mlir.passes.eqsat.cost import get_target

    try:
        target = get_target(options.target)
    except (KeyError, ValueError) as error:
        raise DiagnosticException(f"eqsat-optimize: {error}") from None
    original_text = _module_text(module) if options.verify else ""
    functions = [
        op for op in module.walk() if isinstance(op, func.FuncOp) and op.body.blocks
    ]
    skipped = [
        {"name": fn.sym_name.data, "reason": reason}
        for fn in functions
        if (reason := skip_reason(fn)) is not None
    ]
    names = {entry["name"] for entry in skipped}
    entries = [
        _optimize_function(fn, target.name, options)
        for fn in functions
        if fn.sym_name.data not in names
    ]
    if options.verify:
        _verify(original_text, module, entries)
    report = {"target": target.name, "functions": entries, "skipped_functions": skipped}
    if options.report:
        try:
            with open(options.report, "w", encoding="utf-8") as out:
                json.dump(report, out, indent=2)
                out.write("\n")
        except OSError as error:
            raise DiagnosticException(
                f"eqsat-optimize: cannot write the report to {options.report}: {error.strerror}"
            ) from None
    return report


def skip_reason(fn: func.FuncOp) -> str | None:
    """Why `fn` is left exactly as it is, or None if it is optimised.

    A function with several blocks has control flow between them (`cf.br`, `cf.cond_br`),
    which the term graph, a dataflow graph of one block, cannot say. A function returning no
    tensor (a scalar helper, a procedure of side effects) holds no tensor program.
    """
    if len(fn.body.blocks) > 1:
        return "has several blocks (control flow between blocks)"
    if not any(
        isinstance(t, builtin.TensorType) for t in fn.function_type.outputs.data
    ):
        return "returns no tensor"
    return None


def _module_text(module: builtin.ModuleOp) -> str:
    from mirage_mlir.dialects.context import print_mlir

    return print_mlir(module)


def _optimize_function(
    fn: func.FuncOp, target: str, options: EqsatOptimize
) -> dict[str, Any]:
    from mirage_mlir.passes.emit import EmitError, emit_function
    from mirage_mlir.passes.eqsat.graph import GraphError
    from mirage_mlir.passes.eqsat.regions import optimize_by_regions
    from mirage_mlir.passes.eqsat.saturate import Limits
    from mirage_mlir.passes.fold_compile_time import fold_compile_time_ops
    from mirage_mlir.passes.recognize import RecognitionError, recognize_function

    name = fn.sym_name.data
    try:
        limits = Limits(
            iterations=options.max_iterations,
            enodes=options.max_enodes,
            seconds=float(options.timeout),
            memory_mb=float(options.max_memory_mb),
            ilp_enodes=Limits().ilp_enodes if options.ilp else 0,
        )
    except ValueError as error:
        raise DiagnosticException(f"eqsat-optimize: {error}") from None
    clock = time.perf_counter()
    stage = "recognition"
    # What reads only weights is computed first, on a copy: the search never spends time on
    # it and kernel formation never counts it. The copy replaces the function only if the
    # function is rewritten; a function kept as it is stays exactly the input.
    work = fn.clone()
    if not fold_compile_time_ops(work.body.block):
        work = fn
    try:
        recognized = recognize_function(work)
        recognize_s = time.perf_counter() - clock
        stage = "optimisation"
        result, regions = optimize_by_regions(
            recognized.graph, target, limits, cache=_region_cache(options)
        )
        clock = time.perf_counter()
        stage = "re-emission"
        reason = rewrite_reason(recognized, result)
        if reason is None:
            result = _kept(recognized, result)
        elif result.kept_input:
            # The input graph, emitted as its fused kernels: no longer the text as it was.
            result = replace(result, kept_input=False)
        kernels = result.kernels
        if reason is not None:
            emit_function(recognized, result.graph, kernels)
            if work is not fn:
                fn.parent.insert_op_before(work, fn)
                fn.parent.erase_op(fn)
        emit_s = time.perf_counter() - clock
    except DiagnosticException as error:
        raise DiagnosticException(
            f"eqsat-optimize: @{name}: {stage} failed: {error}"
        ) from None
    except (EmitError, GraphError, RecognitionError, ValueError) as error:
        raise DiagnosticException(
            f"eqsat-optimize: @{name}: {stage} failed: {error}"
        ) from None
    entry = function_report(name, recognized, result, recognize_s, emit_s, kernels)
    entry["rewrite_reason"] = reason
    entry["regions"] = {
        "regions": regions.regions,
        "distinct": regions.distinct,
        "searched": regions.searched,
        "cache_hits": regions.cache_hits,
    }
    return entry


def _region_cache(options: EqsatOptimize) -> Any:
    """The cache of region results for one run of the pass (on disk under
    `options.region_cache` when set)."""
    from mirage_mlir.passes.eqsat.regions import RegionCache

    return RegionCache(options.region_cache or None)


#: Relative difference below which two costs are the same (they are sums of floats).
_SAME_COST = 1e-9


def rewrite_reason(recognized: Any, result: Any) -> str | None:
    """Why the optimised program replaces the function's text, or None to keep it op for op.

    The text as it stands runs each compute op as its own kernel: its cost is the result's
    `cost_before`, and its kernels are the function's compute ops. The optimised program,
    run as its kernels, replaces it when it costs less ("lower cost"), when it costs the same
    in fewer kernels ("fewer kernels at equal cost": the `flops` target does not price
    kernels), or when the program has fewer numerically unstable exp/log nodes than the input
    ("numerical stability", whatever it costs; see passes/eqsat/stability.py). Otherwise,
    and whenever the optimiser returned the input itself, the text is kept.
    """
    from mirage_mlir.passes.eqsat.fusion_choice import unstable_exps

    before, after = result.cost_before, result.cost_after
    margin = _SAME_COST * max(abs(before), abs(after))
    if result.kept_input:
        # The input itself, run as fused kernels, is a rewrite when that costs less than the
        # input op by op.
        if result.kernels is not None and after < before - margin:
            return "fused input"
        return None
    kernels_after = (
        len(result.kernels) if result.kernels is not None else result.kernels_after
    )
    if after < before - margin:
        return "lower cost"
    if after <= before + margin and kernels_after < recognized.compute_ops:
        return "fewer kernels at equal cost"
    if unstable_exps(result.graph) < unstable_exps(recognized.graph):
        return "numerical stability"
    return None


def _kept(recognized: Any, result: Any) -> Any:
    """`result` for a function whose text is kept: the input, with its figures after equal to
    its figures before (each compute op its own kernel)."""
    from dataclasses import replace

    return replace(
        result,
        graph=recognized.graph,
        kept_input=True,
        cost_after=result.cost_before,
        flops_after=result.flops_before,
        bytes_after=result.bytes_before,
        kernels_after=recognized.compute_ops,
        kernels=None,
        fusion_choice="input",
    )


def function_report(
    name: str,
    recognized: Any,
    result: Any,
    recognize_s: float,
    emit_s: float,
    kernels: Any,
) -> dict[str, Any]:
    """The report entry of one function (see the module docstring of driver/optimize.py)."""
    seconds = result.seconds
    kernels_after = len(kernels) if kernels is not None else result.kernels_after
    return {
        "name": name,
        "target": result.target,
        "cost_unit": "flops" if result.target == "flops" else "s",
        "cost_before_s": result.cost_before,
        "cost_after_s": result.cost_after,
        "flops_before": result.flops_before,
        "flops_after": result.flops_after,
        "bytes_before": result.bytes_before,
        "bytes_after": result.bytes_after,
        "kernels_before": recognized.compute_ops,
        "kernels_after": kernels_after,
        "eclasses": result.eclasses,
        "enodes": result.enodes,
        "iterations": result.iterations,
        "saturated": result.saturated,
        "stop_reason": result.stop_reason,
        "programs": result.programs,
        "extraction": result.extraction,
        "extraction_optimal": result.extraction_optimal,
        "ilp_status": result.ilp_status,
        "kept_input": result.kept_input,
        "memory_mb": result.memory_mb,
        "skipped": list(result.skipped),
        "opaque_ops": len(recognized.opaque_ops),
        "seconds": {
            "recognize": recognize_s,
            "saturate": seconds.get("encode", 0.0) + seconds.get("saturate", 0.0),
            "extract": sum(
                seconds.get(s, 0.0) for s in ("export", "extract", "decode", "fuse")
            ),
            "emit": emit_s,
        },
    }


def _verify(
    original_text: str, module: builtin.ModuleOp, entries: list[dict[str, Any]]
) -> None:
    """Judge each rewritten function and the original against the original's float64 twin
    (passes/emit/verify.py) and record the outcome in its report entry."""
    from mirage_mlir.passes.emit.verify import VerificationError, verify_function

    for entry in entries:
        if entry["kept_input"]:
            # Not rewritten: the function is the original, op for op.
            entry["verified"] = True
            entry["max_abs_error"] = [0.0] * _tensor_results(module, entry["name"])
            entry["verify_reference"] = "identical"
            entry["original_overflowed"] = None
            entry["verify_outputs"] = []
            entry["verify_note"] = "kept as it was: nothing to compare"
            continue
        try:
            check = verify_function(original_text, module, entry["name"])
        except VerificationError as error:
            raise DiagnosticException(f"eqsat-optimize verify: {error}") from None
        except Exception as error:  # the executors' own errors: name the function
            raise DiagnosticException(
                f"eqsat-optimize verify: @{entry['name']}: could not run: {error}"
            ) from None
        entry["verified"] = True
        entry["max_abs_error"] = list(check.max_abs_error)
        entry["verify_reference"] = check.reference
        entry["original_overflowed"] = check.original_overflowed
        entry["verify_outputs"] = [o.as_dict() for o in check.outputs]
        entry["verify_note"] = check.summary()


def _tensor_results(module: builtin.ModuleOp, name: str) -> int:
    for op in module.walk():
        if isinstance(op, func.FuncOp) and op.sym_name.data == name:
            return sum(
                isinstance(t, builtin.TensorType) for t in op.function_type.outputs.data
            )
    return 0
