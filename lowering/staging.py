"""Triton staging: TTIR text to TTGIR, PTX and a cubin, cached on disk.

Stages are named after their IR, as Triton names them: `ttir -> ttgir ->
llir -> ptx -> cubin`.  `compile_ttir` writes the TTIR to `kernel.ttir`, runs
`triton.compile(path, target=GPUTarget("cuda", arch, 32), options=...)` (which
needs no GPU: ptxas ships with Triton) and keeps every stage's text:

```python
from mirage_mlir.lowering.staging import TritonOptions, compile_ttir

kernel = compile_ttir(ttir_text, TritonOptions(num_warps=8, arch=80))
kernel.ptx, kernel.cubin, kernel.name, kernel.metadata["shared"]
```

Artifacts are cached by a content hash of the TTIR, the options and Triton's
version, under `$MIRAGE_CACHE_DIR` or `~/.cache/mirage-mlir/triton` (the
XDG cache home when it is set); Triton's own cache goes in a subfolder of it.
A failure raises `TritonCompileError` naming the stage and Triton's message.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import os
import shutil
import tempfile
import traceback
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

STAGES = ("ttir", "ttgir", "llir", "ptx", "cubin")
"""Triton's stages for NVIDIA GPUs, in order; each is named after its IR."""

SUPPORTED_ARCHS = (80, 86, 89, 90)
"""CUDA compute capabilities (as 10 * major + minor) kernels are built for."""

# Triton's function that produces each stage, to name the stage that failed.
_STAGE_OF_FUNCTION = {
    "make_ttir": "ttir",
    "make_ttgir": "ttgir",
    "make_llir": "llir",
    "make_ptx": "ptx",
    "make_cubin": "cubin",
}


@dataclass(frozen=True)
class TritonOptions:
    """How Triton compiles a kernel; part of every cache key.

    `arch` is the compute capability: 90 for H100 (sm_90, the default), 80
    for A100 (sm_80).  `enable_fp_fusion` lets ptxas fuse multiply and add
    into FMA (Triton 3.9's default, stated here so the key says it).
    """

    num_warps: int = 4
    num_stages: int = 3
    arch: int = 90
    enable_fp_fusion: bool = True

    def __post_init__(self) -> None:
        if self.arch not in SUPPORTED_ARCHS:
            raise ValueError(
                f"unsupported arch sm_{self.arch}; choose one of "
                + ", ".join(f"sm_{a}" for a in SUPPORTED_ARCHS)
            )
        if self.num_warps <= 0 or self.num_warps & (self.num_warps - 1):
            raise ValueError(f"num_warps must be a power of two, got {self.num_warps}")
        if self.num_stages < 1:
            raise ValueError(f"num_stages must be at least 1, got {self.num_stages}")

    def triton_options(self) -> dict[str, int | bool]:
        """The `options=` mapping for `triton.compile`."""
        return {
            "num_warps": self.num_warps,
            "num_stages": self.num_stages,
            "enable_fp_fusion": self.enable_fp_fusion,
        }

    def key(self) -> str:
        """A stable text form of the options for cache keys."""
        return json.dumps(dataclasses.asdict(self), sort_keys=True)


@dataclass(frozen=True)
class CompiledKernel:
    """One kernel through every stage: the text of each IR and the cubin."""

    name: str
    ttir: str
    ttgir: str
    ptx: str
    cubin: bytes = field(repr=False)
    metadata: dict[str, Any] = field(default_factory=dict, compare=False)

    @property
    def shared_memory(self) -> int:
        """Bytes of shared memory the kernel needs at launch."""
        return int(self.metadata.get("shared", 0))


class TritonCompileError(RuntimeError):
    """Triton rejected a kernel; `stage` says where and `message` what Triton said."""

    def __init__(self, stage: str, message: str, ttir_path: str | None = None):
        self.stage = stage
        self.message = message.strip()
        self.ttir_path = ttir_path
        where = f" (TTIR kept at {ttir_path})" if ttir_path else ""
        super().__init__(f"triton failed at stage '{stage}'{where}: {self.message}")


def cache_dir() -> Path:
    """Where compiled kernels are kept: `$MIRAGE_CACHE_DIR`, else the user cache."""
    configured = os.environ.get("MIRAGE_CACHE_DIR")
    if configured:
        return Path(configured)
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(
        os.path.expanduser("~"), ".cache"
    )
    return Path(base) / "mirage-mlir" / "triton"


def cache_key(ttir_text: str, options: TritonOptions) -> str:
    """Content hash of the TTIR, the options and the Triton version."""
    import triton

    digest = hashlib.sha256()
    for part in (triton.__version__, options.key(), ttir_text):
        digest.update(part.encode())
        digest.update(b"\0")
    return digest.hexdigest()


