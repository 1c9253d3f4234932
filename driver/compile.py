"""`mirage_mlir.compile`: a PyTorch model to a `CompiledModule`, and `mirage_mlir.load`.

```python
import mirage_mlir as mm
cm = mm.compile(model, x, target="auto")   # import, optimise, lower, compile kernels
y = cm(x)                                  # runs the optimised program
print(cm.report)                           # cost, FLOPs, bytes, kernels, stage times
cm.save("artifact/"); mm.load("artifact/")(x)   # no torch-mlir needed to load
```

Stages: import (torch.export + torch-mlir), optimize (`eqsat-optimize`), and for
GPU targets (or `interpret=True`) lower (`convert-mirage-to-triton`) and
compile (Triton to ttgir/ptx/cubin).  A failed lowering or kernel compile is
recorded in the report and never fails the compile: the CPU runtime
(`torch_executor`) runs the optimised module on torch CPU tensors.

When every kernel compiled, the module keeps the launch plan
(`lowering.artifact`); called with CUDA tensors on a machine with CUDA, it
runs that plan on the GPU (`driver.gpu_runtime`), and `save` writes it to
`<artifact>/plan/` so that `load` runs it too.  CPU tensors take the CPU
runtime as before.

Training-mode buffers (BatchNorm's running statistics): torch-mlir returns the
updated buffers first, in registration order, then the outputs.  A
`CompiledModule` copies them back into the model's buffers after every call,
and feeds the model's current buffer values into the next call.

The compile cache (`driver.cache`) is consulted twice: by the model's
fingerprint before anything is imported (a hit loads the artifact and does
nothing else), then by the imported MLIR's hash (a hit skips optimisation,
lowering and Triton).  An artifact keeps its weights as raw bytes beside the
MLIR (`driver.weights`), so loading one parses only the module's ops; a cache
entry also keeps a snapshot of the parsed module, so a hit parses nothing
(`driver.runtime_loading`).
"""

from __future__ import annotations

import json
import os
import time
import warnings
from pathlib import Path
from typing import Any

from mirage_mlir.driver.errors import MirageError
from mirage_mlir.driver.report import CompileReport

__all__ = ["CompiledModule", "compile", "load"]

#: Targets whose kernels are lowered to Triton and compiled for a GPU.
GPU_TARGETS = ("h100", "a100")
_FORMAT = 1


class CompileError(MirageError):
    """The compiled module was called wrongly, or an artifact is unreadable."""


def _resolve_target(target: str) -> str:
    if target != "auto":
        return target
    import torch

    return "h100" if torch.cuda.is_available() else "cpu"


