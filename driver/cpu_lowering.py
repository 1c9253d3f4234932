"""Lowering of linalg on tensors to the LLVM dialect, for the CPU reference executor.

The reference executor (`mirage_mlir.driver.executor`) JIT-compiles the linalg-on-tensors
functions torch-mlir emits, with upstream MLIR passes from torch-mlir's bundled
bindings. This module holds that lowering: ordered pass stages and one IR rewrite.

The calling convention the executor relies on: after lowering, every function takes its
tensor arguments as memref descriptors, then one caller-allocated memref per result
(static shape, identity layout), and returns nothing. Buffers a function allocates for
itself are freed before it returns.

Order matters in three places, each explained at the stage that needs it:

- results become out-parameters only with ``modify-public-functions=true`` (otherwise
  the public entry point keeps returning memrefs and the caller's buffers stay
  unwritten);
- ``memref.copy`` out of a strided view lowers to a call into MLIR's C runner library,
  which torch-mlir does not ship, so copies become ``linalg.copy`` first;
- ``llvm-request-c-wrappers`` must run before the math lowerings that add libm and
  helper declarations, or those get C-wrapper requests too and the JIT cannot resolve
  them.

Example, for a function returning ``tensor<3x4xf32>`` computed by a generic: the result
becomes a trailing ``memref<3x4xf32>`` argument and the generic writes straight into it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable


@dataclass(frozen=True)
class LoweringStage:
    """One pass (or nested pipeline) of the lowering, anchored on `builtin.module`.

    `passes` is MLIR's textual pipeline syntax for what runs inside the module, for
    example ``func.func(convert-linalg-to-loops)``.
    """

    passes: str

    @property
    def pipeline(self) -> str:
        """The stage as a complete pipeline string for `PassManager.parse`."""
        return f"builtin.module({self.passes})"


# Tensors to buffers, results to out-parameters, and deallocation of every temporary.
BUFFERIZATION_STAGES: tuple[LoweringStage, ...] = (
    # arith/math ops applied to whole tensors have no bufferization; as linalg.generic
    # they become loops like everything else.
    LoweringStage("func.func(convert-elementwise-to-linalg)"),
    # Named ops (matmul, transpose, fill, ...) as generics: one loop lowering for all.
    LoweringStage("func.func(linalg-generalize-named-ops)"),
    # Identity layouts at function boundaries, so that dense NumPy arrays are valid
    # arguments and results.
    LoweringStage(
        "one-shot-bufferize{bufferize-function-boundaries "
        "function-boundary-type-conversion=identity-layout-map}"
    ),
    # Without modify-public-functions the entry point keeps returning memrefs and the
    # caller's out-parameters are never written. Each result is computed into a
    # temporary and copied out: hoist-static-allocs=true would save the copy, but this
    # build's pass crashes the process (a segmentation fault) on a function that
    # returns the same value twice (`return %r, %r`).
    LoweringStage(
        "buffer-results-to-out-params{modify-public-functions=true "
        "hoist-static-allocs=false}"
    ),
    # Ownership-based deallocation: every memref.alloc gets its memref.dealloc, so
    # repeated calls do not grow the process. Results are out-parameters by now, so no
    # buffer escapes a function.
    LoweringStage("ownership-based-buffer-deallocation"),
    LoweringStage("canonicalize"),
    LoweringStage("buffer-deallocation-simplification"),
    LoweringStage("bufferization-lower-deallocations"),
    LoweringStage("canonicalize"),
)

# Buffers and loops to the LLVM dialect; `rewrite_memref_copies` runs before these.
LLVM_STAGES: tuple[LoweringStage, ...] = (
    LoweringStage("func.func(convert-linalg-to-loops)"),
    # bf16 never reaches LLVM as a float type: `widen_narrow_math` (run before these
    # stages) leaves only conversions on bf16, and these become integer bit operations
    # (round to nearest even, NaN kept quiet).
    LoweringStage("func.func(arith-expand{include-bf16=true})"),
    LoweringStage("lower-affine"),
    LoweringStage("convert-scf-to-cf"),
    LoweringStage("expand-strided-metadata"),
    LoweringStage("finalize-memref-to-llvm"),
    # Must precede every pass that adds function declarations (libm's erff for the erf
    # in GELU, power helpers): a wrapper request on a declaration makes the JIT look
    # for `_mlir_ciface_erff`, which does not exist.
    LoweringStage("func.func(llvm-request-c-wrappers)"),
    # math.fpowi / math.ipowi (integer powers, e.g. x ** 3) have no LLVM intrinsic.
    LoweringStage("convert-math-to-funcs"),
    LoweringStage("convert-math-to-llvm"),
    LoweringStage("convert-math-to-libm"),
    LoweringStage("convert-arith-to-llvm"),
    LoweringStage("convert-func-to-llvm"),
    LoweringStage("convert-cf-to-llvm"),
    LoweringStage("reconcile-unrealized-casts"),
)


def lower_to_llvm(module: Any, run: Callable[[LoweringStage], None]) -> None:
    """Lower `module` (a `torch_mlir.ir.Module`) in place, from tensors to LLVM.

    `run` runs one stage on the module (the executor wraps MLIR's errors there). The
    two IR rewrites that are not registered passes sit between the stage lists.
    """
    tm_tensor = _has_tm_tensor_ops(module)
    for stage in BUFFERIZATION_STAGES:
        if tm_tensor and stage.passes.startswith("one-shot-bufferize"):
            for extra in TM_TENSOR_BUFFERIZATION:
                run(extra)
            stage = LoweringStage(stage.passes.replace("{", "{copy-before-write ", 1))
        run(stage)
    rewrite_memref_copies(module)
    widen_narrow_math(module)
    for stage in LLVM_STAGES:
        if tm_tensor and stage.passes == "func.func(convert-linalg-to-loops)":
            run(TM_TENSOR_TO_LOOPS)
        run(stage)


# torch-mlir's own ops (sort, topk, scan, scatter) have their own bufferization and loop
# lowering, run only for modules that hold them. Their bufferization leaves
# `bufferization.to_tensor` ops without `restrict`, which one-shot bufferization accepts
# only with copy-before-write (a copy at every write into a buffer that may be shared), so
# that option too is set for these modules alone.
TM_TENSOR_BUFFERIZATION = (LoweringStage("func.func(tm-tensor-bufferize)"),)
TM_TENSOR_TO_LOOPS = LoweringStage("func.func(tm-tensor-to-loops)")


def load_tm_tensor_dialect(context: Any) -> None:
    """Make `context` (a `torch_mlir.ir.Context`) know torch-mlir's tm_tensor dialect.

    torch-mlir's Python package registers its passes but offers no call that loads the
    dialect; building a pipeline of the pass that produces tm_tensor ops loads it as that
    pass's dependent dialect. Importing `_torchMlir` registers torch-mlir's passes (that one
    and the tm_tensor lowerings) with MLIR.
    """
    import torch_mlir._mlir_libs._torchMlir  # noqa: F401  (registers the passes)
    from torch_mlir import ir, passmanager

    with context, ir.Location.unknown():
        empty = ir.Module.create()
        passmanager.PassManager.parse(
            "builtin.module(func.func(convert-torch-to-tmtensor))"
        ).run(empty.operation)


def _has_tm_tensor_ops(module: Any) -> bool:
    from torch_mlir import ir

    found = False

    def visit(op: Any) -> Any:
        nonlocal found
        if op.name.startswith("tm_tensor."):
            found = True
            return ir.WalkResult.INTERRUPT
        return ir.WalkResult.ADVANCE

    module.operation.walk(visit)
    return found


def full_pipeline_text() -> str:
    """The whole lowering in MLIR's pipeline syntax, for error messages.

    The `memref.copy` rewrite between the two lists is not a registered pass; it is
    named on a line of its own.
    """
    bufferization = ",".join(stage.passes for stage in BUFFERIZATION_STAGES)
    to_llvm = ",".join(stage.passes for stage in LLVM_STAGES)
    return (
        f"builtin.module({bufferization})\n"
        "  then memref.copy -> linalg.copy (mirage_mlir.driver.cpu_lowering)\n"
        "  then arith/math on bf16/f16 computed in f32 (mirage_mlir.driver.cpu_lowering)\n"
        f"  then builtin.module({to_llvm})"
    )


def rewrite_memref_copies(module: Any) -> int:
    """Replace every `memref.copy` in `module` by a `linalg.copy`; return how many.

    `finalize-memref-to-llvm` lowers a copy between contiguous identity-layout memrefs
    to a memcpy, but a copy out of a strided view (a function that returns a slice of
    its input, say) becomes a call to `memrefCopy` from MLIR's C runner library, which
    torch-mlir's wheel does not ship: the JIT then fails with "Symbols not found:
    memrefCopy". A `linalg.copy` becomes plain loops instead.

    `module` is a `torch_mlir.ir.Module`; the caller holds its context.
    """
    from torch_mlir import ir
    from torch_mlir.dialects import linalg

    copies: list[Any] = []

    def collect(op: Any) -> Any:
        if op.name == "memref.copy":
            copies.append(op)
        return ir.WalkResult.ADVANCE

    module.operation.walk(collect)
    for copy in copies:
        source, target = copy.operands[0], copy.operands[1]
        with ir.InsertionPoint(copy), copy.location:
            linalg.copy(source, outs=[target])
        copy.erase()
    return len(copies)


_NARROW_FLOATS = ("bf16", "f16")
# Ops that only move or reinterpret narrow values, or convert them explicitly.
_KEPT_NARROW = frozenset(
    {"arith.extf", "arith.truncf", "arith.bitcast", "arith.constant", "arith.select"}
)


def widen_narrow_math(module: Any) -> int:
    """Compute every arith/math op on bf16 or f16 in f32, rounding each result back.

    LLVM lowers a bf16 operation either to native instructions (CPUs with AVX512-BF16)
    or to calls into the compiler runtime (`__truncsfbf2`), which libgcc before GCC 13
    lacks: the same module ran on one machine and failed to link on another. After this
    rewrite only `arith.extf`/`arith.truncf` touch bf16, and `arith-expand` turns those
    into integer operations.

    Upstream's widening passes (`arith-emulate-unsupported-floats`,
    `math-extend-to-supported-types`) lose the rounding between two widened ops: the
    first marks its casts `contract`, which lets the greedy rewriter fold extf(truncf(x))
    to x; the second never materialises the cast between two converted ops. Either way
    tanh-then-exp is computed wholly in f32 and differs from torch, which rounds after
    every op. Here each op is widened on its own with plain casts.

    Returns how many ops were rewritten. `module` is a `torch_mlir.ir.Module`; the
    caller holds its context.
    """
    from torch_mlir import ir

    def narrow(value: Any) -> bool:
        return str(value.type) in _NARROW_FLOATS

    narrow_ops: list[Any] = []

    def collect(op: Any) -> Any:
        if (
            op.name.split(".")[0] in ("arith", "math")
            and op.name not in _KEPT_NARROW
            and len(op.regions) == 0
            and (
                any(narrow(v) for v in op.operands)
                or any(narrow(r) for r in op.results)
            )
        ):
            narrow_ops.append(op)
        return ir.WalkResult.ADVANCE

    module.operation.walk(collect)
    f32 = ir.F32Type.get()
    for op in narrow_ops:
        with ir.InsertionPoint(op), op.location:
            operands = [
                (
                    ir.Operation.create(
                        "arith.extf", results=[f32], operands=[v]
                    ).result
                    if narrow(v)
                    else v
                )
                for v in op.operands
            ]
            wide = ir.Operation.create(
                op.name,
                results=[f32 if narrow(r) else r.type for r in op.results],
                operands=operands,
                attributes={name: op.attributes[name] for name in op.attributes},
            )
        with ir.InsertionPoint.after(wide), op.location:
            for old, new in zip(op.results, wide.results):
                if narrow(old):
                    new = ir.Operation.create(
                        "arith.truncf", results=[old.type], operands=[new]
                    ).result
                old.replace_all_uses_with(new)
        op.erase()
    return len(narrow_ops)
