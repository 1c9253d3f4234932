"""Printing a lowered module at a Triton stage: `ttir`, `ttgir` or `ptx`.

`mirage-mlir-opt --emit=STAGE` stops there: after the pipeline has produced `tt.func` kernels
(`-p 'eqsat-optimize,convert-mirage-to-triton'`, or TTIR given directly), every kernel is
printed at that stage, each after a `// kernel: NAME` line. `ttir` is the generic-form text
`triton.compile` reads; `ttgir` and `ptx` come from `triton.compile` for the chosen compute
capability (no GPU needed), through the on-disk cache of lowering/staging.py.
"""

from __future__ import annotations

from xdsl.dialects.builtin import ModuleOp

STAGES = ("mlir", "ttir", "ttgir", "ptx")


class NoKernelsError(ValueError):
    """The module has no `tt.func` kernel to print at a Triton stage."""


def kernel_texts(module: ModuleOp, stage: str, arch: int = 90) -> list[tuple[str, str]]:
    """(name, text at `stage`) for every `tt.func` of `module`, in module order."""
    from mirage_mlir.lowering.ttir import print_ttir

    if stage not in STAGES[1:]:
        raise ValueError(f"unknown stage '{stage}'; stages: {', '.join(STAGES[1:])}")
    kernels = [op for op in module.walk() if op.name == "tt.func"]
    if not kernels:
        raise NoKernelsError(
            f"--emit={stage} needs Triton kernels: run -p convert-mirage-to-triton "
            "(after eqsat-optimize) or give TTIR"
        )
    texts = []
    for kernel in kernels:
        ttir = print_ttir(ModuleOp([kernel.clone()]))
        if stage != "ttir":
            from mirage_mlir.lowering.staging import TritonOptions, compile_ttir

            compiled = compile_ttir(ttir, TritonOptions(arch=arch))
            ttir = compiled.ttgir if stage == "ttgir" else compiled.ptx
        texts.append((kernel.sym_name.data, ttir))
    return texts


def emit_stage(module: ModuleOp, stage: str, arch: int = 90) -> str:
    """Every kernel of `module` at `stage`, each after a `// kernel: NAME` line."""
    return "".join(
        f"// kernel: {name}\n{text.rstrip()}\n" for name, text in kernel_texts(module, stage, arch)
    )
