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
current CUDA stream and returns the outputs.  Slots that hold an output get
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
                 cache: Path | None = None) -> None:
        """Compile the kernels, upload the constants and size the slots.

        `options` maps a kernel name to `triton.compile` options (num_warps,
        num_stages); unnamed kernels take Triton's defaults.
        """
        import torch

        if not torch.cuda.is_available():
            raise GpuRuntimeError("CUDA is not available: the launch plan needs a GPU")
        self.artifact = artifact
        self.device = torch.device(device if device is not None else "cuda")
        if self.device.index is None:
            self.device = torch.device("cuda", torch.cuda.current_device())
        options = options or {}
        self.kernels = {
            name: compile_for_device(text, self.device, options.get(name), cache)
            for name, text in artifact.kernels.items()
        }
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
             options: dict[str, dict[str, Any]] | None = None) -> "GpuPlan":
        """Read a plan directory written by `export_plan` and prepare it for `device`."""
        return cls(read_plan(directory), device=device, options=options)

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
        for step in self.artifact.steps:
            op = step["op"]
            if op == "alloc":
                values[step["value"]] = self._slot_view(buffers[step["slot"]], step)
                owned.add(step["value"])
            elif op == "view":
                values[step["value"]] = values[step["source"]].view(step["shape"])
                if step["source"] in owned:
                    owned.add(step["value"])
            elif op == "launch":
                self.kernels[step["kernel"]][tuple(step["grid"])](
                    *[values[name] for name in step["args"]])
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
