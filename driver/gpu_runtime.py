"""Run an exported launch plan on a CUDA GPU: Triton-compiled kernels, launched in order.

```python
from mirage_mlir.driver.gpu_runtime import GpuPlan

plan = GpuPlan.load("plan_dir/")        # written by lowering.artifact.export_plan
outputs = plan(q.cuda(), k.cuda(), v.cuda())   # a list of CUDA tensors
```

Loading compiles each kernel's TTIR once for the GPU's own compute
capability (`triton.compile`; the cubin lands in Triton's cache inside
mirage's cache folder, keyed by the TTIR's content hash, so a second process
compiles nothing), moves the weights to the GPU and allocates one byte
buffer per plan slot.  A call binds the inputs, launches every kernel on the
current CUDA stream and returns the outputs.  A launch with `variants` is
autotuned on its first run (`driver.autotune`: each variant timed on the real
buffers, the fastest kept and its choice cached on disk); a later load reads
the cached choice and times nothing.  Slots that hold an output get
a fresh buffer per call, so a result stays valid after the next call; the
other slots are reused across calls, as the plan's buffer reuse intends.

This module needs torch, triton and numpy only: no xDSL, torch-mlir or egglog.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator

from mirage_mlir.driver import autotune as tuning
from mirage_mlir.lowering.artifact import PlanArtifact, read_plan

__all__ = ["GpuPlan", "GpuRuntimeError", "compile_for_device"]

# Triton rejects a pointer argument that is not aligned to this many bytes
# when the kernel assumes `tt.divisibility = 16`.
_ALIGNMENT = 16


class GpuRuntimeError(RuntimeError):
    """The plan cannot run here, or was called with the wrong inputs."""


def _cache_root() -> Path:
    """mirage's cache folder (the one `lowering.staging` compiles into)."""
    from mirage_mlir.lowering.staging import cache_dir

    return cache_dir()


@contextlib.contextmanager
def _triton_cache(directory: Path) -> Iterator[None]:
    """Point Triton's own on-disk cache into mirage's for the duration of a compile."""
    from triton import knobs

    with knobs.cache.scope():
        knobs.cache.dir = str(directory)
        yield


def compile_for_device(ttir: str, device: Any, options: dict[str, Any] | None = None,
                       cache: Path | None = None) -> Any:
    """Compile one TTIR kernel for `device`'s compute capability; Triton's CompiledKernel.

    The TTIR is written to `<cache>/ttir/<sha256>.ttir` so that Triton's
    cache key (which hashes the source) is stable across processes.
    """
    import torch
    import triton
    from triton.backends.compiler import GPUTarget

    major, minor = torch.cuda.get_device_capability(device)
    root = cache or _cache_root()
    digest = hashlib.sha256(ttir.encode()).hexdigest()
    source = root / "ttir" / f"{digest}.ttir"
    if not source.exists():
        source.parent.mkdir(parents=True, exist_ok=True)
        partial = source.with_suffix(f".{os.getpid()}.partial")
        partial.write_text(ttir)
        partial.replace(source)
    target = GPUTarget("cuda", 10 * major + minor, 32)
    with _triton_cache(root / "triton-cache"):
        return triton.compile(str(source), target=target, options=dict(options or {}))


def _torch_dtype(name: str) -> Any:
    import torch

    dtype = getattr(torch, name, None)
    if not isinstance(dtype, torch.dtype):
        raise GpuRuntimeError(f"unknown dtype '{name}' in the plan")
    return dtype


@dataclass
class _Slot:
    """One plan slot: its size in bytes, and whether an output lives in it."""

    nbytes: int
    holds_output: bool