def compile(  # noqa: A001 - the public name the design card gives it
    model: Any,
    *example_inputs: Any,
    target: str = "auto",
    interpret: bool = False,
    cache_dir: str | os.PathLike | None = None,
    use_cache: bool = True,
    verbose: bool | None = None,
    cpu_codegen: str = "aten",
    **limits: Any,
) -> "CompiledModule":
    """Compile `model` for inputs shaped like `example_inputs` (see the module docstring).

    `target` is h100, a100, cpu, flops or auto (h100 when CUDA is available,
    else cpu).  `limits` are the optimiser's (max_iterations, max_enodes,
    timeout, ilp).  `interpret=True` runs the Triton kernels in the NumPy
    interpreter where the whole plan lowers.  The cache lives in `cache_dir`
    (default `$MIRAGE_CACHE_DIR` or ~/.cache/mirage-mlir); `use_cache=False`
    bypasses it.  Progress goes to stderr (driver/progress.py): on a terminal once the
    compile has taken 2 s (stage, regions searched), every step with `verbose=True` or
    MIRAGE_VERBOSE=1, nothing with `verbose=False`.
    `cpu_codegen` says what runs the CPU runtime's traced graph (driver/torch_graph.py):
    "aten" (its aten ops, the default) or "inductor" (torch.compile's CPU code generation:
    faster calls, tens of seconds more to compile the first time).
    """
    from mirage_mlir.driver.torch_graph import CODEGENS

    if cpu_codegen not in CODEGENS:
        raise CompileError(
            f"cpu_codegen={cpu_codegen!r}: expected one of {', '.join(CODEGENS)}"
        )
    from mirage_mlir.driver.cache import CompileCache, artifact_key, model_fingerprint

    from mirage_mlir.driver.progress import Progress

    progress = Progress(verbose)
    target = _resolve_target(target)
    options = {"interpret": interpret, **limits}
    if cpu_codegen != "aten":
        options["cpu_codegen"] = cpu_codegen
    # The interpreted plan is not part of a saved artifact, so it is never cached.
    cache = CompileCache(cache_dir) if use_cache and not interpret else None
    fingerprint = None
    if cache is not None:
        started = time.perf_counter()
        fingerprint = model_fingerprint(model, example_inputs, target, options)
        entry = cache.lookup_model(fingerprint) if fingerprint is not None else None
        compiled = _load_cached(cache, entry, model, progress)
        if compiled is not None:
            compiled.program.codegen = cpu_codegen
            compiled.report["stages"] = {"load": time.perf_counter() - started}
            return compiled
    stages: dict[str, float] = {}
    started = time.perf_counter()
    progress(f"import {type(model).__name__}")
    mlir_text, signature = _import(model, example_inputs)
    stages["import"] = time.perf_counter() - started
    progress(f"import done in {stages['import']:.2f} s")
    if cache is not None:
        # Another model (or this one, changed where it does not matter) imported
        # to the same MLIR before: its artifact is this model's too.
        started = time.perf_counter()
        key = artifact_key(mlir_text, target, options)
        folder = cache.lookup_artifact(key)
        entry = (folder, signature) if folder is not None else None
        compiled = _load_cached(cache, entry, model, progress)
        if compiled is not None:
            compiled.program.codegen = cpu_codegen
            cache.map_model(fingerprint, key, signature)
            compiled.report["stages"] = {
                "import": stages["import"],
                "load": time.perf_counter() - started,
            }
            return compiled

    started = time.perf_counter()
    from mirage_mlir.driver.optimize import optimize

    regions = str(cache.directory / "regions") if cache is not None else None
    from mirage_mlir.passes.eqsat.regions import region_progress

    with region_progress(progress.regions("optimize")):
        optimized = optimize(mlir_text, target=target, region_cache=regions, **limits)
    stages["optimize"] = time.perf_counter() - started
    for entry in optimized.report.get("functions", []):
        progress(
            f"optimize @{entry.get('name')}: {entry.get('enodes')} e-nodes, "
            f"{entry.get('eclasses')} e-classes, saturated={entry.get('saturated')}",
        )
    progress(f"optimize done in {stages['optimize']:.2f} s")

    report = CompileReport(
        target=target,
        optimizer=optimized.report,
        stages=stages,
        kernels=[],
        cache="miss" if cache is not None else "off",
        notes=[],
    )
    kernels: list[dict[str, Any]] = []
    lowered = None
    if target in GPU_TARGETS or interpret:
        lowered, kernels = _lower_and_compile(
            optimized.mlir, target, interpret, report, progress
        )
    launch_plan = None
    if (
        target in GPU_TARGETS
        and kernels
        and all(k["status"] == "compiled" for k in kernels)
    ):
        launch_plan = _launch_plan(lowered, report)
    compiled = CompiledModule(
        mlir=optimized.mlir,
        signature=signature,
        report=report,
        kernels=kernels,
        model=model,
        lowered=lowered if interpret else None,
        launch_plan=launch_plan,
    )
    compiled.program.codegen = cpu_codegen
    if cache is not None:
        key = artifact_key(mlir_text, target, options)
        cache.store(
            key,
            fingerprint,
            lambda folder: compiled.save(folder, snapshot=True),
            signature,
        )
    return compiled