def compile_ttir(ttir_text: str, options: TritonOptions | None = None) -> CompiledKernel:
    """Compile a module holding one `tt.func` kernel through every Triton stage.

    A second call with the same TTIR and options reads the cached artifacts
    and does not run Triton.
    """
    options = options or TritonOptions()
    entry = cache_dir() / cache_key(ttir_text, options)
    cached = _read_entry(entry)
    if cached is not None:
        return cached
    kernel = _run_triton(ttir_text, options)
    _write_entry(entry, kernel)
    return kernel


def _run_triton(ttir_text: str, options: TritonOptions) -> CompiledKernel:
    import triton
    from triton.backends.compiler import GPUTarget

    workdir = Path(tempfile.mkdtemp(prefix="mirage-ttir-"))
    path = workdir / "kernel.ttir"
    path.write_text(ttir_text)
    target = GPUTarget("cuda", options.arch, 32)
    with _triton_cache(cache_dir() / "triton-cache"), _captured_stderr() as stderr:
        try:
            compiled = triton.compile(str(path), target=target, options=options.triton_options())
        except Exception as error:  # Triton raises bare RuntimeErrors and more
            stage = _failed_stage(error)
            message = "\n".join(
                part for part in (stderr.read(), f"{type(error).__name__}: {error}") if part
            )
            raise TritonCompileError(stage, message, str(path)) from None
    shutil.rmtree(workdir, ignore_errors=True)
    metadata = compiled.metadata._asdict()
    metadata["target"] = dataclasses.asdict(metadata["target"])
    return CompiledKernel(
        name=metadata["name"],
        ttir=compiled.asm["ttir"],
        ttgir=compiled.asm["ttgir"],
        ptx=compiled.asm["ptx"],
        cubin=compiled.asm["cubin"],
        metadata=metadata,
    )


def _failed_stage(error: BaseException) -> str:
    """The stage whose function raised, or `parse` for TTIR Triton cannot read."""
    for frame in reversed(traceback.extract_tb(error.__traceback__)):
        if frame.name in _STAGE_OF_FUNCTION:
            return _STAGE_OF_FUNCTION[frame.name]
    return "parse"


@contextlib.contextmanager
def _triton_cache(directory: Path) -> Iterator[None]:
    """Point Triton's own cache into ours for the duration of one compile."""
    from triton import knobs

    with knobs.cache.scope():
        knobs.cache.dir = str(directory)
        yield


class _StderrCapture:
    def __init__(self, path: Path):
        self._path = path

    def read(self) -> str:
        return self._path.read_text(errors="replace") if self._path.exists() else ""


@contextlib.contextmanager
def _captured_stderr() -> Iterator[_StderrCapture]:
    """Capture file descriptor 2: MLIR prints its diagnostics there, not to Python."""
    import sys

    with tempfile.TemporaryDirectory(prefix="mirage-triton-") as tmp:
        log = Path(tmp) / "stderr.txt"
        sys.stderr.flush()
        saved = os.dup(2)
        try:
            with open(log, "wb") as sink:
                os.dup2(sink.fileno(), 2)
                try:
                    yield _StderrCapture(log)
                finally:
                    sys.stderr.flush()
                    os.dup2(saved, 2)
        finally:
            os.close(saved)


def _read_entry(entry: Path) -> CompiledKernel | None:
    try:
        metadata = json.loads((entry / "metadata.json").read_text())
        return CompiledKernel(
            name=metadata["name"],
            ttir=(entry / "kernel.ttir").read_text(),
            ttgir=(entry / "kernel.ttgir").read_text(),
            ptx=(entry / "kernel.ptx").read_text(),
            cubin=(entry / "kernel.cubin").read_bytes(),
            metadata=metadata,
        )
    except (OSError, ValueError, KeyError):
        return None


def _write_entry(entry: Path, kernel: CompiledKernel) -> None:
    """Write all artifacts to a fresh folder, then rename it into place at once."""
    entry.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".partial-", dir=entry.parent))
    (staging / "kernel.ttir").write_text(kernel.ttir)
    (staging / "kernel.ttgir").write_text(kernel.ttgir)
    (staging / "kernel.ptx").write_text(kernel.ptx)
    (staging / "kernel.cubin").write_bytes(kernel.cubin)
    (staging / "metadata.json").write_text(json.dumps(kernel.metadata, default=str))
    try:
        staging.rename(entry)
    except OSError:  # another process cached the same kernel first
        shutil.rmtree(staging, ignore_errors=True)