class GpuPlan:
    """A launch plan ready to run on one CUDA device (see the module docstring)."""

    def __init__(self, artifact: PlanArtifact, device: Any = None,
                 options: dict[str, dict[str, Any]] | None = None,
                 cache: Path | None = None, autotune: bool | None = None) -> None:
        """Compile the kernels, upload the constants and size the slots.

        `options` maps a kernel name to `triton.compile` options (num_warps,
        num_stages); unnamed kernels take Triton's defaults, and a named
        kernel's launch is not autotuned.  `autotune` (default:
        `$MIRAGE_AUTOTUNE`, on) picks among a launch's variants; off, every
        launch runs its default.
        """
        import torch

        if not torch.cuda.is_available():
            raise GpuRuntimeError("CUDA is not available: the launch plan needs a GPU")
        self.artifact = artifact
        self.device = torch.device(device if device is not None else "cuda")
        if self.device.index is None:
            self.device = torch.device("cuda", torch.cuda.current_device())
        options = options or {}
        self._cache = cache or _cache_root()
        launched = {s["kernel"] for s in artifact.steps if s["op"] == "launch"}
        self.kernels = {
            name: compile_for_device(artifact.kernels[name], self.device, options.get(name), cache)
            for name in artifact.kernels if name in launched
        }
        self._variant_kernels: dict[tuple[str, str], Any] = {}
        #: launch step index -> (kernel, grid) it runs; the default unless tuned.
        self._launch: dict[int, tuple[Any, tuple[int, ...]]] = {
            i: (self.kernels[s["kernel"]], tuple(s["grid"]))
            for i, s in enumerate(artifact.steps) if s["op"] == "launch"}
        #: launch step index -> index of the variant it runs.
        self.choices: dict[int, int] = {}
        #: launch step index -> choice-cache key, for launches still to be timed.
        self._untuned: dict[int, str] = {}
        #: how many launches this object has timed (0 when every choice was cached).
        self.timed_launches = 0
        if tuning.autotune_enabled(autotune):
            self._read_choices(options)
        self._dtypes = {s["value"]: _torch_dtype(s["dtype"]) for s in artifact.steps
                        if "dtype" in s}
        self.constants = {
            name: torch.from_numpy(array).to(self.device, self._dtypes[name]).contiguous()
            for name, array in artifact.constants.items()
        }
        self._slots = self._size_slots()
        self._buffers = {index: torch.empty(slot.nbytes, dtype=torch.uint8, device=self.device)
                         for index, slot in self._slots.items() if not slot.holds_output}

    @classmethod
    def load(cls, directory: str | os.PathLike, device: Any = None,
             options: dict[str, dict[str, Any]] | None = None,
             autotune: bool | None = None) -> "GpuPlan":
        """Read a plan directory written by `export_plan` and prepare it for `device`."""
        return cls(read_plan(directory), device=device, options=options, autotune=autotune)

    def _value_specs(self) -> dict[str, tuple[list[int], str]]:
        """Every plan value's shape and dtype name (a view has its source's dtype)."""
        specs: dict[str, tuple[list[int], str]] = {}
        for step in self.artifact.steps:
            if "dtype" in step:
                specs[step["value"]] = (step["shape"], step["dtype"])
            elif step["op"] == "view":
                specs[step["value"]] = (step["shape"], specs[step["source"]][1])
        return specs

    def _variant_kernel(self, variant: dict[str, Any]) -> Any:
        """The compiled kernel of one variant (compiled on first use)."""
        import json

        key = (variant["kernel"], json.dumps(variant.get("options", {}), sort_keys=True))
        if key not in self._variant_kernels:
            self._variant_kernels[key] = compile_for_device(
                self.artifact.kernels[variant["kernel"]], self.device,
                variant.get("options"), self._cache)
        return self._variant_kernels[key]

    def _read_choices(self, pinned: dict[str, dict[str, Any]]) -> None:
        """Take cached choices; note the launches that still need timing."""
        import torch
        import triton

        specs = self._value_specs()
        device = torch.cuda.get_device_name(self.device)
        for index, step in enumerate(self.artifact.steps):
            variants = step.get("variants", []) if step["op"] == "launch" else []
            if len(variants) < 2 or step["kernel"] in pinned:
                continue
            key = tuning.choice_key(
                [(self.artifact.kernels[v["kernel"]], v.get("options", {}), v["grid"])
                 for v in variants],
                [specs[name] for name in step["args"]], device, triton.__version__)
            choice = tuning.read_choice(self._cache, key, len(variants))
            if choice is None:
                self._untuned[index] = key
            else:
                self._choose(index, choice)

    def _choose(self, index: int, choice: int) -> None:
        variant = self.artifact.steps[index]["variants"][choice]
        if choice:  # variant 0 is the launch's own kernel, already compiled
            self._launch[index] = (self._variant_kernel(variant), tuple(variant["grid"]))
        self.choices[index] = choice

    def _tune(self, index: int, args: list[Any]) -> None:
        """Time every variant of launch `index` on `args`, keep and cache the fastest."""
        step = self.artifact.steps[index]
        launchers = []
        for variant in step["variants"]:
            kernel, grid = self._variant_kernel(variant), tuple(variant["grid"])
            launchers.append(lambda kernel=kernel, grid=grid: kernel[grid](*args))
        times = tuning.time_variants(launchers)
        choice = min(range(len(times)), key=times.__getitem__)
        if times[choice] == float("inf"):
            raise GpuRuntimeError(f"launch of {step['kernel']}: no variant fits this GPU")
        tuning.write_choice(self._cache, self._untuned.pop(index), choice, times,
                            {"kernel": step["kernel"], "variants": step["variants"]})
        self._choose(index, choice)
        self.timed_launches += 1

    def _size_slots(self) -> dict[int, _Slot]:
        returned: set[str] = set()
        for step in self.artifact.steps:
            if step["op"] == "return":
                returned.update(step["values"])
        # A returned view makes its source's slot an output slot too.
        source_of = {s["value"]: s["source"] for s in self.artifact.steps if s["op"] == "view"}
        for name in list(returned):
            while name in source_of:
                name = source_of[name]
                returned.add(name)
        slots: dict[int, _Slot] = {}
        for step in self.artifact.steps:
            if step["op"] != "alloc":
                continue
            count = 1
            for size in step["shape"]:
                count *= size
            nbytes = max(count * self._dtypes[step["value"]].itemsize, 1)
            slot = slots.setdefault(step["slot"], _Slot(0, False))
            slot.nbytes = max(slot.nbytes, nbytes)
            slot.holds_output |= step["value"] in returned
        return slots

    def _bind_inputs(self, inputs: tuple) -> dict[str, Any]:
        import torch

        specs = self.artifact.inputs
        if len(inputs) != len(specs):
            raise GpuRuntimeError(f"the plan takes {len(specs)} inputs, got {len(inputs)}")
        values = {}
        for index, (tensor, spec) in enumerate(zip(inputs, specs)):
            if not isinstance(tensor, torch.Tensor):
                raise GpuRuntimeError(f"input {index} is a {type(tensor).__name__}, not a tensor")
            dtype = self._dtypes[spec["value"]]
            if list(tensor.shape) != spec["shape"] or tensor.dtype != dtype:
                raise GpuRuntimeError(
                    f"input {index} has shape {list(tensor.shape)} and dtype {tensor.dtype}; "
                    f"the plan takes shape {spec['shape']} and dtype {dtype}")
            if tensor.device != self.device:
                raise GpuRuntimeError(f"input {index} is on {tensor.device}, the plan runs on "
                                      f"{self.device}")
            tensor = tensor.contiguous()
            if tensor.data_ptr() % _ALIGNMENT:
                tensor = tensor.clone()
            values[spec["value"]] = tensor
        return values

    def _slot_view(self, buffer: Any, step: dict[str, Any]) -> Any:
        """The alloc step's tensor: the first bytes of its slot's buffer, typed and shaped."""
        dtype = self._dtypes[step["value"]]
        count = 1
        for size in step["shape"]:
            count *= size
        return buffer[: count * dtype.itemsize].view(dtype).view(step["shape"])

    def __call__(self, *inputs: Any) -> list[Any]:
        """Run the plan on CUDA tensors; return the outputs in the plan's order."""
        import torch

        values = self._bind_inputs(inputs)
        values.update(self.constants)
        buffers = dict(self._buffers)
        for index, slot in self._slots.items():
            if slot.holds_output:
                buffers[index] = torch.empty(slot.nbytes, dtype=torch.uint8, device=self.device)
        owned: set[str] = set()
        for index, step in enumerate(self.artifact.steps):
            op = step["op"]
            if op == "alloc":
                values[step["value"]] = self._slot_view(buffers[step["slot"]], step)
                owned.add(step["value"])
            elif op == "view":
                values[step["value"]] = values[step["source"]].view(step["shape"])
                if step["source"] in owned:
                    owned.add(step["value"])
            elif op == "launch":
                args = [values[name] for name in step["args"]]
                if index in self._untuned:
                    self._tune(index, args)
                kernel, grid = self._launch[index]
                kernel[grid](*args)
            elif op == "return":
                # Inputs and weights are not the plan's to hand out: copy them.
                return [values[name] if name in owned else values[name].clone()
                        for name in step["values"]]
        raise GpuRuntimeError(f"{self.artifact.directory}: the plan has no return step")

    def capture(self, *example_inputs: Any) -> Callable[..., list[Any]]:
        """The plan recorded once as a CUDA graph; the returned function replays it.

        Replaying costs one graph launch instead of one Python-side launch per
        kernel.  The function copies its inputs into the graph's own input
        tensors and returns the graph's output tensors, which the next replay
        overwrites (clone them to keep them).
        """
        import torch

        static = [t.detach().clone() for t in example_inputs]
        side = torch.cuda.Stream(self.device)
        side.wait_stream(torch.cuda.current_stream(self.device))
        with torch.cuda.stream(side):
            self(*static)  # loads every kernel before recording
        torch.cuda.current_stream(self.device).wait_stream(side)
        graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(graph):
            outputs = self(*static)

        def replay(*inputs: Any) -> list[Any]:
            if len(inputs) != len(static):
                raise GpuRuntimeError(f"the graph takes {len(static)} inputs, got {len(inputs)}")
            for target, tensor in zip(static, inputs):
                if tensor.shape != target.shape or tensor.dtype != target.dtype:
                    raise GpuRuntimeError(f"input of shape {list(tensor.shape)} and dtype "
                                          f"{tensor.dtype}; the graph was recorded for "
                                          f"{list(target.shape)}, {target.dtype}")
                target.copy_(tensor)
            graph.replay()
            return outputs

        return replay