def _load_cached(
    cache: Any, entry: tuple[Path, dict[str, Any]] | None, model: Any, progress: Any
) -> "CompiledModule | None":
    """The artifact of a cache `entry` (folder, the model's signature) as a hit, or None.

    An artifact that cannot be loaded is discarded, so that it is compiled again.
    """
    if entry is None:
        return None
    folder, signature = entry
    try:
        compiled = _load_artifact(folder, model, signature, from_cache=True)
    except CompileError as error:
        progress(f"cache entry unusable, compiling again: {error}")
        cache.discard(folder)
        return None
    compiled.report["cache"] = "hit"
    progress(f"cache hit {folder}")
    return compiled


def _import(model: Any, example_inputs: tuple) -> tuple[str, dict[str, Any]]:
    """Import the model; return the MLIR and the call signature the runtime needs."""
    import torch
    from torch.export.graph_signature import OutputKind

    from mirage_mlir.driver.importer import import_torch_program

    imported = import_torch_program(model, *example_inputs)
    program = imported.exported_program
    with warnings.catch_warnings():
        # torch's own pytree deprecation, raised from inside torch.export.
        warnings.filterwarnings("ignore", category=FutureWarning)
        # Buffer updates show up in the signature only after functionalisation, which
        # torch-mlir runs on its own copy; only models with buffers need it here.
        functional = (
            program.run_decompositions({})
            if any(True for _ in model.buffers())
            else program
        )
    specs = functional.graph_signature.output_specs
    mutated = [s.target for s in specs if s.kind == OutputKind.BUFFER_MUTATION]
    user = [s for s in specs if s.kind == OutputKind.USER_OUTPUT]
    out_spec = program.call_spec.out_spec
    single = out_spec is not None and out_spec.is_leaf()
    signature = {
        "inputs": [
            {"shape": list(t.shape), "dtype": str(t.dtype).removeprefix("torch.")}
            for t in example_inputs
        ],
        "mutated_buffers": mutated,
        "outputs": len(user),
        "single_output": bool(single),
        "model": type(model).__name__,
    }
    del torch
    return imported.mlir, signature


def _lower_and_compile(
    mlir: str, target: str, interpret: bool, report: CompileReport, progress: Any
) -> tuple[Any, list[dict[str, Any]]]:
    """Lower to Triton and compile each kernel; record every failure in the report."""
    stages = report["stages"]
    started = time.perf_counter()
    try:
        from mirage_mlir.lowering.program import lower_module

        lowered = lower_module(mlir)
    except Exception as error:  # any lowering gap leaves the CPU runtime in charge
        stages["lower"] = time.perf_counter() - started
        report["notes"].append(
            f"convert-mirage-to-triton failed: {type(error).__name__}: "
            f"{str(error).splitlines()[0] if str(error) else ''}"
        )
        progress("lowering failed; the CPU runtime runs the module")
        return None, []
    stages["lower"] = time.perf_counter() - started
    progress(f"lowered {len(lowered.kernels)} kernels in {stages['lower']:.2f} s")
    kernels: list[dict[str, Any]] = []
    started = time.perf_counter()
    if target in GPU_TARGETS:
        from mirage_mlir.lowering.staging import TritonOptions, compile_ttir

        arch = 90 if target == "h100" else 80
        for name, ttir in lowered.kernels:
            entry: dict[str, Any] = {"name": name, "ttir": ttir}
            try:
                kernel = compile_ttir(ttir, TritonOptions(arch=arch))
                entry.update(
                    ttgir=kernel.ttgir,
                    ptx=kernel.ptx,
                    status="compiled",
                    shared_memory=kernel.shared_memory,
                )
            except Exception as error:  # triton's failures are recorded, not raised
                entry.update(status="failed", error=str(error).splitlines()[0])
            kernels.append(entry)
            progress(f"kernel {name}: {entry['status']}")
    else:
        kernels = [
            {"name": n, "ttir": t, "status": "lowered"} for n, t in lowered.kernels
        ]
    stages["compile"] = time.perf_counter() - started
    report["kernels"] = [
        {k: v for k, v in e.items() if k not in ("ttir", "ttgir", "ptx")}
        for e in kernels
    ]
    return lowered, kernels


def _launch_plan(lowered: Any, report: CompileReport) -> Any:
    """The lowered program as a portable launch plan, or None (noted) if it has no form."""
    import tempfile

    from mirage_mlir.lowering.artifact import PlanFormatError, export_plan, read_plan

    try:
        with tempfile.TemporaryDirectory(prefix="mirage-plan-") as folder:
            return read_plan(export_plan(lowered, folder))
    except PlanFormatError as error:
        report["notes"].append(f"no GPU launch plan: {error}")
        return None


class CompiledModule:
    """A compiled model: call it like the model on tensors shaped like the examples."""

    def __init__(
        self,
        mlir: str | None,
        signature: dict[str, Any],
        report: CompileReport,
        kernels: list[dict[str, Any]],
        model: Any = None,
        lowered: Any = None,
        launch_plan: Any = None,
        weights: Any = None,
        snapshot: Any = None,
    ) -> None:
        """Load the optimised module into the CPU runtime (weights decoded once).

        `weights` (a `driver.weights.StoredWeights`, from a saved artifact)
        supplies the module's text without its resources and their bytes, so
        that the hex of the weights is neither parsed nor decoded (`mlir` may
        then be None: the text is rebuilt when asked for); `snapshot` (from
        the compile cache) the module itself, so that nothing is parsed.
        """
        from mirage_mlir.driver.runtime_loading import load_runtime

        self._mlir = mlir
        self.signature = signature
        self.report = report
        self.kernels = kernels
        self.model = model
        self._lowered = lowered
        self.launch_plan = launch_plan
        self._gpu_plans: dict[Any, Any] = {}
        self._buffers = self._model_buffers()
        # A saved module was verified when it was compiled; a fresh one is checked here.
        self._runtime = load_runtime(
            mlir,
            pinned=self._buffers or None,
            weights=weights,
            snapshot=snapshot,
            verify=weights is None,
        )
        self.program = self._runtime.program
        pinned = set(self.program.block.parameters)
        self._stale_risk = (
            [
                name
                for i, name in enumerate(signature["mutated_buffers"])
                if i not in pinned
            ]
            if self._buffers
            else []
        )
        report["runtime"] = "tt-interpreter" if lowered is not None else "torch-cpu"
        if self._stale_risk:
            report["notes"].append(
                "buffers folded into the program (later calls run eagerly once they change): "
                + ", ".join(self._stale_risk)
            )
        self._compiled_buffers = [b.clone() for b in self._buffers]

    @property
    def mlir(self) -> str:
        """The optimised module as MLIR text, weights included."""
        if self._mlir is None:
            from mirage_mlir.driver.weights import join_resources

            self._mlir = join_resources(self._runtime.weights)
        return self._mlir

    def _model_buffers(self) -> list[Any]:
        if self.model is None:
            return []
        return [
            self.model.get_buffer(name) for name in self.signature["mutated_buffers"]
        ]

    def _check_inputs(self, inputs: tuple) -> None:
        import torch

        expected = self.signature["inputs"]
        if len(inputs) != len(expected):
            raise CompileError(
                f"the compiled {self.signature['model']} takes {len(expected)} inputs, "
                f"got {len(inputs)}"
            )
        for index, (tensor, spec) in enumerate(zip(inputs, expected)):
            if not isinstance(tensor, torch.Tensor):
                raise CompileError(
                    f"input {index} is a {type(tensor).__name__}, not a tensor"
                )
            dtype = str(tensor.dtype).removeprefix("torch.")
            if list(tensor.shape) != spec["shape"] or dtype != spec["dtype"]:
                raise CompileError(
                    f"input {index} has shape {list(tensor.shape)} and dtype {dtype}; the module "
                    f"was compiled for shape {spec['shape']} and dtype {spec['dtype']}"
                )

    def __call__(self, *inputs: Any) -> Any:
        """Run the optimised program; write updated buffers back; return the outputs."""
        import torch

        self._check_inputs(inputs)
        if self._stale_risk and any(
            not torch.equal(b, c) for b, c in zip(self._buffers, self._compiled_buffers)
        ):
            # A buffer baked into the program has changed: only eager is right now,
            # on the device the model's buffers live on.
            home = self._buffers[0].device
            result = self.model(*[t.to(home) for t in inputs])
            if inputs[0].device == home:
                return result
            if isinstance(result, tuple):
                return tuple(r.to(inputs[0].device) for r in result)
            return result.to(inputs[0].device)
        for index, buffer in enumerate(self._buffers):
            if index in self.program.block.parameters:
                self.program.block.set_parameter(index, buffer.detach().clone())
        if self._runs_on_gpu(inputs):
            results = self._gpu_plan(inputs[0].device)(*inputs)
        elif inputs and inputs[0].is_cuda:
            # The CPU runtime, for a module with no launch plan or changed buffers.
            device = inputs[0].device
            results = [r.to(device) for r in self.program(*[t.cpu() for t in inputs])]
        elif self._lowered is not None:
            from mirage_mlir.lowering.program import run_plan_interpreted

            arrays = [t.detach().cpu().numpy() for t in inputs]
            results = [
                torch.from_numpy(r)
                for r in run_plan_interpreted(self._lowered, *arrays)
            ]
        else:
            results = self.program(*inputs)
        n_mutated = len(self.signature["mutated_buffers"])
        updates, outputs = results[:n_mutated], results[n_mutated:]
        with torch.no_grad():
            for buffer, value in zip(self._buffers, updates):
                buffer.copy_(value.to(buffer.dtype))
        self.buffers = updates
        if self.signature["single_output"] and len(outputs) == 1:
            return outputs[0]
        return tuple(outputs)

    def _runs_on_gpu(self, inputs: tuple) -> bool:
        """Whether this call runs the launch plan: CUDA inputs, and the weights it baked in."""
        import torch

        if self.launch_plan is None or not inputs or not torch.cuda.is_available():
            return False
        if not all(t.is_cuda and t.device == inputs[0].device for t in inputs):
            return False
        # The plan holds the buffers' compile-time values as constants.
        return all(
            torch.equal(b.detach().cpu(), c.cpu())
            for b, c in zip(self._buffers, self._compiled_buffers)
        )

    def _gpu_plan(self, device: Any) -> Any:
        """The launch plan compiled for `device` (once per device)."""
        from mirage_mlir.driver.gpu_runtime import GpuPlan

        if device not in self._gpu_plans:
            self._gpu_plans[device] = GpuPlan(self.launch_plan, device=device)
            self.report["runtime"] = "triton-gpu"
        return self._gpu_plans[device]

    def report_table(self) -> str:
        """The report as a readable table."""
        return self.report.table()

    def save(self, directory: str | os.PathLike, *, snapshot: bool = False) -> Path:
        """Write the artifact: optimised MLIR, its weights' bytes, metadata and report,
        kernels' TTIR/TTGIR/PTX, and the launch plan where there is one.

        `snapshot=True` also writes the parsed module for the compile cache
        (`driver.ir_snapshot`); `load` never reads it.
        """
        from mirage_mlir.driver.runtime_loading import write_snapshot
        from mirage_mlir.driver.weights import join_resources, write_weights

        folder = Path(directory)
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "optimized.mlir").write_text(self.mlir)
        stored = self._runtime.weights
        # Loading rebuilds the text from the stored weights: they must give it back exactly.
        exact = stored is not None and join_resources(stored) == self.mlir
        weights = write_weights(stored, folder) if exact else None
        kernel_files = []
        for kernel in self.kernels:
            files = {}
            for stage in ("ttir", "ttgir", "ptx"):
                if kernel.get(stage):
                    path = folder / "kernels" / f"{kernel['name']}.{stage}"
                    path.parent.mkdir(exist_ok=True)
                    path.write_text(kernel[stage])
                    files[stage] = str(path.relative_to(folder))
            kernel_files.append(
                {"name": kernel["name"], "status": kernel.get("status"), "files": files}
            )
        if self.launch_plan is not None:
            from mirage_mlir.lowering.artifact import write_plan

            write_plan(self.launch_plan, folder / "plan")
        metadata = {
            "format": _FORMAT,
            "signature": self.signature,
            "report": dict(self.report),
            "kernels": kernel_files,
            "launch_plan": self.launch_plan is not None,
        }
        if weights is not None:
            metadata["weights"] = weights
        entry = write_snapshot(self._runtime, folder) if snapshot else None
        if entry is not None:
            metadata["snapshot"] = entry
        (folder / "metadata.json").write_text(
            json.dumps(metadata, indent=1, default=str)
        )
        return folder


def load(directory: str | os.PathLike, model: Any = None) -> CompiledModule:
    """Load a saved artifact; it runs without torch-mlir (its launch plan on CUDA inputs).

    With `model`, updated buffers are written back into it as after `compile`.
    """
    return _load_artifact(Path(directory), model, None)


def _load_artifact(
    folder: Path, model: Any, signature: dict[str, Any] | None, from_cache: bool = False
) -> CompiledModule:
    """`load`, with the call signature of the model at hand in place of the saved one.

    `from_cache`: the folder is a compile-cache entry, whose module snapshot
    (if any, and readable) replaces parsing.
    """
    try:
        metadata = json.loads((folder / "metadata.json").read_text())
        # With stored weights only the module's part of the text is read (by read_weights).
        mlir = (
            None if metadata.get("weights") else (folder / "optimized.mlir").read_text()
        )
    except (OSError, ValueError) as error:
        raise CompileError(f"{folder}: not a mirage-mlir artifact ({error})") from None
    if metadata.get("format") != _FORMAT:
        raise CompileError(
            f"{folder}: artifact format {metadata.get('format')} is not " f"{_FORMAT}"
        )
    weights = None
    if metadata.get("weights"):
        from mirage_mlir.driver.weights import read_weights

        try:
            weights = read_weights(
                folder, metadata["weights"], folder / "optimized.mlir"
            )
        except (OSError, ValueError, KeyError, TypeError, UnicodeDecodeError) as error:
            raise CompileError(f"{folder}: unreadable weights ({error})") from None
    snapshot = None
    if from_cache and metadata.get("snapshot"):
        from mirage_mlir.driver.runtime_loading import read_snapshot

        snapshot = read_snapshot(folder, metadata["snapshot"])
    kernels = []
    for kernel in metadata.get("kernels", []):
        entry = {"name": kernel["name"], "status": kernel.get("status")}
        for stage, relative in kernel.get("files", {}).items():
            try:
                entry[stage] = (folder / relative).read_text()
            except OSError as error:
                raise CompileError(f"{folder}: missing kernel file ({error})") from None
        kernels.append(entry)
    launch_plan = None
    if metadata.get("launch_plan"):
        from mirage_mlir.lowering.artifact import PlanFormatError, read_plan

        try:
            launch_plan = read_plan(folder / "plan")
        except PlanFormatError as error:
            raise CompileError(str(error)) from None
    report = CompileReport(metadata["report"])
    report["notes"] = []
    from mirage_mlir.dialects.context import MlirError

    try:
        return CompiledModule(
            mlir,
            signature or metadata["signature"],
            report,
            kernels,
            model=model,
            launch_plan=launch_plan,
            weights=weights,
            snapshot=snapshot,
        )
    except (MirageError, MlirError) as error:
        raise CompileError(f"{folder}: {error}") from None
